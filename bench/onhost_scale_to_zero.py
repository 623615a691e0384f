"""Runs ON the bench host (python3, stdlib only; bench/onhost.py beside it): for each scale-to-zero
service, wait until it is idle (no running container: stop leaves a created spare, checkpoint a
stopped container with its checkpoint), time one request through the held port, read how that start
went (the role's tool), measure the container's resident memory, and wait until it is idle again
(its processes gone)."""
import json
import os
import subprocess
import sys
import time
import urllib.request

from onhost import SETTLE_SECONDS, api_start  # bench/onhost.py, written beside this file

TOOL = "/usr/local/libexec/instanton/instanton-scale-to-zero"
# podman's API as the scale_to_zero role serves it (scale_to_zero_api_socket's default).
API_SOCKET = "/run/podman/podman.sock"


def podman(*args):
    done = subprocess.run(["podman"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True, env=dict(os.environ, PODMAN_IGNORE_CGROUPSV1_WARNING="1"))
    return done.stdout if done.returncode == 0 else ""


def runs(name):
    return name in podman("ps", "--format", "{{.Names}}").split()


def wait_idle(name, timeout, pids=()):
    """Until the service has no running container and none of its processes (pids) is left."""
    deadline = time.monotonic() + timeout
    while runs(name) or any(os.path.exists("/proc/%s" % pid) for pid in pids):
        if time.monotonic() > deadline:
            raise SystemExit("%s did not go idle within %ss" % (name, timeout))
        time.sleep(0.2)


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%s/status" % pid) as handle:
                total += int(next(line for line in handle if line.startswith("VmRSS:")).split()[1])
        except (IOError, StopIteration):
            pass  # gone (or a kernel thread): holds nothing
    return total


def start_record(name, since):
    """The tool's record of the start that began after `since`."""
    done = subprocess.run([TOOL, "wait-start", name, repr(since)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip())
    return json.loads(done.stdout)


def transient_podman_processes():
    """podman processes other than API services: the `podman container cleanup` that conmon runs when a
    container exits, a `podman rm` of the idle action, and so on."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                words = handle.read().split(b"\0")
        except IOError:
            continue  # gone meanwhile
        if os.path.basename(words[0]) == b"podman" and b"service" not in words:
            found.append(pid)
    return found


def settle(timeout=20):
    """Before each timed start: until the last sample's clean-up has finished (on 2 cores it takes CPU from
    the next start), then SETTLE_SECONDS, as bench/onhost.py waits between its samples."""
    deadline = time.monotonic() + timeout
    while transient_podman_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(SETTLE_SECONDS)


def measure(service, timeout):
    wait_idle(service["name"], timeout)
    settle()
    sample = {"label": service["label"], "ok": False}
    since = time.time()
    started = time.monotonic()
    body = urllib.request.urlopen("http://127.0.0.1:%d%s" % (service["port"], service["path"]), timeout=timeout).read()
    sample["ms"] = round((time.monotonic() - started) * 1000, 1)
    sample["ok"] = service["expect"] in body.decode().replace(" ", "")
    record = start_record(service["name"], since)
    # The tool's own clock, from the connection's arrival: its start command returned, the first answer.
    sample.update(restored=record["restored"], start_command=record.get("start_command"),
                  tool_start_ms=record.get("start_ms"), tool_answer_ms=record.get("wake_ms"))
    pids = podman("top", service["name"], "hpid").split()[1:]
    sample["rss_kb_before_idle"] = rss_kb(pids)
    wait_idle(service["name"], timeout, pids)
    sample["rss_kb_after_idle"] = rss_kb(pids)
    return sample


def first_answer_ms(port, path, expect, started, timeout):
    """ms from started (monotonic) to the first answer holding expect, polled every 5 ms."""
    while time.monotonic() - started < timeout:
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2).read()
            if expect in body.decode().replace(" ", ""):
                return round((time.monotonic() - started) * 1000, 1)
        except (IOError, OSError):
            pass  # not listening yet
        time.sleep(0.005)
    raise SystemExit("no answer on port %d within %ss" % (port, timeout))


def measure_fast_path(fast, timeout):
    """The fast path as the bench's own row: a spare created in a started pod, then the clock, an API
    start and the first answer; the pod is removed."""
    name = "instanton-bench-stz-fast"
    podman("pod", "rm", "--force", "--time", "0", name + "-pod")
    podman("pod", "create", "--name", name + "-pod", "--publish", "127.0.0.1:%d:%d" % (fast["port"], fast["app_port"]))
    podman("pod", "start", name + "-pod")
    podman(*(["create", "--name", name, "--pod", name + "-pod"] + fast["options"] + [fast["image"]]))
    settle()
    try:
        started = time.monotonic()
        api_start(name, API_SOCKET)
        ms = first_answer_ms(fast["port"], fast["path"], fast["expect"], started, timeout)
        restored = "instanton: restored" in podman("logs", name)
    finally:
        podman("pod", "rm", "--force", "--time", "0", name + "-pod")
    return {"label": fast["label"], "ok": True, "ms": ms, "restored": restored}


def main():
    spec = json.load(sys.stdin)
    samples = []
    for round_number in range(spec["runs"]):
        paired = measure_fast_path(spec["fast_path"], spec["timeout"])
        paired["round"] = round_number
        samples.append(paired)
        for service in spec["services"]:
            sample = measure(service, spec["timeout"])
            sample["round"] = round_number
            samples.append(sample)
    json.dump({"samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
