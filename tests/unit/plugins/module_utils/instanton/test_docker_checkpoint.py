"""docker_checkpoint: Docker's command lines and the two bugs the module gets past (moby 42900, docker/cli 3008)."""
import os
import stat

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _docker_checkpoint as docker

MOBY_42900 = ("Error response from daemon: failed to upload checkpoint to containerd: commit failed: content "
              "sha256:%s: already exists" % ("ab" * 32))


def test_the_conflicting_blob_is_read_from_the_moby_42900_error():
    assert docker.existing_content(MOBY_42900) == "sha256:" + "ab" * 32
    assert docker.existing_content("Error: No such container: counter") is None


def test_checkpoint_and_start_command_lines():
    assert docker.create_arguments("counter", "warm") == ["checkpoint", "create", "counter", "warm"]
    assert docker.create_arguments("counter", "warm", True, "/ck") == [
        "checkpoint", "create", "--leave-running", "--checkpoint-dir", "/ck", "counter", "warm"]
    # docker/cli 3008: start takes no --checkpoint-dir.
    assert docker.start_arguments("counter", "warm") == ["start", "--checkpoint", "warm", "counter"]


def test_a_checkpoint_is_looked_for_in_the_containers_own_directory():
    assert docker.container_checkpoint_dir("/var/lib/docker", "c0ffee", "warm") == \
        "/var/lib/docker/containers/c0ffee/checkpoints/warm"


def test_checkpoint_files_are_made_private_and_counted(tmp_path):
    (tmp_path / "warm").mkdir()
    (tmp_path / "warm" / "pages-1.img").write_bytes(b"x" * 100)
    (tmp_path / "warm" / "core.img").write_bytes(b"y" * 20)
    docker.make_private(str(tmp_path / "warm"))
    assert stat.S_IMODE(os.stat(str(tmp_path / "warm")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(tmp_path / "warm" / "core.img")).st_mode) == 0o600
    assert docker.tree_size(str(tmp_path / "warm")) == 120
