"""instanton_image and instanton_container, every flavor, on a lab host.

Each InstantOn image is built once per session from samples/jvm-app (generic, podman)
or samples/liberty-standin (liberty: a STAND-IN for Open Liberty that keeps its
checkpoint.sh / WLP_CHECKPOINT / CWWKC045xI contract, with real CRIU and a real JVM).
"""
import itertools
import json
import shlex
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import LAB_INVENTORY, REPO, build_instanton_images, build_samples, keep_measured, lab_ssh, run_module, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
RUN_ID = uuid.uuid4().hex[:6]
JVM_APP = "localhost/instanton-sample-jvm-app:latest"
LIBERTY_STANDIN = "localhost/instanton-sample-liberty-standin:latest"
EXPORT_DIR = "/var/tmp/itest-instanton-%s" % RUN_ID
EXPORT_PATH = EXPORT_DIR + "/jvm.tar.zst"
PORTS = itertools.count(19100)
JVM_ANSWER = '"entries": 2000000'
# flavor -> (app image, build parameters, app port, checkpoint directory in the image)
FLAVORS = {
    "generic": (JVM_APP, {"readiness": {"type": "http", "port": 8080}},
                8080, "/instanton/checkpoint"),
    "liberty": (LIBERTY_STANDIN, {"phase": "afterAppStart", "method": "build"},
                9080, "/opt/ol/wlp/output/defaultServer/workarea/checkpoint/image"),
    "liberty-run": (LIBERTY_STANDIN, {"phase": "beforeAppStart", "method": "run"},
                    9080, "/opt/ol/wlp/output/defaultServer/workarea/checkpoint/image"),
    "podman": (JVM_APP, {"readiness": {"type": "http", "port": 8080},
                         "export": {"path": EXPORT_PATH, "compression": "zstd"}}, 8080, None),
}
RESULTS = REPO / ".lab" / "results" / "instanton_flavors.json"
MEASURED = {}


def ssh(command, check=True):
    return lab_ssh(HOST, command, check)


def module(name, args, check=False):
    return run_module(name, args, host=HOST, inventory=LAB_INVENTORY, check=check)


def image_name(flavor, tag=""):
    return "localhost/itest-%s-%s:instanton%s" % (flavor, RUN_ID, tag)


def build_args(flavor, **extra):
    app_image, params, _port, _directory = FLAVORS[flavor]
    args = dict(params, name=image_name(flavor), app_image=app_image,
                flavor="liberty" if flavor.startswith("liberty") else flavor)
    args.update(extra)
    return args


def container_args(kind, app_port=8080, **source):
    """instanton_container arguments with a new name and host port, ready at the app's first HTTP answer;
    and that host port."""
    port = next(PORTS)
    return dict(source, name="itest-%s-%s-%d" % (kind, RUN_ID, port), ports=["127.0.0.1:%d:%d" % (port, app_port)],
                readiness={"type": "http", "port": app_port, "timeout": 60}), port


def start(flavor, image=None, **extra):
    """instanton_container with the flavor's readiness; the result and the host port it answers on."""
    args, port = container_args(flavor, FLAVORS[flavor][2], image=image or image_name(flavor))
    args.update(extra)
    return module("instanton_container", args), args["name"], port


def answer(port):
    return ssh("python3 -c %s" % shlex.quote(
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:%d/', timeout=5).read().decode())"
        % port))


def inspect(kind, name):
    return json.loads(ssh("podman %s inspect %s" % (kind, name)))[0]


def scratch_objects():
    """The build's scratch containers and images (instanton-<role>-<suffix>, instanton-ckpt-<digest>)."""
    return ssh("podman ps -a --format '{{.Names}}' | grep '^instanton-' ; "
               "podman images --format '{{.Repository}}' | grep '^localhost/instanton-' | grep -v sample", check=False)


