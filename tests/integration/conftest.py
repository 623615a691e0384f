"""Integration tests run on provisioned lab hosts (or INSTANTON_INVENTORY's `lab` group)."""
import os
import re

import pytest

from support import LAB_INVENTORY, REPO, lab_hosts, lab_ssh, run_crio_lab, run_playbook, run_registry_lab


def pytest_collection_modifyitems(items):
    if LAB_INVENTORY.exists():
        return
    skip = pytest.mark.skip(reason="no lab inventory at %s: run `make lab` (or set INSTANTON_INVENTORY)"
                                   % LAB_INVENTORY)
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def provisioned_hosts():
    """Converge the host role once (idempotent); `make test` has molecule do it first."""
    if not LAB_INVENTORY.exists() or os.environ.get("INSTANTON_PROVISIONED") == "1":
        return
    done = run_playbook(REPO / "playbooks" / "provision.yml", {}, inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.fixture(scope="session")
def crio_lab():
    """Real CRI-O on every lab host, once per session (lab/crio.yml: kit checked against its
    SHA256SUMS, binaries installed, CRI-O started the lab's way, crio_node applied with
    restores on). Host N runs 1.36.3 or 1.37.0-dev in turn; returns {host: what
    `crictl version` says the runtime is}."""
    done = run_crio_lab()
    assert done.returncode == 0, done.stdout[-4000:]
    return dict((host, re.search(r"RuntimeVersion:\s*(\S+)", lab_ssh(host, "crictl version")).group(1))
                for host in lab_hosts())


@pytest.fixture(scope="session")
def registry_lab():
    """A real registry with TLS on the first lab host, once per session (lab/registry.yml: lab CA,
    server certificate, Debian's docker-registry, every host trusting the CA through
    /etc/containers/certs.d). Returns {host, address (host:port), storage, ca}."""
    return run_registry_lab()
