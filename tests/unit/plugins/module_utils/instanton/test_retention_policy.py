"""retention_policy: the checkpoint-restore-operator's policy shape, applied to archives (pure planning)."""
import pytest

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _retention_policy as policy

MB = 1000 * 1000


def archive(name, age, namespace="shop", pod="web", container="app", size=MB, pinned=False):
    return {"path": "/ck/%s" % name, "mtime": 1000 - age, "size": size, "pinned": pinned,
            "namespace": namespace, "pod": pod, "container": container}


def removed(spec, archives):
    return [item["path"] for item in policy.plan(policy.policy_spec(spec), archives)]


def test_per_container_count_removes_the_oldest_first():
    archives = [archive("a%d" % age, age) for age in range(5)]
    assert removed({"globalPolicy": {"maxCheckpointsPerContainer": 2}}, archives) == ["/ck/a4", "/ck/a3", "/ck/a2"]


def test_a_container_policy_overrides_the_global_one_for_that_container_only():
    archives = [archive("app%d" % age, age) for age in range(4)] + \
               [archive("side%d" % age, age, container="sidecar") for age in range(4)]
    spec = {"globalPolicy": {"maxCheckpointsPerContainer": 3},
            "containerPolicies": [{"namespace": "shop", "pod": "web", "container": "app", "maxCheckpoints": 1}]}
    assert removed(spec, archives) == ["/ck/app3", "/ck/side3", "/ck/app2", "/ck/app1"]


def test_pod_and_namespace_limits_count_all_their_containers():
    archives = [archive("app%d" % age, age * 2) for age in range(3)] + \
               [archive("side%d" % age, age * 2 + 1, container="sidecar") for age in range(3)] + \
               [archive("other%d" % age, age, pod="db") for age in range(2)]
    assert removed({"globalPolicy": {"maxCheckpointsPerPod": 4}}, archives) == ["/ck/side2", "/ck/app2"]
    assert len(removed({"namespacePolicies": [{"namespace": "shop", "maxCheckpoints": 3}]}, archives)) == 5
    assert removed({"podPolicies": [{"namespace": "shop", "pod": "db", "maxCheckpoints": 1}]}, archives) == \
        ["/ck/other1"]


def test_sizes_are_in_mb_per_archive_and_in_total():
    archives = [archive("big", 0, size=12 * MB), archive("small1", 1, size=4 * MB), archive("small2", 2, size=4 * MB)]
    # The operator removes an oversize archive even when it is the newest.
    assert removed({"globalPolicy": {"maxCheckpointSize": 10}}, archives) == ["/ck/big"]
    assert removed({"globalPolicy": {"maxTotalSizePerContainer": 16}}, archives) == ["/ck/small2"]
    assert removed({"containerPolicies": [{"namespace": "shop", "pod": "web", "container": "app",
                                           "maxTotalSize": 5}]}, archives) == ["/ck/small2", "/ck/small1", "/ck/big"]


def test_pinned_archives_count_but_never_go():
    archives = [archive("a0", 0), archive("a1", 1), archive("a2", 2, pinned=True), archive("a3", 3)]
    assert removed({"globalPolicy": {"maxCheckpointsPerContainer": 2}}, archives) == ["/ck/a3", "/ck/a1"]


def test_a_whole_resource_is_accepted_and_unknown_or_bad_fields_are_refused():
    resource = {"apiVersion": "criu.org/v1", "kind": "CheckpointRestoreOperator",
                "spec": {"checkpointDirectory": "/var/lib/kubelet/checkpoints",
                         "globalPolicy": {"maxCheckpointsPerContainer": 10}}}
    assert policy.policy_spec(resource)["checkpointDirectory"] == "/var/lib/kubelet/checkpoints"
    with pytest.raises(policy.PolicyError, match="globalPolicy.maxCheckpointPerContainer"):
        policy.policy_spec({"globalPolicy": {"maxCheckpointPerContainer": 10}})
    with pytest.raises(policy.PolicyError, match="whole number"):
        policy.policy_spec({"podPolicies": [{"namespace": "a", "pod": "b", "maxCheckpoints": -1}]})
    with pytest.raises(policy.PolicyError, match="mapping"):
        policy.policy_spec(["not", "a", "policy"])


def test_identity_comes_from_the_archive_then_from_the_kubelet_name():
    recorded = {"container_name": "app", "pod": "web", "namespace": "kube-shop"}
    name = "/ck/checkpoint-web_kube-shop-app-2026-01-10T00:00:00Z.tar"
    assert policy.identity(name, lambda path: recorded) == ("kube-shop", "web", "app")
    assert policy.identity("/ck/checkpoint-web_shop-app-2026-01-10T00:00:00Z.tar", lambda path: None) == \
        ("shop", "web", "app")
    assert policy.identity("/ck/manual.tar", lambda path: None) == ("", "", "manual.tar")
