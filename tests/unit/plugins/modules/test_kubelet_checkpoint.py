"""kubelet_checkpoint against the local HTTPS STAND-IN for the kubelet (tests/kubelet_standin.py;
no kubelet runs here). The stand-in requires client certificates. The module runs the real
way, through `ansible localhost -m instanton.platform.kubelet_checkpoint`.
"""
import json

import pytest

from support import run_module
from kubelet_standin import ARCHIVE, StandInKubelet, make_pki, start_kubelet


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def kubelet(pki):
    server, port = start_kubelet(pki)
    yield port
    server.shutdown()


def args(pki, port, pod="web", client="client", ca="ca", node="localhost"):
    return {"node": node, "port": port, "namespace": "shop", "pod": pod, "container": "app",
            "timeout": 30, "client_cert": pki[client][2], "client_key": pki[client][3],
            "ca_cert": pki[ca][2]}


def test_checkpoint_returns_archive_and_sends_client_cert(pki, kubelet):
    StandInKubelet.requests.clear()
    result = run_module("kubelet_checkpoint", args(pki, kubelet))
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["archive"] == ARCHIVE and result["archives"] == [ARCHIVE]
    assert StandInKubelet.requests == [{"path": "/checkpoint/shop/web/app?timeout=30",
                                        "client": {"commonName": "client"}}]


def test_check_mode_sends_nothing(pki, kubelet):
    StandInKubelet.requests.clear()
    result = run_module("kubelet_checkpoint", args(pki, kubelet), check=True)
    assert result["changed"] is True and result["archives"] == []
    assert result["url"] == "/checkpoint/shop/web/app?timeout=30"
    assert StandInKubelet.requests == []


@pytest.mark.parametrize("pod, expected", [
    ("missing", "ContainerCheckpoint feature gate is off"),
    ("nocriu", "may lack CRIU support"),
    ("denied", "'create' the 'nodes/checkpoint' subresource"),
])
def test_http_errors_explain_the_cause(pki, kubelet, pod, expected):
    result = run_module("kubelet_checkpoint", args(pki, kubelet, pod=pod))
    assert result["failed"] is True
    assert expected in result["msg"]


def test_unknown_server_ca_is_a_tls_error(pki, kubelet):
    result = run_module("kubelet_checkpoint", args(pki, kubelet, ca="other_ca"))
    assert result["failed"] is True
    assert "TLS with localhost" in result["msg"]
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"]


def test_hostname_must_match_the_kubelet_certificate(pki, kubelet):
    result = run_module("kubelet_checkpoint", args(pki, kubelet, node="127.0.0.1"))
    assert result["failed"] is True
    assert "TLS with 127.0.0.1" in result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_client_certificate_from_another_ca_is_rejected(pki, kubelet):
    result = run_module("kubelet_checkpoint", args(pki, kubelet, client="stranger"))
    assert result["failed"] is True
    assert "TLS" in result["msg"] or "cannot reach the kubelet" in result["msg"]


def test_missing_key_file_fails_cleanly(pki, kubelet, tmp_path):
    bad = args(pki, kubelet)
    bad["client_key"] = str(tmp_path / "absent.key")
    result = run_module("kubelet_checkpoint", bad)
    assert result["failed"] is True
    assert "cannot load the TLS files" in result["msg"]
