"""k8s_manifests rendered by ansible-playbook on localhost; the YAML is parsed and checked.
No cluster exists here, so nothing is applied (k8s_manifests_apply stays false)."""
import yaml

from support import run_role


def render(tmp_path, **variables):
    out = tmp_path / "out"
    variables = dict({"k8s_manifests_name": "shop", "k8s_manifests_dir": str(out),
                      "k8s_manifests_image": "registry.example/shop/app:checkpoint"}, **variables)
    done = run_role(tmp_path, "k8s_manifests", variables)
    return done, out


def load(out, name):
    return yaml.safe_load((out / name).read_text())


def containers_of(manifest):
    spec = manifest["spec"]
    return (spec.get("template", {}).get("spec") or spec)["containers"]


def test_all_kinds_with_localhost_seccomp_and_scc(tmp_path):
    done, out = render(tmp_path, k8s_manifests_kinds=["pod", "deployment", "knative_service"],
                       k8s_manifests_container_name="app", k8s_manifests_namespace="web",
                       k8s_manifests_ports=[{"containerPort": 8080, "name": "http1"}],
                       k8s_manifests_seccomp_localhost_profile="profiles/instanton.json",
                       k8s_manifests_openshift_scc=True, k8s_manifests_replicas=2)
    assert done.returncode == 0, done.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "shop-deployment.yaml", "shop-pod.yaml", "shop-securitycontextconstraints.yaml",
        "shop-service.yaml"]
    expected_seccomp = {"type": "Localhost", "localhostProfile": "profiles/instanton.json"}
    for name, api, kind in (("shop-pod.yaml", "v1", "Pod"),
                            ("shop-deployment.yaml", "apps/v1", "Deployment"),
                            ("shop-service.yaml", "serving.knative.dev/v1", "Service")):
        manifest = load(out, name)
        assert (manifest["apiVersion"], manifest["kind"]) == (api, kind)
        assert manifest["metadata"]["namespace"] == "web"
        [container] = containers_of(manifest)
        assert container["name"] == "app"
        assert container["image"] == "registry.example/shop/app:checkpoint"
        assert container["securityContext"]["capabilities"] == {
            "add": ["CHECKPOINT_RESTORE", "SETPCAP"], "drop": ["ALL"]}
        assert container["securityContext"]["seccompProfile"] == expected_seccomp
        assert container["ports"] == [{"containerPort": 8080, "name": "http1"}]
    deployment = load(out, "shop-deployment.yaml")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "shop"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "shop"
    scc = load(out, "shop-securitycontextconstraints.yaml")
    assert scc["allowedCapabilities"] == ["CHECKPOINT_RESTORE", "SETPCAP"]
    assert scc["seccompProfiles"] == ["localhost/profiles/instanton.json"]
    assert scc["users"] == ["system:serviceaccount:web:default"]


def test_defaults_render_one_deployment_with_runtime_default_seccomp(tmp_path):
    done, out = render(tmp_path)
    assert done.returncode == 0, done.stdout
    assert [path.name for path in out.iterdir()] == ["shop-deployment.yaml"]
    [container] = containers_of(load(out, "shop-deployment.yaml"))
    assert container["name"] == "shop"
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_unknown_kind_is_rejected(tmp_path):
    done, out = render(tmp_path, k8s_manifests_kinds=["statefulset"])
    assert done.returncode != 0
    assert "statefulset" in done.stdout and not out.exists()


def test_bad_name_is_rejected(tmp_path):
    done, out = render(tmp_path, k8s_manifests_name="Shop_App")
    assert done.returncode != 0
    assert "must be a DNS label" in done.stdout and not out.exists()


def test_knative_service_scales_to_zero_and_is_ready_after_the_restore(tmp_path):
    done, out = render(tmp_path, k8s_manifests_kinds=["knative_service", "deployment"],
                       k8s_manifests_ports=[{"containerPort": 8080, "name": "http1"}],
                       k8s_manifests_knative_scale_to_zero_retention="30s", k8s_manifests_readiness_path="/healthz")
    assert done.returncode == 0, done.stdout
    template = load(out, "shop-service.yaml")["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "autoscaling.knative.dev/min-scale": "0", "autoscaling.knative.dev/max-scale": "0",
        "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "30s"}
    assert template["spec"]["containerConcurrency"] == 0
    [container] = template["spec"]["containers"]
    assert container["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": 8080},
                                           "periodSeconds": 1, "failureThreshold": 3}
    assert container["securityContext"]["capabilities"] == {"add": ["CHECKPOINT_RESTORE", "SETPCAP"], "drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    [deployment_container] = containers_of(load(out, "shop-deployment.yaml"))
    assert "readinessProbe" not in deployment_container


def test_knative_service_without_ports_has_no_probe(tmp_path):
    done, out = render(tmp_path, k8s_manifests_kinds=["knative_service"], k8s_manifests_knative_min_scale=1)
    assert done.returncode == 0, done.stdout
    template = load(out, "shop-service.yaml")["spec"]["template"]
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "1"
    assert "readinessProbe" not in template["spec"]["containers"][0]


def test_checkpoint_rbac_grants_only_create_on_nodes_checkpoint(tmp_path):
    done, out = render(tmp_path, k8s_manifests_checkpoint_rbac=True, k8s_manifests_namespace="web")
    assert done.returncode == 0, done.stdout
    role = load(out, "shop-clusterrole.yaml")
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "shop-checkpoint"
    granted = [(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]]
    assert granted == [("", "nodes/checkpoint", "create")]
    assert set(role) == {"apiVersion", "kind", "metadata", "rules"}  # no aggregationRule
    binding = load(out, "shop-clusterrolebinding.yaml")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "shop-checkpoint"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "shop-checkpointer",
                                    "namespace": "web"}]
