"""migration: the podman command lines of a move, what the target needs, and private archives."""
import os
import stat
import tarfile

import pytest

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


DOCKER_INSPECT = {
    "Name": "/counter", "Image": "sha256:" + "ab" * 32,
    "State": {"Running": True, "Status": "running"},
    "Config": {"Image": "localhost/debian:13", "Env": ["PATH=/usr/bin", "MODE=warm"], "Cmd": ["perl", "-e", "1"],
               "Entrypoint": ["/bin/sh", "-c"], "WorkingDir": "/srv", "User": "", "Labels": {"app": "counter"}},
    "HostConfig": {"NetworkMode": "host", "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "19820"}]},
                   "Binds": ["/srv/data:/data"]},
    "Mounts": [{"Type": "bind", "Source": "/srv/data"}],
}


def test_docker_creates_the_container_again_with_the_same_image_id_command_and_options_never_pulled():
    args = migration.docker_create_arguments("counter", DOCKER_INSPECT)
    assert args[:5] == ["create", "--name", "counter", "--pull", "never"]
    assert "io.instanton.platform.migration.restored=true" in args and "app=counter" in args
    assert args[args.index("--network") + 1] == "host" and args[args.index("--publish") + 1] == "19820:8080/tcp"
    assert ["--env", "MODE=warm"] == args[args.index("MODE=warm") - 1:args.index("MODE=warm") + 1]
    assert args[args.index("--volume") + 1] == "/srv/data:/data" and args[args.index("--workdir") + 1] == "/srv"
    # --entrypoint takes one word: the rest of the entrypoint goes before the command.
    assert args[args.index("--entrypoint") + 1] == "/bin/sh"
    assert args[-5:] == ["sha256:" + "ab" * 32, "-c", "perl", "-e", "1"]
    moved = migration.docker_create_arguments("counter", DOCKER_INSPECT, ports=["127.0.0.1:18000:8080"])
    assert moved[moved.index("--publish") + 1] == "127.0.0.1:18000:8080" and moved.count("--publish") == 1


def test_a_docker_summary_reads_the_name_image_and_the_migration_label():
    summary = migration.container_summary(DOCKER_INSPECT)
    assert summary["name"] == "counter" and summary["image_name"] == "localhost/debian:13"
    assert summary["restored"] is False and summary["bind_mounts"] == ["/srv/data"]
    labelled = dict(DOCKER_INSPECT, Config=dict(DOCKER_INSPECT["Config"], Labels={
        "io.instanton.platform.migration.restored": "true"}))
    assert migration.container_summary(labelled)["restored"] is True


def test_a_docker_checkpoint_is_packed_private_with_its_config_and_unpacked_private(tmp_path):
    checkpoint = tmp_path / "own"
    (checkpoint / "criu.work").mkdir(parents=True)
    (checkpoint / "pages-1.img").write_bytes(b"p" * 1000)
    (checkpoint / "criu.work" / "dump.log").write_text("ok")
    archive = str(tmp_path / "counter.checkpoint.tar")
    for compress in ("none", "gzip"):
        migration.pack_docker_checkpoint(archive, str(checkpoint), DOCKER_INSPECT, compress)
        assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600 and not os.path.exists(archive + ".part")
        assert migration.docker_archive_config(archive)["Image"] == DOCKER_INSPECT["Image"]
        target = tmp_path / ("target-" + compress)
        migration.unpack_docker_checkpoint(archive, str(target))
        assert (target / "pages-1.img").read_bytes() == b"p" * 1000
        assert (target / "criu.work" / "dump.log").read_text() == "ok"
        assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(str(target / "pages-1.img")).st_mode) == 0o600


def test_an_archive_with_a_link_or_a_parent_path_is_refused_before_anything_is_extracted(tmp_path):
    archive = str(tmp_path / "bad.tar")
    with tarfile.open(archive, "w") as bad:
        link = tarfile.TarInfo("checkpoint/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        bad.addfile(link)
    with pytest.raises(ValueError, match="checkpoint/escape"):
        migration.unpack_docker_checkpoint(archive, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="not a Docker checkpoint archive"):
        migration.docker_archive_config(archive)
