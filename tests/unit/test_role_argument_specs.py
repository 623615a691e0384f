"""Bad role variables are rejected by the roles' argument_specs before anything runs."""
import json
import subprocess

import pytest

from support import BIN, REPO, ansible_env


def run_role(tmp_path, role, variables):
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": "argument specs", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Apply the role", "ansible.builtin.include_role": {"name": "instanton.platform." + role}}]}]))
    env = dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="default")
    return subprocess.run([str(BIN / "ansible-playbook"), str(playbook), "-e", json.dumps(variables)],
                          cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("role, variables, named", [
    ("host", {"host_preflight_smoke": "sometimes"}, "host_preflight_smoke"),
    ("container_runtime", {"container_runtime_oci_runtime": "docker"}, "container_runtime_oci_runtime"),
    ("criu", {"criu_network_lock": "firewalld"}, "criu_network_lock"),
    ("seccomp", {"seccomp_criu_syscalls": {"not": "a list"}}, "seccomp_criu_syscalls"),
])
def test_bad_values_are_rejected(tmp_path, role, variables, named):
    done = run_role(tmp_path, role, variables)
    assert done.returncode != 0
    assert "Validation of arguments failed" in done.stdout and named in done.stdout, done.stdout[-1500:]
