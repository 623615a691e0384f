# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale one InstantOn service to zero and back: the scale-to-zero tool (installed by the scale_to_zero role).

  ready NAME             wait until the service answers; record how it started (restored or not)
  wake NAME              start it (checkpoint idle action: restore its checkpoint) and wait for its answer
  idle NAME              the idle action: stop it (a spare waits), or checkpoint it to disk (it stays, stopped)
  prepare NAME           idle action stop: create the spare the first request starts, when there is no container
  checkpoint NAME        a scheduled checkpoint of the running service (--leave-running) and retention
  recover NAME           replace a dead container by a restore of its newest checkpoint archive
  proxy NAME             socket-activated: wake, then become systemd-socket-proxyd on the passed socket
  serve NAME             without systemd: systemd-socket-activate holds the port, then `hold` keeps it
  hold NAME              (from serve) start the proxy on each pending connection, the idle action when it exits
  wait-start NAME SINCE  print the record of the first start at or after SINCE (seconds since the epoch),
                         waiting up to 10 s for it (it is written just after the first answer)

`checkpoint --check` prints what would be taken and removed, and does nothing.
The settings come from /etc/instanton/scale-to-zero/NAME.json, written by the role.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import fcntl
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection, HTTPException
from urllib.request import urlopen

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from instanton_retention import plan_removals, scan  # noqa: E402  (installed beside this file)

CONFIG_DIR = "/etc/instanton/scale-to-zero"
STATE_DIR = "/run/instanton/scale-to-zero"
ARCHIVE_REGEX = re.compile(r"^(?P<container>.+)-\d{8}T\d{6}")
ARCHIVE_SUFFIXES = {"none": ".tar", "gzip": ".tar.gz", "zstd": ".tar.zst"}
ARCHIVE_PATTERNS = ["*" + suffix for suffix in ARCHIVE_SUFFIXES.values()]
RESTORED_MARKER = "instanton: restored"
COLD_START_MARKER = "instanton: cold start:"
LISTENING_FD = 3  # SD_LISTEN_FDS_START: the first socket systemd (or systemd-socket-activate) passes
SOCKET_ACTIVATION_ENV = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


class ScaleError(Exception):
    """A step failed; the message says which and why."""


class UnixHTTPConnection(HTTPConnection):
    """HTTP to podman's API on its unix socket."""

    def __init__(self, path, timeout=60):
        HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def settings(name):
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise ScaleError("%r is not a service name" % name)
    path = os.path.join(CONFIG_DIR, name + ".json")
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, ValueError) as exc:
        raise ScaleError("cannot read %s: %s" % (path, exc))


