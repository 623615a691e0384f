"""Verify a converged host: packages and versions, CRIU config, the seccomp profile, the
capabilities restore gets, and a real checkpoint/restore through the preflight."""
import json
import re
import sys
from pathlib import Path

import pytest

# molecule runs this from the project directory; the collection is importable through .collections.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / ".collections"))
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (  # noqa: E402
    SECCOMP_PROFILE_PATH as PROFILE, criu_for_kernel)

CRIU_RESTORE_SYSCALLS = {"clone3", "kcmp", "process_vm_readv", "ptrace", "setns", "unshare", "rseq"}
CAP_CHECKPOINT_RESTORE, CAP_SYS_PTRACE, CAP_SETPCAP = 40, 19, 8


def version(text):
    return tuple(int(part) for part in re.search(r"(\d+)\.(\d+)", text).groups())


@pytest.mark.parametrize("package", ["podman", "crun", "criu", "libcriu2", "nftables", "zstd"])
def test_package_installed(host, package):
    assert host.package(package).is_installed


def test_criu_is_new_enough_for_the_kernel(host):
    # The collection's one kernel -> CRIU table, as the criu role and the preflight read it.
    kernel = host.check_output("uname -r")
    criu = version(host.check_output("criu --version"))
    needed = version(criu_for_kernel(kernel)["minimum"])
    assert criu >= needed, "CRIU %s on kernel %s" % (criu, kernel)


def test_crun_has_criu_support(host):
    assert "+CRIU" in host.check_output("crun --version")


def test_criu_config(host):
    config = host.file("/etc/criu/default.conf")
    assert config.mode == 0o644
    assert "network-lock nftables" in config.content_string


def test_podman_ulimits_fit_the_host(host):
    hard_nofile = host.check_output("bash -c 'ulimit -Hn'")
    assert 'nofile=%s:%s' % (hard_nofile, hard_nofile) in \
        host.file("/etc/containers/containers.conf.d/50-instanton.conf").content_string


def test_seccomp_profile_allows_criu(host):
    profile = json.loads(host.file(PROFILE).content_string)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    unconditional = set()
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("includes"):
            unconditional.update(rule.get("names", []))
    assert CRIU_RESTORE_SYSCALLS <= unconditional


def test_restore_capabilities_and_no_more(host):
    status = host.check_output(
        "PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman run --rm --network none --cap-add CHECKPOINT_RESTORE "
        "--cap-add SETPCAP --security-opt seccomp=%s localhost/debian:13 grep CapEff /proc/self/status" % PROFILE)
    effective = int(status.split()[1], 16)
    assert effective & (1 << CAP_CHECKPOINT_RESTORE)
    assert effective & (1 << CAP_SETPCAP)
    assert not effective & (1 << CAP_SYS_PTRACE)


def test_preflight_smoke_checkpoint_and_restore(host):
    result = host.ansible("instanton.platform.host_facts", "smoke=true smoke_image=localhost/debian:13", check=False)
    assert result["verdict"] == "ready", result.get("reasons")
    assert result["smoke"]["passed"], result["smoke"]
