"""migration: the podman command lines of a move, what the target needs, and private archives."""
import os
import stat

from ansible_collections.instanton.platform.plugins.module_utils.migration import _migration as migration


def test_the_checkpoint_stops_exports_and_keeps_a_copy_for_a_restart_in_place():
    args = migration.checkpoint_arguments("shop", "/m/shop.checkpoint.tar")
    assert args == ["container", "checkpoint", "--keep", "--export", "/m/shop.checkpoint.tar", "--compress", "none",
                    "shop"]
    assert "--tcp-established" in migration.checkpoint_arguments("shop", "/a", tcp_established=True, compress="zstd")
    assert "--leave-running" not in args


def test_the_restore_imports_keeps_the_name_and_drops_static_addresses_unless_asked():
    args = migration.restore_arguments("/m/a.tar")
    assert args[:4] == ["container", "restore", "--import", "/m/a.tar"]
    assert "--ignore-static-ip" in args and "--ignore-static-mac" in args and "--name" not in args
    kept = migration.restore_arguments("/m/a.tar", tcp_established=True, ignore_static_ip=False,
                                       ignore_static_mac=False, ports=["0.0.0.0:8080:8080"])
    assert "--ignore-static-ip" not in kept and "--tcp-established" in kept
    assert kept[-2:] == ["--publish", "0.0.0.0:8080:8080"]


def test_the_summary_lists_bind_mounts_which_the_checkpoint_does_not_carry():
    inspect = {"Name": "shop", "Image": "abc", "ImageName": "localhost/shop:1",
               "State": {"Running": True, "Status": "running", "Restored": False},
               "Mounts": [{"Type": "bind", "Source": "/srv/data"}, {"Type": "volume", "Source": "/var/lib/v"}]}
    summary = migration.container_summary(inspect)
    assert summary["bind_mounts"] == ["/srv/data"] and summary["running"] and summary["image_id"] == "abc"
    assert migration.container_summary(None) is None
    assert migration.missing_paths(["/srv/data", "/"], exists=lambda path: path == "/") == ["/srv/data"]


def test_pre_dump_support_says_why_not():
    assert migration.pre_dump_support(0, "")["supported"] is True
    refused = migration.pre_dump_support(1, "Error: mem_dirty_track is not supported\n")
    assert refused["supported"] is False and "mem_dirty_track is not supported" in refused["reason"]


def test_archives_live_in_a_directory_only_root_enters(tmp_path):
    directory = tmp_path / "migration"
    migration.make_private_dir(str(directory))
    assert stat.S_IMODE(os.stat(str(directory)).st_mode) == 0o700
    directory.chmod(0o755)
    migration.make_private_dir(str(directory))
    assert stat.S_IMODE(os.stat(str(directory)).st_mode) == 0o700
    assert migration.archive_path(str(directory), "shop", "checkpoint").endswith("migration/shop.checkpoint.tar")


def test_downtime_runs_from_the_last_answer_to_the_first():
    assert migration.downtime_ms(100.0, 100.4567) == 457
    assert migration.downtime_ms(None, 100.0) is None


def test_a_failed_dump_is_explained_from_the_criu_log_podman_names(tmp_path):
    log = tmp_path / "dump.log"
    log.write_text("(00.01) Info ok\n(00.02) Error (criu/sk-inet.c:199): inet: Connected TCP socket, "
                   "consider using --tcp-established option.\n")
    podman_said = "CRIU checkpointing failed -52.  Please check CRIU logfile %s: Invalid exchange" % log
    errors, cause = migration.criu_failure("dump", podman_said)
    assert "Connected TCP socket" in errors and cause["cause"] == "established_tcp" and cause["phase"] == "dump"
    assert migration.criu_failure("dump", "no log named") == ("", None)


def test_a_dump_that_met_a_connection_not_accepted_yet_is_told_apart():
    assert migration.in_flight("Error (criu/sk-inet.c:186): inet: In-flight connections can be ignored with the "
                               "--skip-in-flight option.")
    assert not migration.in_flight("Error (criu/sk-inet.c:199): inet: Connected TCP socket")
