"""Hardening on a lab host: bad names, failed removals, secrets at -vvvv, concurrent starts of one name,
restarts that say truthfully how they started, private checkpoint files, nothing left after a failed build.

One generic-flavor InstantOn image of samples/jvm-app is built per session (the sample app image is
shared with test_instanton_flavors).
"""
import json
import shlex
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import LAB_INVENTORY, REPO, lab_ssh, run_module, run_playbook, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
RUN_ID = uuid.uuid4().hex[:6]
JVM_APP = "localhost/instanton-sample-jvm-app:latest"
IMAGE = "localhost/itest-hardening-%s:instanton" % RUN_ID
READY = {"type": "http", "port": 8080, "timeout": 90}
SECRET = "itest-secret-%s-marker" % RUN_ID


def ssh(command, check=True):
    return lab_ssh(HOST, command, check)


def module(name, args, check=False):
    return run_module(name, args, host=HOST, inventory=LAB_INVENTORY, check=check)


def containers():
    return sorted(ssh("podman ps -a --format '{{.ID}} {{.Names}}'").split("\n"))


def host_objects():
    """What a failure could leave behind: containers, images (dangling ones too), build and checkpoint temp dirs."""
    return {
        "containers": containers(),
        "images": sorted(ssh("podman images -a --noheading --format '{{.ID}} {{.Repository}}:{{.Tag}}'").split("\n")),
        "temp dirs": sorted(ssh("ls -d /tmp/instanton-* /var/tmp/instanton-* 2>/dev/null", check=False).split()),
    }


def remove_everything():
    ssh("podman ps -a --format '{{.Names}}' | grep -- '-%s' | xargs -r podman rm -f -t 0 >/dev/null; "
        "podman images --format '{{.Repository}}:{{.Tag}}' | grep -- '-%s' | xargs -r podman rmi -f >/dev/null"
        % (RUN_ID, RUN_ID), check=False)


@pytest.fixture(scope="session")
def image(request):
    done = run_playbook(REPO / "playbooks" / "sample_app.yml", {"instanton_hosts": HOST, "sample_app": "jvm-app"},
                        inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]
    request.addfinalizer(remove_everything)
    result = module("instanton_image", {"name": IMAGE, "app_image": JVM_APP, "criu_apt_suite": "sid",
                                        "readiness": {"type": "http", "port": 8080}})
    assert not result.get("failed"), result.get("msg")
    return IMAGE


def start_args(name, **extra):
    return dict({"name": name, "image": IMAGE, "readiness": READY}, **extra)


@pytest.mark.parametrize("name", ["", " ", "-app", "a b", "a;touch /tmp/itest-injected"])
def test_bad_names_fail_clearly_and_leave_nothing(name):
    before = containers()
    result = module("instanton_container", {"name": name, "image": JVM_APP})
    assert result.get("failed") and ("must not be empty" in result["msg"] or "not a valid container name"
                                     in result["msg"]), result.get("msg")
    assert "Traceback" not in json.dumps(result)
    assert containers() == before
    assert ssh("ls /tmp/itest-injected 2>/dev/null", check=False) == ""


def test_absent_fails_with_podmans_message_when_podman_rm_fails(image):
    base, dependent = "itest-base-%s" % RUN_ID, "itest-dependent-%s" % RUN_ID
    ssh("podman run -d --name %s --network none %s sleep 600 >/dev/null && podman run -d --name %s --requires %s "
        "--network none %s sleep 600 >/dev/null" % (base, JVM_APP, dependent, base, JVM_APP))
    try:
        result = module("instanton_container", {"name": base, "state": "absent"})
        assert result.get("failed"), result
        assert "has dependent containers" in result["msg"]
    finally:
        ssh("podman rm -f -t 0 %s >/dev/null; podman rm -f -t 0 %s >/dev/null" % (dependent, base), check=False)


@pytest.mark.parametrize("verbosity", ["-v", "-vvvv"])
def test_env_values_never_appear_in_the_output(image, tmp_path, verbosity):
    name = "itest-secret-%s-%s" % (RUN_ID, len(verbosity))
    playbook = tmp_path / "secret.yml"
    playbook.write_text(json.dumps([{"hosts": HOST, "gather_facts": False, "tasks": [
        {"name": "Start with a secret", "register": "started", "instanton.platform.instanton_container": dict(
            start_args(name, image=JVM_APP), env={"API_TOKEN": SECRET})},
        {"name": "Show the result", "ansible.builtin.debug": {"var": "started"}},
        {"name": "Remove it", "instanton.platform.instanton_container": {"name": name, "state": "absent"}},
    ]}]))
    done = run_playbook(playbook, {}, inventory=LAB_INVENTORY, verbosity=verbosity)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "API_TOKEN=********" in done.stdout
    assert SECRET not in done.stdout


