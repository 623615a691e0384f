"""playbooks/files/fleet_report.py: the fleet view's document, Markdown and chart on the controller (the playbook
runs it on lab hosts' results in tests/integration/test_fleet.py)."""
import builtins
import importlib.util
import json
import subprocess
import sys

import pytest

from support import REPO

SCRIPT = REPO / "playbooks" / "files" / "fleet_report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("fleet_report", str(SCRIPT))
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def host_result(containers, archives):
    summary = {"containers": len(containers), "restored": sum(c["restored"] for c in containers),
               "cold": sum(not c["restored"] for c in containers), "archives": len(archives),
               "signed": sum(a["signed"] for a in archives), "archive_bytes": sum(a["size_bytes"] for a in archives)}
    return {"changed": False, "containers": containers, "archives": archives, "missing_dirs": [], "summary": summary,
            "invocation": {"module_args": {}}}


RESTORED = {"name": "pyapp", "image": "localhost/app:instanton", "state": "running", "restored": True,
            "criu_restore_ms": 141, "age_s": 7300, "memory_bytes": 48300000}
COLD = {"name": "old", "image": "localhost/app:instanton", "state": "exited", "restored": False,
        "fallback_reason": "CRIU failed | see log", "age_s": 50, "memory_bytes": None}
SIGNED = {"path": "/ck/a.tar", "size_bytes": 2000000, "age_s": 90000, "signed": True, "signature": "/ck/a.tar.sig",
          "verified": False, "verify_failed": "content_modified"}
UNSIGNED = {"path": "/ck/b.tar", "size_bytes": 1000000, "age_s": 120, "signed": False, "signature": None}
GATHERED = {"generated": "2026-12-01T10:00:00Z",
            "hosts": {"web2": host_result([COLD], [UNSIGNED]), "web1": host_result([RESTORED], [SIGNED, UNSIGNED]),
                      "down": {"failed": True, "msg": "podman ps\nfailed"}}}


def test_the_document_keeps_the_results_drops_ansible_s_own_keys_and_names_failed_hosts(report):
    document = report.fleet_document(GATHERED["generated"], GATHERED["hosts"])
    assert sorted(document["hosts"]["web1"]) == ["archives", "containers", "missing_dirs", "summary"]
    assert document["hosts"]["down"] == {"error": "podman ps\nfailed"}
    assert document["totals"] == {"containers": 2, "restored": 1, "cold": 1, "archives": 3, "signed": 1,
                                  "archive_bytes": 4000000}


def test_markdown_rows_per_host_container_and_archive(report):
    text = report.markdown(report.fleet_document(GATHERED["generated"], GATHERED["hosts"]), "no chart: why")
    assert "2 containers (1 restored, 1 cold), 3 archives (1 signed, 4.0 MB)." in text
    assert "no chart: why" in text
    assert "| down | not read: podman ps failed |" in text
    assert "| web1 | pyapp | localhost/app:instanton | running | restored (141 ms) | 2h | 48.3 |" in text
    assert "| web2 | old | localhost/app:instanton | exited | cold: CRIU failed / see log | 50s | - |" in text
    assert "| web1 | /ck/a.tar | 2.0 | 1d | yes, does not verify (content_modified) |" in text
    assert "| web2 | /ck/b.tar | 1.0 | 2m | no |" in text


def test_chart_series_per_host(report):
    document = report.fleet_document(GATHERED["generated"], GATHERED["hosts"])
    assert report.chart_series(document) == (["web1", "web2"], {"web1": [2.0, 1.0], "web2": [1.0]},
                                             {"web1": [141], "web2": []})


def test_the_script_writes_the_three_files(tmp_path):
    pytest.importorskip("matplotlib")
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "out")], input=json.dumps(GATHERED),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert written["no_chart_reason"] is None
    assert json.loads((tmp_path / "out" / "fleet.json").read_text())["totals"]["archives"] == 3
    assert (tmp_path / "out" / "fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["fleet.json", "fleet.md", "fleet.png"]


def test_without_matplotlib_json_and_markdown_are_written_and_the_reason_given(report, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    pyplot, reason = report.load_pyplot()
    assert pyplot is None and "matplotlib is not installed" in reason
    written = report.write_report(report.fleet_document("t", GATHERED["hosts"]), str(tmp_path), pyplot, reason)
    assert written["png"] is None and written["no_chart_reason"] == reason
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fleet.json", "fleet.md"]
    assert reason in (tmp_path / "fleet.md").read_text()
