"""Pure logic of the InstantOn image flavors: fingerprints, labels, Containerfile and commit rendering."""
import json
import os

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _image_build as image_build
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_generic as image_generic
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_liberty as image_liberty
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_podman as image_podman
from support import HOST_FACTS

APP_IMAGE = {"Id": "a" * 64, "Config": {"Entrypoint": ["/opt/ol/wlp/bin/server"], "Cmd": ["run", "defaultServer"]}}
LIBERTY_PARAMS = {"phase": "afterAppStart", "method": "build", "checkpoint_seccomp": "unconfined"}
PODMAN_PARAMS = {"command": None, "readiness": {"type": "http", "port": 8080}, "export": None}


def test_fingerprint_is_stable_and_changes_with_every_input():
    digest = image_build.fingerprint(image_liberty.inputs(APP_IMAGE, LIBERTY_PARAMS))
    assert digest == image_build.fingerprint(image_liberty.inputs(dict(APP_IMAGE), dict(LIBERTY_PARAMS)))
    for key, value in (("phase", "beforeAppStart"), ("method", "run"), ("checkpoint_seccomp", "x.json")):
        assert image_build.fingerprint(image_liberty.inputs(APP_IMAGE, dict(LIBERTY_PARAMS, **{key: value}))) != digest
    other_app = dict(APP_IMAGE, Id="b" * 64)
    assert image_build.fingerprint(image_liberty.inputs(other_app, LIBERTY_PARAMS)) != digest


def test_flavors_with_the_same_app_have_different_fingerprints():
    podman = image_build.fingerprint(image_podman.inputs(APP_IMAGE, PODMAN_PARAMS))
    exported = image_build.fingerprint(image_podman.inputs(
        APP_IMAGE, dict(PODMAN_PARAMS, export={"path": "/a.tar", "compression": "none"})))
    assert len({podman, exported, image_build.fingerprint(image_liberty.inputs(APP_IMAGE, LIBERTY_PARAMS))}) == 3


def test_recorded_inputs_reads_labels_and_podman_checkpoint_names():
    assert image_build.recorded_inputs(None) is None
    assert image_build.recorded_inputs({"Config": {"Labels": {image_build.INPUTS_LABEL: "d1"}}}) == "d1"
    checkpoint = {"Config": {}, "Annotations": {image_build.CHECKPOINT_NAME_ANNOTATION: "instanton-ckpt-d2"}}
    assert image_build.recorded_inputs(checkpoint) == "d2"
    assert image_build.image_flavor(checkpoint) == "podman"
    foreign = {"Annotations": {image_build.CHECKPOINT_NAME_ANNOTATION: "someone-elses"}}
    assert image_build.recorded_inputs(foreign) is None


@pytest.mark.parametrize("phase, problem", [
    ("afterAppStart", None),
    ("beforeAppStart", None),
    ("features", "removed in Open Liberty 23.0.0.2-beta"),
    ("applications", "unknown checkpoint phase"),
])
def test_liberty_phases(phase, problem):
    found = image_liberty.phase_problem(phase)
    assert (found is None) if problem is None else (problem in found)


def test_liberty_containerfile_ends_with_the_checkpoint_run():
    text = image_liberty.render_containerfile("a" * 64, "beforeAppStart", {"io.instanton.platform.flavor": "liberty"})
    lines = text.splitlines()
    assert lines[0] == "FROM " + "a" * 64
    assert lines[1] == 'LABEL io.instanton.platform.flavor="liberty"'
    assert lines[-1] == "RUN checkpoint.sh beforeAppStart"


def test_liberty_checkpoint_options_grant_what_criu_dump_needs():
    assert image_liberty.checkpoint_options("unconfined") == [
        "--cap-add", "CHECKPOINT_RESTORE,SYS_PTRACE,SETPCAP", "--security-opt", "seccomp=unconfined"]


