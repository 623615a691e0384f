# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Running InstantOn containers with least privilege and telling restores from cold starts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import time

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors as criu_causes
from ansible_collections.instanton.platform.plugins.module_utils.common import _host_lock as host_lock
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _instanton_scripts as scripts
from ansible_collections.instanton.platform.plugins.module_utils.common import _podman_api as podman_api
from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as readiness
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import (
    CHECKPOINT_NAME_ANNOTATION, FLAVOR_LABEL, image_flavor, last_lines)
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import ns_last_pid_options
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._image_liberty import DISABLE_RECOVERY_ENV

# Restore needs exactly these two; checkpoint-only SYS_PTRACE is never granted.
RESTORE_CAPABILITIES = ["CHECKPOINT_RESTORE", "SETPCAP"]
CONFIG_LABEL = "io.instanton.platform.run-config"
# Without a readiness check: how long the entrypoint has to say how it started.
MARKER_TIMEOUT = 60

# (pattern, restored) pairs: the generic entrypoint's markers and Open Liberty's
# (CWWKC0452I resumed from a checkpoint, CWWKE0957I restore failed, cold start;
# CWWKC0451I a checkpoint was requested: the image still has WLP_CHECKPOINT set).
START_MARKERS = [
    (re.compile(r"^%s pid \d+ in (\d+) ms" % re.escape(scripts.RESTORED_MARKER), re.M), True),
    (re.compile(r"^%s (.*)$" % re.escape(scripts.COLD_START_MARKER), re.M), False),
    (re.compile(r"CWWKC0452I.*$", re.M), True),
    (re.compile(r"CWWKE0957I(.*)$", re.M), False),
    (re.compile(r"(CWWKC0451I.*)$", re.M), False),
]
# Where Open Liberty (and the stand-in) write why a restore failed.
LIBERTY_RESTORE_LOG = "/logs/checkpoint/restore.log"
ROOTFS_IMAGE_ANNOTATION = "io.podman.annotations.checkpoint.rootfsImageID"
# crun names CRIU's log in its error: "Please check CRIU logfile `PATH`".
CRIU_LOGFILE = re.compile(r"CRIU logfile `([^`]+)`")
# podman restores a checkpoint image with the checkpointed container's own settings.
NOT_FOR_PODMAN_FLAVOR = ("env", "volumes", "cap_add", "network", "pod")
# seccomp_profile value that asks for the container runtime's own default profile.
RUNTIME_DEFAULT_SECCOMP = "runtime-default"
# `podman container inspect` states of a container that was created and never started.
NEVER_STARTED = ("created", "configured")


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


def seccomp_problem(params, flavor):
    """Why the seccomp profile asked for cannot be used, with the fix, or None: never a silent fallback
    to a weaker profile. podman restores its checkpoint images with their own settings."""
    profile = params["seccomp_profile"]
    if flavor == "podman" or profile in ("unconfined", RUNTIME_DEFAULT_SECCOMP):
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


def start_env(params, flavor):
    """The environment asked for, plus the flavor's switches for restore=false and require_restore."""
    env = dict(params["env"])
    if flavor == "liberty":
        if params["require_restore"]:
            env[DISABLE_RECOVERY_ENV] = "true"
        return env
    if params["require_restore"]:
        env["INSTANTON_REQUIRE_RESTORE"] = "1"
    if not params["restore"]:
        env["INSTANTON_DISABLE_RESTORE"] = "1"
    return env


def flavor_problem(params, flavor):
    """Options a flavor cannot honour, or None."""
    if flavor == "liberty" and not params["restore"]:
        return "restore=false is not available for liberty images: run the app image to start cold"
    if flavor == "podman":
        if params["state"] == "created":
            return ("state=created is not available for podman checkpoint images: podman container restore "
                    "creates and restores in one step")
        given = [key for key in NOT_FOR_PODMAN_FLAVOR if params[key]] + (["privileged"] if params["privileged"] else [])
        if given:
            return ("%s cannot be set for a podman checkpoint image: podman restores it with the checkpointed "
                    "container's own settings" % ", ".join(given))
        if not params["restore"]:
            return "restore=false is not available for podman checkpoint images: run the app image to start cold"
    return None


def archive_as_image(path, container_name, app_image):
    """A podman checkpoint archive seen as the checkpoint image of the same checkpoint: the annotations
    podman would give that image, so that it is started, compared and fallen back from the same way."""
    return {"Id": None, "Archive": path,
            "Annotations": {CHECKPOINT_NAME_ANNOTATION: container_name, ROOTFS_IMAGE_ANNOTATION: app_image["Id"]}}


def restore_arguments(params, image):
    """`podman container restore` of a podman checkpoint image, or `--import` of its archive."""
    args = ["container", "restore", "--name", params["name"]]
    for port in params["ports"]:
        args += ["--publish", port]
    if image.get("Archive"):
        return args + ["--import", image["Archive"]]
    return args + [params["image"]]


def run_arguments(params, flavor=None, command=("run", "--detach")):
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
    env = start_env(params, flavor)
    for key in sorted(env):
        args += ["--env", "%s=%s" % (key, env[key])]
    if params["network"]:
        args += ["--network", params["network"]]
    if params["pod"]:
        args += ["--pod", params["pod"]]
    args += ["--label", "%s=%s" % (CONFIG_LABEL, config_digest(params))]
    # Without clone3, CRIU restores PIDs through ns_last_pid (host_facts' run_options).
    return args + ns_last_pid_options(os.uname()[2]) + [params["image"]]


