"""Run this collection's modules the real way (ansible ad-hoc, JSON callback) from tests,
and reach the lab hosts over SSH."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# The folder holding ansible_collections/instanton/platform: the repo's .collections link, or the
# tree ansible-test copies the collection into (REPO is then .../ansible_collections/instanton/platform).
COLLECTIONS_ROOT = REPO.parents[2] if REPO.parents[1].name == "ansible_collections" else REPO / ".collections"
# ansible and ansible-playbook beside the Python running the tests: the venv `make unit` or `make units` runs them in.
BIN = Path(sys.executable).parent
# `host_facts` outputs recorded on real releases: the pure host checks and the roles' vars are tested over them.
HOST_FACTS = REPO / "tests" / "unit" / "fixtures" / "host_facts"
LAB_INVENTORY = Path(os.environ.get("INSTANTON_INVENTORY", REPO / ".lab" / "inventory.yml"))
# Where lab/registry.yml runs the lab registry (its defaults).
REGISTRY_LAB_PORT = 19750
REGISTRY_LAB_STORAGE = "/var/lib/instanton-lab-registry"


def lab_hosts():
    """Names of the hosts in the inventory's `lab` group."""
    return list(yaml.safe_load(LAB_INVENTORY.read_text())["all"]["children"]["lab"]["hosts"])


def target_host():
    """The lab host integration tests run on: INSTANTON_TEST_HOST, else the first one."""
    return os.environ.get("INSTANTON_TEST_HOST") or lab_hosts()[0]