def test_liberty_commit_empties_wlp_checkpoint_and_restores_the_command():
    changes = image_liberty.commit_changes(APP_IMAGE, {"k": "v"})
    assert changes[0] == "ENV WLP_CHECKPOINT="
    assert 'ENTRYPOINT ["/opt/ol/wlp/bin/server"]' in changes
    assert 'CMD ["run", "defaultServer"]' in changes
    assert changes[-1] == 'LABEL k="v"'


@pytest.mark.parametrize("version, ok", [("5.4.2", True), ("4.1.0", True), ("4.0.3", False), ("3.4.4", False),
                                         ("4.9.4-rhel", True), ("dev", False)])
def test_podman_version_gate(version, ok):
    assert (image_podman.version_problem(version) is None) is ok


def test_podman_run_arguments_override_the_command_as_entrypoint():
    args = image_podman.run_arguments("ctr", APP_IMAGE, ["java", "-jar", "/srv/app.jar"])
    assert args[:4] == ["run", "--detach", "--name", "ctr"]
    assert json.loads(args[args.index("--entrypoint") + 1]) == ["java", "-jar", "/srv/app.jar"]
    assert args[-1] == APP_IMAGE["Id"]
    assert "--entrypoint" not in image_podman.run_arguments("ctr", APP_IMAGE, None)


def test_podman_export_arguments_keep_the_container_running():
    assert image_podman.export_arguments({"compression": "gzip"}, "/d/.x.partial") == [
        "--leave-running", "--export", "/d/.x.partial", "--compress", "gzip"]


def test_export_directory_is_created_private(tmp_path):
    target = tmp_path / "new" / "app.tar.zst"
    image_podman.prepare_export_directory(str(target))
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"


class ExportingPodman(object):
    """Writes the --export file the way podman does (create or truncate), noting its mode then."""

    def __init__(self, rc=0):
        self.rc = rc
        self.modes = []

    def run(self, args, check=True):
        path = args[args.index("--export") + 1]
        with open(path, "w") as handle:
            handle.write("archive")
        self.modes.append(os.stat(path).st_mode & 0o777)
        return self.rc, "", "" if self.rc == 0 else "Error: export failed"


def test_export_is_private_from_its_first_byte_and_replaces_the_target(tmp_path):
    target = tmp_path / "exports" / "app.tar.zst"
    target.parent.mkdir(mode=0o755)
    target.write_text("old archive")
    podman = ExportingPodman()
    image_podman.export_checkpoint(podman, "ctr", {"path": str(target), "compression": "zstd"})
    assert podman.modes == [0o600]
    assert target.read_text() == "archive"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(str(target.parent)) == ["app.tar.zst"]


def test_a_failed_export_keeps_the_old_archive_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "app.tar.zst"
    target.write_text("old archive")
    with pytest.raises(image_build.BuildError, match="export failed"):
        image_podman.export_checkpoint(ExportingPodman(rc=125), "ctr", {"path": str(target), "compression": "zstd"})
    assert target.read_text() == "old archive"
    assert os.listdir(str(tmp_path)) == ["app.tar.zst"]


def test_app_command_needs_an_entrypoint_or_a_command():
    assert image_build.app_command(APP_IMAGE) == ["/opt/ol/wlp/bin/server", "run", "defaultServer"]
    assert image_build.app_command(APP_IMAGE, ["x"]) == ["x"]
    with pytest.raises(image_build.BuildError, match="no ENTRYPOINT or CMD"):
        image_build.app_command({"Config": {}})


def test_run_step_names_the_failed_step():
    class FailingPodman(object):
        def run(self, args, check=True):
            return 125, "", "line1\nError: no such image\n"
    with pytest.raises(image_build.BuildError, match="podman commit failed:\nline1\nError: no such image"):
        image_build.run_step(FailingPodman(), ["commit"], "podman commit")


