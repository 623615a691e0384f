"""The fleet view on a lab host: fleet_info over a real InstantOn container (restored by CRIU in the generic
entrypoint) and a real podman checkpoint archive signed with openssl, then playbooks/fleet.yml writing fleet.json,
fleet.md and fleet.png on the controller."""
import json

import pytest

from support import (LAB_INVENTORY, REPO, SAMPLE_APP_IMAGE, SAMPLE_INSTANTON_BUILD, SAMPLE_INSTANTON_IMAGE,
                     build_instanton_images, build_samples, lab_ssh, run_module, run_playbook,
                     target_host)

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
APP_IMAGE = SAMPLE_APP_IMAGE
INSTANTON_IMAGE = SAMPLE_INSTANTON_IMAGE
READINESS = {"type": "http", "port": 8080, "path": "/healthz"}
WORK = "/root/itest-fleet"
ARCHIVES = WORK + "/checkpoints"
CONTAINERS = ("fleet-app", "fleet-plain", "fleet-source")


def remove_containers():
    lab_ssh(HOST, "podman rm -f -t 0 %s >/dev/null 2>&1; true" % " ".join(CONTAINERS), check=False)


@pytest.fixture(scope="module")
def fleet_host():
    """On HOST: fleet-app restored from the InstantOn image, fleet-plain (not an InstantOn container), and in
    ARCHIVES a signed podman export (app.tar) and an unsigned copy (copy.tar)."""
    build_samples(HOST, ["python-app"])
    build_instanton_images(HOST, {"generic": SAMPLE_INSTANTON_BUILD}, {})
    remove_containers()
    lab_ssh(HOST, "rm -rf %s && mkdir -m 0700 -p %s && cd %s && umask 077 && "
                  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out archive.key && "
                  "openssl pkey -in archive.key -pubout -out archive.pub && "
                  "podman run -d --name fleet-source %s >/dev/null && sleep 2 && "
                  "podman container checkpoint --compress none --export %s/app.tar fleet-source >/dev/null && "
                  "cp %s/app.tar %s/copy.tar && podman rm -f -t 0 fleet-source >/dev/null && "
                  "podman run -d --name fleet-plain localhost/debian:13 sleep 600 >/dev/null"
            % (WORK, ARCHIVES, WORK, APP_IMAGE, ARCHIVES, ARCHIVES, ARCHIVES))
    signed = run_module("checkpoint_archive_sign", {"path": ARCHIVES + "/app.tar", "private_key": WORK + "/archive.key"},
                        host=HOST, inventory=LAB_INVENTORY)
    assert not signed.get("failed"), signed.get("msg")
    started = run_module("instanton_container", {"name": "fleet-app", "image": INSTANTON_IMAGE,
                                                 "ports": ["127.0.0.1:19850:8080"], "readiness": READINESS},
                         host=HOST, inventory=LAB_INVENTORY)
    assert started.get("restored") is True, started.get("msg") or started.get("fallback_reason")
    yield {"public_key": WORK + "/archive.pub"}
    remove_containers()
    lab_ssh(HOST, "rm -rf %s" % WORK, check=False)


def sizes():
    return dict(line.split() for line in lab_ssh(HOST, "stat -c '%%n %%s' %s/*.tar" % ARCHIVES).splitlines())


def test_fleet_info_lists_the_instanton_container_and_the_archives(fleet_host):
    args = {"archive_dirs": [ARCHIVES, WORK + "/absent"], "public_key": fleet_host["public_key"]}
    result = run_module("fleet_info", args, host=HOST, inventory=LAB_INVENTORY, check=True)
    assert not result.get("failed") and result["changed"] is False, result.get("msg")
    names = [c["name"] for c in result["containers"]]
    assert "fleet-app" in names and "fleet-plain" not in names
    app = result["containers"][names.index("fleet-app")]
    assert app["restored"] is True and app["state"] == "running" and app["image"] == INSTANTON_IMAGE
    assert isinstance(app["criu_restore_ms"], int) and 0 <= app["age_s"] < 3600 and app["memory_bytes"] > 1000000
    archives = dict((a["path"], a) for a in result["archives"])
    assert sorted(archives) == [ARCHIVES + "/app.tar", ARCHIVES + "/copy.tar"]
    assert dict((path, str(a["size_bytes"])) for path, a in archives.items()) == sizes()
    assert (archives[ARCHIVES + "/app.tar"]["signed"], archives[ARCHIVES + "/app.tar"]["verified"]) == (True, True)
    assert archives[ARCHIVES + "/copy.tar"]["signed"] is False and "verified" not in archives[ARCHIVES + "/copy.tar"]
    assert result["missing_dirs"] == [WORK + "/absent"]
    assert result["summary"]["archives"] == 2 and result["summary"]["signed"] == 1


def test_the_playbook_writes_the_three_files(fleet_host, tmp_path):
    done = run_playbook(REPO / "playbooks" / "fleet.yml", {"fleet_hosts": HOST, "fleet_archive_dirs": [ARCHIVES],
                                                           "fleet_report_dir": str(tmp_path / "fleet")},
                        inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]
    assert sorted(path.name for path in (tmp_path / "fleet").iterdir()) == ["fleet.json", "fleet.md", "fleet.png"]
    document = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    found = document["hosts"][HOST]
    assert "fleet-app" in [c["name"] for c in found["containers"]]
    assert sorted(a["path"] for a in found["archives"]) == [ARCHIVES + "/app.tar", ARCHIVES + "/copy.tar"]
    markdown = (tmp_path / "fleet" / "fleet.md").read_text()
    assert "| %s | fleet-app | %s | running | restored (" % (HOST, INSTANTON_IMAGE) in markdown
    assert "| %s | %s/copy.tar |" % (HOST, ARCHIVES) in markdown
    assert (tmp_path / "fleet" / "fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
