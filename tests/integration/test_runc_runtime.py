"""instanton_image and instanton_container on a lab host whose podman runs runc.

The second lab host is switched to runc through the container_runtime role's own choice
(`container_runtime_oci_runtime: runc`, trixie's runc 1.1.15) for this module, and back to crun
after it. runc drives CRIU differently from crun: it runs the criu binary over its RPC socket
where crun links libcriu, and it applies its own defaults to checkpoint and restore. The app
images are built once on the first host and copied over; the InstantOn images are built here,
under runc: the generic flavor (the checkpoint taken by CRIU inside the container), the podman
flavor (`podman container checkpoint`, that is runc's checkpoint), and a Go service nobody here
wrote. Each restores with least privilege and answers with the state it was checkpointed with.
"""
import itertools
import json
import re
import shlex
import uuid

import pytest

from support import (LAB_INVENTORY, REPO, build_instanton_images, build_samples, keep_measured, lab_hosts, lab_ssh,
                     run_module, run_playbook, share_image)

pytestmark = pytest.mark.lab
HOSTS = lab_hosts() if LAB_INVENTORY.exists() else []
# The images are built on the first host; the second one runs runc.
BUILD_HOST, HOST = (HOSTS + [None, None])[:2]
RUN_ID = uuid.uuid4().hex[:6]
PORTS = itertools.count(19900)
SECCOMP_PROFILE = "/etc/containers/seccomp.d/instanton.json"
EXPORT_PATH = "/var/tmp/itest-runc-%s/jvm.tar.zst" % RUN_ID
JVM_ANSWER = '"entries": 2000000'
# image -> (app image, build parameters)
IMAGES = {
    "generic": ("localhost/instanton-sample-jvm-app:latest", {"readiness": {"type": "http", "port": 8080}}),
    "podman": ("localhost/instanton-sample-jvm-app:latest",
               {"readiness": {"type": "http", "port": 8080}, "export": {"path": EXPORT_PATH, "compression": "zstd"}}),
    "go": ("localhost/instanton-sample-go-app:latest", {"readiness": {"type": "http", "port": 8080, "path": "/"}}),
}
SAMPLES = ("jvm-app", "go-app")
RESULTS = REPO / ".lab" / "results" / "runc_runtime.json"
MEASURED = {}

if len(HOSTS) < 2:
    pytestmark = [pytestmark, pytest.mark.skip(reason="the runc tests need a second lab host (LAB_HOSTS=2)")]


def ssh(command, check=True):
    return lab_ssh(HOST, command, check)


def module(name, args):
    return run_module(name, args, host=HOST, inventory=LAB_INVENTORY)


def image_name(key):
    return "localhost/itest-runc-%s-%s:instanton" % (key, RUN_ID)


def set_runtime(runtime):
    done = run_playbook(REPO / "playbooks" / "provision.yml",
                        {"instanton_hosts": HOST, "container_runtime_oci_runtime": runtime}, inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]


def remove_everything():
    ssh("podman ps -a --format '{{.Names}}' | grep -- '-%s-' | xargs -r podman rm -f -t 0 >/dev/null; "
        "podman pod ps --format '{{.Name}}' | grep -- '-%s-' | xargs -r podman pod rm -f -t 0 >/dev/null; "
        "podman images --format '{{.Repository}}:{{.Tag}}' | grep -- '-%s:' | xargs -r podman rmi -f >/dev/null; "
        "rm -rf %s" % (RUN_ID, RUN_ID, RUN_ID, EXPORT_PATH.rsplit("/", 1)[0]), check=False)


@pytest.fixture(scope="module")
def runc_images(request):
    """The second host on runc (the host role, preflight included), the app images copied from the
    first host, and the InstantOn images built under runc."""
    build_samples(BUILD_HOST, SAMPLES)
    request.addfinalizer(lambda: set_runtime("crun"))
    set_runtime("runc")
    for app_image in sorted({app for app, _params in IMAGES.values()}):
        share_image(BUILD_HOST, HOST, app_image)
    request.addfinalizer(remove_everything)
    keep_measured(request, RESULTS, MEASURED)
    args = dict((key, dict(params, name=image_name(key), app_image=app, flavor="podman" if key == "podman" else "generic"))
                for key, (app, params) in IMAGES.items())
    return build_instanton_images(HOST, args, MEASURED)


