# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Moving a running container to another host with podman: the command lines, what a container
needs on the target, and the private files and directories checkpoint data lives in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors as criu_errors

# Checkpoint archives and image archives hold process memory: 0700 directories, 0600 files.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# podman names CRIU's log in its error, with (crun's wording) or without backticks around the path.
CRIU_LOGFILE = re.compile(r"CRIU logfile `?(/[^`\s:]+)")


def checkpoint_arguments(name, archive, tcp_established=False, compress="none"):
    """`podman container checkpoint` that stops NAME and exports its checkpoint to ARCHIVE. --keep leaves
    the checkpoint in the container's own directory, so the source can restore itself in place when the
    target fails."""
    args = ["container", "checkpoint", "--keep", "--export", archive, "--compress", compress]
    if tcp_established:
        args.append("--tcp-established")
    return args + [name]


def in_flight(criu_errors_text):
    """Whether a dump failed on a connection the service had not accepted yet (a service under traffic):
    CRIU lets the process run on, and a moment later the queue is another. podman has no way to pass
    CRIU's --skip-in-flight."""
    return "In-flight connection" in (criu_errors_text or "")


def restore_arguments(archive, tcp_established=False, ignore_static_ip=True, ignore_static_mac=True, ports=None):
    """`podman container restore --import` of a migrated checkpoint; the container keeps its name.
    A static IP or MAC the source's network gave it may be taken on the target: podman then drops them."""
    args = ["container", "restore", "--import", archive]
    if tcp_established:
        args.append("--tcp-established")
    if ignore_static_ip:
        args.append("--ignore-static-ip")
    if ignore_static_mac:
        args.append("--ignore-static-mac")
    for port in ports or []:
        args += ["--publish", port]
    return args


def container_summary(inspect):
    """What the migration needs to know about a container (its `podman container inspect`), or None."""
    if not inspect:
        return None
    state = inspect.get("State") or {}
    return {
        "name": inspect.get("Name"),
        "image_id": inspect.get("Image"),
        "image_name": inspect.get("ImageName"),
        "running": bool(state.get("Running")),
        "status": state.get("Status"),
        "restored": bool(state.get("Restored")),
        "checkpointed": bool(state.get("Checkpointed")),
        # Bind mounts are host paths: the checkpoint carries neither them nor their contents
        # (named volumes go into the archive).
        "bind_mounts": sorted(mount["Source"] for mount in inspect.get("Mounts") or []
                              if mount.get("Type") == "bind" and mount.get("Source")),
    }


def missing_paths(paths, exists=os.path.exists):
    return [path for path in paths if not exists(path)]


def pre_dump_support(rc, output):
    """{supported, reason} from `criu check --feature mem_dirty_track` (rc and its output)."""
    if rc == 0:
        return {"supported": True, "reason": "the kernel tracks dirty memory (criu check --feature mem_dirty_track)"}
    detail = " ".join(output.split())[-300:] if output else "no output"
    return {"supported": False,
            "reason": "the kernel does not track dirty memory, so no pre-dump: the whole memory is dumped while "
                      "the container is stopped (criu check --feature mem_dirty_track: %s)" % detail}


def make_private_dir(path):
    """A directory only root can enter (created or tightened)."""
    if not os.path.isdir(path):
        os.makedirs(path, PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)


def archive_path(directory, name, kind):
    """Where a migration keeps the checkpoint (kind=checkpoint) or image (kind=image) archive of NAME."""
    return os.path.join(directory, "%s.%s.tar" % (name, kind))


def remove_file(path):
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def downtime_ms(last_answer_at, first_answer_at):
    """Milliseconds from the source's last answer to the target's first (epoch seconds of both hosts)."""
    if last_answer_at is None or first_answer_at is None:
        return None
    return int(round((first_answer_at - last_answer_at) * 1000))


def criu_failure(phase, podman_output):
    """(CRIU's last error lines, criu_errors.classify's cause) from the log a failed podman command names."""
    match = CRIU_LOGFILE.search(podman_output or "")
    try:
        with open(match.group(1)) as handle:
            lines = [line.strip() for line in handle if "Error" in line]
    except (AttributeError, IOError, OSError):
        return "", None
    text = "\n".join(lines[-3:])
    return text, criu_errors.classify(phase, text)
