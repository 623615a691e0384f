"""Integration tests run on provisioned lab hosts (or INSTANTON_INVENTORY's `lab` group)."""
import os

import pytest

from support import LAB_INVENTORY, REPO, run_playbook


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
