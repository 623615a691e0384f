"""`--tags` on the host role selects what the role docs say, on a provisioned lab host."""
import json
import subprocess

import pytest
import yaml

from support import BIN, LAB_INVENTORY, REPO, ansible_env, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
# The task Ansible adds to every role whatever the tags.
ALWAYS = "Validating arguments against arg spec"


def tasks_run_with_tags(tags):
    """(role, task name) of each role task that ran on HOST (not skipped) when provision.yml ran with --tags."""
    command = [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / "provision.yml"), "-i", str(LAB_INVENTORY),
               "--limit", HOST, "--tags", tags, "-e", json.dumps({"host_preflight_smoke": False})]
    done = subprocess.run(command, cwd=str(REPO), env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    return {(role_of(task["task"]["path"]), task["task"]["name"].split(" : ")[-1])
            for play in report["plays"] for task in play["tasks"]
            if role_of(task["task"]["path"]) and not task["hosts"].get(HOST, {}).get("skipped")
            and ALWAYS not in task["task"]["name"]}


def role_of(task_path):
    """The role a task file belongs to: .../roles/ROLE/tasks/FILE.yml:LINE."""
    parts = task_path.split("/")
    return parts[parts.index("roles") + 1] if "roles" in parts else None


def task_count(role):
    return len(yaml.safe_load((REPO / "roles" / role / "tasks" / "main.yml").read_text()))


def test_tags_seccomp_runs_the_seccomp_role_and_nothing_else():
    ran = tasks_run_with_tags("seccomp")
    assert {name for role, name in ran if role == "host"} == {"Install the CRIU seccomp profile"}, ran
    assert len([name for role, name in ran if role == "seccomp"]) == task_count("seccomp"), ran
    assert {pair[0] for pair in ran} == {"host", "seccomp"}, ran


def test_tags_preflight_runs_only_the_preflight():
    ran = tasks_run_with_tags("preflight")
    assert ("host", "Preflight, can this host checkpoint and restore") in ran, ran
    assert {pair[0] for pair in ran} == {"host"}, ran


def test_tags_criu_runs_the_criu_role_and_nothing_else():
    ran = tasks_run_with_tags("criu")
    assert ("criu", "Write /etc/criu/default.conf") in ran, ran
    assert any(role == "criu" and name.startswith("Install CRIU from") for role, name in ran), ran
    assert {pair[0] for pair in ran} == {"host", "criu"}, ran
