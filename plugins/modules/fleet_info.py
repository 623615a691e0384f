#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_info
short_description: List a host's InstantOn containers and checkpoint archives for the fleet view
version_added: 0.2.0
description:
  - Lists every InstantOn container on the host (its image is an InstantOn image, podman restored it, or
    M(instanton.platform.instanton_container) started it) with its image, state, whether it restored its
    checkpoint or started cold (as M(instanton.platform.instanton_container_info) tells it), its age and the
    memory it uses now.
  - Lists every checkpoint archive directly in O(archive_dirs) with its size, age (file modification time) and
    whether a detached signature (C(ARCHIVE.sig), see M(instanton.platform.checkpoint_archive_sign)) lies beside
    it; with O(public_key), whether that signature verifies.
  - Changes nothing. The C(playbooks/fleet.yml) playbook gathers it across an inventory and writes the fleet's
    JSON, Markdown and chart on the controller.
extends_documentation_fragment:
  - instanton.platform.podman
options:
  archive_dirs:
    description:
      - Directories holding checkpoint archives (not searched recursively). A directory that does not exist is
        listed in RV(missing_dirs), not an error.
    type: list
    elements: path
    default: [/var/lib/instanton/checkpoints, /var/lib/kubelet/checkpoints]
  patterns:
    description: Shell-style file name patterns of archives; other files are not listed.
    type: list
    elements: str
    default: ["*.tar", "*.tar.gz", "*.tar.zst", "*.tar.zstd", "*.tgz"]
  public_key:
    description:
      - Also check each signed archive's signature with this public key (PEM, EC P-256); reads every signed
        archive in full. Without it, C(signed) only says that a signature file exists.
    type: path
attributes:
  check_mode:
    support: full
    description: The module only reads.
notes:
  - Memory is what C(podman stats) reports for a running container (its cgroup's usage); null when stopped.
seealso:
  - module: instanton.platform.instanton_container_info
  - module: instanton.platform.checkpoint_archive_info
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: What this host holds
  instanton.platform.fleet_info:
    archive_dirs:
      - /var/lib/instanton/checkpoints
  register: fleet

- name: Check the archives' signatures too
  instanton.platform.fleet_info:
    archive_dirs: [/srv/checkpoints]
    public_key: /etc/instanton/archive.pub
"""

RETURN = r"""
containers:
  description:
    - The host's InstantOn containers. C(age_s) counts from creation; C(memory_bytes) is null for a stopped
      container; C(criu_restore_ms) is there when the entrypoint logged its restore time, C(fallback_reason) when
      it started cold.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "pyapp", "id": "3f2c...", "image": "localhost/app:instanton", "state": "running",
            "restored": true, "criu_restore_ms": 141, "age_s": 620, "memory_bytes": 48300000}]
archives:
  description:
    - The checkpoint archives found. C(signed) says whether C(ARCHIVE.sig) exists; C(verified) (and
      C(verify_failed) when false) only with O(public_key).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/lib/instanton/checkpoints/app.tar.zst", "size_bytes": 45120, "age_s": 3600,
            "signed": true, "signature": "/var/lib/instanton/checkpoints/app.tar.zst.sig"}]
missing_dirs:
  description: The directories of O(archive_dirs) that do not exist on the host.
  returned: always
  type: list
  elements: str
summary:
  description: Counts of containers (restored, cold) and archives (signed, total bytes).
  returned: always
  type: dict
  sample: {"containers": 2, "restored": 1, "cold": 1, "archives": 3, "signed": 1, "archive_bytes": 135360}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.common._podman import Podman, PodmanError
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _fleet as fleet
from ansible_collections.instanton.platform.plugins.module_utils.trust._archive_signature import (
    archive_verification, signature_path)


def instanton_containers(module, podman, now):
    """Every InstantOn container with how it started; images inspected once each."""
    entries = fleet.ps_entries(podman.run(["ps", "--all", "--format", "json"])[1])
    # Stats of running containers only: `podman stats` fails on a stopped one.
    memory = fleet.memory_by_container(podman.run(["stats", "--no-stream", "--format", "{{.ID}} {{.MemUsage}}"],
                                                  check=False)[1])
    images, found = {}, []
    for entry in entries:
        container = podman.container(entry["Id"])
        if container is None:
            continue  # removed since `podman ps`
        if container["Image"] not in images:
            images[container["Image"]] = podman.image(container["Image"]) or {}
        image = images[container["Image"]]
        if not fleet.is_instanton(container, image):
            continue
        runner = container_run.Runner(podman, {"name": container["Id"], "readiness": None}, module.fail_json)
        found.append(fleet.container_entry(entry, container, runner.report(container, image), memory, now))
    return found


def archives(module, now):
    paths, missing = fleet.archive_paths(module.params["archive_dirs"], module.params["patterns"])
    found = []
    for path in paths:
        signed = os.path.isfile(signature_path(path))
        verification = None
        if signed and module.params["public_key"]:
            verification = archive_verification(module, path, module.params["public_key"], False,
                                                module.get_bin_path("zstd"))
        found.append(fleet.archive_entry(path, os.stat(path), now, signed, verification))
    return found, missing


def main():
    module = AnsibleModule(
        argument_spec=dict(
            archive_dirs=dict(type="list", elements="path",
                              default=["/var/lib/instanton/checkpoints", "/var/lib/kubelet/checkpoints"]),
            patterns=dict(type="list", elements="str", default=list(fleet.DEFAULT_PATTERNS)),
            public_key=dict(type="path"),
            executable=dict(type="str", default="podman"),
        ),
        supports_check_mode=True,
    )
    now = time.time()
    try:
        containers = instanton_containers(module, Podman(module, module.params["executable"]), now)
        found, missing = archives(module, now)
    except (PodmanError, fleet.FleetError) as error:
        module.fail_json(msg=str(error))
    except OSError as error:
        module.fail_json(msg="cannot read an archive: %s" % error)
    module.exit_json(changed=False, containers=containers, archives=found, missing_dirs=missing,
                     summary=fleet.summary(containers, found))


if __name__ == "__main__":
    main()
