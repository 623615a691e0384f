# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Signed InstantOn images: sign at push (podman's sigstore signatures) and verify before a container is
created. containers' policy.json is enforced when an image is pulled or copied, never when a local image is
run, so verification is a pull by digest through the policy, and the container then runs that digest."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import stat

# Requirement types of containers-policy.json(5) that demand a signature.
SIGNATURE_REQUIREMENTS = ("sigstoreSigned", "signedBy")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# What podman's pull says, mapped to what failed to verify (first match wins).
PULL_FAILURES = (
    ("signature_missing", re.compile(r"signature was required, but no signature exists", re.I)),
    ("content_modified", re.compile(r"digest did not match|digest mismatch|size mismatch|unexpected EOF", re.I)),
    ("signature_invalid", re.compile(r"signature|not allowed by policy|rejected by policy|"
                                     r"public key|identity", re.I)),
)


class TrustError(Exception):
    """An image could not be verified; `failed` says what (signature_missing, signature_invalid,
    content_modified, not_required_by_policy, not_a_registry_image, pull_failed)."""

    def __init__(self, failed, message):
        super(TrustError, self).__init__(message)
        self.failed = failed


def split_reference(reference):
    """(repository, tag, digest) of host[:port]/path[:tag][@sha256:...]; tag and digest may be None."""
    name, _sep, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest or None


def registry_of(repository):
    """The registry part of a repository name, or None for a short name (docker.io is never assumed)."""
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def policy_scopes(reference):
    """The docker-transport scopes of containers-policy.json(5) that can name REFERENCE, most specific first:
    the reference itself, the repository, each parent namespace, the registry."""
    repository, tag, digest = split_reference(reference)
    scopes = []
    if digest:
        scopes.append("%s@%s" % (repository, digest))
    elif tag:
        scopes.append("%s:%s" % (repository, tag))
    parts = repository.split("/")
    scopes.extend("/".join(parts[:count]) for count in range(len(parts), 0, -1))
    return scopes


def policy_requirements(policy, reference):
    """The requirements policy.json applies to pulling REFERENCE (the most specific scope's, else the
    transport's default, else the global default)."""
    docker = (policy.get("transports") or {}).get("docker") or {}
    for scope in policy_scopes(reference) + [""]:
        if scope in docker:
            return docker[scope]
    return policy.get("default") or []


def requires_signature(requirements):
    """True when the requirements (all must hold) include a signature check."""
    return any(requirement.get("type") in SIGNATURE_REQUIREMENTS for requirement in requirements)


def read_policy(path):
    """policy.json as a dict; TrustError when it is missing or not a policy."""
    try:
        with open(path) as handle:
            policy = json.load(handle)
    except (IOError, OSError) as error:
        raise TrustError("pull_failed", "cannot read the signature policy %s: %s" % (path, error))
    except ValueError as error:
        raise TrustError("pull_failed", "the signature policy %s is not JSON: %s" % (path, error))
    if not isinstance(policy, dict) or not isinstance(policy.get("default"), list):
        raise TrustError("pull_failed", "%s is not a containers signature policy (no \"default\" list)" % path)
    return policy


def pull_failure(output):
    """What failed to verify, from podman pull's error output."""
    for failed, pattern in PULL_FAILURES:
        if pattern.search(output):
            return failed
    return "pull_failed"


