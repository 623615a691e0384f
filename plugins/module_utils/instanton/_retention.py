# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Which checkpoint archives to delete: beyond `keep` per container or older than `max_age`,
never the newest archive of a container."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re

# The kubelet names archives checkpoint-<pod>_<namespace>-<container>-<RFC 3339 time>.tar.
DEFAULT_CONTAINER_REGEX = r"^(?:checkpoint-)?(?P<container>.+?)-\d{4}-\d{2}-\d{2}T"
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class RetentionError(ValueError):
    """Bad retention input; the message says which and why."""


def parse_age(text):
    """'90s', '30m', '12h', '7d', '2w' or plain seconds, as seconds."""
    found = re.match(r"^\s*(\d+)\s*([smhdw]?)\s*$", str(text))
    if not found:
        raise RetentionError("max_age %r is not a duration like 90s, 30m, 12h, 7d or 2w" % text)
    return int(found.group(1)) * AGE_UNITS[found.group(2) or "s"]


def container_of(name, regex):
    """The container an archive belongs to; an unmatched name is its own group (kept)."""
    found = regex.match(name)
    if found and found.groupdict().get("container"):
        return found.group("container")
    return name


def scan(directory, patterns, regex):
    """Archives in directory as dicts of path, container, mtime (not recursive)."""
    if not os.path.isdir(directory):
        raise RetentionError("%s is not a directory" % directory)
    archives = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path) and \
                any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            archives.append({"path": path, "container": container_of(name, regex),
                             "mtime": os.path.getmtime(path)})
    return archives


def plan_removals(archives, keep=None, max_age=None, now=None):
    """The archives to delete, oldest first; the newest of each container always stays."""
    by_container = {}
    for archive in archives:
        by_container.setdefault(archive["container"], []).append(archive)
    doomed = []
    for group in by_container.values():
        group.sort(key=lambda item: item["mtime"], reverse=True)
        for rank, archive in enumerate(group[1:], start=2):
            too_many = keep is not None and rank > keep
            too_old = max_age is not None and now - archive["mtime"] > max_age
            if too_many or too_old:
                doomed.append(archive)
    return sorted(doomed, key=lambda item: (item["mtime"], item["path"]))
