"""Kubernetes checkpoint and restore against a REAL CRI-O on lab hosts (1.36.3 on the first
host, 1.37.0-dev on the second; see lab/crio.yml).

Only the kubelet is a STAND-IN (tests/kubelet_standin.py: its HTTPS layer, run on the
controller): behind it a real CRI-O checkpoints through its CRI socket, the way the kubelet
asks it. The path is kubelet_checkpoint -> stand-in HTTP -> CRI-O -> CRIU; then
checkpoint_archive_info and checkpoint_image on the archive CRI-O wrote, and crio_restore
starts it in a new pod, where the counter must go on from where it was.
"""
import json
import re
import shlex
import subprocess
import time
import uuid

import pytest

from kubelet_standin import StandInKubelet, crio_backend, make_pki, start_kubelet
from support import LAB_INVENTORY, REPO, lab_host_ssh, lab_hosts, lab_ssh, run_crio_lab, run_module

pytestmark = pytest.mark.lab
COUNTER_IMAGE = "localhost/instanton-crio-counter:latest"
# A token only this process knows and a count it keeps in memory: a restarted counter would
# have a new token and start again at 1.
COUNTER = ("token=$(cat /proc/sys/kernel/random/uuid); i=0; while :; do i=$((i+1)); "
           "echo \"$token $i\" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done")
NAMESPACE = "shop"
RESULTS = REPO / ".lab" / "results"


def ssh(host, command, check=True):
    return lab_ssh(host, command, check)


def run_on(host):
    """For the stand-in's CRI-O backend: a shell command on HOST -> (rc, stdout, stderr)."""
    def run(command):
        options, target = lab_host_ssh(host)
        done = subprocess.run(["ssh"] + options + [target, command], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=300, check=False)
        return done.returncode, done.stdout, done.stderr
    return run


def host_at(index):
    hosts = lab_hosts() if LAB_INVENTORY.exists() else []
    if index >= len(hosts):
        pytest.skip("the lab has no host %d (LAB_HOSTS=2 gives both CRI-O versions)" % (index + 1))
    return hosts[index]


@pytest.fixture(scope="module")
def counter_image(crio_lab):
    """The counter's image (with a CMD: CRI-O restores only such containers) on every host."""
    containerfile = "FROM localhost/debian:13\nCMD [\"sh\", \"-c\", %s]\n" % json.dumps(COUNTER)
    for host in crio_lab:
        build = ("podman image exists {image} || (d=$(mktemp -d) && printf %s {file} | "
                 "podman build -q -t {image} -f - $d && rm -rf $d)")
        ssh(host, build.format(image=COUNTER_IMAGE, file=shlex.quote(containerfile)))
    return crio_lab


def start_pod(host, pod, container, image, command=None):
    """A pod and container as the kubelet creates them (its labels), with crictl."""
    uid = str(uuid.uuid4())
    labels = {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": NAMESPACE,
              "io.kubernetes.pod.uid": uid}
    pod_config = {"metadata": {"name": pod, "namespace": NAMESPACE, "uid": uid}, "labels": labels}
    container_config = {"metadata": {"name": container}, "image": {"image": image},
                        "labels": dict(labels, **{"io.kubernetes.container.name": container})}
    if command:
        container_config["command"] = command
    directory = "/var/tmp/instanton-crio-%s" % pod
    script = ("set -e; mkdir -p -m 0700 {d}; cd {d}; printf %s {p} > pod.json; "
              "printf %s {c} > ctr.json; pod=$(crictl runp pod.json); "
              "ctr=$(crictl create --no-pull $pod ctr.json pod.json); crictl start $ctr >/dev/null; "
              "echo $pod $ctr")
    return ssh(host, script.format(d=directory, p=shlex.quote(json.dumps(pod_config)),
                                   c=shlex.quote(json.dumps(container_config)))).split()


def read_count(host, container_id):
    token, count = ssh(host, "crictl exec %s cat /tmp/count" % container_id).split()
    return token, int(count)


