"""The run side of each flavor (flavors/_run_*.py): options it refuses, its environment switches, how its
containers start, and how their start is told apart. podman is a recording stand-in: these are pure."""
import contextlib

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import FLAVOR_LABEL
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _run_podman
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import (
    CONFIG_LABEL, RunFlavor, config_digest)
from ansible_collections.instanton.platform.plugins.modules import instanton_image

PARAMS = {"name": "app", "image": "localhost/app:instanton", "ports": ["127.0.0.1:8080:8080"], "env": {"A": "1"},
          "volumes": [], "network": None, "pod": None, "restore": True, "require_restore": False,
          "seccomp_profile": "unconfined", "cap_add": [], "privileged": False, "readiness": None,
          "state": "started", "api_socket": None}
PODMAN_PARAMS = dict(PARAMS, env={})
CHECKPOINT_IMAGE = {"Id": "c" * 64, "Annotations": {"io.podman.annotations.checkpoint.name": "instanton-ckpt-d",
                                                    _run_podman.ROOTFS_IMAGE_ANNOTATION: "r" * 64}}
FLAVORS = container_run.RUN_FLAVORS


def labelled(flavor):
    return {"Id": flavor[0] * 64, "Config": {"Labels": {FLAVOR_LABEL: flavor}}}


class Podman(object):
    """Records podman calls; answers `logs` with log_text and the restore with restore_result."""

    def __init__(self, log_text="", restore_result=(0, "", ""), exec_result=(1, "", "")):
        self.log_text = log_text
        self.restore_result = restore_result
        self.exec_result = exec_result
        self.calls = []
        self.removed = []

    def run(self, args, check=True):
        self.calls.append(args)
        if args[0] == "logs":
            return 0, self.log_text, ""
        if args[:2] == ["container", "restore"]:
            return self.restore_result
        if args[0] == "exec":
            return self.exec_result
        return 0, "", ""

    def remove_container(self, name, check=False):
        self.removed.append(name)


class Failed(Exception):
    pass


def fail_json(**result):
    raise Failed(result)


def runner(podman, **params):
    return container_run.Runner(podman, dict(PARAMS, **params), fail_json)


def env_of(args):
    return [args[index + 1] for index, arg in enumerate(args) if arg == "--env"]


def test_every_build_flavor_has_a_run_side_and_the_other_way_round():
    assert sorted(FLAVORS) == sorted(instanton_image.FLAVORS)
    for name, flavor in FLAVORS.items():
        assert flavor.name == name and isinstance(flavor, RunFlavor)


def test_the_start_markers_are_every_flavors_own():
    assert container_run.START_MARKERS == [marker for flavor in FLAVORS.values() for marker in flavor.start_markers]


def test_an_image_without_the_flavor_label_runs_as_a_plain_image():
    assert container_run.run_flavor({"Id": "x" * 64, "Config": {"Labels": {}}}) is container_run.NOT_INSTANTON
    assert container_run.run_flavor(labelled("generic")) is FLAVORS["generic"]
    found = container_run.NOT_INSTANTON.outcome(None, {}, {}, 0)
    assert found[0] is False and FLAVOR_LABEL in found[1]


@pytest.mark.parametrize("flavor, params, expected", [
    ("generic", dict(PARAMS, require_restore=True), ["A=1", "INSTANTON_REQUIRE_RESTORE=1"]),
    ("generic", dict(PARAMS, restore=False), ["A=1", "INSTANTON_DISABLE_RESTORE=1"]),
    ("liberty", dict(PARAMS, require_restore=True), ["A=1", "CRIU_RESTORE_DISABLE_RECOVERY=true"]),
    ("liberty", PARAMS, ["A=1"]),
])
def test_each_flavor_passes_its_own_switches(flavor, params, expected):
    assert env_of(container_run.run_arguments(params, FLAVORS[flavor])) == expected


@pytest.mark.parametrize("change, flavor, message", [
    ({"env": {"A": "1"}}, "podman", "env cannot be set for a podman checkpoint image"),
    ({"privileged": True}, "podman", "privileged cannot be set"),
    ({"restore": False}, "podman", "restore=false is not available for podman"),
    ({"pod": "app-pod"}, "podman", "pod cannot be set"),
    ({"state": "created"}, "podman", "state=created is not available for podman checkpoint images"),
    ({}, "podman", None),
    ({"restore": False}, "liberty", "restore=false is not available for liberty"),
    ({}, "generic", None),
    ({"state": "created"}, "generic", None),
])
def test_options_a_flavor_cannot_honour(change, flavor, message):
    found = container_run.options_problem(dict(PODMAN_PARAMS, **change), FLAVORS[flavor])
    assert (found is None) if message is None else (message in found)


def test_podman_restores_with_the_checkpointed_seccomp_profile_the_others_check_theirs():
    params = dict(PODMAN_PARAMS, seccomp_profile="/nonexistent/profile.json")
    assert container_run.options_problem(params, FLAVORS["podman"]) is None
    for name in ("generic", "liberty"):
        assert "cannot be read" in container_run.options_problem(params, FLAVORS[name])


@pytest.mark.parametrize("name", ["generic", "liberty"])
def test_self_restoring_flavors_launch_with_podman_run_and_read_their_markers(name):
    podman = Podman(log_text="instanton: restored pid 42 in 81 ms\n")
    start = runner(podman)
    assert FLAVORS[name].launch(start, labelled(name)) == "podman run"
    assert podman.calls[0][:2] == ["run", "--detach"]
    assert FLAVORS["generic"].outcome(start, {}, labelled(name), 0) == (True, "81")


