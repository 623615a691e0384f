"""One home per fact. The kernel -> CRIU table is edited in its one place (on a copy of the collection)
and every consumer follows: the criu role, the generic image build and the preflight. libcriu's package
is named by the criu role only; the seccomp profile path is one constant that modules and roles read."""
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from support import BIN, COLLECTIONS_ROOT, HOST_FACTS, REPO, ansible_env, run_module

TABLE_HOME = "plugins/module_utils/host/_host_requirements.py"
# A kernel the table has no row of its own for (6.16+ needs CRIU 4.2), and the row the test adds.
KERNEL = "6.17.0-1-amd64"
NEW_ROW = '    ((6, 17), (4, 9), "a row added by the one-home test"),\n'


@pytest.fixture(scope="module")
def edited_copy(tmp_path_factory):
    """A copy of the collection whose kernel -> CRIU table says kernel 6.17 needs CRIU 4.9."""
    root = tmp_path_factory.mktemp("collections")
    copy = root / "ansible_collections" / "instanton" / "platform"
    for part in ("plugins", "roles", "meta"):
        shutil.copytree(str(REPO / part), str(copy / part), ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(str(REPO / "galaxy.yml"), str(copy / "galaxy.yml"))
    home = copy / TABLE_HOME
    text = home.read_text()
    edited = re.sub(r"(CRIU_FOR_KERNEL = \(\n)", lambda match: match.group(1) + NEW_ROW, text, count=1)
    assert edited != text, "the table is no longer where the test looks for it"
    home.write_text(edited)
    return root


def in_copy(root, statement):
    """A statement run against the edited copy (a fresh Python: nothing cached from the original)."""
    done = subprocess.run([sys.executable, "-c", statement], env={"PYTHONPATH": str(root)},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_criu_role_follows(edited_copy):
    env = ansible_env()
    # The copy first; the original's folder after it, for the collections the playbook's output needs.
    env["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s" % (edited_copy, COLLECTIONS_ROOT)
    facts = {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "13",
             "distribution_release": "trixie", "kernel": KERNEL}
    done = subprocess.run([str(BIN / "ansible-playbook"), str(REPO / "tests/unit/roles/playbooks/role_vars.yml"),
                           "-e", json.dumps({"ansible_facts": facts})], cwd=str(REPO), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = json.loads(done.stdout)["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]
    assert found["criu_kernel_min_version"] == "4.9"


def test_the_generic_image_build_follows(edited_copy):
    args = in_copy(edited_copy, (
        "import json\n"
        "from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_generic\n"
        "print(json.dumps(_image_generic.criu_build_args({'criu_apt_suite': ''}, %r)))" % KERNEL))
    assert "INSTANTON_CRIU_MINIMUM=4.9" in args


def test_the_preflight_follows(edited_copy):
    facts = dict(json.loads((HOST_FACTS / "debian-13-criu-4.2.1.json").read_text()), kernel_release=KERNEL)
    gates = in_copy(edited_copy, (
        "import json\n"
        "from ansible_collections.instanton.platform.plugins.module_utils.host import _host_requirements\n"
        "print(json.dumps(_host_requirements.criu_gates(json.loads(%r))))" % json.dumps(facts)))
    assert [gate["gate"] for gate in gates] == ["criu_version"]
    assert "install CRIU 4.9+" in gates[0]["message"]


def package_names(value):
    """Every string in the lists of a vars file."""
    if isinstance(value, dict):
        return [name for item in value.values() for name in package_names(item)]
    if isinstance(value, list):
        return [name for item in value for name in package_names(item)]
    return [value] if isinstance(value, str) else []


def test_libcriu_is_named_by_the_criu_role_only():
    """crun loads libcriu; the criu role installs it with CRIU from the same source, per distribution."""
    criu_packages = {"criu", "libcriu2", "criu-libs"}
    named_by = set(path.parent.parent.name for path in (REPO / "roles").glob("*/vars/*.yml")
                   if criu_packages & set(package_names(yaml.safe_load(path.read_text()))))
    assert named_by == {"criu"}


def test_the_seccomp_profile_path_has_one_home_that_roles_and_modules_read():
    from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
        SECCOMP_PROFILE_PATH)
    from ansible_collections.instanton.platform.plugins.modules import host_facts, instanton_container

    lookup = "{{ lookup('instanton.platform.seccomp_profile_path') }}"
    assert run_module("ansible.builtin.debug", {"msg": lookup})["msg"] == SECCOMP_PROFILE_PATH
    for role, variable in (("seccomp", "seccomp_profile_path"), ("host", "host_seccomp_profile_path"),
                           ("scale_to_zero", "scale_to_zero_seccomp_profile")):
        assert yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())[variable] == lookup
        # Their documentation says what the lookup gives.
        specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
        assert specs["argument_specs"]["main"]["options"][variable]["default"] == SECCOMP_PROFILE_PATH
    for module, option in ((host_facts, "seccomp_profile"), (instanton_container, "seccomp_profile")):
        assert yaml.safe_load(module.DOCUMENTATION)["options"][option]["default"] == SECCOMP_PROFILE_PATH


def test_the_hint_for_a_criu_too_old_for_the_kernel_follows(edited_copy):
    hint = in_copy(edited_copy, (
        "import json\n"
        "from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors\n"
        "print(json.dumps(_criu_errors.CAUSES[0][2]))"))
    assert "6.17+ need CRIU 4.9" in hint
