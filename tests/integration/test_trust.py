"""Signed InstantOn images and archives, verified before anything is restored, with the real tools on lab hosts:
the lab registry (Debian's docker-registry with TLS from the lab CA), skopeo's sigstore keys, podman's signed
pushes and policy-checked pulls, openssl's archive signatures.

The first lab host is the build host and runs the registry; the second (the first again in a one-host lab)
restores. Order matters: the layer tamper test runs while the restoring host has never pulled the image, since
podman reuses layers it already holds and so would never read the tampered blob.
"""
import json
import shlex

import pytest

from support import (LAB_INVENTORY, REPO, build_samples, lab_copy_from, lab_hosts, lab_ssh, run_module, run_playbook,
                     share_image)

pytestmark = pytest.mark.lab
HOSTS = lab_hosts() if LAB_INVENTORY.exists() else [None]
BUILD_HOST = HOSTS[0]
RUN_HOST = HOSTS[-1]
APP_IMAGE = "localhost/instanton-sample-python-app:latest"
INSTANTON_IMAGE = "localhost/itest-trust-python-app:instanton"
WORK = "/root/itest-trust"
READY = {"type": "http", "port": 8080, "timeout": 120}
# The demo's tamper step: copy a signed archive, flip one byte in a pages-*.img of the copy, print the member.
TAMPER = REPO / "tests" / "demo_tamper.py"


def module(name, args, host=RUN_HOST):
    return run_module(name, args, host=host, inventory=LAB_INVENTORY)


def host_state(host=RUN_HOST):
    """What a refusal must leave as it was: containers, pods and images."""
    return {command: lab_ssh(host, command) for command in (
        "podman ps -a --format '{{.ID}} {{.Names}} {{.ImageID}} {{.State}}'",
        "podman pod ls --format '{{.ID}} {{.Name}} {{.Status}}'",
        "podman images -a --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}'")}


def remove_containers(*names):
    lab_ssh(RUN_HOST, "podman rm -f -t 0 %s >/dev/null 2>&1; true" % " ".join(names), check=False)


@pytest.fixture(scope="session")
def registry(registry_lab):
    """The lab registry, with the restoring host holding none of the test's images yet."""
    lab_ssh(RUN_HOST, "podman images --format '{{.Repository}}@{{.Digest}}' | grep '^%s/instanton/trust-' "
                      "| xargs -r podman rmi -f >/dev/null; true" % registry_lab["address"], check=False)
    return registry_lab


@pytest.fixture(scope="session")
def image_key(tmp_path_factory):
    """A sigstore key pair made on the build host (the private key and passphrase 0600 stay there); the public
    key is copied to the controller."""
    lab_ssh(BUILD_HOST, "mkdir -p %s/keys && cd %s/keys && umask 077 && { test -s pass || head -c 24 /dev/urandom "
                        "| base64 > pass; } && { test -s image.private || skopeo generate-sigstore-key "
                        "--output-prefix image --passphrase-file pass; }" % (WORK, WORK))
    public = tmp_path_factory.mktemp("keys") / "image.pub"
    lab_copy_from(BUILD_HOST, WORK + "/keys/image.pub", public)
    return {"private": WORK + "/keys/image.private", "passphrase": WORK + "/keys/pass", "public": str(public)}


@pytest.fixture(scope="session")
def trusted_hosts(registry, image_key, tmp_path_factory):
    """The image_trust role on every lab host (CA, key, registries.d, policy.json), applied twice: the second
    run changes nothing."""
    playbook = tmp_path_factory.mktemp("play") / "trust.yml"
    playbook.write_text(json.dumps([{"name": "Trust the lab's signed images", "hosts": "lab", "become": True,
                                     "gather_facts": False, "roles": ["instanton.platform.image_trust"]}]))
    variables = {"image_trust_registry": registry["address"],
                 "image_trust_repository": registry["address"] + "/instanton",
                 "image_trust_public_key": image_key["public"], "image_trust_ca_certificate": registry["ca"]}
    for run in ("first", "second"):
        done = run_playbook(playbook, variables, inventory=LAB_INVENTORY)
        assert done.returncode == 0, done.stdout[-3000:]
    assert "changed=0" in done.stdout.split("PLAY RECAP")[-1], done.stdout[-2000:]
    return variables