def remove_everything():
    ssh("podman ps -a --format '{{.Names}}' | grep -- '-%s-' | xargs -r podman rm -f -t 0 >/dev/null; "
        "podman pod ps --format '{{.Name}}' | grep -- '-%s-' | xargs -r podman pod rm -f -t 0 >/dev/null; "
        "podman images --format '{{.Repository}}:{{.Tag}}' | grep -- '-%s' | xargs -r podman rmi -f >/dev/null; "
        "rm -rf %s" % (RUN_ID, RUN_ID, RUN_ID, EXPORT_DIR), check=False)


@pytest.fixture(scope="session")
def images(request):
    """The sample images (built when missing) and one InstantOn image per flavor."""
    build_samples(HOST, ("jvm-app", "liberty-standin"))
    request.addfinalizer(remove_everything)
    keep_measured(request, RESULTS, MEASURED)
    built = build_instanton_images(HOST, {flavor: build_args(flavor) for flavor in FLAVORS}, MEASURED)
    for result in built.values():
        assert result["changed"] and result["built"]
    return built


def restore_privileges(container):
    host_config = container["HostConfig"]
    return set(container["EffectiveCaps"]), host_config.get("Privileged"), host_config.get("SecurityOpt")


@pytest.mark.parametrize("flavor", sorted(FLAVORS))
def test_instanton_container_restores_and_answers(images, flavor):
    result, _name, port = start(flavor)
    assert not result.get("failed"), result.get("msg")
    assert result["restored"] is True, result.get("fallback_reason")
    assert JVM_ANSWER in answer(port)
    capabilities, privileged, security = restore_privileges(result["container"])
    assert privileged is False
    if flavor != "podman":
        # podman restores its own checkpoint images from the host; the others restore themselves.
        # SETPCAP is in podman's default set; CHECKPOINT_RESTORE is the only addition.
        assert {"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"} <= capabilities
        assert not capabilities & {"CAP_SYS_PTRACE", "CAP_SYS_ADMIN"}
        assert result["container"]["HostConfig"]["CapAdd"] == ["CAP_CHECKPOINT_RESTORE"]
        assert any("instanton.json" in option for option in security or []), security
    cold, _cold_name, _cold_port = start(flavor, image=FLAVORS[flavor][0])
    assert cold["restored"] is False
    MEASURED[flavor].update(instanton_start_ms=result["start_ms"], cold_start_ms=cold["start_ms"])


@pytest.mark.parametrize("flavor", sorted(FLAVORS))
def test_two_containers_from_one_image_answer_at_the_same_time(images, flavor):
    with ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda _index: start(flavor), range(2)))
    for result, _name, port in started:
        assert result["restored"] is True, result.get("fallback_reason")
        assert JVM_ANSWER in answer(port)


def test_podman_restores_of_one_image_take_turns(images):
    """podman force-unmounts a checkpoint image when its restore ends, even from under another
    restore of it, so the module restores one image one at a time (seen failing in about 2% of
    concurrent `podman container restore` runs here without it)."""
    image_id = inspect("image", image_name("podman"))["Id"]
    lock = "/run/instanton/restore-%s.lock" % image_id
    # Another run holds the image's lock for 8 s (longer than the module takes to reach its restore)
    # and writes when it let go.
    ssh("mkdir -p -m 0700 /run/instanton; rm -f /tmp/itest-released; "
        "(flock %s sh -c 'sleep 8; date +%%s%%N > /tmp/itest-released' </dev/null >/dev/null 2>&1 &); "
        "until ! flock -n %s true; do sleep 0.05; done" % (lock, lock))
    result, name, _port = start("podman")
    assert result["restored"] is True, result.get("fallback_reason")
    started_ns = int(ssh("podman container inspect --format '{{.State.StartedAt.UnixNano}}' %s" % name))
    released = ssh("cat /tmp/itest-released 2>/dev/null || echo 'still held'").strip()
    assert released != "still held", "the restore ran while another run held the image's lock"
    assert started_ns >= int(released)


