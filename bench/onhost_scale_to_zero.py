"""Runs ON the bench host (python3, stdlib only): for each scale-to-zero service, wait until it is
idle (no running container: stop leaves a created spare, checkpoint nothing), time one request
through the held port, read how that start went (the role's tool), measure the container's
resident memory, and wait until it is idle again (its processes gone)."""
import json
import os
import subprocess
import sys
import time
import urllib.request

TOOL = "/usr/local/libexec/instanton/instanton-scale-to-zero"


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


def measure(service, timeout):
    wait_idle(service["name"], timeout)
    sample = {"label": service["label"], "ok": False}
    since = time.time()
    started = time.monotonic()
    body = urllib.request.urlopen("http://127.0.0.1:%d%s" % (service["port"], service["path"]), timeout=timeout).read()
    sample["ms"] = round((time.monotonic() - started) * 1000, 1)
    sample["ok"] = service["expect"] in body.decode().replace(" ", "")
    record = start_record(service["name"], since)
    sample.update(restored=record["restored"], start_command=record.get("start_command"))
    pids = podman("top", service["name"], "hpid").split()[1:]
    sample["rss_kb_before_idle"] = rss_kb(pids)
    wait_idle(service["name"], timeout, pids)
    sample["rss_kb_after_idle"] = rss_kb(pids)
    return sample


def main():
    spec = json.load(sys.stdin)
    samples = []
    for round_number in range(spec["runs"]):
        for service in spec["services"]:
            sample = measure(service, spec["timeout"])
            sample["round"] = round_number
            samples.append(sample)
    json.dump({"samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
