#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: checkpoint_retention
short_description: Delete old container checkpoint archives, keeping the newest per container
version_added: 0.1.0
description:
  - Groups the archives in a directory by container and deletes those beyond O(keep)
    per container or older than O(max_age) (file modification time).
  - The newest archive of each container is never deleted, whatever O(keep) and O(max_age) say.
  - In check mode it reports what it would delete and deletes nothing.
options:
  path:
    description:
      - Directory holding the archives, for example C(/var/lib/kubelet/checkpoints).
      - Required unless O(policy) gives C(checkpointDirectory).
    type: path
  patterns:
    description: Shell-style file name patterns of archives; other files are left alone.
    type: list
    elements: str
    default: ["*.tar", "*.tar.gz", "*.tar.zst", "*.tar.zstd", "*.tgz"]
  container_regex:
    description:
      - Regular expression with a named group C(container) that finds the container in a
        file name. The default understands the kubelet's
        C(checkpoint-<pod>_<namespace>-<container>-<time>.tar) names.
      - A file whose name does not match is a container of its own, so it is never deleted.
    type: str
    default: '^(?:checkpoint-)?(?P<container>.+?)-\d{4}-\d{2}-\d{2}T'
  keep:
    description: How many archives to keep per container (at least 1).
    type: int
  max_age:
    description:
      - Delete archives older than this, given as seconds or with a unit
        (C(90s), C(30m), C(12h), C(7d), C(2w)).
    type: str
  policy:
    description:
      - "The checkpoint-restore-operator's retention policy: a whole C(CheckpointRestoreOperator) resource or its
        C(spec), so that one policy moves between the operator and this module. Used: C(checkpointDirectory) (when
        O(path) is not given), C(globalPolicy) (C(maxCheckpointsPerContainer), C(maxCheckpointsPerPod),
        C(maxCheckpointsPerNamespace), C(maxCheckpointSize), C(maxTotalSizePerContainer), C(maxTotalSizePerPod),
        C(maxTotalSizePerNamespace)) and C(containerPolicies), C(podPolicies), C(namespacePolicies) (C(maxCheckpoints),
        C(maxCheckpointSize), C(maxTotalSize)); sizes in MB."
      - Each limit comes from the most specific policy that sets it (container, pod, namespace, then global) and
        holds for that container's, pod's or namespace's archives; the oldest go first. An archive with a
        C(<archive>.keep) file beside it counts toward the limits but is never removed.
      - Which container, pod and namespace an archive belongs to is read from the archive's own metadata (CRI-O
        and containerd record them), else from the kubelet's file name.
      - "Unlike O(keep) and O(max_age), the policy may remove a container's newest archive, as the operator does
        (for example one larger than C(maxCheckpointSize)). C(retainOrphan) needs the cluster's view of which pods
        exist: it is refused when C(false), and C(applyPoliciesImmediately) has no meaning here (the policy is
        applied when the task runs)."
      - Mutually exclusive with O(keep) and O(max_age); O(container_regex) is not used with it.
    type: dict
attributes:
  check_mode:
    support: full
    description: Reports what would be removed.
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Keep three kubelet checkpoints per container, none older than a week
  instanton.platform.checkpoint_retention:
    path: /var/lib/kubelet/checkpoints
    keep: 3
    max_age: 7d

- name: The checkpoint-restore-operator's policy, as in its CheckpointRestoreOperator resource
  instanton.platform.checkpoint_retention:
    policy:
      checkpointDirectory: /var/lib/kubelet/checkpoints
      globalPolicy:
        maxCheckpointsPerNamespace: 50
        maxCheckpointsPerPod: 30
        maxCheckpointsPerContainer: 10
        maxTotalSizePerContainer: 2000
      containerPolicies:
        - namespace: shop
          pod: web
          container: app
          maxCheckpoints: 3
  check_mode: true
  register: would_go

- name: Podman exports named <container>-<date>.tar.zst
  instanton.platform.checkpoint_retention:
    path: /var/lib/instanton/checkpoints
    container_regex: '^(?P<container>.+)-\d{8}T\d{6}'
    keep: 2
"""

RETURN = r"""
removed:
  description: Archives deleted (in check mode, that would be deleted), oldest first.
  returned: always
  type: list
  elements: str
pinned:
  description: With O(policy), archives that a C(.keep) file protects.
  returned: with O(policy)
  type: list
  elements: str
