"""_fleet: what fleet_info makes of podman's output and of the archive directories (pure parts; the module runs on
a lab host in tests/integration/test_fleet.py)."""
import os

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _fleet as fleet
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import FLAVOR_LABEL
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import CONFIG_LABEL


@pytest.mark.parametrize("text, expected", [
    ("102.4kB / 25.28GB", 102400), ("48.3MB", 48300000), ("1.5GiB / 2GiB", 1610612736), ("0B / 1GB", 0),
    ("-- / --", None), ("", None), (None, None)])
def test_memory_amounts_in_podman_units(text, expected):
    assert fleet.memory_bytes(text) == expected


def test_memory_is_found_by_the_short_id_podman_stats_prints():
    memory = fleet.memory_by_container("86e0d566f966 102.4kB / 25.28GB\nabc123 1MB / 2GB\n\n")
    assert memory == {"86e0d566f966": 102400, "abc123": 1000000}
    assert fleet.memory_of("86e0d566f966333ad5ff", memory) == 102400
    assert fleet.memory_of("ffff", memory) is None


@pytest.mark.parametrize("text", ["", "null", "[]"])
def test_no_containers_is_an_empty_list(text):
    assert fleet.ps_entries(text) == []


def test_podman_output_that_is_not_json_is_a_clear_error():
    with pytest.raises(fleet.FleetError, match="podman ps gave no JSON"):
        fleet.ps_entries("Error: something")


def container(restored=False, labels=None):
    return {"Id": "86e0d566f966333a", "State": {"Restored": restored}, "Config": {"Labels": labels}}


@pytest.mark.parametrize("inspect, image, expected", [
    (container(), {"Config": {"Labels": {FLAVOR_LABEL: "generic"}}}, True),
    (container(), {"Annotations": {"io.podman.annotations.checkpoint.name": "web"}}, True),
    (container(restored=True), {}, True),
    (container(labels={CONFIG_LABEL: "abc"}), {}, True),
    (container(labels={"other": "x"}), {"Config": {"Labels": {"other": "x"}}}, False),
    (container(), None, False)])
def test_which_containers_are_instanton_containers(inspect, image, expected):
    assert fleet.is_instanton(inspect, image) is expected


PS = {"Names": ["pyapp"], "Image": "localhost/app:instanton", "State": "running", "Created": 1000}


def test_a_restored_container_row():
    entry = fleet.container_entry(PS, container(), {"restored": True, "criu_restore_ms": 141},
                                  {"86e0d566f966": 48300000}, now=1620.7)
    assert entry == {"name": "pyapp", "id": "86e0d566f966333a", "image": "localhost/app:instanton",
                     "state": "running", "restored": True, "criu_restore_ms": 141, "age_s": 620,
                     "memory_bytes": 48300000}


def test_a_cold_container_says_why_and_a_stopped_one_has_no_memory():
    entry = fleet.container_entry(dict(PS, State="exited"), container(),
                                  {"restored": False, "fallback_reason": "restore failed"}, {}, now=1000)
    assert (entry["restored"], entry["fallback_reason"], entry["memory_bytes"], entry["age_s"]) == \
        (False, "restore failed", None, 0)
    assert "criu_restore_ms" not in entry


def test_archives_are_the_matching_regular_files_of_each_directory(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    for name in ("web.tar.zst", "web.tar.zst.sig", "notes.txt", "old.tar"):
        (first / name).write_text("x")
    (first / "nested.tar").mkdir()
    os.symlink(str(first / "old.tar"), str(second / "link.tar"))
    (second / "k.tgz").write_text("y")
    found, missing = fleet.archive_paths([str(first), str(second), str(tmp_path / "none")], fleet.DEFAULT_PATTERNS)
    assert found == [str(first / "old.tar"), str(first / "web.tar.zst"), str(second / "k.tgz")]
    assert missing == [str(tmp_path / "none")]


class Stat(object):
    st_size = 45120
    st_mtime = 400.0


def test_an_archive_row_with_and_without_a_signature_check():
    plain = fleet.archive_entry("/ck/a.tar", Stat(), 1000, signed=False)
    assert plain == {"path": "/ck/a.tar", "size_bytes": 45120, "age_s": 600, "signed": False, "signature": None}
    failed = fleet.archive_entry("/ck/a.tar", Stat(), 1000, signed=True,
                                 verification={"verified": False, "failed": "content_modified"})
    assert (failed["signature"], failed["verified"], failed["verify_failed"]) == \
        ("/ck/a.tar.sig", False, "content_modified")
    good = fleet.archive_entry("/ck/a.tar", Stat(), 1000, signed=True, verification={"verified": True})
    assert good["verified"] is True and "verify_failed" not in good


def test_summary_counts():
    containers = [{"restored": True}, {"restored": False}, {"restored": True}]
    archives = [{"signed": True, "size_bytes": 10}, {"signed": False, "size_bytes": 5}]
    assert fleet.summary(containers, archives) == {"containers": 3, "restored": 2, "cold": 1, "archives": 2,
                                                   "signed": 1, "archive_bytes": 15}
