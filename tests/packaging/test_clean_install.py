"""The built collection, installed the way users install it, with only its declared dependencies.

Galaxy is not reachable here, so the dependencies come as local tarballs made from the
collections the `ansible` package bundles, and `ansible-galaxy collection install --offline`
resolves them from those tarballs alone. Nothing else is on the collections path: a role or
module that uses an undeclared collection fails to load.
"""
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest
import yaml

from support import BIN, REPO

GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
BUNDLED = next((BIN.parent / "lib").glob("python3*/site-packages/ansible_collections"))
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if (path / "tasks").is_dir())
MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
NOT_SHIPPED = ("Makefile", "ansible.cfg", "pytest.ini", "lab/", "bench/", ".ci/", "requirements/")


def run(command, cwd, env=None):
    done = subprocess.run(command, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, "%s failed:\n%s" % (" ".join(command), done.stdout[-3000:])
    return done.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)], REPO)
    return next(out.glob("instanton-platform-*.tar.gz"))


def dependency_tarball(name, directory):
    """A collection artifact made from the copy the `ansible` package bundles: its files, with
    FILES.json (and MANIFEST.json's checksum of it) limited to the files the package kept."""
    namespace, collection = name.split(".")
    source = BUNDLED / namespace / collection
    manifest = json.loads((source / "MANIFEST.json").read_text())
    files = json.loads((source / "FILES.json").read_text())
    files["files"] = [entry for entry in files["files"] if (source / entry["name"]).exists()]
    files_json = json.dumps(files).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    path = directory / ("%s-%s-%s.tar.gz" % (namespace, collection, manifest["collection_info"]["version"]))
    with tarfile.open(str(path), "w:gz") as archive:
        add_bytes(archive, "MANIFEST.json", json.dumps(manifest).encode())
        add_bytes(archive, "FILES.json", files_json)
        for entry in files["files"]:
            if entry["name"] != ".":
                archive.add(str(source / entry["name"]), arcname=entry["name"], recursive=False)
    return path


def add_bytes(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """An empty collections path holding this collection and its declared dependencies only."""
    work = tmp_path_factory.mktemp("install")
    dependencies = [str(dependency_tarball(name, work)) for name in GALAXY["dependencies"]]
    collections = work / "collections"
    env = clean_env(collections)
    run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
         str(tarball)] + dependencies, work, env)
    return collections, env


def clean_env(collections):
    """Only `collections` on the collections path: neither the repo's ansible.cfg nor site-packages."""
    config = collections.parent / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    return env


def test_the_tarball_ships_the_collection_and_not_the_workshop(tarball):
    with tarfile.open(str(tarball)) as archive:
        names = archive.getnames()
    assert {"LICENSE", "MANIFEST.json", "README.md", "meta/runtime.yml"} <= set(names)
    assert not [name for name in names if name.startswith(NOT_SHIPPED)], names


def test_only_the_declared_collections_are_installed(installed):
    collections = installed[0]
    present = {"%s.%s" % (ns.name, name.name) for ns in (collections / "ansible_collections").iterdir()
               for name in ns.iterdir()}
    assert present == {"instanton.platform"} | set(GALAXY["dependencies"])


def test_every_role_loads(installed, tmp_path):
    env = installed[1]
    playbook = tmp_path / "roles.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Load every role", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Load " + role, "ansible.builtin.import_role": {"name": "instanton.platform." + role}}
                  for role in ROLES]}]))
    run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)], tmp_path, env)
    for role in ROLES:
        run([str(BIN / "ansible-doc"), "-t", "role", "instanton.platform." + role], tmp_path, env)


def test_every_module_loads_and_checks_its_arguments(installed, tmp_path):
    """Each module refuses an unknown option (or names a missing one) with its own argument spec:
    the module and every module_util it imports were found and packed from the installed tree."""
    env = installed[1]
    tasks = []
    for module in MODULES:
        tasks += [{"name": "Call %s with an unknown option" % module, "instanton.platform." + module: {"not_an_option": 1},
                   "register": "result", "ignore_errors": True},
                  {"name": "Check that %s's argument spec answered" % module, "ansible.builtin.assert": {
                      "that": "result.msg is search('Unsupported parameters|missing required arguments|one of the following is required')",
                      "fail_msg": "%s did not load: {{ result.msg }}" % module}}]
    playbook = tmp_path / "modules.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Load every module", "hosts": "localhost", "connection": "local",
                                         "gather_facts": False, "tasks": tasks,
                                         "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}}]))
    run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)], tmp_path, env)
    for module in MODULES:
        run([str(BIN / "ansible-doc"), "-t", "module", "instanton.platform." + module], tmp_path, env)


def test_the_execution_environment_definition_builds_a_context(tmp_path):
    """`ansible-builder create` writes the build context an EE image is built from (no registry
    is reachable here, so the image build itself is left to the user's builder host)."""
    context = tmp_path / "context"
    run([str(BIN / "ansible-builder"), "create", "-f", str(REPO / "execution-environment.yml"),
         "-c", str(context), "--output-filename", "Containerfile"], REPO)
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy" in containerfile and "instanton.platform" in (
        context / "_build" / "requirements.yml").read_text()
