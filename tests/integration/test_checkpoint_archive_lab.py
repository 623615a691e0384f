"""checkpoint_archive_info and checkpoint_image on real podman archives made on a lab host.

Each archive is compared field by field with `checkpointctl inspect --all --format=json` on
the same file; the checkpoint image is restored by podman to prove it is a real checkpoint.
"""
import json
import shlex
import uuid

import pytest

from support import LAB_INVENTORY, lab_ssh, run_module, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
WORKDIR = "/var/tmp/instanton-k8s-test"
# A shell with children, an open file, a deleted file and a TCP listener (perl is in
# Debian's minimal image): enough for processes, files, sockets and the rootfs diff.
WORKLOAD = ("echo hi > /tmp/newfile; rm -f /etc/issue.net; exec 3>/tmp/log; sleep 1000 & "
            "perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>8080,Listen=>5,"
            "ReuseAddr=>1) or die; sleep 1000' & wait")
COMPRESSIONS = ("none", "gzip", "zstd")


def ssh(command, check=True):
    return lab_ssh(HOST, command, check)


def remove_leftovers(names):
    for name in names:
        ssh("podman rm -f -t 0 %s" % name, check=False)
    ssh("podman rmi -f localhost/k8stest-ckpt:latest; rm -rf %s" % WORKDIR, check=False)


@pytest.fixture(scope="module")
def archives(request):
    # checkpointctl is the reference; zstd streams .tar.zst archives for the module.
    ssh("dpkg -s checkpointctl zstd >/dev/null 2>&1 || "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q checkpointctl zstd")
    ssh("rm -rf %s && mkdir -m 0700 -p %s" % (WORKDIR, WORKDIR))
    made = {}
    # Registered before the first container, so a failed checkpoint still cleans up.
    request.addfinalizer(lambda: remove_leftovers([name for name, _path in made.values()]))
    for compression in COMPRESSIONS:
        name = "k8stest-%s-%s" % (compression, uuid.uuid4().hex[:6])
        path = "%s/%s.tar.%s" % (WORKDIR, name, compression)
        made[compression] = (name, path)
        ssh("podman run -d --name %s localhost/debian:13 sh -c %s && sleep 1 && "
            "podman container checkpoint --tcp-established --compress %s --export %s %s"
            % (name, shlex.quote(WORKLOAD), compression, path, name))
    return made


def checkpointctl(path):
    return json.loads(ssh("checkpointctl inspect --all --format=json %s" % path))[0]


def fds_as_checkpointctl(descriptors):
    """Ours keep fd numbers as ints; checkpointctl prints 'TYPE N'. Socket paths differ."""
    return [{"pid": entry["pid"], "open_files": [
        {"type": item["type"], "fd": item["fd"] if item["fd"] in ("cwd", "root")
         else "%s %d" % (item["type"], item["fd"]), "path": item["path"]}
        for item in entry["open_files"] if item["type"] != "INETSK"]}
        for entry in descriptors]


def tree_without_cmdline(node):
    """The tree with siblings in PID order: checkpointctl does not keep one order."""
    children = sorted(node.get("children", []), key=lambda child: child["pid"])
    return {"pid": node["pid"], "command": node["command"],
            "children": [tree_without_cmdline(child) for child in children]}


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_archive_info_matches_checkpointctl(archives, compression):
    name, path = archives[compression]
    ours = run_module("checkpoint_archive_info", {"path": path}, host=HOST, inventory=LAB_INVENTORY)
    assert ours.get("failed") is not True, ours
    reference = checkpointctl(path)
    for field in ("container_name", "image", "id", "runtime", "created", "engine",
                  "checkpoint_size"):
        assert ours[field] == reference[field], field
    assert ours["compression"] == compression and ours["container_name"] == name
    for field, value in reference["statistics"].items():
        assert ours["statistics"][field] == value, field
    assert tree_without_cmdline(ours["process_tree"]) == tree_without_cmdline(
        reference["process_tree"])
    expected_fds = [{"pid": entry["pid"], "open_files": [
        item for item in entry["open_files"] if item["type"] != "INETSK"]}
        for entry in reference["file_descriptors"]]
    assert fds_as_checkpointctl(ours["file_descriptors"]) == expected_fds
    [socket] = ours["sockets"][0]["open_sockets"]
    expected = reference["sockets"][0]["open_sockets"][0]["data"]
    assert (socket["protocol"], socket["state"], socket["src"], socket["src_port"]) == (
        expected["type"], expected["state"], expected["src"], expected["src_port"])
    assert ours["deleted_files"] == ["/etc/issue.net"]
    # checkpointctl 1.3.0 prints blank command lines for CRIU 4.2 images; ours come from
    # the checkpointed memory pages, so check them against what the container ran.
    commands = dict((proc["command"], proc["cmdline"]) for proc in ours["processes"])
    assert commands["sleep"] == "sleep 1000"
    assert commands["sh"].startswith("sh -c echo hi > /tmp/newfile")
    assert sum(proc["memory_pages"] for proc in ours["processes"]) == \
        reference["statistics"]["pages_written"]


def test_checkpoint_image_is_idempotent_and_restorable(archives):
    name, path = archives["gzip"]
    args = {"archive": path, "image": "localhost/k8stest-ckpt:latest"}
    check = run_module("checkpoint_image", args, host=HOST, inventory=LAB_INVENTORY, check=True)
    assert check["changed"] is True and check["image_id"] is None
    built = run_module("checkpoint_image", args, host=HOST, inventory=LAB_INVENTORY)
    assert built.get("failed") is not True, built
    assert built["changed"] is True
    again = run_module("checkpoint_image", args, host=HOST, inventory=LAB_INVENTORY)
    assert again["changed"] is False and again["image_id"] == built["image_id"]
    inspect = json.loads(ssh("podman image inspect localhost/k8stest-ckpt:latest"))[0]
    assert inspect["Annotations"]["io.kubernetes.cri-o.annotations.checkpoint.name"] == name
    assert inspect["Annotations"]["org.criu.checkpoint.container.name"] == name
    assert inspect["Labels"]["io.instanton.checkpoint.sha256"] == built["sha256"]
    # The proof that it is a checkpoint image: podman restores the container from it.
    ssh("podman rm -f -t 0 %s" % name)
    ssh("podman container restore localhost/k8stest-ckpt:latest")
    assert ssh("podman exec %s cat /tmp/newfile" % name).strip() == "hi"
    assert "sleep 1000" in ssh("podman top %s args" % name)


def test_zstd_without_the_zstd_program_fails_clearly(archives):
    path = archives["zstd"][1]
    result = run_module("checkpoint_archive_info", {"path": path, "zstd_executable": "no-zstd"},
                        host=HOST, inventory=LAB_INVENTORY)
    assert result["failed"] is True
    assert "no zstd executable was found" in result["msg"]
