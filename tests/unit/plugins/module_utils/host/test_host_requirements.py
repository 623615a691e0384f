"""The checkpoint/restore gates over facts recorded from real releases (fixtures/host_facts)."""
import json

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.host import _host_requirements as hr
from support import HOST_FACTS as FIXTURES

NS_LAST_PID_VOLUME = ["--volume", "/proc/sys/kernel/ns_last_pid:/proc/sys/kernel/ns_last_pid:rw"]


def load(name):
    return json.loads((FIXTURES / (name + ".json")).read_text())


@pytest.mark.parametrize("name", sorted(path.stem for path in FIXTURES.glob("*.json")))
def test_recorded_release_gets_expected_verdict(name):
    facts = load(name)
    expected = facts["_expected"]
    decision = hr.evaluate(facts)
    assert decision["verdict"] == expected["verdict"]
    assert [found["gate"] for found in decision["failed_gates"]] == expected["failed_gates"]
    assert decision["clone3"] is expected["clone3"]
    assert decision["run_options"] == ([] if expected["clone3"] else NS_LAST_PID_VOLUME)
    assert len(decision["warnings"]) == expected.get("warnings", 0)
    assert len(decision["reasons"]) == len(expected["failed_gates"])


def test_every_fixture_says_where_its_numbers_come_from():
    for path in FIXTURES.glob("*.json"):
        source = json.loads(path.read_text())["_source"]
        assert {"note", "kernel", "criu", "podman", "runtime"} <= set(source), path.name


def test_criu_too_old_for_kernel_names_the_fix():
    message = hr.evaluate(load("debian-13-criu-4.1.1"))["reasons"][0]
    assert message.startswith("CRIU 4.1.1 is too old for kernel 6.18: kernels 6.16+")
    assert "criu issue 2705" in message
    assert "install CRIU 4.2+" in message and "criu_apt_suite: sid" in message


def test_kernel_6_13_needs_criu_4_1_for_the_vdso():
    facts = dict(load("debian-13-criu-4.2.1"), kernel_release="6.13.2-amd64",
                 criu={"version_output": "Version: 4.0\n"})
    message = hr.evaluate(facts)["reasons"][0]
    assert "kernels 6.13+" in message and "vDSO" in message and "CRIU 4.1+" in message
    facts["criu"] = {"version_output": "Version: 4.1\n"}
    assert hr.evaluate(facts)["verdict"] == "ready"


def test_rhel_8_4_fails_on_the_missing_capability_and_names_rhel_8_6():
    kernel_gate = hr.evaluate(load("rhel-8.4"))["failed_gates"][0]
    assert kernel_gate["gate"] == "kernel"
    assert "CAP_CHECKPOINT_RESTORE" in kernel_gate["message"]
    assert "RHEL 8.6" in kernel_gate["message"]


def test_el8_backport_starts_at_kernel_372():
    assert hr.checkpoint_restore_capability({"kernel_release": "4.18.0-372.9.1.el8.x86_64"})
    assert not hr.checkpoint_restore_capability({"kernel_release": "4.18.0-348.el8.x86_64"})
    # The backport is RHEL's: a plain 4.18 kernel with a high build number has no such thing.
    assert not hr.checkpoint_restore_capability({"kernel_release": "4.18.0-400-generic"})


def test_cap_last_cap_read_from_the_host_beats_the_version_rule():
    assert hr.checkpoint_restore_capability({"kernel_release": "4.18.0-305.el8.x86_64",
                                             "cap_last_cap": 40})
    assert not hr.checkpoint_restore_capability({"kernel_release": "6.1.0-26-amd64",
                                                 "cap_last_cap": 39})


def test_ubuntu_24_04_without_criu_points_at_the_ppa():
    message = hr.evaluate(load("ubuntu-24.04"))["reasons"][0]
    assert "CRIU is not installed" in message and "ppa:criu/ppa" in message


def test_old_runc_loses_clone3_and_must_be_upgraded():
    decision = hr.evaluate(load("ubuntu-22.04"))
    runtime = [found for found in decision["failed_gates"] if found["gate"] == "runtime"][0]
    assert "runc 1.1.0 cannot mount /proc/sys/kernel/ns_last_pid" in runtime["message"]
    assert "runc 1.1.3+" in runtime["message"]
    assert decision["clone3"] is False