def test_concurrent_starts_of_one_name_end_with_one_container_and_truthful_results(image):
    name = "itest-race-%s" % RUN_ID
    # First three starts from nothing, then twice three that each replace it (new options): without a
    # lock on the name, one run can remove the container another is about to report.
    # Values long enough not to be masked (no_log) inside the container IDs the test compares.
    for env in ({}, {"ROUND": "round-two"}, {"ROUND": "round-three"}):
        args = start_args(name, ports=["127.0.0.1:19211:8080"], env=env)
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: module("instanton_container", args), range(3)))
        present = [line for line in containers() if line.endswith(" " + name)]
        assert len(present) == 1, present
        succeeded = [result for result in results if not result.get("failed")]
        assert succeeded, [result.get("msg") for result in results]
        existing = json.loads(ssh("podman container inspect %s" % name))[0]
        assert [result["container"]["Id"] for result in succeeded] == [existing["Id"]] * len(succeeded)
        assert sum(1 for result in succeeded if result["changed"]) == 1


def logs_of_current_run(name):
    started = json.loads(ssh("podman container inspect %s" % name))[0]["State"]["StartedAt"]
    return ssh("podman logs --since %s %s 2>&1" % (shlex.quote(started), name))


def test_a_container_started_again_says_truthfully_how(image):
    name = "itest-restart-%s" % RUN_ID
    args = start_args(name, ports=["127.0.0.1:19212:8080"])
    first = module("instanton_container", args)
    assert first.get("restored") is True, first.get("msg") or first.get("fallback_reason")
    # What a restart policy or `podman start` does: the same container, its earlier log and /run kept.
    ssh("podman stop -t 5 %s >/dev/null && podman start %s >/dev/null" % (name, name))
    again = module("instanton_container", args)
    assert not again.get("failed") and again["changed"] is False, again.get("msg")
    current = logs_of_current_run(name)
    assert again["restored"] is ("instanton: restored pid" in current), current
    assert again["restored"] or again["fallback_reason"]
    # The entrypoint clears the pidfile the earlier restore left: the restart restores again.
    assert again["restored"] is True, again.get("fallback_reason")
    # Stop and start through the module: a new container from the checkpoint, restored.
    assert module("instanton_container", dict(args, state="stopped"))["changed"] is True
    third = module("instanton_container", args)
    assert third["changed"] is True and third["restored"] is True, third.get("fallback_reason")


def test_checkpoint_files_are_private(image):
    listing = "stat -c '%a %n' /instanton /instanton/checkpoint /instanton/checkpoint/*"
    in_image = ssh("podman run --rm --network none --entrypoint sh %s -c %s" % (image, shlex.quote(listing)))
    name = "itest-private-%s" % RUN_ID
    result = module("instanton_container", start_args(name, ports=["127.0.0.1:19213:8080"]))
    assert result.get("restored") is True, result.get("fallback_reason")
    after_restore = ssh("podman exec %s sh -c %s" % (name, shlex.quote(listing)))
    for line in (in_image + after_restore).strip().splitlines():
        mode, path = line.split(" ", 1)
        assert mode == ("700" if path in ("/instanton", "/instanton/checkpoint") else "600"), line
    assert "/instanton/checkpoint/stats-restore" in after_restore


@pytest.mark.parametrize("flavor", ["generic", "podman"])
def test_a_failed_build_leaves_nothing_behind(image, flavor):
    before = host_objects()
    result = module("instanton_image", {"name": "localhost/itest-failing-%s-%s:instanton" % (flavor, RUN_ID),
                                        "app_image": JVM_APP, "flavor": flavor, "criu_apt_suite": "sid",
                                        "readiness": {"type": "tcp", "port": 9, "timeout": 15}})
    assert result.get("failed"), result
    assert host_objects() == before


@pytest.mark.parametrize("profile, expected", [
    ("/etc/containers/seccomp.d/itest-missing.json", "cannot be read"),
    ("/etc/hostname", "is not valid JSON"),
])
def test_a_missing_or_invalid_seccomp_profile_fails_with_the_fix(image, profile, expected):
    before = containers()
    result = module("instanton_container", start_args("itest-seccomp-%s" % RUN_ID, seccomp_profile=profile))
    assert result.get("failed") and expected in result["msg"] and "runtime-default" in result["msg"], result
    assert containers() == before
