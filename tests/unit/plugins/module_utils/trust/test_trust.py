"""The pure parts of image and archive trust: policy.json scopes, podman's pull errors, key file modes, push
arguments, archive manifests; and archive signatures made and checked with the real openssl, by the
checkpoint_archive_sign and checkpoint_archive_info modules run through ansible."""
import io
import json
import os
import subprocess
import tarfile

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.trust import _archive_signature as sig
from ansible_collections.instanton.platform.plugins.module_utils.trust import _image_trust as trust
from support import run_module

REPO = "172.31.212.11:19750/instanton/app"
SIGNED_RULE = [{"type": "sigstoreSigned", "keyPath": "/etc/containers/keys/k.pub",
                "signedIdentity": {"type": "matchRepository"}}]
ANYTHING = [{"type": "insecureAcceptAnything"}]


def test_split_reference_keeps_the_registry_port_apart_from_the_tag():
    assert trust.split_reference(REPO + ":1.0") == (REPO, "1.0", None)
    assert trust.split_reference(REPO + "@sha256:" + "a" * 64) == (REPO, None, "sha256:" + "a" * 64)
    assert trust.split_reference(REPO) == (REPO, None, None)


def test_registry_of_never_assumes_docker_hub():
    assert trust.registry_of(REPO) == "172.31.212.11:19750"
    assert trust.registry_of("localhost/app") == "localhost"
    assert trust.registry_of("library/debian") is None


def test_policy_scopes_run_from_the_reference_to_the_registry():
    assert trust.policy_scopes(REPO + ":1.0") == [REPO + ":1.0", REPO, "172.31.212.11:19750/instanton",
                                                  "172.31.212.11:19750"]


def test_the_most_specific_scope_decides():
    policy = {"default": ANYTHING, "transports": {"docker": {"172.31.212.11:19750/instanton": SIGNED_RULE}}}
    assert trust.policy_requirements(policy, REPO + ":1.0") == SIGNED_RULE
    assert trust.policy_requirements(policy, "172.31.212.11:19750/other/app:1") == ANYTHING
    # A narrower rule that accepts anything wins over the signed namespace: require_signature sees it.
    policy["transports"]["docker"][REPO] = ANYTHING
    assert not trust.requires_signature(trust.policy_requirements(policy, REPO + ":1.0"))


def test_transport_default_comes_before_the_global_default():
    policy = {"default": [{"type": "reject"}], "transports": {"docker": {"": SIGNED_RULE}}}
    assert trust.policy_requirements(policy, REPO) == SIGNED_RULE


@pytest.mark.parametrize("requirements, required", [
    (SIGNED_RULE, True), ([{"type": "signedBy", "keyType": "GPGKeys"}], True), (ANYTHING, False),
    ([{"type": "reject"}], False), ([], False)])
def test_requires_signature(requirements, required):
    assert trust.requires_signature(requirements) is required


@pytest.mark.parametrize("output, failed", [
    ("Error: Source image rejected: A signature was required, but no signature exists", "signature_missing"),
    ("Error: Source image rejected: cryptographic signature verification failed: invalid signature",
     "signature_invalid"),
    ("Error: writing blob: storing blob to file: happened during read: Digest did not match, expected "
     "sha256:aa, got sha256:bb", "content_modified"),
    ("Error: initializing source: pinging container registry: connection refused", "pull_failed")])
def test_pull_failures_say_what_failed(output, failed):
    assert trust.pull_failure(output) == failed


