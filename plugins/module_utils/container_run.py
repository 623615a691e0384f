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

from ansible_collections.instanton.platform.plugins.module_utils import instanton_scripts as scripts

# Restore needs exactly these two; checkpoint-only SYS_PTRACE is never granted.
RESTORE_CAPABILITIES = ["CHECKPOINT_RESTORE", "SETPCAP"]
CONFIG_LABEL = "io.instanton.platform.run-config"

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
