"""The roles' per-distribution decisions for recorded facts of RHEL 8.6/8.10/9.0/9.4, Debian and
Ubuntu: real include_role on localhost with the facts as `ansible_facts` (recorded facts, not live
hosts: no RHEL repository is reachable here)."""
import json
import subprocess
from pathlib import Path

import pytest

from support import BIN, HOST_FACTS as FIXTURES, REPO, ansible_env

FAMILIES = {"rhel": ("RedHat", "RedHat"), "debian": ("Debian", "Debian"), "ubuntu": ("Debian", "Ubuntu")}
RELEASES = {"debian": {"12": "bookworm", "13": "trixie"}, "ubuntu": {"22": "jammy", "24": "noble"}}


def facts_for(recorded):
    distribution = recorded["distribution"]
    family, name = FAMILIES[distribution["id"]]
    major = distribution["version"].split(".")[0]
    return {"os_family": family, "distribution": name, "distribution_major_version": major,
            "distribution_release": RELEASES.get(distribution["id"], {}).get(major, "Ootpa"),
            "kernel": recorded["kernel_release"]}


def resolved(fixture, **changes):
    recorded = dict(json.loads((FIXTURES / fixture).read_text()), **changes)
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), str(Path(__file__).parent / "playbooks" / "role_vars.yml"),
         "-e", json.dumps({"ansible_facts": facts_for(recorded)})],
        cwd=str(REPO), env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    return tasks[-1]["hosts"]["localhost"]["msg"]


@pytest.mark.parametrize("fixture", ["rhel-8.6.json", "rhel-8.10.json"])
def test_rhel8(fixture):
    found = resolved(fixture)
    assert found["criu_packages"] == ["criu"]  # libcriu ships inside criu on RHEL 8
    assert found["criu_install_tasks"] == "dnf.yml"
    assert found["criu_network_lock"] == "iptables"
    assert "container-selinux" in found["runtime_packages"]["crun"]
    assert found["criu_kernel_min_version"] == "3.15"


@pytest.mark.parametrize("fixture", ["rhel-9.0.json", "rhel-9.4.json"])
def test_rhel9(fixture):
    found = resolved(fixture)
    assert found["criu_packages"] == ["criu", "criu-libs"]
    assert found["criu_network_lock"] == "nftables"
    assert found["runtime_packages"]["runc"] == ["podman", "runc", "conmon", "container-selinux"]
    assert found["scale_to_zero_tools"] == ["/usr/lib/systemd/systemd-socket-proxyd", "/usr/bin/systemd-socket-activate",
                                            "/usr/libexec/podman/quadlet"]


@pytest.mark.parametrize("fixture", ["debian-13-criu-4.1.1.json", "debian-13-criu-4.2.1.json"])
def test_debian_13_on_this_kernel_takes_criu_42_from_sid(fixture):
    found = resolved(fixture)
    assert found["criu_kernel_min_version"] == "4.2"
    assert found["criu_newer_apt_suite"] == "sid"
    assert found["criu_packages"] == ["criu", "libcriu2"]
    assert found["criu_release_packages"] == ["nftables"]


def test_debian_12_on_this_kernel_has_no_suite_to_take_criu_from():
    found = resolved("debian-12-kernel-6.18.json")
    assert found["criu_kernel_min_version"] == "4.2"
    assert found["criu_newer_apt_suite"] == ""


def test_debian_12_stock_kernel():
    assert resolved("debian-12-kernel-6.1.json")["criu_kernel_min_version"] == "3.15"


def test_kernel_the_table_does_not_know_takes_the_newest_criu_with_a_warning():
    found = resolved("debian-13-criu-4.2.1.json", kernel_release="7.1.0-amd64")["criu_for_kernel"]
    assert found["newest"] is True and "7.1.0-amd64" in found["warning"]
    assert found["minimum"] == "4.2"


@pytest.mark.parametrize("fixture", ["ubuntu-22.04.json", "ubuntu-24.04.json"])
def test_ubuntu_has_no_newer_suite(fixture):
    found = resolved(fixture)
    assert found["criu_newer_apt_suite"] == ""
    assert found["criu_network_lock"] == "nftables"
