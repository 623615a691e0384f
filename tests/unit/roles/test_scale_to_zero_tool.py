"""The scale_to_zero role's tool: its archive names, retention and input checks (no podman here;
tests/integration/test_scale_to_zero.py drives it on a lab host)."""
import importlib.util
import json
import os
import sys

import pytest

from support import REPO

TOOL = REPO / "roles" / "scale_to_zero" / "files" / "instanton_scale_to_zero.py"


@pytest.fixture(scope="module")
def tool():
    # The role installs plugins/module_utils/instanton/_retention.py beside the tool as instanton_retention.py.
    spec = importlib.util.spec_from_file_location("instanton_retention",
                                                  str(REPO / "plugins" / "module_utils" / "instanton" / "_retention.py"))
    retention = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(retention)
    sys.modules["instanton_retention"] = retention
    spec = importlib.util.spec_from_file_location("instanton_scale_to_zero", str(TOOL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    del sys.modules["instanton_retention"]


def config(tmp_path, keep=2):
    return {"name": "shop", "checkpoint_dir": str(tmp_path / "ckpt"), "keep": keep, "compression": "zstd"}


def test_archive_names_belong_to_their_service_and_sort_by_time(tool, tmp_path):
    first, second = tool.new_archive_path(config(tmp_path)), tool.new_archive_path(config(tmp_path))
    assert first < second
    name = os.path.basename(first)
    assert tool.ARCHIVE_REGEX.match(name).group("container") == "shop" and name.endswith(".tar.zst")


def test_retention_keeps_the_newest_of_this_service_only(tool, tmp_path):
    settings = config(tmp_path)
    archives = [os.path.join(settings["checkpoint_dir"], "%s-2026120%dT000000000000.tar.zst" % (service, day))
                for service in ("shop", "shop-admin") for day in (1, 2, 3)]
    tool.checkpoint_dir(settings)
    for number, path in enumerate(archives):
        open(path, "w").close()
        os.utime(path, (1000 + number, 1000 + number))
    assert oct(os.stat(settings["checkpoint_dir"]).st_mode & 0o777) == "0o700"
    assert tool.removals(settings) == [archives[0]]
    planned = tool.removals(settings, extra=tool.new_archive_path(settings))
    assert planned == archives[:2]
    assert tool.newest_archive(dict(settings, idle_action="checkpoint")) == archives[2]


@pytest.mark.parametrize("argv, code, message", [
    (["checkpoint", "../etc"], 1, "is not a service name"),
    (["checkpoint", "absent-service"], 1, "cannot read"),
    (["sleep", "shop"], 2, "scale-to-zero tool"),
    (["wake"], 2, "scale-to-zero tool"),
])
def test_bad_input_is_named(tool, capsys, argv, code, message):
    assert tool.main(argv) == code
    error = capsys.readouterr().err
    assert message in error
    if code == 1:
        assert json.loads(error)["failed"] is True


def test_the_idle_spare_is_created_in_the_pod_that_holds_the_port(tool, tmp_path):
    profile = tmp_path / "instanton.json"
    profile.write_text("{}")
    settings = {"name": "shop", "image": "localhost/shop:instanton", "capabilities": ["CHECKPOINT_RESTORE", "SETPCAP"],
                "seccomp_profile": str(profile), "podman_options": ["--env", "A=1"]}
    assert tool.spare_arguments(settings) == [
        "create", "--replace", "--name", "shop", "--pod", "shop-pod", "--cap-add", "CHECKPOINT_RESTORE",
        "--cap-add", "SETPCAP", "--security-opt", "seccomp=%s" % profile, "--env", "A=1", "localhost/shop:instanton"]
    # The pod publishes the backend port; the spare itself publishes nothing.
    assert "--publish" not in tool.spare_arguments(settings)


def test_a_missing_api_socket_is_no_api(tool, tmp_path):
    assert tool.api_post({"name": "shop", "api_socket": str(tmp_path / "no-such.sock")}, "start") is None


@pytest.mark.parametrize("status, podman_rc, expected, podman_called", [
    (204, None, "api start", False),
    (304, None, "api start", False),  # already running
    (404, None, None, False),  # no such container: no podman process to find that out again
    (None, 0, "podman start", True),  # no API served: the podman command
    (None, 125, None, True),
])
def test_a_container_is_started_through_the_api_else_podman(tool, monkeypatch, status, podman_rc, expected,
                                                            podman_called):
    called = []
    monkeypatch.setattr(tool, "api_post", lambda config, action: status)
    monkeypatch.setattr(tool, "podman", lambda *args, **kwargs: called.append(args) or type(
        "Done", (), {"returncode": podman_rc})())
    assert tool.start_spare({"name": "shop"}) == expected
    assert called == ([("start", "shop")] if podman_called else [])


@pytest.mark.parametrize("action, state, idle", [
    ("stop", None, True), ("stop", "created", True), ("stop", "running", False), ("stop", "exited", False),
    ("checkpoint", None, True), ("checkpoint", "exited", True), ("checkpoint", "running", False),
])
def test_what_counts_as_idle_follows_the_idle_action(tool, action, state, idle):
    assert tool.idle_already({"idle_action": action}, state) is idle


def test_wait_start_returns_the_record_of_a_start_since_then_only(tool, tmp_path, monkeypatch):
    monkeypatch.setattr(tool, "STATE_DIR", str(tmp_path))
    (tmp_path / "shop.json").write_text(json.dumps({"name": "shop", "woke_at": 1000.5, "restored": True}))
    assert tool.wait_start({"name": "shop"}, 1000.0)["restored"] is True
    with pytest.raises(tool.ScaleError, match="no record of a start of shop since 2000"):
        tool.wait_start({"name": "shop"}, 2000.0, timeout=0.2)


@pytest.mark.parametrize("argv, code, message", [
    (["wait-start", "shop"], 2, "scale-to-zero tool"),
    (["wake", "shop", "1000"], 2, "scale-to-zero tool"),
])
def test_each_command_takes_its_own_words(tool, capsys, argv, code, message):
    assert tool.main(argv) == code
    assert message in capsys.readouterr().err


def test_wait_start_names_a_time_that_is_not_one(tool, capsys, monkeypatch):
    monkeypatch.setattr(tool, "settings", lambda name: {"name": name})
    assert tool.main(["wait-start", "shop", "yesterday"]) == 1
    assert "'yesterday' is not a time in seconds" in json.loads(capsys.readouterr().err)["msg"]