def private_file_problem(path, what):
    """Why a private key or passphrase file must not be used (missing, or readable by others), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return "%s %s cannot be read: %s" % (what, path, error.strerror)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return "%s %s is readable by group or others (mode %04o): make it 0600" % (what, path, stat.S_IMODE(mode))
    return None


def signing_problem(key, passphrase_file):
    """Why the sigstore key and passphrase file cannot sign, or None (both must be private)."""
    if not key:
        return "sign_passphrase_file is set without sign_by_sigstore_private_key" if passphrase_file else None
    return private_file_problem(key, "the sigstore private key") or (
        passphrase_file and private_file_problem(passphrase_file, "the passphrase file"))


def push_arguments(image, destination, tls_verify, sign_key=None, passphrase_file=None, authfile=None):
    """`podman push` arguments; with SIGN_KEY, a sigstore signature is made and stored beside the image
    (where registries.d says: use-sigstore-attachments stores it in the registry)."""
    args = ["push", "--tls-verify=%s" % str(tls_verify).lower()]
    if authfile:
        args += ["--authfile", authfile]
    if sign_key:
        args += ["--sign-by-sigstore-private-key", sign_key]
        if passphrase_file:
            args += ["--sign-passphrase-file", passphrase_file]
    args.append(image)
    if destination:
        args.append(destination)
    return args


class ImageVerifier(object):
    """Pull an image by digest through a signature policy; the digest-pinned reference to run."""

    def __init__(self, podman, skopeo, policy_path):
        self.podman = podman
        self.skopeo = skopeo
        self.policy_path = policy_path

    def digest(self, reference):
        """The manifest digest REFERENCE names: its own, or the registry's answer for its tag."""
        digest = split_reference(reference)[2]
        if digest:
            return digest
        if not self.skopeo:
            raise TrustError("pull_failed", "skopeo is needed to resolve %s to a digest: install it (the "
                                            "instanton.platform.image_trust role does) or name the image by digest"
                             % reference)
        rc, out, err = self.podman.module.run_command(
            [self.skopeo, "inspect", "--no-tags", "--format", "{{.Digest}}", "docker://" + reference])
        if rc != 0 or not DIGEST.match(out.strip()):
            raise TrustError("pull_failed", "cannot resolve %s to a digest: %s" % (reference, (err or out).strip()[-1000:]))
        return out.strip()

    def verify(self, reference, required):
        """Pull REFERENCE by digest with the policy (podman checks the signature and every blob's digest);
        returns what was verified. With REQUIRED, the policy must demand a signature for it."""
        repository = split_reference(reference)[0]
        if registry_of(repository) in (None, "localhost"):
            raise TrustError("not_a_registry_image", "%s is not a registry image (host[:port]/path): only images "
                                                     "pulled from a registry can be verified" % reference)
        policy = read_policy(self.policy_path)
        requirements = policy_requirements(policy, reference)
        if required and not requires_signature(requirements):
            raise TrustError("not_required_by_policy", "require_signature is set, but %s asks no signature for %s "
                                                       "(its rule: %s): apply the instanton.platform.image_trust role"
                             % (self.policy_path, repository, json.dumps(requirements)))
        digest = self.digest(reference)
        pinned = "%s@%s" % (repository, digest)
        rc, out, err = self.podman.run(["pull", "--quiet", "--signature-policy", self.policy_path, pinned],
                                       check=False)
        if rc != 0:
            output = (err or out).strip()
            raise TrustError(pull_failure(output), "%s did not verify: %s" % (pinned, output[-1500:]))
        return {"verified": True, "image": pinned, "digest": digest, "image_id": out.strip().splitlines()[-1],
                "signature_required": requires_signature(requirements), "policy": self.policy_path}


def policy_with_requirement(policy, scope, requirement):
    """policy.json with REQUIREMENT for the docker-transport SCOPE, never weaker than before: the scope's
    requirements (all must hold) are kept except insecureAcceptAnything and an earlier copy of this requirement
    (same type and key path), which it replaces; every other scope, transport and the default stay as they were."""
    updated = json.loads(json.dumps(policy))
    docker = updated.setdefault("transports", {}).setdefault("docker", {})
    same_key = (requirement.get("type"), requirement.get("keyPath"))
    kept = [existing for existing in docker.get(scope, [])
            if existing.get("type") != "insecureAcceptAnything"
            and (existing.get("type"), existing.get("keyPath")) != same_key]
    docker[scope] = kept + [requirement]
    return updated
