# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Running InstantOn containers with least privilege and telling restores from cold starts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.instanton.platform.plugins.module_utils.common import _podman_api as podman_api
from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as readiness
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import (
    CHECKPOINT_NAME_ANNOTATION, image_flavor, last_lines)
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import ns_last_pid_options
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _run_generic
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _run_liberty
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _run_podman
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import (
    CONFIG_LABEL, RunFlavor, config_digest, restore_error, restore_error_result, same_config)

# The run side of each flavor, by the name its images carry (FLAVOR_LABEL); a new flavor adds its line.
RUN_FLAVORS = dict((flavor.name, flavor) for flavor in (_run_generic.FLAVOR, _run_liberty.FLAVOR, _run_podman.FLAVOR))
# An image without the flavor label: run as asked, started cold.
NOT_INSTANTON = RunFlavor()
# Restore needs exactly these two; checkpoint-only SYS_PTRACE is never granted.
RESTORE_CAPABILITIES = ["CHECKPOINT_RESTORE", "SETPCAP"]
# Without a readiness check: how long the entrypoint has to say how it started.
MARKER_TIMEOUT = 60

# (pattern, restored) pairs of every flavor: a container's log tells how it started whatever its image says.
START_MARKERS = [marker for flavor in RUN_FLAVORS.values() for marker in flavor.start_markers]
# seccomp_profile value that asks for the container runtime's own default profile.
RUNTIME_DEFAULT_SECCOMP = "runtime-default"
# `podman container inspect` states of a container that was created and never started.
NEVER_STARTED = ("created", "configured")


def run_flavor(image):
    """The run side of the image's flavor (an image of no flavor runs as a plain image)."""
    return RUN_FLAVORS.get(image_flavor(image), NOT_INSTANTON)


def start_outcome(log_text):
    """(restored, detail) from the last marker in the container log, or (None, None) before any marker:
    a container started again keeps its earlier runs' markers in its log."""
    found = [(match.start(), restored, match) for pattern, restored in START_MARKERS
             for match in pattern.finditer(log_text)]
    if not found:
        return None, None
    _position, restored, match = max(found, key=lambda item: item[0])
    return restored, match.group(1).strip() if match.groups() else match.group(0)


def seccomp_option(profile):
    """The profile to run with; nothing for the runtime's default, when asked for by name."""
    if profile == RUNTIME_DEFAULT_SECCOMP:
        return []
    return ["--security-opt", "seccomp=%s" % profile]


def options_problem(params, flavor):
    """Why the options asked for cannot be used with this flavor's image, or None."""
    return flavor.option_problem(params) or (flavor.applies_seccomp_profile and seccomp_problem(params)) or None


def seccomp_problem(params):
    """Why the seccomp profile asked for cannot be used, with the fix, or None: never a silent fallback
    to a weaker profile."""
    profile = params["seccomp_profile"]
    if profile in ("unconfined", RUNTIME_DEFAULT_SECCOMP):
        return None
    fix = ("apply the instanton.platform.seccomp role on this host, or set seccomp_profile: %s to run with the "
           "container runtime's default profile" % RUNTIME_DEFAULT_SECCOMP)
    try:
        with open(profile) as handle:
            document = json.load(handle)
    except (IOError, OSError) as error:
        return "seccomp profile %s cannot be read (%s): %s" % (profile, error.strerror or error, fix)
    except ValueError as error:
        return "seccomp profile %s is not valid JSON (%s): %s" % (profile, error, fix)
    if not isinstance(document, dict) or "defaultAction" not in document:
        return "seccomp profile %s is not a seccomp profile (no defaultAction): %s" % (profile, fix)
    return None


def run_arguments(params, flavor, command=("run", "--detach")):
    """`podman run` (or `podman create`) arguments, least privilege unless asked otherwise."""
    args = list(command) + ["--name", params["name"]]
    for capability in RESTORE_CAPABILITIES + params["cap_add"]:
        args += ["--cap-add", capability]
    if params["privileged"]:
        args.append("--privileged")
    args += seccomp_option(params["seccomp_profile"])
    for port in params["ports"]:
        args += ["--publish", port]
    for volume in params["volumes"]:
        args += ["--volume", volume]
    env = flavor.start_env(params)
    for key in sorted(env):
        args += ["--env", "%s=%s" % (key, env[key])]
    if params["network"]:
        args += ["--network", params["network"]]
    if params["pod"]:
        args += ["--pod", params["pod"]]
    args += ["--label", "%s=%s" % (CONFIG_LABEL, config_digest(params))]
    # Without clone3, CRIU restores PIDs through ns_last_pid (host_facts' run_options).
    return args + ns_last_pid_options(os.uname()[2]) + [params["image"]]


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


def is_current(existing, image, params):
    """Whether a container already runs this image with these options (then it is left alone)."""
    if not (existing and existing["State"]["Running"]):
        return False
    return run_flavor(image).runs_as_asked(existing, image, params)


def is_spare(existing, image, params):
    """Whether a container was created ahead with this image and these options and never started:
    starting it skips creating one (a container that ran once has a used root file system)."""
    return bool(existing) and existing["State"].get("Status") in NEVER_STARTED and same_config(existing, image, params)


