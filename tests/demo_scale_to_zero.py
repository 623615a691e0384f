"""Runs on a demo host (python3, stdlib only): wake a scale-to-zero service with one request, let it
go idle, check that no process of its container is left, wake it again through the held port.
Prints {idle_stopped, wake_ms, restored, rss_kb_before_idle} as JSON."""
import json
import os
import subprocess
import sys
import time
import urllib.request

NAME, PORT, IDLE_SECONDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# The idle period, plus the idle action, plus slack for a busy host.
IDLE_TIMEOUT = IDLE_SECONDS + 60
TOOL = "/usr/local/libexec/instanton/instanton-scale-to-zero"


def podman(*args):
    return subprocess.run(["podman"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True, env=dict(os.environ, PODMAN_IGNORE_CGROUPSV1_WARNING="1"), check=False).stdout


def request():
    """One request through the held port; ms from connecting to the answer."""
    started = time.monotonic()
    urllib.request.urlopen("http://127.0.0.1:%d/" % PORT, timeout=120).read()
    return round((time.monotonic() - started) * 1000, 1)


def rss_kb(pid):
    try:
        with open("/proc/%s/status" % pid) as handle:
            return int(next(line for line in handle if line.startswith("VmRSS:")).split()[1])
    except (IOError, StopIteration):
        return 0


def idle(pids):
    """True once the service has no running container (the idle action stop leaves a created spare) and
    none of its processes is alive (within the timeout)."""
    deadline = time.monotonic() + IDLE_TIMEOUT
    while time.monotonic() < deadline:
        if NAME not in podman("ps", "--format", "{{.Names}}").split() and \
                not any(os.path.exists("/proc/%s" % pid) for pid in pids):
            return True
        time.sleep(0.2)
    return False


def start_record(since):
    """The tool's record of the start that began after `since`; restored None when there is none."""
    done = subprocess.run([TOOL, "wait-start", NAME, repr(since)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else {"restored": None}


request()
pids = podman("top", NAME, "hpid").split()[1:]
held = sum(rss_kb(pid) for pid in pids)
stopped = idle(pids)
since = time.time()
wake_ms = request()
restored = start_record(since)["restored"]
print(json.dumps({"idle_stopped": stopped, "wake_ms": wake_ms, "restored": restored, "rss_kb_before_idle": held}))
