"""playbooks/k8s_checkpoint.yml end to end on the controller: the kubelet is the local HTTPS
STAND-IN (tests/kubelet_standin.py), which answers with the path of a REAL podman checkpoint
archive made on a lab host and copied here. Inspect, fetch, retention and the manifests run
for real; the image build is off (no podman on the controller) and nothing is applied
(no cluster).
"""
import os
import stat
import time

import pytest
import yaml

from support import LAB_INVENTORY, REPO, lab_copy_from, lab_ssh, run_playbook, target_host
from kubelet_standin import StandInKubelet, make_pki, start_kubelet

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
REMOTE = "/var/tmp/instanton-k8s-playbook.tar.gz"


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory):
    lab_ssh(HOST, "podman run -d --name k8s-playbook-app localhost/debian:13 sleep 1000 && "
                  "podman container checkpoint --compress gzip --export %s k8s-playbook-app"
                  % REMOTE)
    directory = tmp_path_factory.mktemp("kubelet-checkpoints")
    # The kubelet's own naming, so the retention step groups the archives by container.
    archive = directory / "checkpoint-web_shop-app-2026-01-02T00:00:00Z.tar"
    lab_copy_from(HOST, REMOTE, archive)
    lab_ssh(HOST, "podman rm -f -t 0 k8s-playbook-app; rm -f %s" % REMOTE, check=False)
    older = directory / "checkpoint-web_shop-app-2026-01-01T00:00:00Z.tar"
    older.write_bytes(archive.read_bytes())
    stamp = time.time() - 86400
    os.utime(str(older), (stamp, stamp))
    return archive, older


def test_playbook_checkpoints_inspects_fetches_prunes_and_renders(real_archive, tmp_path):
    archive, older = real_archive
    pki = make_pki(tmp_path)
    server, port = start_kubelet(pki)
    StandInKubelet.archive = str(archive)
    StandInKubelet.requests.clear()
    try:
        done = run_playbook(REPO / "playbooks" / "k8s_checkpoint.yml", {
            "k8s_checkpoint_nodes": "localhost", "k8s_checkpoint_kubelet_address": "localhost",
            "k8s_checkpoint_kubelet_port": port, "k8s_checkpoint_namespace": "shop",
            "k8s_checkpoint_pod": "web", "k8s_checkpoint_container": "app",
            "k8s_checkpoint_image": "registry.example/shop/app:checkpoint",
            "k8s_checkpoint_client_cert": pki["client"][2],
            "k8s_checkpoint_client_key": pki["client"][3], "k8s_checkpoint_ca_cert": pki["ca"][2],
            "k8s_checkpoint_fetch_dir": str(tmp_path / "fetched"),
            "k8s_checkpoint_archive_dir": str(archive.parent), "k8s_checkpoint_keep": 1,
            "k8s_checkpoint_build_image": False, "k8s_manifests_dir": str(tmp_path / "manifests"),
        })
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stdout
    assert [r["path"] for r in StandInKubelet.requests] == ["/checkpoint/shop/web/app?timeout=120"]
    assert "k8s-playbook-app (Podman, 1 processes" in done.stdout
    fetched = tmp_path / "fetched" / "localhost" / archive.name
    assert fetched.read_bytes() == archive.read_bytes()
    assert stat.S_IMODE(fetched.stat().st_mode) == 0o600
    assert stat.S_IMODE(fetched.parent.stat().st_mode) == 0o700
    assert archive.exists() and not older.exists()
    deployment = yaml.safe_load((tmp_path / "manifests" / "app-deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/shop/app:checkpoint"
    assert container["securityContext"]["capabilities"]["add"] == ["CHECKPOINT_RESTORE", "SETPCAP"]
