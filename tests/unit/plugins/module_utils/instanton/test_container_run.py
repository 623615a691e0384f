"""container_run: run arguments, start markers, and when a container is left alone or started as a spare
(each flavor's own run side: flavors/test_run_flavors.py)."""
import pytest

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import FLAVOR_LABEL
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _run_podman

PARAMS = {"name": "app", "image": "localhost/app:instanton", "ports": ["127.0.0.1:8080:8080"], "env": {"A": "1"},
          "volumes": [], "network": None, "pod": None, "restore": True, "require_restore": False,
          "seccomp_profile": "unconfined", "cap_add": [], "privileged": False, "readiness": None,
          "state": "started", "api_socket": None}
CHECKPOINT_IMAGE = {"Id": "c" * 64, "Annotations": {"io.podman.annotations.checkpoint.name": "instanton-ckpt-d",
                                                    _run_podman.ROOTFS_IMAGE_ANNOTATION: "r" * 64}}


GENERIC = container_run.RUN_FLAVORS["generic"]


def option_values(args, option):
    return [args[index + 1] for index, arg in enumerate(args) if arg == option]


@pytest.mark.parametrize("log, restored, detail", [
    ("instanton: restored pid 42 in 81 ms\n", True, "81"),
    ("instanton: cold start: no checkpoint in /instanton/checkpoint\n", False, "no checkpoint in /instanton/checkpoint"),
    ("[AUDIT   ] CWWKC0452I: The Liberty server process resumed operation from a checkpoint in 0.192 seconds.\n",
     True, None),
    ("CWWKE0957I: Restoring the checkpoint server process failed. Check the log.\n", False, None),
    ('[AUDIT   ] CWWKC0451I: A server checkpoint "afterAppStart" was requested.\n', False, "CWWKC0451I"),
    ("starting...\n", None, None),
])
def test_start_markers(log, restored, detail):
    found_restored, found_detail = container_run.start_outcome(log)
    assert found_restored is restored
    if detail:
        assert detail in found_detail


def test_run_arguments_grant_only_restore_capabilities():
    args = container_run.run_arguments(PARAMS, GENERIC)
    assert option_values(args, "--cap-add") == ["CHECKPOINT_RESTORE", "SETPCAP"]
    assert "--privileged" not in args
    assert option_values(args, "--security-opt") == ["seccomp=unconfined"]
    assert option_values(args, "--env") == ["A=1"]
    assert option_values(args, "--publish") == ["127.0.0.1:8080:8080"]


def test_create_arguments_are_the_run_arguments_without_detach():
    run = container_run.run_arguments(PARAMS, GENERIC)
    create = container_run.run_arguments(PARAMS, GENERIC, command=("create",))
    assert create[0] == "create" and "--detach" not in create and create[1:] == run[2:]


def test_a_pod_member_joins_the_pod_and_its_config_differs():
    args = container_run.run_arguments(dict(PARAMS, ports=[], pod="app-pod"), GENERIC)
    assert option_values(args, "--pod") == ["app-pod"] and "--publish" not in args
    assert container_run.config_digest(dict(PARAMS, pod="app-pod")) != container_run.config_digest(PARAMS)


def test_the_runtime_default_profile_only_when_asked_for_by_name():
    assert container_run.seccomp_option(container_run.RUNTIME_DEFAULT_SECCOMP) == []
    assert container_run.seccomp_option("/nonexistent/profile.json") == ["--security-opt",
                                                                         "seccomp=/nonexistent/profile.json"]


@pytest.mark.parametrize("content, expected", [
    (None, "cannot be read"),
    ("{not json", "is not valid JSON"),
    ('["a"]', "is not a seccomp profile"),
])
def test_a_missing_or_invalid_seccomp_profile_fails_with_the_fix(tmp_path, content, expected):
    profile = tmp_path / "instanton.json"
    if content is not None:
        profile.write_text(content)
    problem = container_run.seccomp_problem(dict(PARAMS, seccomp_profile=str(profile)))
    assert expected in problem and "seccomp_profile: runtime-default" in problem and "seccomp role" in problem


def test_valid_profiles_and_explicit_choices_pass(tmp_path):
    profile = tmp_path / "instanton.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}')
    for choice in (str(profile), "unconfined", container_run.RUNTIME_DEFAULT_SECCOMP):
        assert container_run.seccomp_problem(dict(PARAMS, seccomp_profile=choice)) is None


def test_the_last_start_marker_tells_how_the_current_run_started():
    earlier_run = "instanton: restored pid 42 in 81 ms\n"
    this_run = "instanton: cold start: criu restore failed: pidfile exists\n"
    assert container_run.start_outcome(earlier_run + this_run) == (False, "criu restore failed: pidfile exists")
    assert container_run.start_outcome(this_run + earlier_run) == (True, "81")


def running(image_id, labels=None, restored=False, status="running"):
    return {"Image": image_id, "State": {"Running": status == "running", "Restored": restored, "Status": status},
            "Config": {"Labels": labels}}