def wait_count(host, container_id, above, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            token, count = read_count(host, container_id)
            if count > above:
                return token, count
        except (AssertionError, ValueError):
            pass
        assert time.time() < deadline, "the counter in %s did not pass %d" % (container_id, above)
        time.sleep(0.2)


def remove(host, pods, images=(), files=()):
    for pod in pods:
        ssh(host, "crictl pods -q --name '^%s$' | xargs -r crictl rmp -f; rm -rf /var/tmp/instanton-crio-%s"
                  % (pod, pod), check=False)
    for image in images:
        ssh(host, "podman rmi -f %s" % image, check=False)
    for path in files:
        ssh(host, "rm -f %s" % shlex.quote(path), check=False)


def checkpoint_through_standin(host, pod, container, tmp_path):
    """kubelet_checkpoint -> the stand-in's HTTPS layer -> CRI-O on HOST; (result, seconds)."""
    pki = make_pki(tmp_path)
    server, port = start_kubelet(pki)
    StandInKubelet.backend = staticmethod(crio_backend(run_on(host)))
    StandInKubelet.requests.clear()
    started = time.time()
    try:
        result = run_module("kubelet_checkpoint", {
            "node": "localhost", "port": port, "namespace": NAMESPACE, "pod": pod,
            "container": container, "timeout": 60, "client_cert": pki["client"][2],
            "client_key": pki["client"][3], "ca_cert": pki["ca"][2]})
    finally:
        server.shutdown()
        StandInKubelet.backend = None
    return result, time.time() - started


def record(name, figures):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("crio-%s.json" % name)).write_text(json.dumps(figures, indent=2) + "\n")


def test_crictl_answers_and_crio_node_wrote_the_key_this_crio_knows(crio_lab):
    assert sorted(crio_lab.values()) == ["1.36.3", "1.37.0"] or len(crio_lab) < 2, crio_lab
    for host, version in crio_lab.items():
        dropin = ssh(host, "cat /etc/crio/crio.conf.d/50-instanton.conf")
        config = ssh(host, "crio config 2>/dev/null")
        if version.startswith("1.36"):
            assert "[crio.checkpoint_restore]" not in config
            assert "enable_criu_support = true" in dropin and "container_level_enabled" not in dropin
        else:
            assert re.search(r'container_level_enabled = "checkpoint_restore"', config)
            assert 'container_level_enabled = "checkpoint_restore"' in dropin
            assert "enable_criu_support" not in dropin


def test_crio_lab_and_crio_node_rerun_change_nothing(crio_lab):
    done = run_crio_lab()
    assert done.returncode == 0, done.stdout[-3000:]
    for host in crio_lab:
        assert re.search(r"%s\s+: ok=\d+\s+changed=0 " % host, done.stdout), done.stdout[-3000:]
    assert "checkpointed a container (checkpoint_restore), and restored it in a new pod" in \
        " ".join(done.stdout.split())