def test_crun_without_criu_support_fails():
    facts = dict(load("rhel-9.4"), runtime={
        "name": "crun", "version_output": "crun version 1.14.3\n+SYSTEMD +SELINUX +CAP +YAJL\n"})
    message = hr.evaluate(facts)["reasons"][0]
    assert "without CRIU support" in message and "+CRIU" in message


def test_podman_4_0_cannot_make_checkpoint_images():
    message = hr.evaluate(load("rhel-9.0"))["reasons"][0]
    assert "podman 4.0.2 cannot make checkpoint images" in message and "--create-image" in message


def test_podman_before_4_4_warns_that_it_cannot_run_checkpoint_images():
    warnings = hr.evaluate(load("debian-12-kernel-6.1"))["warnings"]
    assert warnings == ["podman 4.3.1 can make checkpoint images but only podman 4.4+ can "
                        "`podman run` them; use `podman container restore IMAGE`"]


def test_failed_criu_check_is_a_gate_with_criu_own_words():
    reasons = hr.evaluate(load("debian-12-kernel-6.18"))["reasons"]
    assert any("Unexpected rt vDSO area bounds" in reason for reason in reasons)


def test_failed_smoke_test_makes_the_host_not_ready():
    smoke = {"passed": False, "failed_step": "restore", "message": "criu failed"}
    decision = hr.evaluate(load("debian-13-criu-4.2.1"), smoke)
    assert decision["verdict"] == "not_ready"
    assert decision["reasons"] == ["smoke test failed at step restore: criu failed"]
    assert hr.evaluate(load("debian-13-criu-4.2.1"), dict(smoke, passed=True))["verdict"] == "ready"


@pytest.mark.parametrize("profile, gate_text", [
    ({"path": "/x.json", "exists": False}, "does not exist"),
    ({"path": "/x.json", "exists": True, "valid_json": False, "error": "Expecting value"},
     "not valid JSON (Expecting value)"),
    ({"path": "/x.json", "exists": True, "valid_json": True, "not_allowed": ["kcmp", "ptrace"]},
     "does not allow kcmp, ptrace unconditionally"),
])
def test_seccomp_profile_problems_name_the_profile(profile, gate_text):
    facts = dict(load("debian-13-criu-4.2.1"), seccomp_profile=profile)
    message = hr.evaluate(facts)["reasons"][0]
    assert "/x.json" in message and gate_text in message


PODMAN_LIKE_PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["prctl", "ptrace", "process_vm_readv", "process_vm_writev", "rseq",
                   "unshare", "setns"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["setns"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
    ],
}


def test_seccomp_capability_gated_and_denied_syscalls_are_not_allowed():
    assert hr.seccomp_not_allowed(PODMAN_LIKE_PROFILE) == ["clone3", "kcmp", "setns", "vmsplice"]


def test_seccomp_profile_allowing_criu_syscalls_passes():
    profile = {"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": list(hr.CRIU_SYSCALLS), "action": "SCMP_ACT_ALLOW"}]}
    assert hr.seccomp_not_allowed(profile) == []
    assert hr.seccomp_not_allowed({"defaultAction": "SCMP_ACT_ALLOW"}) == []


@pytest.mark.parametrize("release, version", [
    ("4.18.0-372.9.1.el8.x86_64", (4, 18, 0, 372)),
    ("5.14.0-70.13.1.el9_0.x86_64", (5, 14, 0, 70)),
    ("6.1.0-26-amd64", (6, 1, 0, 26)),
    ("6.18.44-fc-v595", (6, 18, 44, 0)),
    ("6.8.0-31-generic", (6, 8, 0, 31)),
    ("5.9", (5, 9, 0, 0)),
    ("garbage", None),
])
def test_kernel_version(release, version):
    assert hr.kernel_version(release) == version


@pytest.mark.parametrize("output, version", [
    ("Version: 3.15\n", (3, 15)),
    ("Version: 4.2.1\nGitID: v4.2.1\n", (4, 2, 1)),
    ("", None),
    (None, None),
    ("criu: command not found", None),
])
def test_criu_version(output, version):
    assert hr.criu_version(output) == version