def test_a_podman_checkpoint_archive_restores_and_is_then_left_alone(images):
    args, port = container_args("archive", checkpoint_archive=EXPORT_PATH)
    first = module("instanton_container", args)
    assert not first.get("failed"), first.get("msg")
    assert first["restored"] is True, first.get("fallback_reason")
    assert first["start_command"] == "podman container restore --import"
    assert JVM_ANSWER in answer(port)
    again = module("instanton_container", args)
    assert again["changed"] is False and again["start_command"] is None and again["restored"] is True


def test_an_archive_without_memory_pages_falls_back_to_its_app_image(images):
    corrupt = EXPORT_DIR + "/no-pages.tar"
    ssh("d=$(mktemp -d) && tar --zstd -C $d -xf %s && rm $d/checkpoint/pages-*.img && tar -C $d -cf %s . "
        "&& rm -rf $d" % (EXPORT_PATH, corrupt))
    args, port = container_args("archive", checkpoint_archive=corrupt)
    result = module("instanton_container", args)
    assert not result.get("failed"), result.get("msg")
    assert result["restored"] is False and "podman container restore failed" in result["fallback_reason"]
    assert result["start_command"] == "podman run"
    assert result["container"]["Image"] == inspect("image", JVM_APP)["Id"]
    assert JVM_ANSWER in answer(port)


@pytest.mark.parametrize("archive, message", [
    ("/etc/hostname", "/etc/hostname is not a readable checkpoint archive"),
    ("/nonexistent-%s.tar" % RUN_ID, "does not exist or is not a file"),
])
def test_what_is_not_a_podman_checkpoint_archive_is_named(archive, message):
    result = module("instanton_container", container_args("archive", checkpoint_archive=archive)[0])
    assert result.get("failed") and message in result["msg"], result.get("msg")


def corrupted_image(flavor):
    """A copy of the flavor's image whose checkpoint lost its memory pages.

    (Truncated pages instead make CRIU 4.2.1's restore hang rather than fail.)"""
    name = image_name(flavor, "-corrupt")
    if flavor == "podman":
        # Build a second checkpoint image and damage it in the storage layer itself.
        result = module("instanton_image", build_args(flavor, name=name, export=None))
        assert result["changed"], result.get("msg")
        layer = ssh("podman image inspect %s --format '{{.GraphDriver.Data.UpperDir}}'" % name).strip()
        ssh("rm %s/checkpoint/pages-*.img" % layer)
        return name
    directory = FLAVORS[flavor][3]
    containerfile = "FROM %s\nRUN rm %s/pages-*.img\n" % (image_name(flavor), directory)
    ssh("printf %s | podman build --pull=never -q -t %s -f - /tmp >/dev/null" % (shlex.quote(containerfile), name))
    return name


@pytest.mark.parametrize("flavor", ["generic", "liberty", "podman"])
def test_corrupted_checkpoint_falls_back_to_cold_start_or_fails_when_required(images, flavor):
    corrupt = corrupted_image(flavor)
    result, _name, port = start(flavor, image=corrupt)
    assert not result.get("failed"), result.get("msg")
    assert result["restored"] is False
    # The reason carries CRIU's own errors, read from the restore log.
    assert "Error" in result["fallback_reason"], result["fallback_reason"]
    assert JVM_ANSWER in answer(port)
    strict, name, _port = start(flavor, image=corrupt, require_restore=True)
    assert strict.get("failed")
    assert "not restored and require_restore is set" in strict["msg"]
    if flavor == "liberty":
        assert "CRIU_RESTORE_DISABLE_RECOVERY=true" in json.dumps(inspect("container", name)["Config"]["Env"])


@pytest.fixture
def podman_service():
    """A real `podman system service` on a socket of its own, stopped by its PID afterwards (lab hosts
    share the machine's PID namespace: nothing is killed by name)."""
    socket = "/run/itest-podman-%s.sock" % RUN_ID
    pid = ssh("setsid podman system service --time=0 unix://%s </dev/null >/dev/null 2>&1 & echo $!" % socket).strip()
    ssh("for i in $(seq 100); do [ -S %s ] && exit 0; sleep 0.1; done; exit 1" % socket)
    yield socket
    ssh("kill %s; rm -f %s" % (pid, socket), check=False)


