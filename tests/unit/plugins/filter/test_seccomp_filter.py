"""criu_seccomp_profile: podman-style rules kept, CRIU's syscalls allowed whatever the capabilities."""
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.instanton.platform.plugins.filter.seccomp import criu_seccomp_profile
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import seccomp_not_allowed
from support import REPO

# Shaped like containers-common's seccomp.json.
BASE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [
        {"names": ["read", "write", "clone3", "kcmp"], "action": "SCMP_ACT_ALLOW", "args": []},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace", "process_vm_readv"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
        {"names": ["setns", "mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"name": "personality", "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
    ],
}
CRIU = ["clone3", "kcmp", "ptrace", "process_vm_readv", "setns"]


def unconditionally_allowed(profile):
    found = set()
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("includes") and not rule.get("args"):
            found.update(rule.get("names") or [rule.get("name")])
    return found


def test_criu_syscalls_are_allowed_without_capabilities():
    assert set(CRIU) <= unconditionally_allowed(criu_seccomp_profile(BASE, CRIU))


def test_rules_denying_them_are_dropped_or_narrowed():
    result = criu_seccomp_profile(BASE, CRIU)
    denied = [rule for rule in result["syscalls"] if rule["action"] != "SCMP_ACT_ALLOW"]
    assert denied == [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]


def test_everything_else_is_kept():
    result = criu_seccomp_profile(BASE, CRIU)
    assert result["defaultAction"] == "SCMP_ACT_ERRNO" and result["archMap"] == BASE["archMap"]
    assert BASE["syscalls"][0] in result["syscalls"] and BASE["syscalls"][4] in result["syscalls"]


def test_the_base_profile_is_not_modified():
    before = repr(BASE)
    criu_seccomp_profile(BASE, CRIU)
    assert repr(BASE) == before


def test_same_input_same_output():
    assert criu_seccomp_profile(BASE, CRIU) == criu_seccomp_profile(BASE, list(reversed(CRIU)))


@pytest.mark.parametrize("bad", [None, [], {"syscalls": []}, {"defaultAction": "SCMP_ACT_ERRNO"}])
def test_not_a_profile(bad):
    with pytest.raises(AnsibleFilterError, match="defaultAction and syscalls"):
        criu_seccomp_profile(bad, CRIU)


def test_the_roles_profile_moves_vmsplice_from_the_deny_rule_and_satisfies_the_preflight():
    """containers-common denies vmsplice (EPERM) with userfaultfd and friends; CRIU refills pipes
    with it when it restores (a Node.js app failed with "Error splicing data" without it)."""
    defaults = REPO / "roles" / "seccomp" / "defaults" / "main.yml"
    syscalls = yaml.safe_load(defaults.read_text())["seccomp_criu_syscalls"]
    base = dict(BASE, syscalls=BASE["syscalls"] + [
        {"names": ["vmsplice", "userfaultfd", "io_pgetevents"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}])
    result = criu_seccomp_profile(base, syscalls)
    assert "vmsplice" in unconditionally_allowed(result)
    assert {"names": ["io_pgetevents"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1} in result["syscalls"]
    assert seccomp_not_allowed(result) == []