class Runner(object):
    """Starts one container and finds out how it started."""

    def __init__(self, podman, params, fail_json):
        self.podman = podman
        self.params = params
        self.fail_json = fail_json
        # (restored, reason) of a podman-flavor start: podman's restore works or fails.
        self.podman_restore = None
        # Read the log from this time on (podman logs --since): the current run's part of it.
        self.since = None

    def logs(self):
        since = ["--since", self.since] if self.since else []
        found = self.podman.run(["logs"] + since + [self.params["name"]], check=False)
        return found[1] + found[2]

    def running(self):
        container = self.podman.container(self.params["name"])
        return bool(container and container["State"]["Running"])

    def probe(self, container):
        check = self.params["readiness"]
        if check is None:
            return lambda: start_outcome(self.logs())[0] is not None
        if check["type"] == "log":
            return lambda: readiness.log_matches(self.logs, check["pattern"])
        endpoint = host_endpoint(container, check["port"])
        if endpoint is None:
            self.fail("no published port or address reaches port %d of the container" % check["port"])
        if check["type"] == "tcp":
            return lambda: readiness.tcp_open(endpoint)
        url = readiness.http_url(endpoint[0], endpoint[1], check["path"])
        return lambda: readiness.http_ok(url)

    def marker_outcome(self, wait):
        """(restored, detail) from the entrypoint's markers; waits up to `wait` s for one, which conmon may
        log after the first answer."""
        deadline = time.time() + wait
        while True:
            restored, detail = start_outcome(self.logs())
            if restored is not None or time.time() > deadline:
                return restored, detail
            time.sleep(0.05)

    def run_container(self, flavor, params=None, command=("run", "--detach")):
        """`podman run` (or `podman create`) of a container with the flavor's environment."""
        self.podman.run(run_arguments(params or self.params, flavor, command))

    def fail(self, message, **extra):
        self.fail_json(msg="%s\ncontainer log (last lines):\n%s" % (message, last_lines(self.logs())), **extra)

    def result(self, container, image, start_ms=None, start_command=None):
        if start_command is None:
            # Already running: only its current run tells how it started (it may have been started again).
            self.since = container["State"].get("StartedAt")
        return dict(self.report(container, image, wait=5), start_ms=start_ms, start_command=start_command)

    def report(self, container, image, wait=0):
        """How a container started, from its log as it is now (instanton_container_info) or once the marker
        came. podman restores a checkpoint image into a container of the app image: State.Restored says so."""
        if image_flavor(image) is None and container["State"].get("Restored"):
            image = {"Annotations": {CHECKPOINT_NAME_ANNOTATION: container.get("Name") or "restored"}}
        restored, detail = run_flavor(image).outcome(self, container, image, wait)
        found = dict(container=container, restored=bool(restored))
        if restored:
            if detail and detail.isdigit():
                found["criu_restore_ms"] = int(detail)
        else:
            found["fallback_reason"] = detail
            criu_error = restore_error(detail)
            if criu_error:
                found["criu_error"] = criu_error
        return found

    def timeout(self):
        return (self.params["readiness"] or {}).get("timeout", MARKER_TIMEOUT)

    def spare_probe(self, spare):
        """A spare's readiness probe, made from its inspect before it starts so that no podman command
        runs between the start and the first probe; None when that needs its address (not known yet)."""
        check = self.params["readiness"]
        if check and check["type"] != "log" and host_endpoint(spare, check["port"]) is None:
            return None
        return self.probe(spare)

    def wait_ready(self, probe):
        """Seconds until the first correct answer, or None (timed out, or the container died)."""
        if self.podman_restore and self.params["readiness"] is None:
            return 0
        return readiness.wait_until(probe, self.timeout(), self.running)

    def create(self, image):
        """A container created ahead and left stopped: a spare that state=started starts."""
        self.podman.remove_container(self.params["name"])
        self.run_container(run_flavor(image), command=("create",))
        return self.podman.container(self.params["name"])

    def start_spare(self):
        """Start a spare; through podman's API socket when given (no podman command start-up)."""
        if self.params["api_socket"]:
            podman_api.start_container(self.params["api_socket"], self.params["name"], self.timeout())
            return "api start"
        self.podman.run(["start", self.params["name"]])
        return "podman start"

    def start(self, image, spare=None):
        """(container, start_ms, start command); a spare (its inspect) is started as it is, anything else replaced."""
        name = self.params["name"]
        probe = self.spare_probe(spare) if spare else None
        if not spare:
            self.podman.remove_container(name)
        started = time.time()
        command = self.start_spare() if spare else run_flavor(image).launch(self, image)
        if self.wait_ready(probe or self.probe(self.podman.container(name))) is None:
            restored, detail = start_outcome(self.logs())
            # Liberty has no marker for "restore failed, recovery disabled": it just exits.
            if self.params["require_restore"] and not restored and (restored is False or not self.running()):
                self.fail("the checkpoint was not restored and require_restore is set: %s" % (detail or "the container exited"),
                          **restore_error_result(detail))
            state = "is still not ready after %ds" % self.timeout() if self.running() else "exited before it was ready"
            self.fail("container %s %s (it is left in place for inspection)" % (name, state))
        return self.podman.container(name), int(round((time.time() - started) * 1000)), command
