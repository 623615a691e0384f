"""The scale_to_zero role on a lab host, the lab's way (no systemd as init): the standalone
systemd-socket-activate holds the port, systemd-socket-proxyd forwards and exits when idle, the
role's tool starts (restores) the service on the first connection and stops or checkpoints it
when idle. The same role's units are checked with systemd-analyze verify.

The app is samples/python-app made an InstantOn image (the demo's image); its /count is
in-memory state.
"""
import ast
import json
import shlex
import subprocess
import time
import uuid

import pytest

from support import (LAB_INVENTORY, REPO, SAMPLE_INSTANTON_BUILD, SAMPLE_INSTANTON_IMAGE, lab_host_ssh, lab_ssh,
                     run_module, run_playbook, target_host)

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
RUN_ID = uuid.uuid4().hex[:6]
INSTANTON_IMAGE = SAMPLE_INSTANTON_IMAGE
TOOL = "/usr/local/libexec/instanton/instanton-scale-to-zero"
# The checkpoint service stays awake long enough for the scheduled checkpoints taken while it runs.
IDLE_SECONDS = {"stop": 3, "checkpoint": 20}
# Bounded waits: the idle period plus the idle action (a checkpoint export takes a few seconds).
IDLE_WAIT = 60
# Host ports of their own: other test files use 191xx (flavors), 192xx (hardening), 193xx (third-party).
SERVICES = {"stop": (19501, 19601), "checkpoint": (19502, 19602)}
KEEP = 2


def ssh(command, check=True):
    return lab_ssh(HOST, command, check)


def service_name(action):
    return "itest-stz-%s-%s" % (action, RUN_ID)


def role_vars(action):
    public, backend = SERVICES[action]
    return {"scale_to_zero_name": service_name(action), "scale_to_zero_image": INSTANTON_IMAGE,
            "scale_to_zero_listen": "127.0.0.1:%d" % public, "scale_to_zero_backend_port": backend,
            "scale_to_zero_idle_action": action, "scale_to_zero_idle_time": "%ds" % IDLE_SECONDS[action],
            "scale_to_zero_keep": KEEP, "scale_to_zero_checkpoint_schedule": "*:0/15"}


def apply_role(tmp_path, variables, check=False):
    playbook = tmp_path / ("scale-to-zero-%s.yml" % uuid.uuid4().hex[:6])
    playbook.write_text(json.dumps([{"name": "Scale to zero", "hosts": HOST, "become": True,
                                     "roles": [{"role": "instanton.platform.scale_to_zero", "vars": variables}]}]))
    return run_playbook(playbook, {}, inventory=LAB_INVENTORY, check=check)


def remove_service(tmp_path, action):
    done = apply_role(tmp_path, {"scale_to_zero_name": service_name(action), "scale_to_zero_state": "absent"})
    assert done.returncode == 0, done.stdout[-3000:]
    ssh("rm -rf /var/lib/instanton/checkpoints/%s" % service_name(action))


@pytest.fixture(scope="session")
def instanton_python_image():
    """The demo's InstantOn image of samples/python-app (built when missing or out of date)."""
    done = run_playbook(REPO / "playbooks" / "sample_app.yml", {"instanton_hosts": HOST, "sample_app": "python-app"},
                        inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]
    built = run_module("instanton_image", SAMPLE_INSTANTON_BUILD, host=HOST, inventory=LAB_INVENTORY)
    assert not built.get("failed"), built.get("msg")
    return INSTANTON_IMAGE


@pytest.fixture(scope="module")
def services(request, instanton_python_image, tmp_path_factory):
    """Both services set up by the role, not yet woken."""
    for action in SERVICES:
        request.addfinalizer(lambda action=action: remove_service(tmp_path_factory.mktemp("absent"), action))
        done = apply_role(tmp_path_factory.mktemp("role"), role_vars(action))
        assert done.returncode == 0, done.stdout[-3000:]
    return {action: service_name(action) for action in SERVICES}


def get(action, path="/"):
    """One HTTP request through the held port: (answer, ms from connecting to the answer)."""
    port = SERVICES[action][0]
    script = ("import json, time, urllib.request\nstarted = time.perf_counter()\n"
              "body = urllib.request.urlopen('http://127.0.0.1:%d%s', timeout=90).read().decode()\n"
              "print(json.dumps([json.loads(body), (time.perf_counter() - started) * 1000]))" % (port, path))
    return json.loads(ssh("python3 -c %s" % shlex.quote(script)))