def test_is_current_compares_image_and_run_config():
    image = {"Id": "i" * 64, "Config": {"Labels": {"io.instanton.platform.flavor": "generic"}}}
    digest = container_run.config_digest(PARAMS)
    assert container_run.is_current(running(image["Id"], {container_run.CONFIG_LABEL: digest}), image, PARAMS)
    assert not container_run.is_current(running(image["Id"], {container_run.CONFIG_LABEL: digest}), image,
                                        dict(PARAMS, ports=[]))
    assert not container_run.is_current(running("x" * 64, {container_run.CONFIG_LABEL: digest}), image, PARAMS)
    assert not container_run.is_current(None, image, PARAMS)


def test_only_a_never_started_container_of_the_same_config_is_a_spare():
    image = {"Id": "i" * 64, "Config": {"Labels": {"io.instanton.platform.flavor": "generic"}}}
    labels = {container_run.CONFIG_LABEL: container_run.config_digest(PARAMS)}
    assert container_run.is_spare(running(image["Id"], labels, status="created"), image, PARAMS)
    assert not container_run.is_current(running(image["Id"], labels, status="created"), image, PARAMS)
    # A container that ran once has a used root file system: it is replaced, not started again.
    assert not container_run.is_spare(running(image["Id"], labels, status="exited"), image, PARAMS)
    assert not container_run.is_spare(running(image["Id"], labels, status="running"), image, PARAMS)
    assert not container_run.is_spare(running(image["Id"], labels, status="created"), image, dict(PARAMS, env={}))
    assert not container_run.is_spare(None, image, PARAMS)


def test_is_current_for_podman_checkpoint_images_needs_a_restored_container_of_its_app_image():
    assert container_run.is_current(running("r" * 64, restored=True), CHECKPOINT_IMAGE, PARAMS)
    assert not container_run.is_current(running("r" * 64, restored=False), CHECKPOINT_IMAGE, PARAMS)
    assert not container_run.is_current(running("x" * 64, restored=True), CHECKPOINT_IMAGE, PARAMS)


def test_host_endpoint_prefers_a_published_port():
    container = {"NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}]},
                                     "IPAddress": "10.88.0.5"}}
    assert container_run.host_endpoint(container, 8080) == ("127.0.0.1", 18080)
    assert container_run.host_endpoint(container, 9090) == ("10.88.0.5", 9090)


def test_a_spares_probe_comes_from_its_published_port_before_it_starts():
    readiness = {"type": "http", "port": 8080, "path": "/", "timeout": 60}
    runner = container_run.Runner(None, dict(PARAMS, readiness=readiness), None)
    published = {"NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
                                     "IPAddress": ""}}
    assert callable(runner.spare_probe(published))
    # Without a published port the probe needs the address the start gives it.
    assert runner.spare_probe({"NetworkSettings": {"Ports": {}, "IPAddress": ""}}) is None


class FakePodman(object):
    """The podman calls Runner makes for a report: logs and inspect; counts the log reads."""

    def __init__(self, log_text, container=None):
        self.log_text = log_text
        self.containers = {"app": container} if container else {}
        self.log_reads = 0

    def run(self, args, check=True):
        if args[0] == "logs":
            self.log_reads += 1
            return 0, self.log_text, ""
        raise AssertionError("unexpected podman call %s" % args)

    def container(self, name):
        return self.containers.get(name)


GENERIC_IMAGE = {"Id": "g" * 64, "Config": {"Labels": {FLAVOR_LABEL: "generic"}}}


def test_a_log_readiness_probe_reads_the_log_it_matches():
    readiness = {"type": "log", "pattern": "^listening on [0-9]+$", "port": None, "timeout": 60}
    podman = FakePodman("starting\nlistening on 8080\n")
    probe = container_run.Runner(podman, dict(PARAMS, readiness=readiness), None).probe({})
    assert probe() is True
    podman.log_text = "starting\n"
    assert probe() is False


def test_an_ipv6_published_port_is_probed_with_a_bracketed_url(monkeypatch):
    asked = []
    monkeypatch.setattr(container_run.readiness, "http_ok", asked.append)
    readiness = {"type": "http", "port": 8080, "path": "/health", "timeout": 60}
    runner = container_run.Runner(None, dict(PARAMS, readiness=readiness), None)
    runner.probe({"NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "::1", "HostPort": "18080"}]}}})()
    assert asked == ["http://[::1]:18080/health"]


def test_info_reads_the_log_once_without_waiting_for_a_marker():
    podman = FakePodman("app starting\n")
    found = container_run.Runner(podman, PARAMS, None).report(running(GENERIC_IMAGE["Id"]), GENERIC_IMAGE)
    assert podman.log_reads == 1
    assert found["restored"] is False and "start_ms" not in found and "start_command" not in found


def test_info_on_a_container_podman_restored_from_a_checkpoint_image():
    # podman restores a checkpoint image into a container of the app image, which has no labels of ours.
    container = running("r" * 64, restored=True)
    found = container_run.Runner(FakePodman(""), PARAMS, None).report(container, {"Id": "r" * 64, "Config": {}})
    assert found["restored"] is True
    assert "fallback_reason" not in found and "criu_restore_ms" not in found


def test_info_reports_the_generic_entrypoints_restore_time():
    podman = FakePodman("instanton: restored pid 42 in 81 ms\n")
    found = container_run.Runner(podman, PARAMS, None).report(running(GENERIC_IMAGE["Id"]), GENERIC_IMAGE)
    assert found["restored"] is True and found["criu_restore_ms"] == 81
