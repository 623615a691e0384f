# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""What one host holds for the fleet view (fleet_info): its InstantOn containers and its checkpoint archives.

Pure functions over podman's JSON and over file names and stat results; the module runs the commands."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json
import os
import re

from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import image_flavor
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import CONFIG_LABEL
from ansible_collections.instanton.platform.plugins.module_utils.trust._archive_signature import signature_path

DEFAULT_PATTERNS = ["*.tar", "*.tar.gz", "*.tar.zst", "*.tar.zstd", "*.tgz"]
# `podman stats` gives memory as "12.5MB / 24.6GB" (decimal units; podman 4 and 5).
MEMORY_UNITS = {"b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
                "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
MEMORY_AMOUNT = re.compile(r"^\s*([0-9.]+)\s*([kmgt]?i?b)\s*$", re.IGNORECASE)


class FleetError(ValueError):
    """Bad input or unreadable podman output; the message says which and why."""


def ps_entries(ps_json):
    """`podman ps --all --format json` as a list (podman prints nothing, or null, with no containers)."""
    try:
        found = json.loads(ps_json) if ps_json.strip() else []
    except ValueError as error:
        raise FleetError("podman ps gave no JSON: %s" % error)
    return found or []


def memory_bytes(text):
    """Bytes from podman's "12.5MB" (the part before " / " of its MemUsage), or None when it tells none."""
    found = MEMORY_AMOUNT.match((text or "").split("/")[0])
    if not found:
        return None
    return int(float(found.group(1)) * MEMORY_UNITS[found.group(2).lower()])


def memory_by_container(stats_lines):
    """{container ID: bytes} from `podman stats --no-stream --format '{{.ID}} {{.MemUsage}}'` lines."""
    found = {}
    for line in stats_lines.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            found[parts[0]] = memory_bytes(parts[1])
    return found


def memory_of(container_id, memory):
    """A container's memory by its full ID from stats keyed by short or full IDs."""
    for key, value in memory.items():
        if container_id.startswith(key):
            return value
    return None


def is_instanton(container, image):
    """An InstantOn container: its image is an InstantOn image (flavor label or podman checkpoint image), podman
    restored it, or instanton_container started it (its run-config label)."""
    labels = (container.get("Config") or {}).get("Labels") or {}
    return bool(image_flavor(image or {}) or container["State"].get("Restored") or CONFIG_LABEL in labels)


def container_entry(ps_entry, container, start, memory, now):
    """One row of the fleet: START is instanton_container_info's report (restored, criu_restore_ms,
    fallback_reason)."""
    entry = {"name": ps_entry["Names"][0], "id": container["Id"], "image": ps_entry.get("Image") or container.get("ImageName"),
             "state": ps_entry.get("State"), "restored": bool(start.get("restored")),
             "age_s": max(0, int(now - ps_entry["Created"])) if ps_entry.get("Created") else None,
             "memory_bytes": memory_of(container["Id"], memory)}
    if start.get("criu_restore_ms") is not None:
        entry["criu_restore_ms"] = start["criu_restore_ms"]
    if not entry["restored"] and start.get("fallback_reason"):
        entry["fallback_reason"] = start["fallback_reason"]
    return entry


def archive_paths(directories, patterns):
    """(archives, missing): the files matching PATTERNS directly in each directory, sorted; the directories
    that do not exist (a host without checkpoints yet is not an error)."""
    archives, missing = [], []
    for directory in directories:
        if not os.path.isdir(directory):
            missing.append(directory)
            continue
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns) and os.path.isfile(path) \
                    and not os.path.islink(path):
                archives.append(path)
    return archives, missing


def archive_entry(path, stat_result, now, signed, verification=None):
    """One archive of the fleet: SIGNED says whether ARCHIVE.sig is beside it; VERIFICATION is the signature
    check's result when a public key was given."""
    entry = {"path": path, "size_bytes": stat_result.st_size, "age_s": max(0, int(now - stat_result.st_mtime)),
             "signed": signed, "signature": signature_path(path) if signed else None}
    if verification is not None:
        entry["verified"] = verification["verified"]
        if not verification["verified"]:
            entry["verify_failed"] = verification["failed"]
    return entry


def summary(containers, archives):
    """Counts a reader wants first."""
    return {"containers": len(containers), "restored": sum(1 for c in containers if c["restored"]),
            "cold": sum(1 for c in containers if not c["restored"]), "archives": len(archives),
            "signed": sum(1 for a in archives if a["signed"]),
            "archive_bytes": sum(a["size_bytes"] for a in archives)}