kept:
  description: Archives that stay.
  returned: always
  type: list
  elements: str
containers:
  description:
    - Number of archives per container before the clean-up; with O(policy) keyed C(namespace/pod/container).
  returned: always
  type: dict
  sample: {"web_shop-app": 4}
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _retention_policy as retention_policy
from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import ArchiveError, read_archive
from ansible_collections.instanton.platform.plugins.module_utils.instanton._retention import (
    DEFAULT_CONTAINER_REGEX, RetentionError, parse_age, plan_removals, scan)


def settings(module):
    params = module.params
    if params["keep"] is not None and params["keep"] < 1:
        raise RetentionError("keep must be 1 or more (the newest archive always stays), got %d"
                             % params["keep"])
    try:
        regex = re.compile(params["container_regex"])
    except re.error as exc:
        raise RetentionError("container_regex is not a valid regular expression: %s" % exc)
    if "container" not in regex.groupindex:
        raise RetentionError("container_regex needs a named group (?P<container>...)")
    max_age = parse_age(params["max_age"]) if params["max_age"] is not None else None
    return regex, max_age


def archive_metadata(module):
    """What an archive records about its container, pod and namespace; None when it cannot be read."""
    zstd = module.get_bin_path("zstd")

    def read(path):
        try:
            return read_archive(path, zstd_executable=zstd, want_cmdline=False)
        except ArchiveError:
            return None
    return read


def policy_plan(module):
    """(archives, doomed, containers, pinned) under the operator's policy."""
    spec = retention_policy.policy_spec(module.params["policy"])
    if (spec.get("globalPolicy") or {}).get("retainOrphan") is False or any(
            entry.get("retainOrphan") is False for kind in ("containerPolicies", "podPolicies", "namespacePolicies")
            for entry in spec.get(kind) or []):
        raise RetentionError("retainOrphan: false needs the cluster's view of which pods still exist; this module "
                             "only sees files. Leave it out (or true), and let the operator remove orphans")
    directory = module.params["path"] or spec.get("checkpointDirectory")
    if not directory:
        raise RetentionError("give path, or checkpointDirectory in the policy")
    found = scan(directory, module.params["patterns"], re.compile(DEFAULT_CONTAINER_REGEX))
    archives = retention_policy.describe([archive["path"] for archive in found], archive_metadata(module))
    containers = {}
    for archive in archives:
        key = "/".join((archive["namespace"], archive["pod"], archive["container"]))
        containers[key] = containers.get(key, 0) + 1
    return (archives, retention_policy.plan(spec, archives), containers,
            [archive["path"] for archive in archives if archive["pinned"]])


def simple_plan(module):
    """(archives, doomed, containers) under keep and max_age."""
    regex, max_age = settings(module)
    archives = scan(module.params["path"], module.params["patterns"], regex)
    containers = {}
    for archive in archives:
        containers[archive["container"]] = containers.get(archive["container"], 0) + 1
    return archives, plan_removals(archives, module.params["keep"], max_age, time.time()), containers


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            patterns=dict(type="list", elements="str",
                          default=["*.tar", "*.tar.gz", "*.tar.zst", "*.tar.zstd", "*.tgz"]),
            container_regex=dict(type="str", default=DEFAULT_CONTAINER_REGEX),
            keep=dict(type="int"),
            max_age=dict(type="str"),
            policy=dict(type="dict"),
        ),
        required_one_of=[("keep", "max_age", "policy")],
        mutually_exclusive=[("policy", "keep"), ("policy", "max_age")],
        required_by={"keep": "path", "max_age": "path"},
        supports_check_mode=True,
    )
    extra = {}
    try:
        if module.params["policy"] is not None:
            archives, doomed, containers, extra["pinned"] = policy_plan(module)
        else:
            archives, doomed, containers = simple_plan(module)
    except (RetentionError, retention_policy.PolicyError) as exc:
        module.fail_json(msg=str(exc))
    removed = [archive["path"] for archive in doomed]
    if not module.check_mode:
        for done, path in enumerate(removed):
            try:
                os.remove(path)
            except OSError as exc:
                module.fail_json(msg="cannot remove %s: %s" % (path, exc), removed=removed[:done])
    module.exit_json(changed=bool(removed), removed=removed, containers=containers,
                     kept=[a["path"] for a in archives if a["path"] not in removed], **extra)


if __name__ == "__main__":
    main()