@contextlib.contextmanager
def turn(config):
    """One step at a time per service: a scheduled checkpoint never meets a wake or an idle action."""
    if not os.path.isdir(STATE_DIR):
        os.makedirs(STATE_DIR, mode=0o755)
    with open(os.path.join(STATE_DIR, config["name"] + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def podman(*args, **kwargs):
    """podman with the socket activation variables removed, so that the container never inherits the socket."""
    env = dict((key, value) for key, value in os.environ.items() if key not in SOCKET_ACTIVATION_ENV)
    env["PODMAN_IGNORE_CGROUPSV1_WARNING"] = "1"
    done = subprocess.run(["podman"] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, close_fds=True, check=False)
    if kwargs.get("check", True) and done.returncode != 0:
        raise ScaleError("podman %s failed: %s" % (" ".join(args[:3]), done.stderr.strip()[-1500:]))
    return done


def container_state(name):
    """The container's state (running, exited, ...) or None when there is none."""
    done = podman("container", "inspect", "--format", "{{.State.Status}}", name, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def newest_archive(config):
    archives = [a for a in scan(config["checkpoint_dir"], ARCHIVE_PATTERNS, ARCHIVE_REGEX)
                if a["container"] == config["name"]] if os.path.isdir(config["checkpoint_dir"]) else []
    return max(archives, key=lambda archive: archive["mtime"])["path"] if archives else None


def new_archive_path(config):
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "%06d" % (time.time() % 1 * 1e6)
    name = "%s-%s%s" % (config["name"], stamp, ARCHIVE_SUFFIXES[config["compression"]])
    return os.path.join(config["checkpoint_dir"], name)


def checkpoint_dir(config):
    """The archive directory, 0700 (archives hold process memory and secrets)."""
    os.makedirs(config["checkpoint_dir"], mode=0o700, exist_ok=True)
    os.chmod(config["checkpoint_dir"], 0o700)
    return config["checkpoint_dir"]


def removals(config, extra=None):
    """Archives of this service beyond `keep`, oldest first (extra: one about to be taken)."""
    archives = [a for a in scan(checkpoint_dir(config), ARCHIVE_PATTERNS, ARCHIVE_REGEX)
                if a["container"] == config["name"]]
    if extra:
        archives.append({"path": extra, "container": config["name"], "mtime": time.time()})
    return [a["path"] for a in plan_removals(archives, config["keep"], None, time.time())]


def take_checkpoint(config, leave_running):
    """podman container checkpoint --export into a new 0600 archive; the archive and what retention removed."""
    path = new_archive_path(config)
    checkpoint_dir(config)
    old_umask = os.umask(0o077)
    try:
        # Without --tcp-established: the restore cannot take established connections (podman refuses it with
        # --name), so a checkpoint during a request fails now rather than give an archive that never restores.
        args = ["container", "checkpoint", "--export", path, "--compress", config["compression"]]
        podman(*(args + (["--leave-running"] if leave_running else []) + [config["name"]]))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    removed = removals(config)
    for doomed in removed:
        os.remove(doomed)
    return path, removed


def answers(config):
    try:
        urlopen("http://%s%s" % (config["backend"], config["readiness_path"]), timeout=2).read()
        return True
    except Exception:  # noqa: BLE001  (refused, reset, timeout: not ready yet)
        return False


def start_outcome(name, patience=2.0):
    """True/False from the InstantOn entrypoint's markers; None when it printed neither within patience
    seconds (it prints the restored one after CRIU's restore returns: the app may have answered first)."""
    deadline = time.time() + patience
    while True:
        logs = podman("logs", name, check=False)
        text = logs.stdout + logs.stderr
        if RESTORED_MARKER in text or COLD_START_MARKER in text:
            return RESTORED_MARKER in text
        if time.time() > deadline:
            return None
        time.sleep(0.2)


def record(config, started, **facts):
    """How this start went, in /run/instanton/scale-to-zero/NAME.json (for the demo and tests)."""
    facts.update(name=config["name"], woke_at=started)
    temporary = os.path.join(STATE_DIR, ".%s.json.tmp" % config["name"])
    with open(temporary, "w") as handle:
        json.dump(facts, handle, sort_keys=True)
    os.rename(temporary, os.path.join(STATE_DIR, config["name"] + ".json"))
    return facts


def wait_for_answer(config, started):
    """ms from started to the first answer; the container's state is read once a second (a podman call)."""
    deadline = started + config["readiness_timeout"]
    next_look = time.time() + 1
    while not answers(config):
        now = time.time()
        if now > next_look:
            if container_state(config["name"]) not in ("running", "created", "configured"):
                raise ScaleError("%s stopped before it answered on %s" % (config["name"], config["backend"]))
            next_look = now + 1
        if now > deadline:
            raise ScaleError("%s did not answer on %s within %ss" % (config["name"], config["backend"],
                                                                     config["readiness_timeout"]))
        time.sleep(0.005)
    return elapsed_ms(started)


def in_background(step):
    """Run step in a detached grandchild (without the held socket); the caller goes on at once."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    if os.fork() == 0:
        if "LISTEN_FDS" in os.environ:
            os.close(3)
        os.nice(10)  # after the request that waits: its podman calls must not take its CPU
        try:
            step()
        finally:
            os._exit(0)
    os._exit(0)


def elapsed_ms(since):
    return int((time.time() - since) * 1000)


def ready(config, started=None, source="image", archive=None, fallback_reason=None, defer=False, start_command=None):
    """Wait for the first answer and record the start: its source (image, checkpoint: the one the idle action
    left in the container, checkpoint archive), how it was started, and start_ms (when its start command
    returned). A start from the image restored when the entrypoint said so: with defer (the proxy is waiting)
    that is read from the container log in the background."""
    started = started or time.time()
    facts = dict(start_ms=elapsed_ms(started) if start_command else None, wake_ms=wait_for_answer(config, started),
                 source=source, archive=archive, fallback_reason=fallback_reason, start_command=start_command)
    if source != "image":
        return record(config, started, restored=True, **facts)
    if defer:
        in_background(lambda: record(config, started, restored=bool(start_outcome(config["name"])), **facts))
        return facts
    return record(config, started, restored=bool(start_outcome(config["name"])), **facts)


def container_options(config):
    """Restore's capabilities, the seccomp profile and the user's options, then the image."""
    args = []
    for capability in config["capabilities"]:
        args += ["--cap-add", capability]
    if config["seccomp_profile"] and os.path.exists(config["seccomp_profile"]):
        args += ["--security-opt", "seccomp=" + config["seccomp_profile"]]
    return args + config["podman_options"] + [config["image"]]


def run_arguments(config):
    # --replace: a stopped or dead container of the service is in the way (no podman call to find out).
    return ["run", "--detach", "--replace", "--name", config["name"],
            "--publish", "%s:%d" % (config["backend"], config["app_port"])] + container_options(config)


def pod_name(config):
    return config["name"] + "-pod"


def spare_arguments(config):
    """The idle action stop's spare: the service's container created (no process, no memory) in the
    service's pod, which holds the network and the backend port."""
    return ["create", "--replace", "--name", config["name"], "--pod", pod_name(config)] + container_options(config)


def prepare_spare(config):
    """The pod (created and started when missing: its infra process, about 3 MB with its conmon, keeps
    the network namespace and the published port across idle periods) and a new spare in it."""
    pod = pod_name(config)
    if podman("pod", "exists", pod, check=False).returncode != 0:
        podman("pod", "create", "--name", pod, "--publish", "%s:%d" % (config["backend"], config["app_port"]))
    podman("pod", "start", pod)
    podman(*spare_arguments(config))


def api_post(config, action):
    """POST .../containers/NAME/ACTION on podman's API socket: the HTTP status, or None when the API is not
    served there."""
    if not (config.get("api_socket") and os.path.exists(config["api_socket"])):
        return None
    connection = UnixHTTPConnection(config["api_socket"])
    try:
        connection.request("POST", "/v4.0.0/libpod/containers/%s/%s" % (config["name"], action))
        answer = connection.getresponse()
        answer.read()
        return answer.status
    except (IOError, OSError, HTTPException):
        return None
    finally:
        connection.close()


def container_action(config, action, podman_args):
    """start or restore the service's container through podman's API (no podman process to start while the
    request waits), or with the podman command when the API is not served. How, or None when it did not
    happen (no such container, or nothing to restore)."""
    status = api_post(config, action)
    if status is not None:
        return "api " + action if status in (200, 204, 304) else None
    done = podman(*(podman_args + [config["name"]]), check=False)
    return " ".join(["podman"] + podman_args) if done.returncode == 0 else None


def start_spare(config):
    return container_action(config, "start", ["start"])


def restore_in_place(config):
    """Idle action checkpoint: restore the container from the checkpoint its idle action left in it (no
    archive to unpack, no container to create); how, or None when there is none."""
    return container_action(config, "restore", ["container", "restore"])


def wake_spare(config):
    """The idle action stop: start the spare the last idle action left (made now when there is none,
    or it did not start); how it was started."""
    how = start_spare(config)
    if how is None:
        prepare_spare(config)
        how = start_spare(config)
    if how is None:
        raise ScaleError("the spare of %s did not start" % config["name"])
    return how


def restore_arguments(config, archive):
    return ["container", "restore", "--import", archive, "--name", config["name"],
            "--publish", "%s:%d" % (config["backend"], config["app_port"])]


def remove_leftover(config):
    """A stopped or dead container of the service is in the way of a new one of that name."""
    state = container_state(config["name"])
    if state is not None and state != "running":
        podman("rm", "--force", config["name"])
    return state == "running"


def wake(config, defer=False, started=None):
    """Start the service. Idle action checkpoint: restore the checkpoint the idle action left in the container,
    else the newest checkpoint archive, else the image; an archive that does not restore falls back to the
    image (the reason is recorded) rather than leave the port dead. Idle action stop: start the spare.
    started: when the connection that wakes it came (the record's times count from it)."""
    started = started or time.time()
    with turn(config):
        if answers(config):
            return ready(config, started, defer=defer)
        how = restore_in_place(config) if config["idle_action"] == "checkpoint" else None
        if how:
            return ready(config, started, "checkpoint", start_command=how)
        archive = newest_archive(config) if config["idle_action"] == "checkpoint" else None
        if archive:
            remove_leftover(config)
            try:
                podman(*restore_arguments(config, archive))
                return ready(config, started, "checkpoint archive", archive,
                             start_command="podman container restore --import")
            except ScaleError as exc:
                remove_leftover(config)
                podman(*run_arguments(config))
                return ready(config, started, fallback_reason="%s: %s" % (archive, exc), defer=defer,
                             start_command="podman run")
        if config["idle_action"] == "stop":
            return ready(config, started, defer=defer, start_command=wake_spare(config))
        podman(*run_arguments(config))
        return ready(config, started, defer=defer, start_command="podman run")


def prepare(config):
    """Idle action stop: the spare made ahead of the first request (when the role is applied), so that this
    request finds one too; nothing when the service has a container (running or a spare)."""
    with turn(config):
        if config["idle_action"] != "stop" or container_state(config["name"]) is not None:
            return {"changed": False}
        prepare_spare(config)
        return {"changed": True}


def recover(config):
    started = time.time()
    archive = newest_archive(config)
    if archive is None:
        raise ScaleError("no checkpoint archive of %s in %s" % (config["name"], config["checkpoint_dir"]))
    with turn(config):
        if remove_leftover(config):
            raise ScaleError("%s is running: recover replaces a dead container only" % config["name"])
        podman(*restore_arguments(config, archive))
        return ready(config, started, "checkpoint archive", archive, start_command="podman container restore --import")


def idle(config):
    with turn(config):
        return idle_action(config)


def idle_already(config, state):
    """Nothing of the service runs: stop leaves a created spare, checkpoint a stopped container."""
    return state != "running" if config["idle_action"] == "checkpoint" else state in (None, "created")


def idle_action(config):
    state = container_state(config["name"])
    if idle_already(config, state):
        return {"idle_action": config["idle_action"], "changed": False}
    if config["idle_action"] == "checkpoint":
        # The container stays, stopped with its checkpoint (in podman's storage, 0700), for the next wake to
        # restore in place; the archive is for retention and `recover`.
        archive, removed = take_checkpoint(config, leave_running=False)
        return {"idle_action": "checkpoint", "archive": archive, "removed": removed, "changed": True}
    podman("rm", "--force", "--time", str(config["stop_timeout"]), config["name"])
    # The next wake starts this spare: no container to create, no network to set up.
    prepare_spare(config)
    return {"idle_action": "stop", "changed": True}


def scheduled_checkpoint(config, check):
    if container_state(config["name"]) != "running":
        return {"changed": False, "taken": None, "removed": [], "msg": "%s is not running" % config["name"]}
    if check:
        path = new_archive_path(config)
        return {"changed": True, "check_mode": True, "would_take": path, "would_remove": removals(config, path)}
    with turn(config):
        archive, removed = take_checkpoint(config, leave_running=True)
    return {"changed": True, "taken": archive, "removed": removed}


def proxy(config, connection_at=None):
    """Started with the held socket as fd 3: wake, then hand the socket to the proxy."""
    wake(config, defer=True, started=connection_at)
    os.execv(config["proxyd"], [config["proxyd"], "--exit-idle-time=%s" % config["idle_time"], config["backend"]])


def serve(config):
    """The lab's way (no systemd as init): systemd-socket-activate holds the port until the first connection,
    then hands it to `hold`, which keeps it for good, as the .socket unit does."""
    os.execv(config["socket_activate"], [config["socket_activate"], "--listen=" + config["listen"],
                                         os.path.realpath(__file__), "hold", config["name"]])


def hold(config):
    """Keep the held socket (fd 3) listening: on a pending connection start the proxy with it; when the proxy
    exits idle, run the idle action. Connections that come meanwhile wait in the socket's queue."""
    os.set_inheritable(LISTENING_FD, True)
    while True:
        select.select([LISTENING_FD], [], [])
        connection_at = time.time()
        child = os.fork()
        if child == 0:
            # The proxy in this already started Python: no interpreter start-up on the waiting request.
            # This returns only when the start failed (it said why); else the child became the proxy.
            os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os._exit(outcome_of(lambda: proxy(config, connection_at)))
        if os.waitpid(child, 0)[1] != 0:
            time.sleep(1)  # the start failed: no tight loop on the waiting connection
        try:
            print(json.dumps(idle(config)), flush=True)
        except ScaleError as exc:
            print("idle action failed: %s" % exc, file=sys.stderr, flush=True)


def wait_start(config, since, timeout=10):
    """The record of the first start at or after since; the demo and the bench read how a wake went."""
    path = os.path.join(STATE_DIR, config["name"] + ".json")
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as handle:
                found = json.load(handle)
            if found["woke_at"] >= since:
                return found
        except (IOError, ValueError):
            pass  # not written yet
        time.sleep(0.05)
    raise ScaleError("no record of a start of %s since %s within %ss" % (config["name"], since, timeout))


def seconds(word):
    try:
        return float(word)
    except ValueError:
        raise ScaleError("%r is not a time in seconds since the epoch" % word)


# command -> (the words it takes after NAME, what it does with the settings, --check and those words)
COMMANDS = {
    "ready": (0, lambda config, _check, _words: ready(config)),
    "wake": (0, lambda config, _check, _words: wake(config)),
    "idle": (0, lambda config, _check, _words: idle(config)),
    "prepare": (0, lambda config, _check, _words: prepare(config)),
    "recover": (0, lambda config, _check, _words: recover(config)),
    "checkpoint": (0, lambda config, check, _words: scheduled_checkpoint(config, check)),
    "proxy": (0, lambda config, _check, _words: proxy(config)),
    "serve": (0, lambda config, _check, _words: serve(config)),
    "hold": (0, lambda config, _check, _words: hold(config)),
    "wait-start": (1, lambda config, _check, words: wait_start(config, seconds(words[0]))),
}


def main(argv):
    check = "--check" in argv
    words = [word for word in argv if word != "--check"]
    if len(words) < 2 or words[0] not in COMMANDS or len(words) != 2 + COMMANDS[words[0]][0]:
        print(__doc__, file=sys.stderr)
        return 2
    return outcome_of(lambda: COMMANDS[words[0]][1](settings(words[1]), check, words[2:]))


def outcome_of(step):
    """Run step: its result as JSON on stdout and 0, or why it failed as JSON on stderr and 1."""
    try:
        outcome = step()
    except ScaleError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}), file=sys.stderr)
        return 1
    print(json.dumps(outcome, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