def ansible_env():
    """The environment the ansible CLIs run in here: this collection found through COLLECTIONS_ROOT, and
    the CLI's own Python path (ansible-test units sets one for the tests that lacks ansible.cli)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    return env


def run_module(module, args, host="localhost", inventory=None, check=False):
    """`ansible HOST -m MODULE -a JSON` (this collection's MODULE unless given by FQCN); its result."""
    command = [str(BIN / "ansible"), host, "-m", module if "." in module else "instanton.platform." + module,
               "-a", json.dumps(args)]
    if inventory:
        command += ["-i", str(inventory)]
    if check:
        command.append("--check")
    done = subprocess.run(command, cwd=str(REPO), env=ansible_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AssertionError("ansible gave no JSON (rc=%d): %s %s"
                             % (done.returncode, done.stdout[-2000:], done.stderr[-2000:]))
    return report["plays"][0]["tasks"][0]["hosts"][host]


def run_role(tmp_path, role, extra_vars):
    """Apply one role of this collection to localhost (no facts); the finished ansible-playbook."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "Apply " + role, "hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "roles": ["instanton.platform." + role]}]))
    return run_playbook(playbook, extra_vars)


def run_playbook(playbook, extra_vars, inventory=None, check=False, verbosity=None, limit=None):
    command = [str(BIN / "ansible-playbook"), str(playbook), "-e", json.dumps(extra_vars)]
    if verbosity:
        command.append(verbosity)
    if inventory:
        command += ["-i", str(inventory)]
    if limit:
        command += ["--limit", limit]
    if check:
        command.append("--check")
    env = ansible_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    return subprocess.run(command, cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600, check=False)


def run_crio_lab(extra_vars=None, limit=None):
    """lab/crio.yml on the lab hosts with the CRI-O kit: CRIO_KIT (make sets it), else the kit
    beside the clone."""
    kit = os.environ.get("CRIO_KIT") or str(REPO.parent / "shared" / "cri-o")
    return run_playbook(REPO / "lab" / "crio.yml", dict(extra_vars or {}, crio_lab_kit=kit),
                        inventory=LAB_INVENTORY, limit=limit)


def run_registry_lab():
    """lab/registry.yml on the lab hosts: the lab CA, a TLS registry on the first host, every host
    trusting the CA; the registry's host:port and the paths the tests use."""
    done = run_playbook(REPO / "lab" / "registry.yml", {}, inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-4000:]
    lab = yaml.safe_load(LAB_INVENTORY.read_text())["all"]["children"]["lab"]
    host = lab_hosts()[0]
    return {"host": host, "address": "%s:%d" % (lab["hosts"][host]["ansible_host"], REGISTRY_LAB_PORT),
            "storage": REGISTRY_LAB_STORAGE, "ca": str(REPO / ".lab" / "registry" / "ca.crt")}


def lab_host_ssh(host):
    """The ssh command line (as a list) for a host of the lab inventory's `lab` group."""
    lab = yaml.safe_load(LAB_INVENTORY.read_text())["all"]["children"]["lab"]
    return ["-i", lab["vars"]["ansible_ssh_private_key_file"], "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"], \
        "root@" + lab["hosts"][host]["ansible_host"]


def lab_ssh(host, command, check=True):
    options, target = lab_host_ssh(host)
    done = subprocess.run(["ssh"] + options + [target, "export PODMAN_IGNORE_CGROUPSV1_WARNING=1; "
                                               + command],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600,
                          check=False)
    if check and done.returncode != 0:
        raise AssertionError("%s failed on %s: %s" % (command, host, done.stderr[-2000:]))
    return done.stdout


def lab_copy_from(host, remote, local):
    options, target = lab_host_ssh(host)
    subprocess.run(["scp", "-q"] + options + ["%s:%s" % (target, remote), str(local)],
                   check=True, timeout=600)


def build_samples(host, samples):
    """The sample apps' images on a lab host (sample_app.yml builds what is missing or changed)."""
    for sample in samples:
        done = run_playbook(REPO / "playbooks" / "sample_app.yml", {"instanton_hosts": host, "sample_app": sample},
                            inventory=LAB_INVENTORY)
        assert done.returncode == 0, done.stdout[-3000:]


def image_id(host, image):
    """The image's ID on a lab host, or None when it has no such image."""
    found = lab_ssh(host, "podman image inspect --format '{{.Id}}' %s 2>/dev/null" % image, check=False).strip()
    return found or None


def share_image(source, target, image):
    """Copy an image from one lab host to another (`podman save | podman load`) unless the target
    already has it with the same ID: built once, used on both."""
    wanted = image_id(source, image)
    assert wanted, "%s is not on %s" % (image, source)
    if image_id(target, image) == wanted:
        return
    (source_options, source_target), (target_options, target_target) = lab_host_ssh(source), lab_host_ssh(target)
    save = subprocess.Popen(["ssh"] + source_options + [source_target, "podman save -q %s" % image],
                            stdout=subprocess.PIPE)
    loaded = subprocess.run(["ssh"] + target_options + [target_target, "podman load -q"], stdin=save.stdout,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600, check=False)
    save.stdout.close()
    assert save.wait(timeout=600) == 0 and loaded.returncode == 0, loaded.stderr[-2000:]
    assert image_id(target, image) == wanted


# The demo's InstantOn image of samples/python-app, built with the demo's arguments (playbooks/demo.yml). Tests that
# share the tag build it with exactly these: other inputs (another readiness path, a CRIU suite) rebuild it, and
# each rebuild gives a new image ID, which the demo's next migration then has to copy to the other host again.
SAMPLE_APP_IMAGE = "localhost/instanton-sample-python-app:latest"
SAMPLE_INSTANTON_IMAGE = "localhost/instanton-sample-python-app:instanton"
SAMPLE_INSTANTON_BUILD = {"name": SAMPLE_INSTANTON_IMAGE, "app_image": SAMPLE_APP_IMAGE,
                          "readiness": {"type": "http", "port": 8080, "path": "/"}}


def build_instanton_images(host, args_by_key, measured):
    """instanton_image on a lab host for each key's arguments; the results, with each build's time
    and image size recorded in measured[key]."""
    built = {}
    for key, args in args_by_key.items():
        result = run_module("instanton_image", args, host=host, inventory=LAB_INVENTORY)
        assert not result.get("failed"), result.get("msg")
        built[key] = result
        measured.setdefault(key, {}).update(build_seconds=result.get("build_seconds"),
                                            image_mb=round(result["image"]["Size"] / 1e6))
    return built


def keep_measured(request, path, measured):
    """Write what a session measured (a dict the tests fill) to path when the session ends."""
    request.addfinalizer(lambda: path.parent.mkdir(parents=True, exist_ok=True)
                         or path.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n"))
