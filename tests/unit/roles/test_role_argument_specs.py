"""Bad role variables are rejected by the roles' argument_specs before anything runs."""
import pytest

from support import run_role


@pytest.mark.parametrize("role, variables, named", [
    ("host", {"host_preflight_smoke": "sometimes"}, "host_preflight_smoke"),
    ("container_runtime", {"container_runtime_oci_runtime": "docker"}, "container_runtime_oci_runtime"),
    ("criu", {"criu_network_lock": "firewalld"}, "criu_network_lock"),
    ("seccomp", {"seccomp_criu_syscalls": {"not": "a list"}}, "seccomp_criu_syscalls"),
    ("scale_to_zero", {"scale_to_zero_name": "web", "scale_to_zero_image": "localhost/web:instanton",
                       "scale_to_zero_idle_action": "pause"}, "scale_to_zero_idle_action"),
    ("image_trust", {"image_trust_registry": "registry.example:5000", "image_trust_public_key": "/k.pub",
                     "image_trust_repository": "registry.example:5000/instanton",
                     "image_trust_signed_identity": "anyone"}, "image_trust_signed_identity"),
])
def test_bad_values_are_rejected(tmp_path, role, variables, named):
    done = run_role(tmp_path, role, variables)
    assert done.returncode != 0
    assert "Validation of arguments failed" in done.stdout and named in done.stdout, done.stdout[-1500:]