def last_start(name, after=0):
    """The tool's record of the service's last start, once it is newer than `after` (woke_at);
    the proxy writes it just after the first answer."""
    deadline = time.time() + 10
    while True:
        found = ssh("cat /run/instanton/scale-to-zero/%s.json" % name, check=False)
        if found and json.loads(found)["woke_at"] > after:
            return json.loads(found)
        assert time.time() < deadline, "no record of a start of %s after %s" % (name, after)
        time.sleep(0.2)


RSS_SCRIPT = """
import subprocess, sys
pids = subprocess.run(["podman", "top", sys.argv[1], "hpid"], stdout=subprocess.PIPE,
                      universal_newlines=True).stdout.split()[1:] if len(sys.argv) == 2 else sys.argv[2:]
found = {}
for pid in pids:
    try:
        found[pid] = int([line for line in open("/proc/%s/status" % pid) if line.startswith("VmRSS:")][0].split()[1])
    except (IOError, IndexError):
        found[pid] = 0
print(found)
"""


def container_rss_kb(name, pids=()):
    """Resident memory (kB) of each process of the container (host PIDs), or of the given PIDs; 0 when gone."""
    return ast.literal_eval(ssh("python3 -c %s %s %s" % (shlex.quote(RSS_SCRIPT), name, " ".join(pids))))


def wait_until_idle(name):
    """Until the service has no running container (stop leaves a created spare, checkpoint a stopped one)."""
    deadline = time.time() + IDLE_WAIT
    while ssh("podman ps --format '{{.Names}}' | grep -x %s" % name, check=False).strip():
        assert time.time() < deadline, "%s still runs %ds after its last request" % (name, IDLE_WAIT)
        time.sleep(1)


def wait_for_spare(name):
    """The spare the idle action stop creates after removing the container (while nothing runs)."""
    deadline = time.time() + IDLE_WAIT
    while True:
        found = ssh("podman container inspect %s 2>/dev/null" % name, check=False)
        if found.strip() and json.loads(found)[0]["State"]["Status"] == "created":
            return json.loads(found)[0]
        assert time.time() < deadline, "no spare of %s %ds after it went idle" % (name, IDLE_WAIT)
        time.sleep(0.5)


def archives(name):
    listing = ssh("stat -c '%%a %%n' /var/lib/instanton/checkpoints/%s /var/lib/instanton/checkpoints/%s/*.tar"
                  % (name, name), check=False).split("\n")
    modes = dict(reversed(line.split(" ", 1)) for line in listing if line)
    return modes


def test_nothing_runs_before_the_first_request_and_the_role_is_idempotent(services, tmp_path):
    for name in services.values():
        assert not ssh("podman ps --format '{{.Names}}' | grep -x %s" % name, check=False).strip()
    # Idle action stop: the role made the spare the first request starts (created, so no process).
    assert json.loads(ssh("podman container inspect %s" % services["stop"]))[0]["State"]["Status"] == "created"
    assert not ssh("podman ps -a --format '{{.Names}}' | grep -x %s" % services["checkpoint"], check=False).strip()
    again = apply_role(tmp_path, role_vars("stop"))
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]


def test_idle_stop_gives_the_memory_back_and_the_next_request_restores(services):
    name = services["stop"]
    answer, first_ms = get("stop")
    assert answer["status"] == "ok"
    first = last_start(name)
    assert first["restored"] is True and first["source"] == "image" and first["start_command"] == "api start", first
    assert 0 < first["start_ms"] <= first["wake_ms"], first
    held = container_rss_kb(name)
    assert sum(held.values()) > 20000, held
    wait_until_idle(name)
    given_back = container_rss_kb(name, held)
    assert not any(given_back.values()), "processes of %s left after idle: %s" % (name, given_back)
    # The idle action left a spare: created (no process), in the pod that holds the backend port.
    spare = wait_for_spare(name)
    assert spare["State"]["Status"] == "created" and spare["Pod"], spare["State"]
    answer, wake_ms = get("stop")
    assert answer["status"] == "ok"
    woke = last_start(name, after=first["woke_at"])
    assert woke["restored"] is True and woke["start_command"] == "api start", woke
    assert json.loads(ssh("podman container inspect %s" % name))[0]["Id"] == spare["Id"]
    print("stop: first request %.0f ms, after idle %.0f ms, RSS %d kB before idle, %d after"
          % (first_ms, wake_ms, sum(held.values()), sum(given_back.values())))