@pytest.fixture(scope="session")
def app_image():
    """The sample app's image built once on the build host and loaded on the restoring host (its layers there do
    not matter to the layer tamper test: the tampered layer is the checkpoint's own)."""
    build_samples(BUILD_HOST, ["python-app"])
    if RUN_HOST != BUILD_HOST:
        share_image(BUILD_HOST, RUN_HOST, APP_IMAGE)
    return APP_IMAGE


@pytest.fixture(scope="session")
def pushed(app_image, registry, image_key, trusted_hosts):
    """The InstantOn image built on the build host, pushed signed (instanton_image's push) and unsigned."""
    signed = registry["address"] + "/instanton/trust-app:1"
    unsigned = registry["address"] + "/instanton/trust-unsigned:1"
    result = module("instanton_image", {
        "name": INSTANTON_IMAGE, "app_image": APP_IMAGE, "criu_apt_suite": "sid",
        "readiness": {"type": "http", "port": 8080},
        "push": {"destination": signed, "sign_by_sigstore_private_key": image_key["private"],
                 "sign_passphrase_file": image_key["passphrase"]}}, host=BUILD_HOST)
    assert not result.get("failed"), result.get("msg")
    lab_ssh(BUILD_HOST, "podman push --quiet %s %s" % (INSTANTON_IMAGE, unsigned))
    tags = lab_ssh(BUILD_HOST, "skopeo list-tags docker://%s/instanton/trust-app" % registry["address"])
    assert any(tag.endswith(".sig") for tag in json.loads(tags)["Tags"]), tags
    return {"signed": signed, "unsigned": unsigned}


def test_the_role_adds_one_signed_rule_and_keeps_the_others(trusted_hosts):
    policy = json.loads(lab_ssh(RUN_HOST, "cat /etc/containers/policy.json"))
    assert policy["default"] == [{"type": "insecureAcceptAnything"}]
    assert policy["transports"]["docker"][trusted_hosts["image_trust_repository"]] == [{
        "type": "sigstoreSigned", "keyPath": "/etc/containers/keys/instanton-sigstore.pub",
        "signedIdentity": {"type": "matchRepository"}}]
    assert lab_ssh(RUN_HOST, "stat -c %%a /etc/containers/certs.d/%s/ca.crt" % trusted_hosts["image_trust_registry"]
                   ).strip() == "644"


def test_an_unsigned_image_is_refused_under_require_signature(pushed):
    before = host_state()
    result = module("instanton_container", {"name": "trust-unsigned", "image": pushed["unsigned"],
                                            "require_signature": True, "readiness": READY})
    assert result.get("failed"), result
    assert result["verification"]["failed"] == "signature_missing", result["verification"]
    assert "nothing was created" in result["msg"]
    assert host_state() == before


@pytest.mark.skipif(len(HOSTS) < 2, reason="needs a restoring host that has not built the image: the build host "
                                           "holds every layer and podman would not read the registry's copy")
def test_a_flipped_byte_in_a_registry_layer_blob_is_refused(pushed, registry):
    manifest = json.loads(lab_ssh(BUILD_HOST, "skopeo inspect --raw docker://%s" % pushed["signed"]))
    # The top layer is the checkpoint itself, which the restoring host cannot already hold.
    digest = manifest["layers"][-1]["digest"].split(":")[1]
    blob = "%s/docker/registry/v2/blobs/sha256/%s/%s/data" % (registry["storage"], digest[:2], digest)
    flip = "python3 -c %s %s" % (shlex.quote(
        "import os, sys\nf = open(sys.argv[1], 'r+b'); f.seek(os.path.getsize(sys.argv[1]) // 2); b = f.read(1)\n"
        "f.seek(-1, 1); f.write(bytes([b[0] ^ 0xFF])); f.close()"), blob)
    before = host_state()
    lab_ssh(registry["host"], flip)
    try:
        result = module("instanton_container", {"name": "trust-tampered-layer", "image": pushed["signed"],
                                                "require_signature": True, "readiness": READY})
    finally:
        lab_ssh(registry["host"], flip)
    assert result.get("failed"), result
    assert result["verification"]["failed"] == "content_modified", result["verification"]
    assert host_state() == before


def test_without_require_signature_a_failed_check_starts_cold_only_from_the_fallback_image(pushed):
    refused = module("instanton_container", {"name": "trust-fallback", "image": pushed["unsigned"],
                                             "verify_signature": True, "readiness": READY})
    assert refused.get("failed") and refused["verification"]["failed"] == "signature_missing"
    try:
        result = module("instanton_container", {"name": "trust-fallback", "image": pushed["unsigned"],
                                                "verify_signature": True, "fallback_image": APP_IMAGE,
                                                "ports": ["127.0.0.1:19701:8080"], "readiness": READY})
        assert not result.get("failed"), result.get("msg")
        assert result["restored"] is False and "did not verify" in result["fallback_reason"]
        assert result["container"]["ImageName"] == APP_IMAGE
    finally:
        remove_containers("trust-fallback")