def test_read_policy_refuses_what_is_not_a_policy(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text("[]")
    with pytest.raises(trust.TrustError, match="not a containers signature policy"):
        trust.read_policy(str(path))
    with pytest.raises(trust.TrustError, match="cannot read"):
        trust.read_policy(str(tmp_path / "missing.json"))


def test_private_files_must_be_0600(tmp_path):
    key = tmp_path / "k.private"
    key.write_text("key")
    key.chmod(0o640)
    assert "make it 0600" in trust.private_file_problem(str(key), "the key")
    key.chmod(0o600)
    assert trust.private_file_problem(str(key), "the key") is None
    assert "sign_passphrase_file is set without" in trust.signing_problem(None, str(key))


def test_push_arguments_sign_with_the_key_file_and_never_a_passphrase_in_argv():
    args = trust.push_arguments("localhost/app:instanton", REPO + ":1", True, "/k/k.private", "/k/pass")
    assert args == ["push", "--tls-verify=true", "--sign-by-sigstore-private-key", "/k/k.private",
                    "--sign-passphrase-file", "/k/pass", "localhost/app:instanton", REPO + ":1"]
    assert trust.push_arguments("img", None, False) == ["push", "--tls-verify=false", "img"]


def test_changed_members_names_added_removed_and_modified():
    signed = {"a": {"sha256": "1"}, "b": {"sha256": "2"}}
    assert sig.changed_members(signed, {"a": {"sha256": "1"}, "b": {"sha256": "3"}, "c": {}}) == {
        "added": ["c"], "modified": ["b"]}
    assert sig.changed_members(signed, {"a": {"sha256": "1"}}) == {"removed": ["b"]}
    assert sig.changed_members(signed, signed) == {}


def write_archive(path, pages):
    with tarfile.open(str(path), "w") as tar:
        for name, data in (("config.dump", b"{}"), ("checkpoint/pages-1.img", pages)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_manifest_lists_every_member_digest(tmp_path):
    archive = tmp_path / "a.tar"
    write_archive(archive, b"\x01" * 8192)
    manifest = sig.make_manifest(str(archive))
    assert manifest["format"] == sig.MANIFEST_FORMAT
    assert set(manifest["members"]) == {"config.dump", "checkpoint/pages-1.img"}
    assert manifest["archive"]["sha256"] == sig.file_digest(str(archive))[0]
    assert json.loads(sig.manifest_bytes(manifest).decode()) == manifest


@pytest.fixture()
def keys(tmp_path):
    """A P-256 key pair made by openssl, the private key encrypted and 0600, its passphrase 0600."""
    passphrase = tmp_path / "pass"
    passphrase.write_text("correct horse")
    passphrase.chmod(0o600)
    private = tmp_path / "signing.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-aes-256-cbc", "-pass", "file:%s" % passphrase, "-out", str(private)], check=True)
    private.chmod(0o600)
    public = tmp_path / "signing.pub"
    subprocess.run(["openssl", "pkey", "-in", str(private), "-passin", "file:%s" % passphrase, "-pubout",
                    "-out", str(public)], check=True)
    return {"private_key": str(private), "passphrase_file": str(passphrase), "public_key": str(public)}


def flip_byte(path, offset):
    with open(str(path), "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_signed_archive_verifies_with_openssl_and_a_flipped_page_byte_is_named(tmp_path, keys):
    archive = tmp_path / "ckpt.tar"
    write_archive(archive, b"\x02" * 8192)
    signed = run_module("checkpoint_archive_sign", {"path": str(archive), "private_key": keys["private_key"],
                                                    "passphrase_file": keys["passphrase_file"]})
    assert signed["changed"] and signed["members"] == 2, signed.get("msg")
    # What a user runs, with the standard tool.
    check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", keys["public_key"], "-signature",
                            str(archive) + ".sig", str(archive)], stdout=subprocess.PIPE, text=True, check=False)
    assert check.stdout.strip() == "Verified OK"
    again = run_module("checkpoint_archive_sign", {"path": str(archive), "private_key": keys["private_key"],
                                                   "passphrase_file": keys["passphrase_file"]})
    assert again["changed"] is False
    info = run_module("checkpoint_archive_info", {"path": str(archive), "public_key": keys["public_key"],
                                                  "cmdline": False})
    assert info.get("failed") is not True and info["signature"]["verified"] is True, info.get("msg")

    # The pages member's data starts after config.dump's header+data block and its own header.
    flip_byte(archive, 512 * 3 + 100)
    refused = run_module("checkpoint_archive_info", {"path": str(archive), "public_key": keys["public_key"]})
    assert refused["failed"] and refused["signature"]["failed"] == "content_modified"
    assert refused["signature"]["changed_members"] == {"modified": ["checkpoint/pages-1.img"]}


