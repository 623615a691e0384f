"""`--tags` on the host role selects what the role docs say, on a provisioned lab host."""
import json
import subprocess

import pytest
import yaml

from support import BIN, LAB_INVENTORY, REPO, ansible_env, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
# Tasks Ansible adds around an included role whatever the tags: facts and argument validation.
ALWAYS = ("Gathering Facts", "Validating arguments against arg spec")


def role_task_names(role, tasks_file="main.yml"):
    return {task["name"] for task in yaml.safe_load((REPO / "roles" / role / "tasks" / tasks_file).read_text())}


def tasks_run_with_tags(tags):
    """Names of the tasks that ran on HOST (not skipped) when provision.yml ran with --tags."""
    command = [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / "provision.yml"), "-i", str(LAB_INVENTORY),
               "--limit", HOST, "--tags", tags, "-e", json.dumps({"host_preflight_smoke": False})]
    done = subprocess.run(command, cwd=str(REPO), env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    return {task["task"]["name"] for play in report["plays"] for task in play["tasks"]
            if not task["hosts"].get(HOST, {}).get("skipped") and not task["task"]["name"].startswith(ALWAYS)}


def test_tags_seccomp_runs_only_the_seccomp_tasks():
    ran = tasks_run_with_tags("seccomp")
    seccomp = role_task_names("seccomp")
    assert seccomp <= ran
    assert ran - seccomp == {"Install the CRIU seccomp profile"}, ran - seccomp


def test_tags_preflight_runs_only_the_preflight():
    ran = tasks_run_with_tags("preflight")
    assert "Preflight, can this host checkpoint and restore" in ran
    installs = role_task_names("criu") | role_task_names("container_runtime") | role_task_names("seccomp")
    assert not ran & installs, ran & installs


def test_tags_criu_runs_the_criu_role_and_nothing_else():
    ran = tasks_run_with_tags("criu")
    assert role_task_names("criu") - {"Give criu file capabilities"} <= ran
    others = role_task_names("container_runtime") | role_task_names("seccomp")
    assert not ran & others, ran & others