@pytest.mark.parametrize("index", [0, 1], ids=["crio-1.36", "crio-1.37"])
def test_counter_checkpointed_through_the_kubelet_api_continues_in_a_new_pod(
        counter_image, index, tmp_path):
    host = host_at(index)
    suffix = uuid.uuid4().hex[:6]
    pod_a, pod_b, restore_image = "counter-a-" + suffix, "counter-b-" + suffix, \
        "localhost/counter-restore:" + suffix
    archive = None
    try:
        _pod_id, container_a = start_pod(host, pod_a, "counter", COUNTER_IMAGE)
        token, before = wait_count(host, container_a, 10)
        result, checkpoint_s = checkpoint_through_standin(host, pod_a, "counter", tmp_path)
        assert result.get("failed") is not True, result
        archive = result["archive"]
        assert StandInKubelet.requests[0]["path"] == "/checkpoint/%s/%s/counter?timeout=60" % (
            NAMESPACE, pod_a)
        at_checkpoint = read_count(host, container_a)[1]
        remove(host, [pod_a])

        info = run_module("checkpoint_archive_info", {"path": archive}, host=host, inventory=LAB_INVENTORY)
        assert info.get("failed") is not True, info
        assert (info["engine"], info["pod"], info["namespace"], info["container_name"]) == (
            "CRI-O", pod_a, NAMESPACE, "counter")
        assert info["image"] == COUNTER_IMAGE and info["absent"] == {}
        size = int(ssh(host, "stat -c %%s %s" % archive))
        mode = ssh(host, "stat -c %%a %s" % archive).strip()

        built = run_module("checkpoint_image", {"archive": archive, "image": restore_image},
                           host=host, inventory=LAB_INVENTORY)
        assert built.get("failed") is not True, built
        restored = run_module("crio_restore", {"image": restore_image, "pod": pod_b,
                                               "namespace": NAMESPACE, "container": "counter"},
                              host=host, inventory=LAB_INVENTORY)
        assert restored.get("failed") is not True, restored
        first_token, first = read_count(host, restored["container_id"])
        later_token, later = wait_count(host, restored["container_id"], first)
        # Same process (its token), going on from its checkpointed count: not a restart.
        assert first_token == later_token == token
        # Pod A kept counting after its checkpoint, so its count then only bounds ours from above
        # when the restore was quick; what matters: no new token, no count below the one seen
        # before the checkpoint, and still counting.
        assert before <= first < later
        again = run_module("crio_restore", {"image": restore_image, "pod": pod_b,
                                            "namespace": NAMESPACE, "container": "counter"},
                           host=host, inventory=LAB_INVENTORY)
        assert again["changed"] is False and again["container_id"] == restored["container_id"]
        record(crio_version_name(counter_image[host]), {
            "crio": counter_image[host], "count_before_checkpoint": before,
            "count_just_after_checkpoint": at_checkpoint, "first_count_restored": first,
            "later_count_restored": later, "kubelet_checkpoint_s": round(checkpoint_s, 2),
            "restore_ms": restored["restore_ms"], "archive_bytes": size, "archive_mode": mode,
            "checkpoint_level": restored["checkpoint_level"]})
    finally:
        remove(host, [pod_a, pod_b], [restore_image], [archive] if archive else [])


def crio_version_name(version):
    return version.replace(".", "_")


def test_restore_refusals_name_cause_and_fix_and_leave_nothing(crio_lab):
    """Under checkpoint_only (CRI-O 1.37) the node still checkpoints (crio_node's proof), and
    crio_restore refuses before creating anything; a namespaced signature policy too."""
    host = host_at(1)
    args = {"image": "localhost/any-checkpoint:latest", "pod": "refused-" + uuid.uuid4().hex[:6],
            "namespace": NAMESPACE, "container": "counter"}
    switched = run_crio_lab({"crio_lab_checkpoint_level": "checkpoint_only"}, limit=host)
    try:
        assert switched.returncode == 0, switched.stdout[-3000:]
        assert "checkpointed a container (checkpoint_only)." in " ".join(switched.stdout.split())
        refused = run_module("crio_restore", args, host=host, inventory=LAB_INVENTORY)
        assert refused["failed"] is True
        assert "container_level_enabled is checkpoint_only" in refused["msg"]
        assert 'Fix: set it to "checkpoint_restore"' in refused["msg"]
    finally:
        back = run_crio_lab(limit=host)
        assert back.returncode == 0, back.stdout[-3000:]
    policy = "/etc/crio/policies/%s.json" % NAMESPACE
    ssh(host, "mkdir -p /etc/crio/policies && cp /etc/containers/policy.json %s" % policy)
    try:
        refused = run_module("crio_restore", args, host=host, inventory=LAB_INVENTORY)
    finally:
        ssh(host, "rm -f %s" % policy)
    assert refused["failed"] is True
    assert "namespaced signature policy %s" % policy in refused["msg"] and "Fix:" in refused["msg"]
    assert ssh(host, "crictl pods -q --name '^%s$'" % args["pod"]).strip() == ""