def test_an_archive_signed_by_another_key_or_unsigned_is_refused(tmp_path, keys):
    archive = tmp_path / "ckpt.tar"
    write_archive(archive, b"\x03" * 4096)
    unsigned = run_module("checkpoint_archive_info", {"path": str(archive), "public_key": keys["public_key"]})
    assert unsigned["failed"] and unsigned["signature"]["failed"] == "signature_missing"
    other = tmp_path / "other.pub"
    subprocess.run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkey -pubout -out %s"
                   % other, shell=True, check=True)
    run_module("checkpoint_archive_sign", {"path": str(archive), "private_key": keys["private_key"],
                                           "passphrase_file": keys["passphrase_file"]})
    wrong = run_module("checkpoint_archive_info", {"path": str(archive), "public_key": str(other)})
    assert wrong["failed"] and wrong["signature"]["failed"] == "signature_invalid"


def test_a_readable_private_key_is_refused_and_never_shown(tmp_path, keys):
    archive = tmp_path / "ckpt.tar"
    write_archive(archive, b"\x04" * 512)
    os.chmod(keys["private_key"], 0o644)
    result = run_module("checkpoint_archive_sign", {"path": str(archive), "private_key": keys["private_key"]})
    assert result["failed"] and "make it 0600" in result["msg"]
    assert keys["private_key"] not in json.dumps(result)
    assert not os.path.exists(str(archive) + ".sig")


def test_require_signature_needs_a_public_key(tmp_path):
    archive = tmp_path / "ckpt.tar"
    write_archive(archive, b"\x05" * 512)
    result = run_module("checkpoint_archive_info", {"path": str(archive), "require_signature": True})
    assert result["failed"] and "public_key" in result["msg"]


@pytest.mark.parametrize("module_name, args, expected", [
    ("instanton_container", {"name": "app", "image": "registry.example:5000/instanton/app:1", "require_signature": True,
                             "fallback_image": "localhost/app:1"}, "mutually exclusive"),
    ("instanton_container", {"name": "app", "image": "registry.example:5000/instanton/app:1",
                             "verify_signature": True, "fallback_image": "bad name!"}, "fallback_image"),
    ("checkpoint_image", {"archive": "/nonexistent.tar", "image": "localhost/c:1", "require_signature": True},
     "public_key"),
])
def test_trust_options_are_checked_before_anything_runs(module_name, args, expected):
    result = run_module(module_name, args)
    assert result["failed"] and expected in result["msg"], result["msg"]


def test_the_signed_rule_weakens_nothing():
    policy = {"default": ANYTHING, "transports": {
        "docker": {"other.example/app": ANYTHING, REPO: [{"type": "reject"}], "172.31.212.11:19750/instanton": ANYTHING},
        "docker-daemon": {"": ANYTHING}}}
    updated = trust.policy_with_requirement(policy, "172.31.212.11:19750/instanton", SIGNED_RULE[0])
    assert updated["transports"]["docker"]["172.31.212.11:19750/instanton"] == SIGNED_RULE
    assert updated["transports"]["docker"][REPO] == [{"type": "reject"}]
    assert updated["transports"]["docker"]["other.example/app"] == ANYTHING
    assert updated["default"] == ANYTHING and updated["transports"]["docker-daemon"] == {"": ANYTHING}
    # Applied again: the same rule once. A stricter requirement already there is kept beside it.
    assert trust.policy_with_requirement(updated, "172.31.212.11:19750/instanton", SIGNED_RULE[0]) == updated
    stricter = trust.policy_with_requirement(policy, REPO, SIGNED_RULE[0])
    assert stricter["transports"]["docker"][REPO] == [{"type": "reject"}] + SIGNED_RULE
    assert policy["transports"]["docker"][REPO] == [{"type": "reject"}], "the input is not changed"