@pytest.mark.parametrize("output, version", [
    ("podman version 4.0.2", (4, 0, 2)),
    ("podman version 4.9.4-rhel", (4, 9, 4)),
    ("Client:       Podman Engine\nVersion:      5.4.2\nAPI Version:  5.4.2\n", (5, 4, 2)),
    ("5.4.2\n", (5, 4, 2)),
    (None, None),
])
def test_podman_version(output, version):
    assert hr.podman_version(output) == version


@pytest.mark.parametrize("name, output, expected", [
    ("crun", "crun version 1.21\ncommit: 10269840aa07fb7e6b7e1acff6198692d8ff5c88\n"
             "rundir: /run/crun\nspec: 1.0.0\n"
             "+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +CRIU +WASM:wasmedge +YAJL",
     {"name": "crun", "version": (1, 21), "criu_support": True}),
    ("crun", "crun version 1.4.4\ncommit: x\nspec: 1.0.0\n+SYSTEMD +SELINUX +CAP +SECCOMP +YAJL",
     {"name": "crun", "version": (1, 4, 4), "criu_support": False}),
    ("runc", "runc version 1.1.3\ncommit: v1.1.3-0-g6724737f\nspec: 1.0.2-dev\n",
     {"name": "runc", "version": (1, 1, 3), "criu_support": True}),
    ("crun", None, {"name": "crun", "version": None, "criu_support": False}),
])
def test_runtime_details(name, output, expected):
    assert hr.runtime_details(name, output) == expected


@pytest.mark.parametrize("release, minimum", [
    ("6.1.0-26-amd64", "3.15"),        # Debian 12's own kernel: its CRIU 3.17 is fine
    ("6.12.9-amd64", "3.15"),
    ("6.13.2-amd64", "4.1"),           # vDSO moved
    ("6.15.0", "4.1"),
    ("6.16.1-amd64", "4.2"),           # SO_PASSCRED/SO_PASSSEC on inet sockets
    ("6.18.44-fc-v595", "4.2"),        # this machine's kernel
    ("4.18.0-372.9.1.el8.x86_64", "3.15"),
])
def test_criu_for_kernel_table(release, minimum):
    found = hr.criu_for_kernel(release)
    assert found["minimum"] == minimum
    assert found["newest"] is False and found["warning"] is None


def test_debian_12_criu_3_17_is_ready_on_its_own_kernel_only():
    assert hr.evaluate(load("debian-12-kernel-6.1"))["verdict"] == "ready"
    assert hr.evaluate(load("debian-12-kernel-6.18"))["verdict"] == "not_ready"


@pytest.mark.parametrize("release", ["6.19.0-rc1", "7.0.3-amd64", "not-a-kernel"])
def test_kernel_the_table_does_not_know_gets_the_newest_criu_and_a_warning(release):
    found = hr.criu_for_kernel(release)
    assert found["newest"] is True
    assert found["minimum"] == "4.2" if release[0].isdigit() else found["minimum"] == "3.15"
    assert release in found["warning"] and "newest CRIU" in found["warning"]


def test_preflight_warns_about_a_kernel_the_table_does_not_know():
    facts = dict(load("debian-13-criu-4.2.1"), kernel_release="7.0.3-amd64")
    decision = hr.evaluate(facts)
    assert decision["verdict"] == "ready"
    assert [found for found in decision["warnings"] if "7.0.3-amd64" in found]


def test_vmsplice_is_among_the_syscalls_a_restore_profile_must_allow():
    # CRIU refills pipes that held data with vmsplice; containers-common denies it.
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": [name for name in hr.CRIU_SYSCALLS if name != "vmsplice"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["vmsplice"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    assert hr.seccomp_not_allowed(profile) == ["vmsplice"]


def test_rhel_8_6_kernel_alone_gives_the_ns_last_pid_volume_the_modules_apply():
    facts = load("rhel-8.6")
    assert hr.ns_last_pid_options(facts["kernel_release"]) == hr.evaluate(facts)["run_options"] == NS_LAST_PID_VOLUME
    assert hr.ns_last_pid_options(load("debian-13-criu-4.2.1")["kernel_release"]) == []
