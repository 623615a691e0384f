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
  sign_by_sigstore_private_key:
    description:
      - Sign the image when pushing it, with this sigstore private key on the managed host (the build host; made
        with C(skopeo generate-sigstore-key), C(0600)), as C(podman push --sign-by-sigstore-private-key) does.
        Where the signature is stored follows C(registries.d); with C(use-sigstore-attachments) (the
        P(instanton.platform.image_trust#role) role writes it) it goes into the registry beside the image.
      - The key stays on the host; the module refuses a key or passphrase file that group or others can read.
    type: path
  sign_passphrase_file:
    description: The file (C(0600)) holding the sigstore private key's passphrase.
    type: path
  public_key:
    description:
      - Check the archive's detached signature (see M(instanton.platform.checkpoint_archive_sign)) with this
        public key (PEM) before building; an archive that does not verify builds nothing.
    type: path
  require_signature:
    description: Build only from an archive that verifies with O(public_key) (which is then required).
    type: bool
    default: false
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
  - A push happens only when the image was (re)built in this run. Signed pushes to a registry with TLS are
    exercised in this collection's tests through M(instanton.platform.instanton_image)'s O(instanton.platform.instanton_image#module:push),
    which makes the same C(podman push) command; the login with O(registry_username) is not.
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
signed:
  description: Whether the push made a sigstore signature (O(sign_by_sigstore_private_key)).
  returned: always
  type: bool
signature:
  description:
    - The archive's signature check (see M(instanton.platform.checkpoint_archive_info)'s RV(signature)).
  returned: when O(public_key) or O(require_signature) is set
  type: dict
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.trust._archive_signature import archive_verification
from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import (
    ArchiveError, read_archive)
from ansible_collections.instanton.platform.plugins.module_utils.instanton._checkpoint_image import (
    BuildContext, build_args, checkpoint_annotations, file_sha256, is_current)
from ansible_collections.instanton.platform.plugins.module_utils.trust._image_trust import push_arguments, signing_problem
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
        podman.run(push_arguments(params["image"], params["push_destination"], params["tls_verify"],
                                  params["sign_by_sigstore_private_key"], params["sign_passphrase_file"],
                                  authfile if params["registry_username"] else None))
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
            sign_by_sigstore_private_key=dict(type="path", no_log=True),
            sign_passphrase_file=dict(type="path", no_log=True),
            public_key=dict(type="path"),
            require_signature=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            zstd_executable=dict(type="str", default="zstd"),
            executable=dict(type="str", default="podman"),
        ),
        required_together=[("registry_username", "registry_password")],
        required_if=[("require_signature", True, ("public_key",))],
        supports_check_mode=True,
    )
    params = module.params
    problem = signing_problem(params["sign_by_sigstore_private_key"], params["sign_passphrase_file"])
    if problem:
        module.fail_json(msg=problem)
    signature = archive_verification(module, params["archive"], params["public_key"], params["require_signature"],
                                     module.get_bin_path(params["zstd_executable"]))
    if signature and not signature["verified"]:
        module.fail_json(msg="no image was built: %s" % signature["message"], signature=signature)
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
    result = dict(image=params["image"], sha256=sha256, annotations=annotations, pushed=False, signed=False,
                  image_id=existing and existing.get("Id"), **({"signature": signature} if signature else {}))
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
            result["signed"] = bool(params["sign_by_sigstore_private_key"])
    except PodmanError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
