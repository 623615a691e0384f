"""crio_node rendered into a temporary root by ansible-playbook on localhost.

CRI-O and the kubelet are not installed here (not in the reachable registries): the test
checks the files the role writes, parsed with tomllib and PyYAML, and that the role fails
clearly without versions. No service is restarted under crio_node_config_root.
"""
import json
import os
import re
import sys
import tomllib

import pytest
import yaml

from support import run_playbook, run_role


def render(tmp_path, **variables):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    variables = dict({"crio_node_config_root": str(root), "crio_node_install_criu": False},
                     **variables)
    return run_role(tmp_path, "crio_node", variables), root


def dropin(root):
    return tomllib.loads((root / "etc/crio/crio.conf.d/50-instanton.conf").read_text())


def recap_changed(output):
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def test_crio_125_with_kubernetes_129(tmp_path):
    done, root = render(tmp_path, crio_node_crio_version="1.25.4",
                        crio_node_kubernetes_version="v1.29.3")
    assert done.returncode == 0, done.stdout
    assert dropin(root) == {"crio": {"runtime": {"enable_criu_support": True,
                                                 "drop_infra_ctr": False}}}
    kubelet = yaml.safe_load((root / "var/lib/kubelet/config.yaml").read_text())
    assert kubelet["kind"] == "KubeletConfiguration"
    assert kubelet["featureGates"] == {"ContainerCheckpoint": True}
    again = render(tmp_path, crio_node_crio_version="1.25.4",
                   crio_node_kubernetes_version="v1.29.3")[0]
    assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout


def test_newer_versions_need_no_gate_and_no_infra_setting(tmp_path):
    done, root = render(tmp_path, crio_node_crio_version="1.31.2",
                        crio_node_kubernetes_version="1.31.0")
    assert done.returncode == 0, done.stdout
    assert dropin(root) == {"crio": {"runtime": {"enable_criu_support": True}}}
    assert not (root / "var/lib/kubelet/config.yaml").exists()


def test_existing_kubelet_configuration_is_merged_not_replaced(tmp_path):
    config = tmp_path / "root/var/lib/kubelet/config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                      "cgroupDriver: systemd\nfeatureGates:\n  SomethingElse: false\n")
    done = render(tmp_path, crio_node_crio_version="1.28.1",
                  crio_node_kubernetes_version="1.28.9")[0]
    assert done.returncode == 0, done.stdout
    merged = yaml.safe_load(config.read_text())
    assert merged["cgroupDriver"] == "systemd"
    assert merged["featureGates"] == {"SomethingElse": False, "ContainerCheckpoint": True}


VERSION_CASES = [
    ("1.36.3", {}, {"runtime": {"enable_criu_support": True}}),
    ("1.36.3", {"crio_node_checkpoint_level": "none"}, {"runtime": {"enable_criu_support": False}}),
    ("1.37.0", {}, {"checkpoint_restore": {"container_level_enabled": "checkpoint_only"}}),
    ("1.37.0", {"crio_node_restore": True},
     {"checkpoint_restore": {"container_level_enabled": "checkpoint_restore"}}),
    ("1.38.1", {"crio_node_restore": True, "crio_node_checkpoint_level": "checkpoint_only"},
     {"checkpoint_restore": {"container_level_enabled": "checkpoint_only"}}),
]


def test_key_follows_the_version_when_crio_cannot_be_asked(tmp_path):
    """All cases in one ansible-playbook run: one local inventory host per case."""
    hosts = {}
    for number, (version, variables, _expected) in enumerate(VERSION_CASES):
        root = tmp_path / ("case%d" % number)
        root.mkdir()
        hosts["case%d" % number] = dict(variables, ansible_connection="local",
                                        ansible_python_interpreter=sys.executable,
                                        crio_node_config_root=str(root), crio_node_install_criu=False,
                                        crio_node_crio_version=version,
                                        crio_node_kubernetes_version="1.34.0")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "Render crio_node", "hosts": "all", "gather_facts": False,
                                     "roles": ["instanton.platform.crio_node"]}]))
    done = run_playbook(playbook, {}, inventory=inventory)
    assert done.returncode == 0, done.stdout
    for number, (version, variables, expected) in enumerate(VERSION_CASES):
        assert dropin(tmp_path / ("case%d" % number)) == {"crio": expected}, (version, variables)


def fake_crio(tmp_path, monkeypatch, config):
    """A `crio` on PATH whose `crio config` prints CONFIG: what the role asks a node's CRI-O."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "crio").write_text("#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n" % config)
    (bin_dir / "crio").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))


@pytest.mark.parametrize("version, config, expected", [
    # A main-branch build that still says 1.36 but has the table, and the other way round.
    ("1.36.9", '[crio.runtime]\n[crio.checkpoint_restore]\ncontainer_level_enabled = "none"',
     {"checkpoint_restore": {"container_level_enabled": "checkpoint_restore"}}),
    ("1.37.0", '[crio.runtime]\nenable_criu_support = false',
     {"runtime": {"enable_criu_support": True}}),
])
def test_crio_config_decides_over_the_version(tmp_path, monkeypatch, version, config, expected):
    fake_crio(tmp_path, monkeypatch, config)
    done, root = render(tmp_path, crio_node_crio_version=version,
                        crio_node_kubernetes_version="1.34.0", crio_node_restore=True)
    assert done.returncode == 0, done.stdout
    assert dropin(root) == {"crio": expected}


def test_unknown_checkpoint_level_is_refused(tmp_path):
    done, root = render(tmp_path, crio_node_crio_version="1.37.0",
                        crio_node_kubernetes_version="1.34.0",
                        crio_node_checkpoint_level="checkpoint_and_restore")
    assert done.returncode != 0
    assert "crio_node_checkpoint_level" in done.stdout and "checkpoint_restore" in done.stdout
    assert not (root / "etc/crio").exists()


@pytest.mark.parametrize("variables, message", [
    ({"crio_node_kubernetes_version": "1.30.0"}, "set crio_node_crio_version"),
    ({"crio_node_crio_version": "1.24.0", "crio_node_kubernetes_version": "1.30.0"},
     "needs CRI-O >= 1.25"),
])
def test_unknown_or_old_versions_fail_clearly(tmp_path, variables, message):
    done, root = render(tmp_path, **variables)
    assert done.returncode != 0
    assert message in done.stdout
    assert not (root / "etc/crio").exists()


def test_bad_argument_type_is_rejected_by_the_argument_spec(tmp_path):
    done = render(tmp_path, crio_node_crio_version="1.30.0",
                  crio_node_kubernetes_version="1.30.0", crio_node_dropin_priority="first")[0]
    assert done.returncode != 0
    assert "crio_node_dropin_priority" in done.stdout
