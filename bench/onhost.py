"""Runs ON the lab host (stdlib only, Python 3.6+): starts containers and times each
from the run command to the first correct HTTP answer, so SSH latency is not in the figure.

Input (stdin, JSON): {"runs": N, "timeout": s, "budget": s, "derive": [...], "images": [...],
"files": [...], "variants": [{"label", "argv", "port", "path", "expect", "stats", "prepare",
"cleanup", "api_start", "stats_file"}]}; argv may hold {name} and {port}.
- "prepare" podman commands (arguments only: a container created ahead, a pod that holds the
  network) run before the clock starts, "cleanup" ones after the sample.
- "api_start": true starts the container through podman's REST API instead of running argv,
  served by a `podman system service` of the bench's own while it runs.
- "stats_file": where CRIU's stats-restore lands in the container; its bytes come back
  hex-encoded (run.py decodes them with the collection's CRIU image reader).
Output (stdout, JSON): {"samples": [...], "images": {...}, "files": {path: bytes},
"derived": [...], "load": [...]}.
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

POLL_SECONDS = 0.005
# Probes overlap: a SYN sent before the container's network is up is dropped (the
# kernel retries a second later), and one that reaches the port podman reserves
# before its DNAT rule exists is accepted and never answered. A new probe every
# POLL_SECONDS, each given up after PROBE_SECONDS, keeps both out of the figure.
PROBE_SECONDS = 2.0
SETTLE_SECONDS = 0.5
API_SOCKET = "/run/instanton-bench-podman.sock"
MARKER = re.compile(r"instanton: restored pid \d+ in (\d+) ms")
COLD = re.compile(r"instanton: cold start: (.*)")
# Open Liberty's restore messages (and the stand-in's): resumed in S seconds, or launched cold.
LIBERTY_RESTORED = re.compile(r"CWWKC0452I: .* in (\d+\.\d+) seconds")
LIBERTY_COLD = re.compile(r"(CWWKE0957I: .*)")
os.environ["PODMAN_IGNORE_CGROUPSV1_WARNING"] = "1"


def podman(*args, check=True):
    done = subprocess.run(("podman",) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600)
    if check and done.returncode:
        raise RuntimeError("podman %s: %s" % (" ".join(args[:3]), done.stderr.strip()[-500:]))
    return done.stdout + done.stderr


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.socket_path)


def api_start(name, socket_path=API_SOCKET):
    """POST .../containers/NAME/start, as instanton_container's api_socket does; returns once started."""
    connection = UnixHTTPConnection(socket_path)
    try:
        connection.request("POST", "/v4.0.0/libpod/containers/%s/start" % name)
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    if answer.status != 204:
        raise RuntimeError("API start of %s: HTTP %d %s" % (name, answer.status, body[:300]))


def api_service():
    """The bench's own `podman system service`, for the api_start variants; its process."""
    if os.path.exists(API_SOCKET):
        os.unlink(API_SOCKET)
    service = subprocess.Popen(["podman", "system", "service", "--time=0", "unix://" + API_SOCKET],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(API_SOCKET):
        if time.monotonic() > deadline or service.poll() is not None:
            raise RuntimeError("podman system service did not come up on %s" % API_SOCKET)
        time.sleep(0.05)
    return service


class Probe(object):
    """One non-blocking GET; done() is True (a 200 holding `expect`), False (failed) or None (pending)."""

    def __init__(self, port, path, expect):
        self.expect = expect.encode()
        self.request = ("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path).encode()
        self.data = b""
        self.sent = False
        self.born = time.monotonic()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))

    def done(self):
        try:
            if not self.sent:
                self.sock.send(self.request)
                self.sent = True
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return self.verdict()
                self.data += chunk
        except (BlockingIOError, InterruptedError):
            return False if time.monotonic() - self.born > PROBE_SECONDS else None
        except OSError:
            return False

    def verdict(self):
        head, _, body = self.data.partition(b"\r\n\r\n")
        return head.split(b" ", 2)[1:2] == [b"200"] and self.expect in body

    def close(self):
        self.sock.close()


def first_answer(variant, started, timeout, proc):
    """Seconds from `started` to the first correct answer, or None."""
    probes = []
    try:
        while time.monotonic() - started < timeout:
            probes.append(Probe(variant["port"], variant["path"], variant["expect"]))
            for probe in list(probes):
                verdict = probe.done()
                if verdict:
                    return time.monotonic() - started
                if verdict is False:
                    probe.close()
                    probes.remove(probe)
            if proc is not None and proc.poll() not in (None, 0):
                return None
            time.sleep(POLL_SECONDS)
    finally:
        for probe in probes:
            probe.close()
    return None


