#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: checkpoint_archive_info
short_description: Describe a container checkpoint archive without unpacking it
version_added: 0.1.0
description:
  - Reads a checkpoint archive made by C(podman container checkpoint --export) or by the
    kubelet checkpoint API (CRI-O, containerd) in one streaming pass, without unpacking it.
  - Reports the container, image, engine, runtime, creation time, CRIU image data (process
    tree with commands and command lines, memory pages, open files and sockets), the size
    of the root file system diff, deleted files and CRIU dump statistics.
  - CRIU images are decoded with a small built-in protobuf reader; no protobuf library is
    needed on the managed host.
  - Field names follow C(checkpointctl inspect --format=json) where both have the data.
options:
  path:
    description:
      - The archive on the managed host. Plain tar, gzip and zstd archives are recognised
        by their content, not their name.
    type: path
    required: true
  zstd_executable:
    description:
      - The zstd program used to stream C(.tar.zst) archives (Python has no zstd before 3.14).
        Only needed for zstd archives; the module fails with a clear message when missing.
    type: str
    default: zstd
  cmdline:
    description:
      - Read each process's command line from its checkpointed memory pages.
      - Command lines can hold secrets; turn this off to leave memory pages unread.
    type: bool
    default: true
  public_key:
    description:
      - Check the archive's detached signature (C(PATH.sig), see M(instanton.platform.checkpoint_archive_sign))
        with this public key (PEM, EC P-256) before reading anything in it. An archive that does not verify
        fails the task with RV(signature) saying what failed and which members changed.
    type: path
  require_signature:
    description: Fail unless the archive verifies with O(public_key) (which is then required).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module only reads.
notes:
  - C(criu_version) comes from the C(org.criu.checkpoint.criu.version) annotation or a
    C(dump.log) in the archive; podman export archives carry neither, so it is null there.
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Inspect a checkpoint the kubelet wrote
  instanton.platform.checkpoint_archive_info:
    path: /var/lib/kubelet/checkpoints/checkpoint-web_default-app-2026-01-01T00:00:00Z.tar
  register: checkpoint

- name: Show the process tree
  ansible.builtin.debug:
    var: checkpoint.process_tree

- name: Inspect a podman zstd export without reading memory
  instanton.platform.checkpoint_archive_info:
    path: /var/lib/instanton/app.tar.zst
    cmdline: false
"""

RETURN = r"""
container_name:
  description: Name of the checkpointed container.
  returned: success
  type: str
  sample: web
image:
  description: Image the container ran (root file system image name).
  returned: success
  type: str
  sample: localhost/debian:13
id:
  description: Container ID.
  returned: success
  type: str
engine:
  description: Podman, CRI-O or containerd, from the C(io.container.manager) annotation.
  returned: success
  type: str
  sample: Podman
runtime:
  description: OCI runtime that made the checkpoint.
  returned: success
  type: str
  sample: crun
created:
  description: Container creation time, RFC 3339.
  returned: success
  type: str
pod:
  description: Pod name (Kubernetes archives), else null.
  returned: success
  type: str
namespace:
  description: Pod namespace (Kubernetes archives), else null.
  returned: success
  type: str
absent:
  description:
    - For CRI-O archives, each of C(pod), C(namespace), C(container_name) that the archive does
      not tell, with the reason. They come from the kubelet's labels
      (C(io.kubernetes.pod.name), C(io.kubernetes.pod.namespace),
      C(io.kubernetes.container.name)), which CRI-O keeps in the container's annotations;
      containers made by other CRI clients may lack them. Empty when nothing is missing.
  returned: success
  type: dict
  sample: {"pod": "the container has no io.kubernetes.pod.name label: ..."}
compression:
  description: none, gzip or zstd, detected from the archive content.
  returned: success
  type: str
criu_version:
  description: CRIU version when the archive records it, else null.
  returned: success
  type: str
criu_image_version:
  description: CRIU image format version from inventory.img.
  returned: success
  type: int
checkpoint_size:
  description: Bytes in checkpoint/, in memory pages and in rootfs-diff.tar.
  returned: success
  type: dict
  sample: {"total_size": 3098623, "memory_pages_size": 3047424, "root_fs_diff_size": 2560}
statistics:
  description: CRIU dump statistics from stats-dump (times in microseconds), or null.
  returned: success
  type: dict
  sample: {"freezing_time": 101117, "frozen_time": 68162, "pages_written": 744}
processes:
  description: Every checkpointed process with its command, command line and memory pages.
  returned: success
  type: list
  elements: dict
process_tree:
  description: The processes as a tree of pid, command, cmdline and children.
  returned: success
  type: dict
file_descriptors:
  description: Open files per process (type, fd, path), including cwd and root.
  returned: success
  type: list
  elements: dict
sockets:
  description: Open inet sockets per process (protocol, state, addresses, ports, buffers).
  returned: success
  type: list
  elements: dict
deleted_files:
  description: Files deleted in the container's root file system.
  returned: success
  type: list
  elements: str
network:
  description: The engine's network.status (addresses, MAC), or null.
  returned: success
  type: dict
signature:
  description:
    - The signature check, when O(public_key) is given. C(verified); when false, C(failed) (C(signature_missing),
      C(signature_invalid), C(content_modified) or C(no_public_key)), C(message) and C(changed_members) (the
      members C(added), C(removed) or C(modified) since signing, when the signed manifest tells).
  returned: when O(public_key) or O(require_signature) is set
  type: dict
  sample: {"verified": false, "failed": "content_modified", "changed_members": {"modified": ["checkpoint/pages-1.img"]}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.trust._archive_signature import archive_verification
from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import (
    ArchiveError, read_archive)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            zstd_executable=dict(type="str", default="zstd"),
            cmdline=dict(type="bool", default=True),
            public_key=dict(type="path"),
            require_signature=dict(type="bool", default=False),
        ),
        required_if=[("require_signature", True, ("public_key",))],
        supports_check_mode=True,
    )
    zstd = module.get_bin_path(module.params["zstd_executable"])
    signature = archive_verification(module, module.params["path"], module.params["public_key"],
                                     module.params["require_signature"], zstd)
    if signature and not signature["verified"]:
        module.fail_json(msg="nothing was read from the archive: %s" % signature["message"], signature=signature)
    try:
        info = read_archive(module.params["path"], zstd_executable=zstd,
                            want_cmdline=module.params["cmdline"])
    except ArchiveError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **dict(info, **({"signature": signature} if signature else {})))


if __name__ == "__main__":
    main()