def config_digest(params):
    """What the container was started with, to tell whether a running one matches."""
    keys = ("image", "ports", "volumes", "env", "cap_add", "privileged", "seccomp_profile",
            "network", "pod", "require_restore", "restore")
    document = json.dumps(dict((key, params[key]) for key in keys), sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def criu_errors(podman_error):
    """CRIU's last errors from the restore log podman's error names (read before the container is removed)."""
    match = CRIU_LOGFILE.search(podman_error)
    try:
        with open(match.group(1)) as handle:
            errors = [line.strip() for line in handle if "Error" in line]
    except (AttributeError, IOError, OSError):
        return ""
    return " ".join(errors[-2:])


def restore_error(reason):
    """Why CRIU's restore failed (criu_errors.classify), when the fallback reason carries CRIU's errors."""
    return criu_causes.classify("restore", reason) if reason else None


def restore_error_result(reason):
    found = restore_error(reason)
    return {"criu_error": found} if found else {}


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


def same_config(existing, image, params):
    """Whether a container was made from this image with these options."""
    labels = existing["Config"].get("Labels") or {}
    return existing["Image"] == image["Id"] and labels.get(CONFIG_LABEL) == config_digest(params)


def is_current(existing, image, params):
    """Whether a container already runs this image with these options (then it is left alone)."""
    if not (existing and existing["State"]["Running"]):
        return False
    if image_flavor(image) == "podman":
        # A restored container runs its app image and keeps no labels of ours.
        return bool(existing["State"].get("Restored")) and existing["Image"] == (
            (image.get("Annotations") or {}).get(ROOTFS_IMAGE_ANNOTATION))
    return same_config(existing, image, params)


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

    def outcome(self, container, image, wait=5):
        """(restored, detail); waits up to `wait` s for the marker, which conmon may log after the first answer."""
        flavor = image_flavor(image)
        if flavor is None:
            return False, "the image is not an InstantOn image (no %s label)" % FLAVOR_LABEL
        if flavor == "podman":
            return self.podman_restore or (bool(container["State"].get("Restored")), "not restored by podman")
        deadline = time.time() + wait
        while True:
            restored, detail = start_outcome(self.logs())
            if restored is not None or time.time() > deadline:
                break
            time.sleep(0.05)
        if restored is False and flavor == "liberty":
            detail = " ".join(filter(None, [detail, self.liberty_restore_errors()]))
        return restored, detail

    def liberty_restore_errors(self):
        """CRIU's last errors from Liberty's restore log, when the container still runs."""
        rc, out = self.podman.run(["exec", self.params["name"], "sh", "-c", "grep -E 'Error|error' %s | tail -n 2"
                                   % LIBERTY_RESTORE_LOG], check=False)[:2]
        return " ".join(out.split()) if rc == 0 else ""

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
        restored, detail = self.outcome(container, image, wait)
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
        self.podman.run(run_arguments(self.params, image_flavor(image), command=("create",)))
        return self.podman.container(self.params["name"])

    def start_spare(self):
        """Start a spare; through podman's API socket when given (no podman command start-up)."""
        if self.params["api_socket"]:
            podman_api.start_container(self.params["api_socket"], self.params["name"], self.timeout())
            return "api start"
        self.podman.run(["start", self.params["name"]])
        return "podman start"

    def launch(self, image):
        """Run a new container the flavor's way (podman restores its checkpoint images itself); the command."""
        flavor = image_flavor(image)
        if flavor != "podman":
            self.podman.run(run_arguments(self.params, flavor))
            return "podman run"
        rc, out, err = self.restore_checkpoint(image)
        if rc == 0:
            self.podman_restore = (True, None)
            return "podman container restore --import" if image.get("Archive") else "podman container restore"
        reason = " ".join(filter(None, ["podman container restore failed: %s" % last_lines(out + err, 3),
                                        criu_errors(out + err)]))
        if self.params["require_restore"]:
            self.fail_json(msg="the checkpoint was not restored and require_restore is set: %s" % reason,
                           **restore_error_result(reason))
        self.podman_restore = (False, reason)
        self.podman.remove_container(self.params["name"])
        app_image = ((image.get("Annotations") or {}).get(ROOTFS_IMAGE_ANNOTATION))
        self.podman.run(run_arguments(dict(self.params, image=app_image)))
        return "podman run"

    def restore_checkpoint(self, image):
        """`podman container restore` of a checkpoint image, one at a time per image on this host (podman
        mounts the image to read it and unmounts it when done, even from under a concurrent restore of the
        same image); an archive needs no turn: each import unpacks its own copy."""
        if image.get("Archive"):
            return self.podman.run(restore_arguments(self.params, image), check=False)
        try:
            with host_lock.exclusive("restore-" + image["Id"], self.timeout()):
                return self.podman.run(restore_arguments(self.params, image), check=False)
        except host_lock.LockError as error:
            self.fail_json(msg="no restore of %s started: %s" % (self.params["image"], error))

    def start(self, image, spare=None):
        """(container, start_ms, start command); a spare (its inspect) is started as it is, anything else replaced."""
        name = self.params["name"]
        probe = self.spare_probe(spare) if spare else None
        if not spare:
            self.podman.remove_container(name)
        started = time.time()
        command = self.start_spare() if spare else self.launch(image)
        if self.wait_ready(probe or self.probe(self.podman.container(name))) is None:
            restored, detail = start_outcome(self.logs())
            # Liberty has no marker for "restore failed, recovery disabled": it just exits.
            if self.params["require_restore"] and not restored and (restored is False or not self.running()):
                self.fail("the checkpoint was not restored and require_restore is set: %s" % (detail or "the container exited"),
                          **restore_error_result(detail))
            state = "is still not ready after %ds" % self.timeout() if self.running() else "exited before it was ready"
            self.fail("container %s %s (it is left in place for inspection)" % (name, state))
        return self.podman.container(name), int(round((time.time() - started) * 1000)), command