def criu_stats(text, kind):
    """How the start went, from the flavor's own messages: restored or cold, and the restore step's
    wall clock (the generic entrypoint's marker, Liberty's CWWKC0452I, or podman's --print-stats,
    which also carries CRIU's own statistics)."""
    found = {}
    if kind in ("marker", "liberty"):
        restored, cold = (MARKER, COLD) if kind == "marker" else (LIBERTY_RESTORED, LIBERTY_COLD)
        match = restored.search(text)
        if match:
            found["restore_step_ms"] = round(float(match.group(1)) * (1 if kind == "marker" else 1000))
        cold = cold.search(text)
        found["restored"] = bool(match) if (match or cold) else None
        if cold:
            found["cold_reason"] = cold.group(1).strip()[:300]
    elif kind == "print-stats":
        start = text.find("{")
        try:
            stats = json.loads(text[start:]) if start >= 0 else {}
        except ValueError:
            stats = {}
        for entry in stats.get("container_statistics") or []:
            found["criu_stats"] = entry.get("criu_statistics") or {}
            found["restore_step_ms"] = round(entry.get("runtime_restore_duration", 0) / 1000.0, 1)
            found["restored"] = True
    return found


def start_once(variant, index, timeout):
    name = "instanton-bench-%d-%d" % (os.getpid(), index)

    def filled(command):
        return [arg.format(name=name, port=variant["port"]) for arg in command]

    for command in variant.get("prepare", []):
        podman(*filled(command))
    argv = filled(variant["argv"])
    started = time.monotonic()
    proc = None
    if variant.get("api_start"):
        api_start(name)
    else:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    sample = {"label": variant["label"], "ok": False}
    seconds = first_answer(variant, started, timeout, proc)
    if seconds is not None:
        sample.update(ok=True, ms=round(seconds * 1000, 1))
    out = proc.communicate(timeout=120)[0] if proc else ""
    text = out if variant["stats"] == "print-stats" else podman("logs", name, check=False)
    sample.update(criu_stats(text, variant["stats"]))
    if variant.get("stats_file") and sample.get("restored"):
        sample["criu_stats_hex"] = stats_file(name, variant["stats_file"])
    if not sample["ok"]:
        sample["log_tail"] = (out + "\n" + podman("logs", name, check=False))[-800:]
    podman("rm", "--force", "--time", "0", name, check=False)
    for command in variant.get("cleanup", []):
        podman(*filled(command), check=False)
    return sample


def stats_file(name, path):
    """The bytes of CRIU's stats-restore in the container, hex-encoded ("" when it is missing)."""
    done = subprocess.run(["podman", "exec", name, "cat", path], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, timeout=60)
    return done.stdout.hex() if done.returncode == 0 else ""


def derive(spec):
    """An image FROM spec["from"] with files replaced: how script variants share one checkpoint."""
    context = tempfile.mkdtemp(prefix="instanton-bench-")
    try:
        lines = ["FROM %s" % spec["from"]]
        for number, (path, content) in enumerate(sorted(spec["files"].items())):
            with open(os.path.join(context, "f%d" % number), "w") as handle:
                handle.write(content)
            lines.append("COPY --chmod=0755 f%d %s" % (number, path))
        with open(os.path.join(context, "Containerfile"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        podman("build", "--pull=never", "--quiet", "--tag", spec["tag"], context)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return spec["tag"]


def image_sizes(name):
    """Total size and the top layer's (the checkpoint layer of an InstantOn image), in bytes."""
    inspect = json.loads(podman("image", "inspect", name))[0]
    history = json.loads(podman("history", "--format", "json", name))
    return {"size": inspect.get("Size"), "top_layer": history[0].get("size") if history else None,
            "id": inspect["Id"][:12]}


def main():
    spec = json.load(sys.stdin)
    budget_end = time.monotonic() + spec.get("budget", 3600)
    derived = [derive(item) for item in spec.get("derive", [])]
    samples = []
    variants = spec["variants"]
    service = api_service() if any(v.get("api_start") for v in variants) else None
    try:
        for round_number in range(spec["runs"]):
            # Rotate the order each round: no variant always follows the same one.
            shift = round_number % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                if time.monotonic() > budget_end:
                    break
                sample = start_once(variant, len(samples), spec.get("timeout", 60))
                sample["round"] = round_number
                samples.append(sample)
                time.sleep(SETTLE_SECONDS)
    finally:
        if service:
            service.terminate()
            service.wait(timeout=30)
    images = {}
    for name in spec.get("images", []):
        try:
            images[name] = image_sizes(name)
        except (RuntimeError, ValueError, IndexError) as error:
            images[name] = {"error": str(error)}
    for tag in derived if spec.get("remove_derived", True) else []:
        podman("rmi", tag, check=False)
    files = dict((path, os.path.getsize(path) if os.path.exists(path) else None) for path in spec.get("files", []))
    json.dump({"samples": samples, "images": images, "files": files, "derived": derived, "load": os.getloadavg()},
              sys.stdout)


if __name__ == "__main__":
    main()
