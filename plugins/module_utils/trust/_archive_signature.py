# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Signed checkpoint archives: a detached ECDSA P-256 / SHA-256 signature over the archive (what
`openssl dgst -sha256 -sign` makes and `openssl dgst -sha256 -verify` checks), and a signed manifest of the
members' digests that names what changed when the archive's signature fails.

Files beside ARCHIVE: ARCHIVE.sig (DER signature over the archive), ARCHIVE.manifest.json and
ARCHIVE.manifest.json.sig (DER signature over the manifest). The signing key never leaves the host that
signs; openssl reads it and its passphrase from files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import tarfile
import tempfile
import zlib

from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import (
    ArchiveError, _Stream as ArchiveStream, detect_compression)

MANIFEST_FORMAT = "instanton.platform/checkpoint-archive-manifest/v1"
SIGNATURE_SUFFIX = ".sig"
MANIFEST_SUFFIX = ".manifest.json"


class ArchiveTrustError(Exception):
    """The archive did not verify. `failed`: signature_missing, signature_invalid, content_modified;
    `changed` lists the members that differ from the signed manifest (added, removed or modified)."""

    def __init__(self, failed, message, changed=None):
        super(ArchiveTrustError, self).__init__(message)
        self.failed = failed
        self.changed = changed or {}


def signature_path(path):
    return path + SIGNATURE_SUFFIX


def manifest_path(path):
    return path + MANIFEST_SUFFIX