def spare_args(pod=None, port=None):
    name = "itest-spare-%s-%d" % (RUN_ID, next(PORTS))
    args = dict(name=name, image=image_name("generic"), readiness={"type": "http", "port": 8080, "timeout": 60})
    return dict(args, pod=pod) if pod else dict(args, ports=["127.0.0.1:%d:8080" % port])


def test_a_spare_in_a_pod_is_started_through_the_api_socket_and_restores(images, podman_service):
    port = next(PORTS)
    pod = "itest-pod-%s-%d" % (RUN_ID, port)
    ssh("podman pod create --name %s --publish 127.0.0.1:%d:8080 >/dev/null && podman pod start %s >/dev/null"
        % (pod, port, pod))
    args = spare_args(pod=pod)
    created = module("instanton_container", dict(args, state="created"))
    assert created["changed"] and created["container"]["State"]["Status"] == "created", created.get("msg")
    assert module("instanton_container", dict(args, state="created"))["changed"] is False
    started = module("instanton_container", dict(args, api_socket=podman_service))
    assert not started.get("failed"), started.get("msg")
    assert started["changed"] and started["start_command"] == "api start"
    assert started["restored"] is True, started.get("fallback_reason")
    # The spare itself started, in the pod, with restore's privileges only.
    assert started["container"]["Id"] == created["container"]["Id"]
    assert started["container"]["Pod"] == inspect("pod", pod)["Id"]
    capabilities, privileged, _security = restore_privileges(started["container"])
    assert privileged is False and not capabilities & {"CAP_SYS_PTRACE", "CAP_SYS_ADMIN"}
    assert JVM_ANSWER in answer(port)
    again = module("instanton_container", dict(args, api_socket=podman_service))
    assert again["changed"] is False and again["start_command"] is None
    MEASURED["generic"].update(spare_in_pod_api_start_ms=started["start_ms"])


def test_a_spare_that_ran_is_replaced_and_a_dead_api_socket_is_named(images):
    port = next(PORTS)
    args = spare_args(port=port)
    first = module("instanton_container", dict(args, state="created"))
    started = module("instanton_container", args)
    assert started["start_command"] == "podman start" and started["restored"] is True, started.get("msg")
    assert started["container"]["Id"] == first["container"]["Id"]
    module("instanton_container", dict(args, state="stopped"))
    second = module("instanton_container", dict(args, state="created"))
    assert second["changed"] and second["container"]["Id"] != first["container"]["Id"]
    assert second["container"]["State"]["Status"] == "created"
    dead = module("instanton_container", dict(args, api_socket="/run/itest-no-such-%s.sock" % RUN_ID))
    assert dead.get("failed") and "podman system service" in dead["msg"], dead.get("msg")
    assert inspect("container", args["name"])["State"]["Status"] == "created"


@pytest.mark.parametrize("args, message", [
    ({"pod": "p", "ports": ["8080:8080"]}, "parameters are mutually exclusive: pod|ports"),
    ({"pod": "p", "network": "host"}, "parameters are mutually exclusive: pod|network"),
    ({"state": "created", "image": None}, "state is created but all of the following are missing: image"),
    ({"readiness": {"type": "tcp", "port": 70000}}, "readiness.port must be between 1 and 65535, not 70000"),
    ({"checkpoint_archive": "/tmp/app.tar"}, "parameters are mutually exclusive: image|checkpoint_archive"),
    ({"image": None}, "state is started but any of the following are missing: image, checkpoint_archive"),
])
def test_bad_container_parameters_are_named(args, message):
    params = dict(name="itest-bad-%s" % RUN_ID, image=image_name("generic"))
    params.update(args)
    result = module("instanton_container", dict((key, value) for key, value in params.items() if value is not None))
    assert result.get("failed") and message in result["msg"], result.get("msg")