def test_a_failed_liberty_restore_adds_criu_errors_from_its_restore_log():
    podman = Podman(log_text="CWWKE0957I: Restoring the checkpoint server process failed.\n",
                    exec_result=(0, "Error (criu/cr-restore.c:1): Restoring FAILED.\n", ""))
    restored, detail = FLAVORS["liberty"].outcome(runner(podman), {}, labelled("liberty"), 0)
    assert restored is False and "Restoring FAILED." in detail
    assert podman.calls[-1][:2] == ["exec", "app"] and "/logs/checkpoint/restore.log" in podman.calls[-1][-1]


def test_podman_restores_its_checkpoint_image_one_restore_at_a_time(monkeypatch):
    held = []

    @contextlib.contextmanager
    def exclusive(name, timeout):
        held.append(name)
        yield

    monkeypatch.setattr(_run_podman.host_lock, "exclusive", exclusive)
    podman = Podman()
    start = runner(podman, env={})
    assert FLAVORS["podman"].launch(start, CHECKPOINT_IMAGE) == "podman container restore"
    assert podman.calls == [["container", "restore", "--name", "app", "--publish", "127.0.0.1:8080:8080",
                             "localhost/app:instanton"]]
    assert held == ["restore-" + CHECKPOINT_IMAGE["Id"]]
    assert FLAVORS["podman"].outcome(start, {"State": {}}, CHECKPOINT_IMAGE, 0) == (True, None)


def test_podman_imports_an_archive():
    archive = _run_podman.archive_as_image("/srv/app.tar", "app-ckpt", {"Id": "r" * 64})
    assert container_run.run_flavor(archive) is FLAVORS["podman"]
    podman = Podman()
    assert FLAVORS["podman"].launch(runner(podman, env={}, image=None), archive) == "podman container restore --import"
    assert podman.calls[0][-2:] == ["--import", "/srv/app.tar"]


def test_a_failed_podman_restore_runs_the_app_image_cold(tmp_path):
    log = tmp_path / "restore.log"
    log.write_text("(00.1) info\n(00.2) Error (criu/image.c:1): Unable to open pstree.img\n(00.3) Error (x): FAILED\n")
    failed = (125, "", "Error: crun: CRIU restoring failed -70.  Please check CRIU logfile `%s`" % log)
    podman = Podman(restore_result=failed)
    start = runner(podman, env={})
    archive = _run_podman.archive_as_image("/srv/app.tar", "app-ckpt", {"Id": "r" * 64})
    assert FLAVORS["podman"].launch(start, archive) == "podman run"
    assert podman.removed == ["app"]
    cold_run = podman.calls[-1]
    assert cold_run[:2] == ["run", "--detach"] and cold_run[-1] == "r" * 64 and env_of(cold_run) == []
    restored, reason = FLAVORS["podman"].outcome(start, {"State": {}}, archive, 0)
    assert restored is False and "Unable to open pstree.img" in reason


def test_a_failed_podman_restore_with_require_restore_fails_with_the_criu_error():
    podman = Podman(restore_result=(125, "", "Error (criu/sk-inet.c:1): inet: Unsupported proto 262 for socket"))
    archive = _run_podman.archive_as_image("/srv/app.tar", "app-ckpt", {"Id": "r" * 64})
    with pytest.raises(Failed) as failure:
        FLAVORS["podman"].launch(runner(podman, env={}, require_restore=True), archive)
    assert "require_restore is set" in failure.value.args[0]["msg"]
    assert len(podman.calls) == 1 and not podman.removed


def test_which_running_container_each_flavor_leaves_alone():
    restored = {"Image": "r" * 64, "State": {"Running": True, "Restored": True}, "Config": {"Labels": {}}}
    assert container_run.is_current(restored, CHECKPOINT_IMAGE, PODMAN_PARAMS)
    assert not container_run.is_current(dict(restored, Image="o" * 64), CHECKPOINT_IMAGE, PODMAN_PARAMS)
    assert not container_run.is_current(dict(restored, State={"Running": True}), CHECKPOINT_IMAGE, PODMAN_PARAMS)
    image = labelled("generic")
    ran = {"Image": image["Id"], "State": {"Running": True}, "Config": {"Labels": {CONFIG_LABEL: config_digest(PARAMS)}}}
    assert container_run.is_current(ran, image, PARAMS)
    assert not container_run.is_current(ran, image, dict(PARAMS, ports=[]))


def test_criu_errors_come_from_the_log_podman_names(tmp_path):
    log = tmp_path / "restore.log"
    log.write_text("(00.1) info\n(00.2) Error (criu/image.c:1): Unable to open pstree.img\n(00.3) Error (x): FAILED\n")
    error = "Error: OCI runtime error: crun: CRIU restoring failed -70.  Please check CRIU logfile `%s`" % log
    assert _run_podman.criu_errors(error) == "(00.2) Error (criu/image.c:1): Unable to open pstree.img (00.3) Error (x): FAILED"
    assert _run_podman.criu_errors("Error: no such image") == ""
    assert _run_podman.criu_errors("CRIU logfile `%s`" % (tmp_path / "gone.log")) == ""