def test_a_failed_checkpoint_step_says_why_criu_failed():
    class FailingDump(object):
        def run(self, args, check=True):
            return 1, "", ("instanton: checkpoint failed: criu dump: (00.01) Error (criu/sockets.c:452): sockets: "
                           "Can't get 1:16 opt: Operation not supported\n")
    with pytest.raises(image_build.BuildError) as raised:
        image_build.run_step(FailingDump(), ["run"], "the checkpoint step", criu_phase="dump")
    assert raised.value.criu_error["phase"] == "dump"
    assert raised.value.criu_error["cause"] == "criu_too_old_for_kernel"


def test_export_path_problems_are_found_before_a_build(tmp_path):
    assert image_podman.export_path_problem(str(tmp_path / "new" / "dir" / "app.tar.zst")) is None
    assert "is a directory" in image_podman.export_path_problem(str(tmp_path))
    (tmp_path / "file").write_text("x")
    assert "not a directory" in image_podman.export_path_problem(str(tmp_path / "file" / "app.tar.zst"))


RHEL_8_6_KERNEL = json.loads((HOST_FACTS / "rhel-8.6.json").read_text())[
    "kernel_release"]
NS_LAST_PID_VOLUME = ["--volume", "/proc/sys/kernel/ns_last_pid:/proc/sys/kernel/ns_last_pid:rw"]


class Recorder(object):
    """Records podman command lines; every command succeeds."""

    def __init__(self):
        self.calls = []

    def run(self, args, check=True):
        self.calls.append(args)
        return 0, "", ""

    def image(self, name):
        return {"Id": "i" * 64}

    def remove_container(self, name):
        pass

    def remove_image(self, name):
        pass


def on_kernel(monkeypatch, release):
    uname = os.uname()
    monkeypatch.setattr(os, "uname", lambda: (uname[0], uname[1], release, uname[3], uname[4]))


def test_rhel_8_6_liberty_checkpoints_only_with_run_and_commit(monkeypatch):
    problem = image_liberty.method_problem("build", RHEL_8_6_KERNEL)
    assert "no clone3" in problem and "method: run" in problem and "/proc/sys/kernel/ns_last_pid" in problem
    assert image_liberty.method_problem("run", RHEL_8_6_KERNEL) is None
    assert image_liberty.method_problem("build", "6.18.44-fc-v595") is None
    on_kernel(monkeypatch, RHEL_8_6_KERNEL)
    podman = Recorder()
    image_liberty.build_with_run_and_commit(podman, APP_IMAGE, dict(LIBERTY_PARAMS, method="run", name="x"), {})
    checkpoint_run = podman.calls[0]
    assert checkpoint_run[0] == "run" and " ".join(NS_LAST_PID_VOLUME) in " ".join(checkpoint_run)


@pytest.mark.parametrize("release, expected", [(RHEL_8_6_KERNEL, NS_LAST_PID_VOLUME), ("6.18.44-fc-v595", [])])
def test_checkpoint_and_restore_runs_get_ns_last_pid_where_there_is_no_clone3(monkeypatch, release, expected):
    on_kernel(monkeypatch, release)
    podman_checkpoint = image_podman.run_arguments("c", APP_IMAGE, None)
    restore = container_run.run_arguments({
        "name": "app", "image": "localhost/app:instanton", "ports": [], "env": {}, "volumes": [], "network": None,
        "pod": None, "restore": True, "require_restore": False, "seccomp_profile": "unconfined", "cap_add": [],
        "privileged": False}, container_run.RUN_FLAVORS["generic"])
    podman = Recorder()
    image_generic.build(podman, APP_IMAGE, {
        "name": "localhost/app:instanton", "app_image": "localhost/app:1", "command": ["app"], "criu_apt_suite": "",
        "readiness": {"type": "tcp", "port": 8080, "timeout": 5}, "pre_checkpoint": None,
        "checkpoint_seccomp": "unconfined"}, "d" * 64)
    generic_checkpoint = [call for call in podman.calls if call[0] == "run"][0]
    for args in (podman_checkpoint, restore, generic_checkpoint):
        found = [args[index:index + 2] for index, arg in enumerate(args) if arg == "--volume"]
        assert found == ([NS_LAST_PID_VOLUME] if expected else []), args
