#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: checkpoint_image
short_description: Build an OCI checkpoint image from a container checkpoint archive
version_added: 0.1.0
description:
  - Builds C(FROM scratch) + the archive unpacked at C(/) with podman, the layout CRI-O and
    podman restore from, and sets the checkpoint annotations
    C(io.kubernetes.cri-o.annotations.checkpoint.name) and C(org.criu.checkpoint.*)
    (container name, engine, root file system image, runtime, pod, namespace, CRIU version
    when known), read from the archive itself. Archives made by podman also get
    C(io.podman.annotations.checkpoint.*), so C(podman container restore IMAGE) accepts them.
  - The module is idempotent. The image carries the label C(io.instanton.checkpoint.sha256) with the
    archive's SHA-256; an image built from the same archive with the same annotations is
    left alone (changed=false).
  - Optionally pushes the image, logging in with the given credentials into a private,
    temporary auth file.
extends_documentation_fragment:
  - instanton.platform.podman
options:
  archive:
    description: Checkpoint archive on the managed host (plain tar, gzip or zstd).
    type: path
    required: true
  image:
    description: Name (and tag) of the image to build, for example C(registry.example/app:ckpt).
    type: str
    required: true
  container_name:
    description:
      - Container name for the checkpoint annotations. Defaults to the name in the archive.
      - With Kubernetes, this must be the container's name in the pod that restores it.
    type: str
  annotations:
    description: Extra annotations, added to (and overriding) the computed ones.
    type: dict
    default: {}
  push:
    description: Push the image to O(push_destination) (or to O(image)) after building it.
    type: bool
    default: false
  push_destination:
    description: Where to push, for example C(docker://registry.example/app:ckpt). Defaults to O(image).
    type: str
  registry_username:
    description: User for the registry login before pushing.
    type: str
  registry_password:
    description: Password or token for the registry login before pushing.
    type: str
  tls_verify:
    description: Verify the registry's TLS certificate when pushing.
    type: bool
    default: true
  force:
    description: Rebuild even when the image was built from the same archive.
    type: bool
    default: false
  zstd_executable:
    description: zstd program used to read zstd archives (see M(instanton.platform.checkpoint_archive_info)).
    type: str
    default: zstd
attributes:
  check_mode:
    support: full
    description: Reports whether the image would be built; builds and pushes nothing.
notes:
  - A push happens only when the image was (re)built in this run. Pushing could not be
    exercised in this collection's tests (no registry is reachable there).
  - The archive holds process memory; the temporary build context is private (0700).
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Image from a kubelet checkpoint, pushed to the cluster's registry
  instanton.platform.checkpoint_image:
    archive: "{{ checkpoint.archive }}"
    image: registry.example/shop/app:checkpoint
    container_name: app
    push: true
    registry_username: robot
    registry_password: "{{ vault_registry_token }}"
"""

RETURN = r"""
image:
  description: The image name.
  returned: always
  type: str
image_id:
  description: ID of the image (null in check mode when it would be built).
  returned: always
  type: str
sha256:
  description: SHA-256 of the archive, also in the image label C(io.instanton.checkpoint.sha256).
  returned: always
  type: str
annotations:
  description: The annotations set on the image.
  returned: always
  type: dict
pushed:
  description: Whether the image was pushed in this run.
  returned: always
  type: bool
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import (
    ArchiveError, read_archive)
from ansible_collections.instanton.platform.plugins.module_utils.instanton._checkpoint_image import (
    BuildContext, build_args, checkpoint_annotations, file_sha256, is_current)
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import (
    Podman, PodmanError)


def push(podman, params):
    """Log in into a throwaway auth file (password on stdin, never argv), then push."""
    destination = params["push_destination"] or params["image"]
    tls = "--tls-verify=%s" % str(params["tls_verify"]).lower()
    auth_dir = tempfile.mkdtemp(prefix="instanton-auth-")
    authfile = os.path.join(auth_dir, "auth.json")
    try:
        if params["registry_username"]:
            registry = destination.replace("docker://", "").split("/")[0]
            podman.run(["login", tls, "--authfile", authfile, "--username",
                        params["registry_username"], "--password-stdin", registry],
                       data=params["registry_password"])
        args = ["push", tls, params["image"]]
        if params["registry_username"]:
            args[1:1] = ["--authfile", authfile]
        if params["push_destination"]:
            args.append(destination)
        podman.run(args)
    finally:
        shutil.rmtree(auth_dir, ignore_errors=True)


def build(podman, params, sha256, annotations):
    context = BuildContext(params["archive"])
    try:
        podman.run(build_args(params["image"], context, sha256, annotations))
    finally:
        context.cleanup()
    return podman.image(params["image"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            archive=dict(type="path", required=True),
            image=dict(type="str", required=True),
            container_name=dict(type="str"),
            annotations=dict(type="dict", default={}),
            push=dict(type="bool", default=False),
            push_destination=dict(type="str"),
            registry_username=dict(type="str"),
            registry_password=dict(type="str", no_log=True),
            tls_verify=dict(type="bool", default=True),
            force=dict(type="bool", default=False),
            zstd_executable=dict(type="str", default="zstd"),
            executable=dict(type="str", default="podman"),
        ),
        required_together=[("registry_username", "registry_password")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        info = read_archive(params["archive"], module.get_bin_path(params["zstd_executable"]),
                            want_cmdline=False)
    except ArchiveError as exc:
        module.fail_json(msg=str(exc))
    annotations = checkpoint_annotations(info, params["container_name"], params["annotations"])
    if "org.criu.checkpoint.container.name" not in annotations:
        module.fail_json(msg="the archive names no container; set container_name")
    sha256 = file_sha256(params["archive"])
    podman = Podman(module, params["executable"])
    existing = podman.image(params["image"])
    result = dict(image=params["image"], sha256=sha256, annotations=annotations, pushed=False,
                  image_id=existing and existing.get("Id"))
    if is_current(existing, sha256, annotations) and not params["force"]:
        module.exit_json(changed=False, **result)
    if module.check_mode:
        result["image_id"] = None
        module.exit_json(changed=True, **result)
    try:
        result["image_id"] = build(podman, params, sha256, annotations)["Id"]
        if params["push"]:
            push(podman, params)
            result["pushed"] = True
    except PodmanError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
