# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""The checkpoint-restore-operator's retention policy (the `spec` of its CheckpointRestoreOperator
resource), applied to the archives of one directory, so that one policy works in both places.

Limits come from the most specific policy that sets them: container, then pod, then namespace, then the
global policy. Oldest archives go first; an archive pinned by a `<archive>.keep` file counts toward the
limits but never goes. Sizes are in MB (10^6 bytes), as the operator counts them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

MB = 1000 * 1000
# The kubelet's archive names: checkpoint-<pod>_<namespace>-<container>-<RFC 3339 time>.tar. Pod names have
# no "_"; a namespace with "-" in it cannot be told from the container by the name alone, so the archive's
# own metadata comes first (see identity).
KUBELET_NAME = re.compile(r"^checkpoint-(?P<pod>[^_]+)_(?P<namespace>[^-]+)-(?P<container>.+?)-\d{4}-\d{2}-\d{2}T")
PIN_SUFFIX = ".keep"
GLOBAL_KEYS = ("retainOrphan", "maxCheckpointsPerNamespace", "maxCheckpointsPerPod", "maxCheckpointsPerContainer",
               "maxCheckpointSize", "maxTotalSizePerNamespace", "maxTotalSizePerPod", "maxTotalSizePerContainer")
SCOPED_KEYS = ("namespace", "pod", "container", "retainOrphan", "maxCheckpoints", "maxCheckpointSize", "maxTotalSize")
SPEC_KEYS = ("checkpointDirectory", "applyPoliciesImmediately", "globalPolicy", "containerPolicies",
             "podPolicies", "namespacePolicies")
# (scope, the archive fields that name one, the global policy's count and total-size keys)
SCOPES = (
    ("container", ("namespace", "pod", "container"), "maxCheckpointsPerContainer", "maxTotalSizePerContainer"),
    ("pod", ("namespace", "pod"), "maxCheckpointsPerPod", "maxTotalSizePerPod"),
    ("namespace", ("namespace",), "maxCheckpointsPerNamespace", "maxTotalSizePerNamespace"),
)


class PolicyError(ValueError):
    """A policy this module cannot apply as the operator would; the message says which field."""


def policy_spec(document):
    """The policy's spec: a whole CheckpointRestoreOperator resource or its spec; unknown fields are refused."""
    spec = document.get("spec", document) if isinstance(document, dict) else None
    if not isinstance(spec, dict):
        raise PolicyError("policy must be a CheckpointRestoreOperator resource or its spec (a mapping)")
    problems = ["spec.%s" % key for key in spec if key not in SPEC_KEYS]
    problems += ["globalPolicy.%s" % key for key in spec.get("globalPolicy") or {} if key not in GLOBAL_KEYS]
    for kind in ("containerPolicies", "podPolicies", "namespacePolicies"):
        for entry in spec.get(kind) or []:
            problems += ["%s[].%s" % (kind, key) for key in entry if key not in SCOPED_KEYS]
    if problems:
        raise PolicyError("policy has fields the operator does not define: %s" % ", ".join(sorted(problems)))
    for key, value in numbers(spec):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PolicyError("policy %s must be a whole number, 0 or more, not %r" % (key, value))
    return spec


def numbers(spec):
    for key, value in (spec.get("globalPolicy") or {}).items():
        if key != "retainOrphan":
            yield "globalPolicy.%s" % key, value
    for kind in ("containerPolicies", "podPolicies", "namespacePolicies"):
        for entry in spec.get(kind) or []:
            for key in ("maxCheckpoints", "maxCheckpointSize", "maxTotalSize"):
                if key in entry:
                    yield "%s[].%s" % (kind, key), entry[key]


def scoped_policy(spec, scope, names):
    """The policy of one container (pod, namespace) named by names, or {}."""
    kind = {"container": "containerPolicies", "pod": "podPolicies", "namespace": "namespacePolicies"}[scope]
    for entry in spec.get(kind) or []:
        if all(entry.get(field) == names[field] for field in names):
            return entry
    return {}


def limit(spec, scope, names, scoped_key, global_key):
    """A limit from the scope's own policy, else the global policy's; None when neither sets it."""
    own = scoped_policy(spec, scope, names)
    if scoped_key in own:
        return own[scoped_key]
    return (spec.get("globalPolicy") or {}).get(global_key)


def size_limit(spec, archive):
    """maxCheckpointSize (MB) for one archive: the most specific policy that sets it."""
    for scope, fields, _count, _total in SCOPES:
        own = scoped_policy(spec, scope, dict((field, archive[field]) for field in fields))
        if "maxCheckpointSize" in own:
            return own["maxCheckpointSize"]
    return (spec.get("globalPolicy") or {}).get("maxCheckpointSize")


def trim(group, max_count, max_bytes, doomed):
    """Add to doomed the oldest unpinned archives of a group until it is within its limits."""
    left = sorted((a for a in group if a["path"] not in doomed), key=lambda a: (a["mtime"], a["path"]))
    for archive in list(left):
        too_many = max_count is not None and len(left) > max_count
        too_big = max_bytes is not None and sum(a["size"] for a in left) > max_bytes * MB
        if not (too_many or too_big):
            break
        if archive["pinned"]:
            continue
        doomed.add(archive["path"])
        left.remove(archive)


def plan(spec, archives):
    """Archives (path, mtime, size, pinned, namespace, pod, container) the policy removes, oldest first."""
    doomed = set()
    for archive in archives:
        biggest = size_limit(spec, archive)
        if biggest is not None and archive["size"] > biggest * MB and not archive["pinned"]:
            doomed.add(archive["path"])
    for scope, fields, count_key, total_key in SCOPES:
        groups = {}
        for archive in archives:
            groups.setdefault(tuple(archive[field] for field in fields), []).append(archive)
        for key, group in sorted(groups.items()):
            names = dict(zip(fields, key))
            trim(group, limit(spec, scope, names, "maxCheckpoints", count_key),
                 limit(spec, scope, names, "maxTotalSize", total_key), doomed)
    return sorted((a for a in archives if a["path"] in doomed), key=lambda a: (a["mtime"], a["path"]))


def identity(path, read_metadata):
    """(namespace, pod, container) of an archive: what it records (read_metadata(path) -> dict or None), else
    the kubelet's name; an archive known by neither is its own container (so only its own limits apply)."""
    found = read_metadata(path) or {}
    if found.get("container_name"):
        return found.get("namespace") or "", found.get("pod") or "", found["container_name"]
    match = KUBELET_NAME.match(os.path.basename(path))
    if match:
        return match.group("namespace"), match.group("pod"), match.group("container")
    return "", "", os.path.basename(path)


def describe(paths, read_metadata):
    """The archives as plan() takes them: path, mtime, size, pinned (a <archive>.keep file), identity."""
    found = []
    for path in paths:
        namespace, pod, container = identity(path, read_metadata)
        found.append({"path": path, "mtime": os.path.getmtime(path), "size": os.path.getsize(path),
                      "pinned": os.path.exists(path + PIN_SUFFIX),
                      "namespace": namespace, "pod": pod, "container": container})
    return found