def test_a_signed_image_restores_under_a_sigstore_policy(pushed):
    try:
        result = module("instanton_container", {"name": "trust-signed", "image": pushed["signed"],
                                                "require_signature": True, "ports": ["127.0.0.1:19702:8080"],
                                                "readiness": READY})
        assert not result.get("failed"), result.get("msg")
        verification = result["verification"]
        assert verification["verified"] and verification["signature_required"], verification
        assert result["container"]["ImageName"] == verification["image"]
        assert "@sha256:" in verification["image"]
        assert result["restored"] is True, result.get("fallback_reason")
    finally:
        remove_containers("trust-signed")


@pytest.fixture(scope="session")
def signed_archive(app_image):
    """A podman checkpoint archive of the app on the restoring host, signed there with an openssl key (0600)."""
    remove_containers("trust-archive-source")
    lab_ssh(RUN_HOST, "mkdir -p -m 0700 %s && cd %s && umask 077 && rm -f app.tar* && "
                      "{ test -s archive.key || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
                      "-out archive.key; } && openssl pkey -in archive.key -pubout -out archive.pub && "
                      "podman run -d --name trust-archive-source -p 127.0.0.1:19703:8080 %s >/dev/null && "
                      "python3 -c 'import time, urllib.request\n"
                      "for _ in range(240):\n"
                      "    try: urllib.request.urlopen(\"http://127.0.0.1:19703/\", timeout=1); break\n"
                      "    except Exception: time.sleep(0.5)' && "
                      "podman container checkpoint --compress none --export app.tar trust-archive-source && "
                      "podman rm -f -t 0 trust-archive-source >/dev/null" % (WORK, WORK, APP_IMAGE))
    result = module("checkpoint_archive_sign", {"path": WORK + "/app.tar", "private_key": WORK + "/archive.key"})
    assert result["changed"], result.get("msg")
    return {"path": WORK + "/app.tar", "public_key": WORK + "/archive.pub"}


@pytest.fixture(scope="session")
def tampered_archive(signed_archive):
    """A copy of the signed archive (signature and manifest too) with one byte flipped in a pages-*.img."""
    tampered = WORK + "/tampered.tar"
    member = lab_ssh(RUN_HOST, "python3 -c %s %s %s" % (shlex.quote(TAMPER.read_text()), signed_archive["path"],
                                                        tampered)).strip()
    assert lab_ssh(RUN_HOST, "stat -c %%a %s %s" % (signed_archive["path"], tampered)).split() == ["600", "600"]
    return {"path": tampered, "member": member, "public_key": signed_archive["public_key"]}


def test_a_flipped_byte_in_a_pages_image_of_an_archive_is_refused(tampered_archive):
    before = host_state()
    result = module("instanton_container", {"name": "trust-tampered-archive",
                                            "checkpoint_archive": tampered_archive["path"],
                                            "archive_public_key": tampered_archive["public_key"],
                                            "require_signature": True, "ports": ["127.0.0.1:19704:8080"],
                                            "readiness": READY})
    assert result.get("failed"), result
    assert result["verification"]["failed"] == "content_modified", result["verification"]
    assert result["verification"]["changed_members"] == {"modified": [tampered_archive["member"]]}
    assert host_state() == before


def test_checkpoint_image_builds_nothing_from_a_tampered_archive(tampered_archive):
    before = host_state()
    result = module("checkpoint_image", {"archive": tampered_archive["path"], "image": "localhost/trust-ckpt:tampered",
                                         "public_key": tampered_archive["public_key"], "require_signature": True})
    assert result.get("failed") and result["signature"]["failed"] == "content_modified", result
    assert host_state() == before


def test_a_signed_archive_restores_under_require_signature(signed_archive):
    try:
        result = module("instanton_container", {"name": "trust-archive", "checkpoint_archive": signed_archive["path"],
                                                "archive_public_key": signed_archive["public_key"],
                                                "require_signature": True, "ports": ["127.0.0.1:19705:8080"],
                                                "readiness": READY})
        assert not result.get("failed"), result.get("msg")
        assert result["verification"]["verified"] is True
        assert result["restored"] is True
    finally:
        remove_containers("trust-archive")
