# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Reading the managed host for host_facts: /proc, criu, podman, the OCI runtime, seccomp.

Every probe records what the tool said; host_requirements.py decides what it means."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import resource
import time
import uuid

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    CRIU_SYSCALLS, seccomp_not_allowed)
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import (
    Podman, PodmanError)

CRIU_CHECK_CATEGORIES = (("required", []), ("extra", ["--extra"]),
                         ("experimental", ["--experimental"]))
CRIU_SEARCH_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin"]
RLIMITS = (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC),
           ("memlock", resource.RLIMIT_MEMLOCK))
SMOKE_PORT = 8080
SMOKE_ANSWER = "instanton-smoke"
# The smoke programs run under perl (Debian and Ubuntu images: perl-base) or Python (UBI: dnf's
# python3, RHEL 8's platform-python), whichever the image holds: no package is added to it.
SMOKE_SHELL = (
    'command -v perl >/dev/null 2>&1 && exec perl -e "$1";'
    ' for python in python3 /usr/libexec/platform-python; do'
    ' command -v $python >/dev/null 2>&1 && exec $python -c "$2"; done;'
    ' echo "the smoke image holds neither perl nor python3" >&2; exit 127')
SMOKE_LISTENER = (
    'use IO::Socket::INET; $| = 1;'
    ' my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => %d,'
    ' Listen => 5, ReuseAddr => 1) or die "listen: $!\\n";'
    ' while (my $c = $s->accept) { print $c "%s\\n"; close $c }' % (SMOKE_PORT, SMOKE_ANSWER),
    'import socket\n'
    's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
    's.bind(("127.0.0.1", %d)); s.listen(5)\n'
    'while True:\n    c = s.accept()[0]; c.sendall(b"%s\\n"); c.close()\n' % (SMOKE_PORT, SMOKE_ANSWER))
SMOKE_CLIENT = (
    'use IO::Socket::INET; my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:%d",'
    ' Timeout => 3) or die "connect: $!\\n"; print scalar <$c>' % SMOKE_PORT,
    'import socket; print(socket.create_connection(("127.0.0.1", %d), 3).makefile().readline().strip())'
    % SMOKE_PORT)
# The distribution's own image, from its vendor's registry: what a real host can pull.
SMOKE_IMAGES = {
    "rhel": "registry.access.redhat.com/ubi{major}/ubi:latest",
    "centos": "registry.access.redhat.com/ubi{major}/ubi:latest",
    "rocky": "registry.access.redhat.com/ubi{major}/ubi:latest",
    "almalinux": "registry.access.redhat.com/ubi{major}/ubi:latest",
    "debian": "docker.io/library/debian:{major}",
    "ubuntu": "docker.io/library/ubuntu:{version}",
}
SMOKE_LISTEN_TIMEOUT = 10.0


def default_smoke_image(distribution):
    """The smoke test's image for a distribution ({id, version} of os-release), or None."""
    template = SMOKE_IMAGES.get(distribution["id"])
    if not template or not distribution["version"]:
        return None
    return template.format(major=distribution["version"].split(".")[0], version=distribution["version"])


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def cap_last_cap():
    text = read_text("/proc/sys/kernel/cap_last_cap")
    return int(text) if text and text.strip().isdigit() else None


def parse_os_release(text):
    """ID and VERSION_ID from /etc/os-release text."""
    values = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', text or "", re.M))
    return {"id": values.get("ID", "unknown"), "version": values.get("VERSION_ID", "")}


def cgroup_version():
    return "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"


def hard_limit(value):
    return None if value == resource.RLIM_INFINITY else value


def rlimits():
    """Hard limits of this process: podman and the runtime inherit them."""
    return dict(("%s_hard" % name, hard_limit(resource.getrlimit(kind)[1]))
                for name, kind in RLIMITS)


def parse_criu_features(help_text):
    """Feature names listed after `--feature FEAT ... one of:` in `criu check --help`."""
    found = re.search(r"--feature FEAT.*?one of:(.*?)(?:\n\s*\n|\Z)", help_text or "", re.S)
    return re.findall(r"[\w-]+", found.group(1)) if found else []


def command_result(module, args):
    rc, out, err = module.run_command(args)
    return {"passed": rc == 0, "rc": rc, "output": (out + err).strip()}


def criu_check(module, criu):
    """`criu check` per category, and every feature `criu check --help` names."""
    results = dict((name, command_result(module, [criu, "check"] + flags))
                   for name, flags in CRIU_CHECK_CATEGORIES)
    out, err = module.run_command([criu, "check", "--help"])[1:]
    results["features"] = dict(
        (feature, command_result(module, [criu, "check", "--feature", feature]))
        for feature in parse_criu_features(out + err))
    return results


def criu_facts(module):
    criu = module.get_bin_path("criu", opt_dirs=CRIU_SEARCH_DIRS)
    if not criu:
        return {"path": None, "version_output": None, "check": None}
    rc, out, err = module.run_command([criu, "--version"])
    return {"path": criu, "version_output": out if rc == 0 else err,
            "check": criu_check(module, criu)}


def runtime_facts(module, oci_runtime):
    """The OCI runtime podman uses, with its own `--version` (crun lists +CRIU there)."""
    path = oci_runtime.get("path")
    version_output = oci_runtime.get("version")
    if path and os.path.exists(path):
        rc, out = module.run_command([path, "--version"])[:2]
        version_output = out if rc == 0 else version_output
    return {"name": oci_runtime.get("name"), "path": path, "version_output": version_output}


