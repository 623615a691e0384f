"""host_facts for real on a lab host: a ready host, a profile CRIU cannot live with, a host without CRIU.

Everything this test creates on the host is named hf-*."""
import base64
import json

import pytest
from support import LAB_INVENTORY, run_module, target_host

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    CRIU_SYSCALLS)

HOST = target_host() if LAB_INVENTORY.exists() else None
PODMAN_DEFAULT_PROFILE = "/usr/share/containers/seccomp.json"
CRIU_PROFILE = "/tmp/hf-instanton-seccomp.json"
CRIPPLED_PROFILE = "/tmp/hf-crippled-seccomp.json"

pytestmark = pytest.mark.lab


def ansible(module, args):
    """Run one module on the test host ad hoc; its result as a dict."""
    return run_module(module, args, host=HOST, inventory=LAB_INVENTORY)


def shell(command):
    result = ansible("ansible.builtin.shell", {"cmd": command})
    assert result.get("rc") == 0, result
    return result["stdout"]


def criu_profile(default):
    """podman's default profile with CRIU's syscalls allowed for every container, as the host
    role's profile is: drop the rules that deny them or tie them to capabilities, allow them."""
    rules = []
    for rule in default["syscalls"]:
        names = [name for name in rule["names"] if name not in CRIU_SYSCALLS]
        touches_criu = len(names) != len(rule["names"])
        if touches_criu and (rule["action"] != "SCMP_ACT_ALLOW" or rule.get("includes")
                             or rule.get("excludes")):
            rule = dict(rule, names=names)
        if rule["names"]:
            rules.append(rule)
    rules.append({"names": list(CRIU_SYSCALLS), "action": "SCMP_ACT_ALLOW"})
    return dict(default, syscalls=rules)


def crippled_profile(default):
    """Deny by default and allow a handful of syscalls: nothing CRIU or a shell can live with."""
    return {"defaultAction": "SCMP_ACT_ERRNO", "archMap": default.get("archMap"),
            "syscalls": [{"names": ["read", "write", "exit", "exit_group"],
                          "action": "SCMP_ACT_ALLOW"}]}


def put(path, content):
    result = ansible("ansible.builtin.copy", {"dest": path, "content": json.dumps(content),
                                              "mode": "0644"})
    assert not result.get("failed"), result


@pytest.fixture(scope="module")
def profiles():
    slurped = ansible("ansible.builtin.slurp", {"src": PODMAN_DEFAULT_PROFILE})
    default = json.loads(base64.b64decode(slurped["content"]))
    put(CRIU_PROFILE, criu_profile(default))
    put(CRIPPLED_PROFILE, crippled_profile(default))
    yield
    shell("rm -f %s %s" % (CRIU_PROFILE, CRIPPLED_PROFILE))


def host_facts(**args):
    """host_facts with the lab's base image for the smoke test (no registry is reachable)."""
    result = ansible("instanton.platform.host_facts", dict({"smoke_image": "localhost/debian:13"}, **args))
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result


def hf_containers():
    return shell("PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman ps --all --format '{{ '{{' }}.Names{{ '}}' }}'"
                 " | grep '^hf-' || true")


def test_lab2_is_ready_and_restores_a_tcp_listener(profiles):
    result = host_facts(smoke=True, seccomp_profile=CRIU_PROFILE)
    assert result["verdict"] == "ready", result["reasons"]
    assert result["smoke"]["passed"] is True, result["smoke"]
    assert set(result["smoke"]["timings_ms"]) == {"run", "listen", "checkpoint", "restore",
                                                  "answer"}
    facts = result["host_facts"]
    assert facts["clone3"] is True and result["run_options"] == []
    assert facts["criu"]["check"]["required"]["passed"] is True
    assert facts["criu"]["check"]["features"]["clone3_set_tid"]["passed"] is True
    assert hf_containers() == ""


def test_profile_without_criu_syscalls_fails_gate_and_smoke(profiles):
    result = host_facts(smoke=True, seccomp_profile=CRIPPLED_PROFILE)
    assert result["verdict"] == "not_ready"
    gate = [found for found in result["host_facts"]["failed_gates"] if found["gate"] == "seccomp"]
    assert gate and "clone3" in gate[0]["message"] and "ptrace" in gate[0]["message"]
    smoke = result["smoke"]
    assert smoke["passed"] is False
    assert smoke["failed_step"] in ("run", "listen", "checkpoint", "restore", "answer")
    assert "smoke test failed at step %s" % smoke["failed_step"] in " ".join(result["reasons"])
    assert hf_containers() == ""


def test_host_without_criu_is_not_ready_and_says_so(profiles):
    criu = host_facts(seccomp_profile=CRIU_PROFILE)["host_facts"]["criu"]["path"]
    hidden = criu + ".hf-hidden"
    shell("mv %s %s" % (criu, hidden))
    try:
        result = host_facts(seccomp_profile=CRIU_PROFILE)
    finally:
        shell("mv %s %s" % (hidden, criu))
    assert result["verdict"] == "not_ready"
    assert result["host_facts"]["criu"]["path"] is None
    assert any(reason.startswith("CRIU is not installed") and "criu_apt_suite: sid" in reason
               for reason in result["reasons"])
    assert shell("%s --version" % criu).startswith("Version:")
