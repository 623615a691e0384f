"""host_facts: parsing of real command outputs, and the module run for real on this controller."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.host import _host_probe as host_probe
from support import COLLECTIONS_ROOT, HOST_FACTS as FIXTURES, REPO

MODULE = REPO / "plugins" / "modules" / "host_facts.py"

# `criu check --help` tail from CRIU 4.2.1 on lab2 (Debian 13).
CRIU_CHECK_HELP = """\
Check options:
  Without options, "criu check" checks availability of absolutely required
  kernel features, critical for performing dump and restore.
  --extra               add check for extra kernel features
  --experimental        add check for experimental kernel features
  --all                 same as --extra --experimental
  --feature FEAT        only check a particular feature, one of:
                            mnt_id, mem_dirty_track, aio_remap, timerfd, tun,
                            uffd, uffd-noncoop, clone3_set_tid,
                            pagemap_scan_guard_pages

Other options:
  -h|--help             show this text
"""

DEBIAN_13_OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
ID=debian
"""

RHEL_8_6_OS_RELEASE = """\
NAME="Red Hat Enterprise Linux"
VERSION="8.6 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.6"
PLATFORM_ID="platform:el8"
"""


def test_criu_features_come_from_check_help():
    assert host_probe.parse_criu_features(CRIU_CHECK_HELP) == [
        "mnt_id", "mem_dirty_track", "aio_remap", "timerfd", "tun", "uffd", "uffd-noncoop",
        "clone3_set_tid", "pagemap_scan_guard_pages"]
    assert host_probe.parse_criu_features("Usage: criu check") == []


@pytest.mark.parametrize("text, expected", [
    (DEBIAN_13_OS_RELEASE, {"id": "debian", "version": "13"}),
    (RHEL_8_6_OS_RELEASE, {"id": "rhel", "version": "8.6"}),
    (None, {"id": "unknown", "version": ""}),
])
def test_os_release(text, expected):
    assert host_probe.parse_os_release(text) == expected


@pytest.mark.parametrize("fixture, image", [
    ("rhel-8.6.json", "registry.access.redhat.com/ubi8/ubi:latest"),
    ("rhel-9.4.json", "registry.access.redhat.com/ubi9/ubi:latest"),
    ("debian-12-kernel-6.1.json", "docker.io/library/debian:12"),
    ("debian-13-criu-4.2.1.json", "docker.io/library/debian:13"),
    ("ubuntu-24.04.json", "docker.io/library/ubuntu:24.04"),
])
def test_smoke_image_defaults_to_the_recorded_hosts_own_distribution(fixture, image):
    facts = json.loads((FIXTURES / fixture).read_text())
    assert host_probe.default_smoke_image(facts["distribution"]) == image


def test_no_default_smoke_image_for_an_unknown_distribution():
    assert host_probe.default_smoke_image({"id": "unknown", "version": ""}) is None
    assert host_probe.default_smoke_image({"id": "gentoo", "version": "2.17"}) is None


def test_seccomp_facts_for_missing_broken_and_good_profiles(tmp_path):
    assert host_probe.seccomp_facts(str(tmp_path / "none.json"))["exists"] is False
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    facts = host_probe.seccomp_facts(str(broken))
    assert facts["exists"] and not facts["valid_json"] and facts["error"]
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": list(host_probe.CRIU_SYSCALLS), "action": "SCMP_ACT_ALLOW"}]}))
    facts = host_probe.seccomp_facts(str(good))
    assert facts["valid_json"] and facts["not_allowed"] == []
    good.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}))
    assert host_probe.seccomp_facts(str(good))["not_allowed"] == sorted(host_probe.CRIU_SYSCALLS)


def test_rlimits_are_hard_limits_of_this_process():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = None if hard == resource.RLIM_INFINITY else hard
    assert host_probe.rlimits()["nofile_hard"] == expected


def run_module(args, tmp_path):
    """Run the module file the way Ansible does, with its arguments in a JSON file."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS_ROOT))
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    assert "Traceback" not in done.stdout + done.stderr
    return json.loads(done.stdout)


def test_bad_input_fails_cleanly(tmp_path):
    result = run_module({"smoke": "sometimes"}, tmp_path)
    assert result["failed"] and "smoke" in result["msg"]
    result = run_module({"smoke_image": " "}, tmp_path)
    assert result["failed"] and result["msg"] == "smoke_image must not be empty"


def test_check_mode_reads_the_host_and_skips_the_smoke(tmp_path):
    result = run_module({"smoke": True, "seccomp_profile": str(tmp_path / "absent.json"),
                         "_ansible_check_mode": True}, tmp_path)
    assert result["changed"] is False
    assert result["smoke"]["passed"] is None
    assert result["smoke"]["message"] == "check mode: smoke test skipped"
    assert result["host_facts"]["kernel_release"] == os.uname().release
    # The profile is absent, so this controller can never be ready.
    assert result["verdict"] == "not_ready"
    assert any("absent.json does not exist" in reason for reason in result["reasons"])


@pytest.mark.parametrize("runtime, network", [
    ("crun", "none"),
    # runc restores the network namespace it made as an empty one (loopback down): podman's network then.
    ("runc", "bridge"),
    (None, "none"),
])
def test_the_smoke_container_gets_a_network_its_runtime_restores(runtime, network):
    assert host_probe.smoke_network(runtime) == ["--network", network]