def file_digest(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def member_digests(path, zstd_executable=None):
    """{member name: {"type", "size", "sha256" (regular files)}} in one streaming pass."""
    members = {}
    try:
        stream = ArchiveStream(path, detect_compression(path), zstd_executable)
        try:
            for member in stream.tar:
                entry = {"type": "file" if member.isfile() else "dir" if member.isdir() else "other",
                         "size": member.size}
                if member.isfile():
                    digest = hashlib.sha256()
                    handle = stream.tar.extractfile(member)
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                    entry["sha256"] = digest.hexdigest()
                members[member.name] = entry
        finally:
            stream.close()
    except (tarfile.TarError, EOFError, zlib.error, ArchiveError) as error:
        raise ArchiveTrustError("content_modified", "%s cannot be read as a tar archive: %s" % (path, error))
    return members


def make_manifest(path, zstd_executable=None):
    digest, size = file_digest(path)
    return {"format": MANIFEST_FORMAT,
            "archive": {"name": os.path.basename(path), "size": size, "sha256": digest},
            "members": member_digests(path, zstd_executable)}


def manifest_bytes(manifest):
    """The manifest as it is signed: canonical JSON (sorted keys), one trailing newline."""
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode("utf-8")


def changed_members(signed, actual):
    """{"added": [...], "removed": [...], "modified": [...]} between two member maps; empty lists dropped."""
    changes = {"added": sorted(set(actual) - set(signed)), "removed": sorted(set(signed) - set(actual)),
               "modified": sorted(name for name in set(signed) & set(actual) if signed[name] != actual[name])}
    return dict((kind, names) for kind, names in changes.items() if names)


def write_atomic(path, data, mode=0o644):
    """Write DATA to PATH atomically (temp file in the same directory, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".instanton-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, mode)
        os.rename(temp, path)
    except Exception:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


class OpenSSL(object):
    """openssl on the host: ECDSA signatures over SHA-256, keys and passphrases read from files only."""

    def __init__(self, module, executable):
        self.module = module
        self.executable = executable

    def run(self, args, data=None):
        return self.module.run_command([self.executable] + args, data=data, binary_data=True,
                                       encoding=None)

    def public_key(self, private_key, passphrase_file=None):
        """The PEM public key of PRIVATE_KEY (to check an existing signature against the signer's key)."""
        args = ["pkey", "-in", private_key, "-pubout"]
        if passphrase_file:
            args += ["-passin", "file:" + passphrase_file]
        rc, out, err = self.run(args)
        if rc != 0:
            raise ArchiveTrustError("signature_invalid", "openssl cannot read the private key %s: %s"
                                    % (private_key, err.decode("utf-8", "replace").strip()[-500:]))
        return out

    def sign(self, private_key, passphrase_file, data_path):
        args = ["dgst", "-sha256", "-sign", private_key]
        if passphrase_file:
            args += ["-passin", "file:" + passphrase_file]
        rc, out, err = self.run(args + [data_path])
        if rc != 0:
            raise ArchiveTrustError("signature_invalid", "openssl could not sign %s: %s"
                                    % (data_path, err.decode("utf-8", "replace").strip()[-500:]))
        return out

    def verifies(self, public_key, signature, data_path):
        rc = self.run(["dgst", "-sha256", "-verify", public_key, "-signature", signature, data_path])[0]
        return rc == 0


def verify_archive(openssl, path, public_key, zstd_executable=None):
    """Check ARCHIVE.sig against PUBLIC_KEY. When it fails and the manifest's own signature holds, the archive
    changed since it was signed and the members that differ are named; otherwise the signature is not the key's.
    Returns what was verified; ArchiveTrustError says what failed."""
    signature = signature_path(path)
    if not os.path.exists(signature):
        raise ArchiveTrustError("signature_missing", "%s has no signature (%s)" % (path, signature))
    digest = file_digest(path)[0]
    if openssl.verifies(public_key, signature, path):
        return {"verified": True, "archive": path, "sha256": digest, "signature": signature, "public_key": public_key}
    signed = signed_manifest(openssl, path, public_key)
    if signed is None or signed.get("archive", {}).get("sha256") == digest:
        raise ArchiveTrustError("signature_invalid", "%s is not signed by the key %s (%s does not verify)"
                                % (path, public_key, signature))
    try:
        changes = changed_members(signed.get("members") or {}, member_digests(path, zstd_executable))
    except ArchiveTrustError:
        changes = {"unreadable": [os.path.basename(path)]}
    raise ArchiveTrustError("content_modified", "%s changed since it was signed (SHA-256 %s, signed %s)"
                            % (path, digest, signed["archive"].get("sha256")), changes)


def signed_manifest(openssl, path, public_key):
    """The archive's manifest when it exists and its signature holds for the key, else None."""
    manifest = manifest_path(path)
    if not (os.path.exists(manifest) and os.path.exists(signature_path(manifest))
            and openssl.verifies(public_key, signature_path(manifest), manifest)):
        return None
    with open(manifest) as handle:
        return json.load(handle)


def sign_archive(openssl, path, private_key, passphrase_file, zstd_executable=None):
    """Write ARCHIVE.manifest.json, its signature, and ARCHIVE.sig (each atomically, 0644: signatures and
    digests are not secret). Returns the manifest."""
    manifest = make_manifest(path, zstd_executable)
    write_atomic(manifest_path(path), manifest_bytes(manifest))
    write_atomic(signature_path(manifest_path(path)), openssl.sign(private_key, passphrase_file, manifest_path(path)))
    write_atomic(signature_path(path), openssl.sign(private_key, passphrase_file, path))
    return manifest


def archive_verification(module, path, public_key, required, zstd_executable=None):
    """What a module reports about ARCHIVE's signature: None when no key is given and none is required, else a
    dict with `verified` and, when it failed, `failed`, `message` and `changed_members`."""
    if not public_key:
        if not required:
            return None
        return {"verified": False, "archive": path, "failed": "no_public_key",
                "message": "require_signature is set but no public key was given to check %s with" % path}
    openssl = OpenSSL(module, module.get_bin_path("openssl", required=True))
    try:
        return verify_archive(openssl, path, public_key, zstd_executable)
    except ArchiveTrustError as error:
        return {"verified": False, "archive": path, "failed": error.failed, "message": str(error),
                "changed_members": error.changed}