def start(key, **extra):
    """instanton_container on a new name and host port, ready at the first HTTP answer; result and port."""
    port = next(PORTS)
    args = dict(name="itest-runc-%s-%s-%d" % (key, RUN_ID, port), ports=["127.0.0.1:%d:8080" % port],
                readiness={"type": "http", "port": 8080, "timeout": 60})
    args.update(extra)
    return module("instanton_container", args), port


def get(port):
    return ssh("python3 -c %s" % shlex.quote(
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:%d/', timeout=10).read().decode())"
        % port))


def test_podman_on_the_host_runs_runc_and_the_preflight_says_ready(runc_images):
    assert ssh("podman info --format '{{.Host.OCIRuntime.Name}}'").strip() == "runc"
    facts = module("host_facts", {"smoke": False})
    assert facts["verdict"] == "ready", facts.get("reasons")
    assert facts["host_facts"]["runtime"]["name"] == "runc", facts["host_facts"]["runtime"]


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_an_image_built_under_runc_restores_under_runc_with_least_privilege(runc_images, key):
    result, port = start(key, image=image_name(key), require_restore=True)
    assert not result.get("failed"), result.get("msg")
    assert result["restored"] is True, result.get("fallback_reason")
    container = result["container"]
    assert container["OCIRuntime"] == "runc"
    assert container["HostConfig"]["Privileged"] is False
    assert not set(container["EffectiveCaps"]) & {"CAP_SYS_PTRACE", "CAP_SYS_ADMIN"}
    if key != "podman":
        # podman restores its own checkpoint images from the host; the others restore themselves.
        assert container["HostConfig"]["CapAdd"] == ["CAP_CHECKPOINT_RESTORE"]
        assert container["HostConfig"]["SecurityOpt"] == ["seccomp=%s" % SECCOMP_PROFILE]
    if key == "go":
        boot = re.search(r"boot ([0-9a-f]{16})", ssh(
            "podman run --rm --network none --entrypoint cat %s /instanton/checkpoint-app.log" % image_name(key))).group(1)
        answer = json.loads(get(port))
        assert answer["boot"] == boot and answer["hits"] >= 2, answer
    else:
        assert JVM_ANSWER in get(port)
    MEASURED[key].update(runtime="runc", instanton_start_ms=result["start_ms"])


def test_a_podman_checkpoint_archive_taken_by_runc_restores(runc_images):
    assert ssh("stat -c %%a %s" % EXPORT_PATH).strip() == "600"
    result, port = start("archive", checkpoint_archive=EXPORT_PATH)
    assert not result.get("failed"), result.get("msg")
    assert result["restored"] is True and result["start_command"] == "podman container restore --import", result
    assert result["container"]["OCIRuntime"] == "runc"
    assert JVM_ANSWER in get(port)


def test_a_spare_in_a_pod_started_by_runc_restores(runc_images):
    port = next(PORTS)
    pod = "itest-runc-pod-%s-%d" % (RUN_ID, port)
    ssh("podman pod create --name %s --publish 127.0.0.1:%d:8080 >/dev/null && podman pod start %s >/dev/null"
        % (pod, port, pod))
    args = dict(name="itest-runc-spare-%s-%d" % (RUN_ID, port), image=image_name("generic"), pod=pod,
                readiness={"type": "http", "port": 8080, "timeout": 60})
    created = module("instanton_container", dict(args, state="created"))
    assert created["container"]["State"]["Status"] == "created", created.get("msg")
    started = module("instanton_container", args)
    assert started["start_command"] == "podman start" and started["restored"] is True, started.get("msg")
    assert started["container"]["Id"] == created["container"]["Id"]
    assert JVM_ANSWER in get(port)