def test_new_settings_replace_the_idle_spare(services, tmp_path):
    """A spare is created with the settings of its time: the role drops it when they change, and the
    next wake makes one with the new settings."""
    name = services["stop"]
    wait_until_idle(name)
    old = wait_for_spare(name)
    setting = "ITEST_SETTING=%s" % RUN_ID
    done = apply_role(tmp_path, dict(role_vars("stop"), scale_to_zero_podman_options=["--env", setting]))
    assert done.returncode == 0, done.stdout[-3000:]
    answer, _ms = get("stop")
    assert answer["status"] == "ok"
    woken = json.loads(ssh("podman container inspect %s" % name))[0]
    assert woken["Id"] != old["Id"] and setting in woken["Config"]["Env"], woken["Config"]["Env"]


def test_idle_checkpoint_keeps_the_counter_and_archives_are_private(services):
    name = services["checkpoint"]
    counts = [get("checkpoint", "/count")[0]["count"] for _request in range(3)]
    assert counts == [1, 2, 3]
    held = container_rss_kb(name)
    wait_until_idle(name)
    assert not any(container_rss_kb(name, held).values())
    found = archives(name)
    assert found["/var/lib/instanton/checkpoints/%s" % name] == "700", found
    assert len(found) == 2 and all(mode == "600" for path, mode in found.items() if path.endswith(".tar")), found
    # The container stays, stopped with its checkpoint, and is restored in place through podman's API.
    kept = json.loads(ssh("podman container inspect %s" % name))[0]["State"]
    assert kept["Status"] == "exited" and kept["Checkpointed"] is True, kept
    answer, _ms = get("checkpoint", "/count")
    assert answer["count"] == 4
    woke = last_start(name)
    assert woke["restored"] is True and woke["source"] == "checkpoint" and woke["start_command"] == "api restore", woke


def test_scheduled_checkpoints_keep_the_newest_and_recover_a_killed_service(services):
    name = services["checkpoint"]
    count = get("checkpoint", "/count")[0]["count"]
    before = set(archives(name))
    planned = json.loads(ssh("%s checkpoint %s --check" % (TOOL, name)))
    assert planned["check_mode"] and planned["would_take"].startswith("/var/lib/instanton/checkpoints/%s/" % name)
    assert set(archives(name)) == before, "check mode took or removed an archive"
    taken = [json.loads(ssh("%s checkpoint %s" % (TOOL, name))) for _run in range(2)]
    assert set(planned["would_remove"]) <= set(taken[0]["removed"]) | set(taken[1]["removed"])
    after = archives(name)
    kept = sorted(path for path in after if path.endswith(".tar"))
    assert kept == sorted([taken[0]["taken"], taken[1]["taken"]]) and len(kept) == KEEP, (kept, taken)
    ssh("podman kill %s" % name)
    recovered = json.loads(ssh("%s recover %s" % (TOOL, name)))
    assert recovered["restored"] is True and recovered["archive"] == taken[1]["taken"], recovered
    assert get("checkpoint", "/count")[0]["count"] == count + 1


def test_rendered_units_pass_systemd_analyze_verify(services):
    """The quadlet unit through podman's generator, the socket, proxy, service and timer units:
    systemd-analyze verify (from Debian's systemd package, installed by the role) says nothing."""
    stop, checkpoint = services["stop"], services["checkpoint"]
    units = ["%s.service" % stop, "%s.socket" % stop, "%s-proxy.service" % stop, "instanton-checkpoint-%s.service" % stop,
             "instanton-checkpoint-%s.timer" % stop,
             "%s.service" % checkpoint, "%s.socket" % checkpoint, "%s-proxy.service" % checkpoint]
    script = ("set -e; d=$(mktemp -d); q=$(mktemp -d); cp /etc/containers/systemd/%s.container $q/; "
              "cp /etc/systemd/system/{%s,%s,instanton-checkpoint-%s}.* /etc/systemd/system/{%s,%s}-proxy.service $d/; "
              "QUADLET_UNIT_DIRS=$q /usr/libexec/podman/quadlet $d; cd $d; "
              "systemd-analyze verify --man=no %s 2>&1; rm -rf $d $q"
              % (stop, stop, checkpoint, stop, stop, checkpoint, " ".join(units)))
    options, target = lab_host_ssh(HOST)
    done = subprocess.run(["ssh"] + options + [target, script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout
