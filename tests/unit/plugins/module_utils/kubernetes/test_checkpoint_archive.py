"""The CRIU image reader on bytes taken from a real podman 5.4 / CRIU 4.2.1 checkpoint,
and checkpoint_archive_info's errors, run through ansible."""
import io
import subprocess
import tarfile

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.kubernetes import _checkpoint_archive as ca
from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._protobuf_wire import (
    WireError, decode_message, repeated_uint)
from criu_images import PSTREE_IMG, STATS_DUMP
from support import run_module


def test_pstree_image_decodes_to_the_real_process_tree():
    entries = ca.criu_entries(PSTREE_IMG)
    assert [(e[1][0], e[2][0], repeated_uint(e, 5)) for e in entries] == [
        (1, 0, [1]), (3, 1, [3]), (4, 1, [4])]


def test_stats_dump_decodes_criu_statistics():
    collector = ca._Collector(want_cmdline=False)
    collector.files["stats-dump"] = STATS_DUMP
    stats = ca.statistics(collector)
    assert stats["freezing_time"] == 101117 and stats["frozen_time"] == 68162
    assert stats["pages_scanned"] == 800 and stats["pages_written"] == 744


def test_stats_restore_decodes_criu_restore_statistics():
    # stats-restore of the python sample's restore on a lab host (CRIU 4.2.1).
    data = bytes.fromhex("40591055 06330957 0f000000 120d08001000180020d1e00328c47c")
    assert ca.restore_statistics(data) == {"pages_compared": 0, "pages_skipped_cow": 0, "forking_time": 0,
                                           "restore_time": 61521, "pages_restored": 15940}
    assert ca.restore_statistics(b"") is None


def test_packed_and_unpacked_repeated_fields_read_the_same():
    unpacked = decode_message(bytes([0x58, 0x01, 0x58, 0x96, 0x01]))
    packed = decode_message(bytes([0x5a, 0x03, 0x01, 0x96, 0x01]))
    assert repeated_uint(unpacked, 11) == repeated_uint(packed, 11) == [1, 150]


def test_truncated_message_is_an_error_not_a_crash():
    with pytest.raises(WireError):
        decode_message(bytes([0x0a, 0x05, 0x01]))


def test_file_span_uses_criu4_page_counts_and_skips_parent_pages():
    page = ca.PAGE_SIZE
    entries = [{1: [0x1000], 2: [0], 4: [1], 5: [2]},          # in the parent: not in file
               {1: [0x10000], 2: [0], 4: [6], 5: [3]},         # present + lazy: 3 pages
               {1: [0x20000], 2: [0], 4: [4], 5: [2]}]
    assert ca.file_span(entries, 0x20000 + 10, 0x20000 + 20) == (3 * page + 10, 3 * page + 20)
    assert ca.file_span(entries, 0x1000, 0x1010) is None


def write_tar(path, members):
    with tarfile.open(str(path), "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_not_an_archive_fails_with_a_message(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = run_module("checkpoint_archive_info", {"path": str(text)})
    assert result["failed"] is True
    assert "is not a readable checkpoint archive" in result["msg"]


def test_tar_without_checkpoint_metadata_is_rejected(tmp_path):
    archive = tmp_path / "other.tar"
    write_tar(archive, {"hello.txt": b"hi"})
    result = run_module("checkpoint_archive_info", {"path": str(archive)})
    assert result["failed"] is True
    assert "not a container checkpoint archive" in result["msg"]


def test_corrupt_zstd_stream_reports_zstd_error(tmp_path):
    archive = tmp_path / "broken.tar.zst"
    plain = tmp_path / "plain.tar"
    write_tar(plain, {"config.dump": b"{}"})
    subprocess.run(["zstd", "-q", "-o", str(archive), str(plain)], check=True)
    archive.write_bytes(archive.read_bytes()[:20])
    result = run_module("checkpoint_archive_info", {"path": str(archive)})
    assert result["failed"] is True
    assert "zstd" in result["msg"] and "Traceback" not in result["msg"]


def test_minimal_podman_layout_reports_identity(tmp_path):
    archive = tmp_path / "min.tar"
    write_tar(archive, {
        "config.dump": b'{"name": "web", "rootfsImageName": "localhost/debian:13", '
                       b'"id": "abc", "runtime": "crun", "createdTime": "2026-01-02T03:04:05.6Z"}',
        "spec.dump": b'{"annotations": {"io.container.manager": "libpod"}}',
        "checkpoint/pstree.img": PSTREE_IMG, "stats-dump": STATS_DUMP,
        "rootfs-diff.tar": b"\0" * 1024, "deleted.files": b'["/etc/motd"]'})
    result = run_module("checkpoint_archive_info", {"path": str(archive)})
    assert result.get("failed") is not True, result
    assert (result["container_name"], result["engine"], result["created"]) == (
        "web", "Podman", "2026-01-02T03:04:05Z")
    assert result["checkpoint_size"]["root_fs_diff_size"] == 1024
    assert [child["pid"] for child in result["process_tree"]["children"]] == [3, 4]
    assert result["deleted_files"] == ["/etc/motd"] and result["changed"] is False


# config.dump and spec.dump annotations as CRI-O 1.36.3 wrote them (crictl checkpoint --export
# on a lab host), trimmed to the fields the reader uses.
CRIO_CONFIG = {"id": "02ea2de1", "name": "k8s_c1_pa_shop_u1_0", "rootfsImageName": "localhost/debian:13",
               "runtime": "crun", "createdTime": "2026-12-01T05:09:22.23602Z"}
CRIO_KUBELET_LABELS = {"io.kubernetes.pod.name": "pa", "io.kubernetes.pod.namespace": "shop",
                       "io.kubernetes.container.name": "c1"}
CRIO_ANNOTATIONS = {"io.container.manager": "cri-o", "io.kubernetes.cri-o.Metadata": '{"name":"c1"}',
                    "io.kubernetes.cri-o.Name": "k8s_c1_pa_shop_u1_0",
                    "io.kubernetes.cri-o.Created": "2026-12-01T05:09:22.123157219Z"}


def test_crio_archive_names_pod_namespace_container_and_image_from_kubelet_labels():
    spec = {"annotations": dict(CRIO_ANNOTATIONS, **CRIO_KUBELET_LABELS)}
    identity = ca.container_identity(CRIO_CONFIG, spec)
    assert (identity["engine"], identity["pod"], identity["namespace"], identity["container_name"],
            identity["image"]) == ("CRI-O", "pa", "shop", "c1", "localhost/debian:13")
    assert ca.absent_fields(identity, spec) == {}


def test_crio_archive_without_kubelet_labels_says_what_is_absent_and_why():
    spec = {"annotations": CRIO_ANNOTATIONS}
    absent = ca.absent_fields(ca.container_identity(CRIO_CONFIG, spec), spec)
    assert sorted(absent) == ["namespace", "pod"]
    assert "no io.kubernetes.pod.name label" in absent["pod"]
    assert "k8s_c1_pa_shop_u1_0" in absent["namespace"]


def test_podman_archives_have_no_kubernetes_fields_to_miss():
    spec = {"annotations": {"io.container.manager": "libpod"}}
    assert ca.absent_fields(ca.container_identity({"name": "web"}, spec), spec) == {}
