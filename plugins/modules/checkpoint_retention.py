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
    description: Directory holding the archives, for example C(/var/lib/kubelet/checkpoints).
    type: path
    required: true
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
kept:
  description: Archives that stay.
  returned: always
  type: list
  elements: str
containers:
  description: Number of archives per container before the clean-up.
  returned: always
  type: dict
  sample: {"web_shop-app": 4}
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            patterns=dict(type="list", elements="str",
                          default=["*.tar", "*.tar.gz", "*.tar.zst", "*.tar.zstd", "*.tgz"]),
            container_regex=dict(type="str", default=DEFAULT_CONTAINER_REGEX),
            keep=dict(type="int"),
            max_age=dict(type="str"),
        ),
        required_one_of=[("keep", "max_age")],
        supports_check_mode=True,
    )
    try:
        regex, max_age = settings(module)
        archives = scan(module.params["path"], module.params["patterns"], regex)
    except RetentionError as exc:
        module.fail_json(msg=str(exc))
    doomed = plan_removals(archives, module.params["keep"], max_age, time.time())
    removed = [archive["path"] for archive in doomed]
    if not module.check_mode:
        for done, path in enumerate(removed):
            try:
                os.remove(path)
            except OSError as exc:
                module.fail_json(msg="cannot remove %s: %s" % (path, exc), removed=removed[:done])
    containers = {}
    for archive in archives:
        containers[archive["container"]] = containers.get(archive["container"], 0) + 1
    module.exit_json(changed=bool(removed), removed=removed, containers=containers,
                     kept=[a["path"] for a in archives if a["path"] not in removed])


if __name__ == "__main__":
    main()
