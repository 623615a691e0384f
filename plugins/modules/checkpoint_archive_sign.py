#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: checkpoint_archive_sign
short_description: Sign a checkpoint archive with a detached signature anyone can check with openssl
version_added: 0.2.0
description:
  - "Writes, beside the archive: C(ARCHIVE.sig), an ECDSA P-256 signature over the archive's SHA-256 (DER, what
    C(openssl dgst -sha256 -sign) makes); C(ARCHIVE.manifest.json), the archive's SHA-256 and size and each
    member's SHA-256; and C(ARCHIVE.manifest.json.sig), the manifest's signature. Each is written atomically."
  - "Anyone with the public key checks the archive with C(openssl dgst -sha256 -verify KEY.pub -signature
    ARCHIVE.sig ARCHIVE), or C(cosign verify-blob --key KEY.pub --signature ARCHIVE.sig --insecure-ignore-tlog
    ARCHIVE) (the signature is made offline, without a transparency log). M(instanton.platform.checkpoint_archive_info), M(instanton.platform.checkpoint_image)
    and M(instanton.platform.instanton_container) check it before use when given the public key, and name the
    members that changed when it fails."
  - "Idempotent: an archive whose signature already verifies with this key's public half is left alone."
  - The private key stays where it is (on the host that signs, C(0600)); openssl reads it and its passphrase from
    files, never from the command line, and neither path nor content appears in the task's output.
options:
  path:
    description: The checkpoint archive on the managed host (plain tar, gzip or zstd).
    type: path
    required: true
  private_key:
    description:
      - The signing key, an EC P-256 private key in PEM (for example C(openssl genpkey -algorithm EC -pkeyopt
        ec_paramgen_curve:P-256 -aes-256-cbc -pass file:PASS -out archive-signing.key)). Must be C(0600).
    type: path
    required: true
  passphrase_file:
    description: A file (C(0600)) holding the private key's passphrase, when the key is encrypted.
    type: path
  force:
    description: Sign again even when the existing signature verifies.
    type: bool
    default: false
  zstd_executable:
    description: zstd program used to read zstd archives for the manifest.
    type: str
    default: zstd
attributes:
  check_mode:
    support: full
    description: Reports whether the archive would be signed; writes nothing.
requirements:
  - openssl on the managed host
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Sign the exported checkpoint on the build host
  instanton.platform.checkpoint_archive_sign:
    path: /var/lib/instanton/exports/pyapp.tar
    private_key: /etc/instanton/keys/archive-signing.key
    passphrase_file: /etc/instanton/keys/archive-signing.pass
"""

RETURN = r"""
signature:
  description: The detached signature's path.
  returned: success
  type: str
  sample: /var/lib/instanton/exports/pyapp.tar.sig
manifest:
  description: The signed manifest's path.
  returned: success
  type: str
sha256:
  description: The archive's SHA-256.
  returned: success
  type: str
members:
  description: How many members the manifest lists (null when the signature was already valid).
  returned: success
  type: int
public_key:
  description: The public key (PEM) that checks the signature.
  returned: success
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils.trust._archive_signature import (
    ArchiveTrustError, OpenSSL, file_digest, manifest_path, sign_archive, signature_path, verify_archive, write_atomic)
from ansible_collections.instanton.platform.plugins.module_utils.trust._image_trust import private_file_problem


def already_signed(openssl, path, public_pem, zstd):
    """True when ARCHIVE.sig verifies with the key's public half."""
    handle, public_key = tempfile.mkstemp(prefix="instanton-pub-")
    os.close(handle)
    try:
        write_atomic(public_key, public_pem)
        verify_archive(openssl, path, public_key, zstd)
        return True
    except ArchiveTrustError:
        return False
    finally:
        os.unlink(public_key)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            private_key=dict(type="path", required=True, no_log=True),
            passphrase_file=dict(type="path", no_log=True),
            force=dict(type="bool", default=False),
            zstd_executable=dict(type="str", default="zstd"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isfile(params["path"]):
        module.fail_json(msg="%s is not a file" % params["path"])
    problem = private_file_problem(params["private_key"], "the private key") or (
        params["passphrase_file"] and private_file_problem(params["passphrase_file"], "the passphrase file"))
    if problem:
        module.fail_json(msg=problem)
    openssl = OpenSSL(module, module.get_bin_path("openssl", required=True))
    zstd = module.get_bin_path(params["zstd_executable"])
    try:
        public_pem = openssl.public_key(params["private_key"], params["passphrase_file"])
        result = dict(signature=signature_path(params["path"]), manifest=manifest_path(params["path"]),
                      sha256=file_digest(params["path"])[0], public_key=public_pem.decode("ascii"), members=None)
        if not params["force"] and already_signed(openssl, params["path"], public_pem, zstd):
            module.exit_json(changed=False, **result)
        if module.check_mode:
            module.exit_json(changed=True, **result)
        manifest = sign_archive(openssl, params["path"], params["private_key"], params["passphrase_file"], zstd)
    except ArchiveTrustError as error:
        module.fail_json(msg=str(error))
    result["members"] = len(manifest["members"])
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
