# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running InstantOn containers with least privilege and telling restores from cold starts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import time

from ansible_collections.instanton.platform.plugins.module_utils import instanton_scripts as scripts, readiness
from ansible_collections.instanton.platform.plugins.module_utils.image_build import LABEL_PREFIX

# Restore needs exactly these two; checkpoint-only SYS_PTRACE is never granted.
RESTORE_CAPABILITIES = ["CHECKPOINT_RESTORE", "SETPCAP"]
CONFIG_LABEL = "io.instanton.platform.run-config"
# Without a readiness check: how long the entrypoint has to say how it started.
MARKER_TIMEOUT = 60

# (pattern, restored) pairs: the generic entrypoint's markers and Open Liberty's
# (CWWKC0452I resumed from a checkpoint, CWWKE0957I restore failed, cold start).
START_MARKERS = [
    (re.compile(r"^%s pid \d+ in (\d+) ms" % re.escape(scripts.RESTORED_MARKER), re.M), True),
    (re.compile(r"^%s (.*)$" % re.escape(scripts.COLD_START_MARKER), re.M), False),
    (re.compile(r"CWWKC0452I.*$", re.M), True),
    (re.compile(r"CWWKE0957I(.*)$", re.M), False),
]


def start_outcome(log_text):
    """(restored, detail) from the container log, or (None, None) before any marker."""
    for pattern, restored in START_MARKERS:
        match = pattern.search(log_text)
        if match:
            return restored, match.group(1).strip() if match.groups() else match.group(0)
    return None, None


def seccomp_option(profile):
    """The profile to run with: the host's CRIU profile when installed, else the runtime default."""
    if profile == "unconfined" or (profile and os.path.exists(profile)):
        return ["--security-opt", "seccomp=%s" % profile]
    return []


def run_arguments(params):
    """`podman run` arguments, least privilege unless asked otherwise."""
    args = ["run", "--detach", "--name", params["name"]]
    for capability in RESTORE_CAPABILITIES + params["cap_add"]:
        args += ["--cap-add", capability]
    if params["privileged"]:
        args.append("--privileged")
    args += seccomp_option(params["seccomp_profile"])
    for port in params["ports"]:
        args += ["--publish", port]
    for volume in params["volumes"]:
        args += ["--volume", volume]
    env = dict(params["env"])
    if params["require_restore"]:
        env["INSTANTON_REQUIRE_RESTORE"] = "1"
    if not params["restore"]:
        env["INSTANTON_DISABLE_RESTORE"] = "1"
    for key in sorted(env):
        args += ["--env", "%s=%s" % (key, env[key])]
    if params["network"]:
        args += ["--network", params["network"]]
    args += ["--label", "%s=%s" % (CONFIG_LABEL, config_digest(params))]
    return args + [params["image"]]


def config_digest(params):
    """What the container was started with, to tell whether a running one matches."""
    keys = ("image", "ports", "volumes", "env", "cap_add", "privileged", "seccomp_profile",
            "network", "require_restore", "restore")
    document = json.dumps(dict((key, params[key]) for key in keys), sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def host_endpoint(container, container_port):
    """(address, port) to reach the container's port from the host: a published port, else its IP."""
    network = container.get("NetworkSettings") or {}
    for binding in (network.get("Ports") or {}).get("%d/tcp" % container_port) or []:
        host_ip = binding.get("HostIp") or "127.0.0.1"
        return ("127.0.0.1" if host_ip in ("0.0.0.0", "::") else host_ip), int(binding["HostPort"])
    address = network.get("IPAddress")
    for settings in (network.get("Networks") or {}).values():
        address = address or settings.get("IPAddress")
    if not address:
        return None
    return address, container_port


def is_instanton(image):
    return LABEL_PREFIX + "flavor" in ((image.get("Config") or {}).get("Labels") or {})


class Runner(object):
    """Starts one container and finds out how it started."""

    def __init__(self, podman, params, fail_json):
        self.podman = podman
        self.params = params
        self.fail_json = fail_json

    def logs(self):
        found = self.podman.run(["logs", self.params["name"]], check=False)
        return found[1] + found[2]

    def running(self):
        container = self.podman.container(self.params["name"])
        return bool(container and container["State"]["Running"])

    def probe(self, container):
        check = self.params["readiness"]
        if check is None:
            return lambda: start_outcome(self.logs())[0] is not None
        if check["type"] == "log":
            return lambda: readiness.log_matches(self.logs(), check["pattern"])
        endpoint = host_endpoint(container, check["port"])
        if endpoint is None:
            self.fail("no published port or address reaches port %d of the container" % check["port"])
        if check["type"] == "tcp":
            return lambda: readiness.tcp_open(endpoint)
        url = "http://%s:%d%s" % (endpoint[0], endpoint[1], check["path"])
        return lambda: readiness.http_ok(url)

    def outcome(self, is_instanton):
        """(restored, detail); waits briefly for the marker, which conmon may log after the first answer."""
        deadline = time.time() + 5
        while is_instanton:
            restored, detail = start_outcome(self.logs())
            if restored is not None or time.time() > deadline:
                return restored, detail
            time.sleep(0.05)
        return False, "the image is not an InstantOn image (no %sflavor label)" % LABEL_PREFIX

    def fail(self, message):
        tail = "\n".join(self.logs().strip().splitlines()[-15:])
        self.fail_json(msg="%s\ncontainer log (last lines):\n%s" % (message, tail))

    def result(self, container, start_ms, is_instanton):
        restored, detail = self.outcome(is_instanton)
        found = dict(container=container, restored=bool(restored), start_ms=start_ms)
        if restored:
            found["criu_restore_ms"] = int(detail) if detail and detail.isdigit() else None
        else:
            found["fallback_reason"] = detail
        return found

    def start(self):
        name = self.params["name"]
        self.podman.remove_container(name)
        started = time.time()
        self.podman.run(run_arguments(self.params))
        container = self.podman.container(name)
        timeout = (self.params["readiness"] or {}).get("timeout", MARKER_TIMEOUT)
        waited = readiness.wait_until(self.probe(container), timeout, self.running)
        if waited is None:
            restored, detail = start_outcome(self.logs())
            if self.params["require_restore"] and restored is False:
                self.fail("the checkpoint was not restored and require_restore is set: %s" % detail)
            state = "is still not ready after %ds" % timeout if self.running() else "exited before it was ready"
            self.fail("container %s %s (it is left in place for inspection)" % (name, state))
        return self.podman.container(name), int(round((time.time() - started) * 1000))