def podman_facts(module, executable):
    """(podman facts, runtime facts, cgroup version), or Nones when podman is missing."""
    if not module.get_bin_path(executable):
        return {"path": None, "version_output": None}, {"name": None}, cgroup_version()
    podman = Podman(module, executable)
    try:
        version = podman.version()
        out = podman.run(["info", "--format", "json"])[1]
        host = json.loads(out)["host"]
    except (PodmanError, ValueError, KeyError) as error:
        return ({"path": podman.executable, "version_output": None, "error": str(error)},
                {"name": None}, cgroup_version())
    return ({"path": podman.executable, "version_output": version},
            runtime_facts(module, host.get("ociRuntime") or {}),
            host.get("cgroupVersion") or cgroup_version())


def seccomp_facts(path):
    text = read_text(path)
    facts = {"path": path, "exists": text is not None, "valid_json": False, "error": None,
             "not_allowed": []}
    if text is None:
        return facts
    try:
        profile = json.loads(text)
    except ValueError as error:
        facts["error"] = str(error)
        return facts
    if not isinstance(profile, dict):
        facts["error"] = "not a JSON object"
        return facts
    facts["valid_json"] = True
    facts["not_allowed"] = seccomp_not_allowed(profile, CRIU_SYSCALLS)
    return facts


def gather(module, executable, seccomp_profile):
    """All facts host_requirements.evaluate() needs, read from this host."""
    podman, runtime, cgroups = podman_facts(module, executable)
    return {
        "kernel_release": os.uname()[2],
        "cap_last_cap": cap_last_cap(),
        "distribution": parse_os_release(read_text("/etc/os-release")),
        "criu": criu_facts(module),
        "podman": podman,
        "runtime": runtime,
        "cgroup_version": cgroups,
        "seccomp_profile": seccomp_facts(seccomp_profile),
        "rlimits": rlimits(),
    }


def smoke_network(runtime_name):
    """The smoke container's network. runc checkpoints a network namespace it made itself as an empty
    one (it passes CRIU empty-ns for net: "runc doesn't manage network devices"), so after a restore
    the loopback is down and the listener is unreachable; the namespace of podman's own network is
    podman's (its default network: `bridge`), left alone by the checkpoint. crun restores its own
    namespace whole."""
    return ["--network", "bridge" if runtime_name == "runc" else "none"]


class SmokeFailed(Exception):
    def __init__(self, step, message):
        super(SmokeFailed, self).__init__(message)
        self.step = step


class SmokeTest(object):
    """A real checkpoint and restore of a container that holds a TCP listener."""

    def __init__(self, module, executable, image, seccomp_profile, run_options, runtime_name=None):
        self.podman = Podman(module, executable)
        self.network = smoke_network(runtime_name)
        self.image = image
        self.seccomp_profile = seccomp_profile
        self.run_options = list(run_options)
        self.name = "hf-smoke-%s" % uuid.uuid4().hex[:12]
        self.timings_ms = {}

    def step(self, name, args):
        started = time.time()
        try:
            out = self.podman.run(args)[1]
        except PodmanError as error:
            raise SmokeFailed(name, str(error))
        finally:
            self.timings_ms[name] = int((time.time() - started) * 1000)
        return out

    def ask_listener(self):
        rc, out, err = self.podman.run(["exec", self.name, "sh", "-c", SMOKE_SHELL, "smoke"]
                                       + list(SMOKE_CLIENT), check=False)
        return rc == 0 and out.strip() == SMOKE_ANSWER, (out + err).strip()

    def wait_for_listener(self):
        started = time.time()
        answered, said = self.ask_listener()
        while not answered and time.time() - started < SMOKE_LISTEN_TIMEOUT:
            time.sleep(0.1)
            answered, said = self.ask_listener()
        self.timings_ms["listen"] = int((time.time() - started) * 1000)
        if not answered:
            logs = self.podman.run(["logs", self.name], check=False)
            raise SmokeFailed("listen", "no answer on 127.0.0.1:%d within %ds: %s %s"
                              % (SMOKE_PORT, SMOKE_LISTEN_TIMEOUT, said,
                                 (logs[1] + logs[2]).strip()[-500:]))

    def check_answer(self):
        started = time.time()
        answered, said = self.ask_listener()
        self.timings_ms["answer"] = int((time.time() - started) * 1000)
        if not answered:
            raise SmokeFailed("answer", "restored listener did not answer %r: %s"
                              % (SMOKE_ANSWER, said[-500:]))

    def run(self):
        """{passed, failed_step, message, timings_ms, container}; the container never stays."""
        try:
            self.step("run", ["run", "--detach", "--name", self.name] + self.network
                      + ["--security-opt", "seccomp=%s" % self.seccomp_profile]
                      + self.run_options + [self.image, "sh", "-c", SMOKE_SHELL, "smoke"]
                      + list(SMOKE_LISTENER))
            self.wait_for_listener()
            self.step("checkpoint", ["container", "checkpoint", self.name])
            self.step("restore", ["container", "restore", self.name])
            self.check_answer()
        except SmokeFailed as failure:
            return self.result(failure.step, str(failure))
        finally:
            # The listener is PID 1 and ignores SIGTERM: kill at once rather than wait.
            self.podman.run(["rm", "--force", "--ignore", "--time", "0", self.name],
                            check=False)
        return self.result(None, "checkpointed and restored a TCP listener; it answered")

    def result(self, failed_step, message):
        return {"passed": failed_step is None, "failed_step": failed_step, "message": message,
                "timings_ms": self.timings_ms, "container": self.name}