def test_missing_checkpoint_falls_back_with_the_reason(images):
    name = image_name("generic", "-empty")
    containerfile = "FROM %s\nRUN rm -rf %s/*\n" % (image_name("generic"), FLAVORS["generic"][3])
    ssh("printf %s | podman build --pull=never -q -t %s -f - /tmp >/dev/null" % (shlex.quote(containerfile), name))
    result, _name, port = start("generic", image=name)
    assert result["restored"] is False
    assert "no checkpoint" in result["fallback_reason"]
    assert JVM_ANSWER in answer(port)


def test_truncated_checkpoint_restore_is_bounded_and_falls_back(images):
    """CRIU 4.2.1 spins on truncated page files: the entrypoint's timeout must end it."""
    name = image_name("generic", "-truncated")
    directory = FLAVORS["generic"][3]
    containerfile = "FROM %s\nRUN for f in %s/pages-*.img; do truncate -s 4096 $f; done\n" % (
        image_name("generic"), directory)
    ssh("printf %s | podman build --pull=never -q -t %s -f - /tmp >/dev/null" % (shlex.quote(containerfile), name))
    result, _name, port = start("generic", image=name, env={"INSTANTON_RESTORE_TIMEOUT": "5"})
    assert not result.get("failed"), result.get("msg")
    # env values are no_log: Ansible masks "5" wherever it appears in the result.
    assert result["restored"] is False and "no result within" in result["fallback_reason"]
    assert JVM_ANSWER in answer(port)


@pytest.mark.parametrize("flavor", sorted(FLAVORS))
def test_unchanged_inputs_are_not_rebuilt_and_check_mode_reports_a_forced_build(images, flavor):
    again = module("instanton_image", build_args(flavor))
    assert again["changed"] is False and again["built"] is False
    assert again["inputs_digest"] == images[flavor]["inputs_digest"]
    forced = module("instanton_image", build_args(flavor, force=True), check=True)
    assert forced["changed"] is True and forced["built"] is True
    assert inspect("image", image_name(flavor))["Id"] == images[flavor]["image"]["Id"]


def test_liberty_run_method_commits_without_wlp_checkpoint(images):
    config = inspect("image", image_name("liberty-run"))["Config"]
    assert "WLP_CHECKPOINT=" in config["Env"]
    assert config["Entrypoint"] == ["/opt/ol/wlp/bin/server"] and config["Cmd"] == ["run", "defaultServer"]


def test_podman_export_is_private_and_zstd(images):
    assert ssh("stat -c %%a %s %s" % (EXPORT_DIR, EXPORT_PATH)).split() == ["700", "600"]
    assert ssh("head -c 4 %s | od -An -tx1" % EXPORT_PATH).split() == ["28", "b5", "2f", "fd"]


@pytest.mark.parametrize("args, message", [
    ({"flavor": "liberty", "phase": "features"}, "removed in Open Liberty 23.0.0.2-beta"),
    ({"flavor": "nosuch"}, "value of flavor must be one of"),
    ({"flavor": "generic", "app_image": "localhost/no-such-image:1"}, "is not on this host"),
    ({"flavor": "podman", "readiness": None}, "readiness is required for flavor=podman"),
    ({"flavor": "podman", "export": {"path": "/var/tmp"}}, "export.path /var/tmp is a directory"),
    ({"flavor": "podman", "export": {"path": "/etc/hostname/app.tar"}}, "is under /etc/hostname, which is not a directory"),
])
def test_bad_parameters_are_named(args, message):
    params = dict(name=image_name("bad"), app_image=JVM_APP, readiness={"type": "http", "port": 8080})
    params.update(args)
    result = module("instanton_image", params)
    assert result.get("failed") and message in result["msg"], result.get("msg")


@pytest.mark.parametrize("flavor", ["generic", "podman"])
def test_readiness_never_reached_leaves_no_image_and_no_scratch(images, flavor):
    before = scratch_objects()
    name = image_name(flavor, "-neverready")
    result = module("instanton_image", build_args(
        flavor, name=name, export=None, readiness={"type": "http", "port": 9999, "timeout": 5}))
    assert result.get("failed") and "ready within 5" in result["msg"], result.get("msg")
    assert ssh("podman image exists %s && echo present || echo absent" % name).strip() == "absent"
    assert scratch_objects() == before
