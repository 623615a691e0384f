"""Servers nobody here wrote, made InstantOn the README's way on a lab host.

Node.js (Debian's nodejs), a Go binary (built with Debian's golang-go), gunicorn + Flask from
PyPI, and Tomcat 10 with its examples webapp (Debian's tomcat10): each app image from samples/
becomes a generic-flavor image through instanton_image with no CRIU suite named (the image gets
the CRIU the kernel needs), and restores through instanton_container with require_restore,
CHECKPOINT_RESTORE + SETPCAP only and the host role's seccomp profile, answering with state
that continues from before the checkpoint. Each image is built once per session.
"""
import itertools
import json
import re
import shlex
import subprocess
import uuid

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    SECCOMP_PROFILE_PATH as SECCOMP_PROFILE)
from support import BIN, LAB_INVENTORY, REPO, build_instanton_images, build_samples, keep_measured, lab_ssh, run_module, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
RUN_ID = uuid.uuid4().hex[:6]
PORTS = itertools.count(19300)
# The examples webapp keeps a session attribute set before the checkpoint; its cookie is kept in
# the image by the pre_checkpoint hook (curl is not in the image: bash's /dev/tcp).
TOMCAT_SESSION = "/srv/itest-session-cookie"
TOMCAT_SESSION_PATH = "/examples/servlets/servlet/SessionExample"
TOMCAT_PRE_CHECKPOINT = [
    "bash", "-c",
    "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET %s?dataname=checkpointed&datavalue=before HTTP/1.0\\r\\n"
    "Host: localhost\\r\\n\\r\\n' >&3 && grep -o 'JSESSIONID=[^;]*' <&3 > %s" % (TOMCAT_SESSION_PATH, TOMCAT_SESSION)]
# service -> (sample, readiness)
SERVICES = {
    "node": ("node-app", {"type": "http", "port": 8080, "path": "/"}),
    "go": ("go-app", {"type": "http", "port": 8080, "path": "/"}),
    "gunicorn": ("pypi-app", {"type": "http", "port": 8080, "path": "/"}),
    "tomcat": ("tomcat-app", {"type": "http", "port": 8080, "path": "/examples/", "timeout": 180}),
}
RESULTS = REPO / ".lab" / "results" / "third_party_services.json"
MEASURED = {}


def ssh(command, check=True):
    return lab_ssh(HOST, command, check)


def module(name, args):
    return run_module(name, args, host=HOST, inventory=LAB_INVENTORY)


def app_image(service):
    return "localhost/instanton-sample-%s:latest" % SERVICES[service][0]


def image_name(service):
    return "localhost/itest-%s-%s:instanton" % (service, RUN_ID)


def build_args(service):
    args = dict(name=image_name(service), app_image=app_image(service), readiness=SERVICES[service][1])
    if service == "tomcat":
        args["pre_checkpoint"] = TOMCAT_PRE_CHECKPOINT
    return args


def remove_everything():
    ssh("podman ps -a --format '{{.Names}}' | grep -- '-%s-' | xargs -r podman rm -f -t 0 >/dev/null; "
        "podman images --format '{{.Repository}}:{{.Tag}}' | grep -- '-%s:' | xargs -r podman rmi -f >/dev/null"
        % (RUN_ID, RUN_ID), check=False)


def fetch_pypi_wheels():
    """gunicorn and Flask from PyPI for the pypi-app sample, fetched by the controller's pip: the lab's
    hosts do not trust this machine's TLS-intercepting CA, so pip inside them cannot reach PyPI."""
    subprocess.run([str(REPO / "samples" / "pypi-app" / "fetch-wheels"), str(BIN / "pip")], check=True,
                   timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def service_images(request):
    """The app images (built when missing) and one InstantOn image per service."""
    fetch_pypi_wheels()
    build_samples(HOST, [sample for sample, _readiness in SERVICES.values()])
    request.addfinalizer(remove_everything)
    keep_measured(request, RESULTS, MEASURED)
    return build_instanton_images(HOST, {service: build_args(service) for service in SERVICES}, MEASURED)


def start(service, image, **extra):
    """instanton_container on a new name and host port, ready at the first HTTP 200; result and port."""
    port = next(PORTS)
    readiness = dict(SERVICES[service][1], timeout=SERVICES[service][1].get("timeout", 60))
    args = dict(name="itest-%s-%s-%d" % (service, RUN_ID, port), image=image,
                ports=["127.0.0.1:%d:8080" % port], readiness=readiness)
    args.update(extra)
    return module("instanton_container", args), port


def get(port, path="/", cookie=None):
    headers = {"Cookie": cookie} if cookie else {}
    return ssh("python3 -c %s" % shlex.quote(
        "import urllib.request; print(urllib.request.urlopen(urllib.request.Request("
        "'http://127.0.0.1:%d%s', headers=%r), timeout=10).read().decode())" % (port, path, headers)))


def checkpoint_log(service):
    """What the app wrote before it was checkpointed (kept in the image by the checkpoint step)."""
    return ssh("podman run --rm --network none --entrypoint cat %s /instanton/checkpoint-app.log" % image_name(service))


def assert_continues(service, port):
    """The restored process answers with the state it had at the checkpoint."""
    if service == "tomcat":
        cookie = ssh("podman run --rm --network none --entrypoint cat %s %s" % (image_name(service), TOMCAT_SESSION))
        page = get(port, TOMCAT_SESSION_PATH, cookie.strip())
        assert "checkpointed = before" in page, page[-1500:]
        return
    boot = re.search(r"boot ([0-9a-f]{16})", checkpoint_log(service)).group(1)
    answer = json.loads(get(port))
    # Same process memory as at the checkpoint, and the readiness probes counted before it.
    assert answer["boot"] == boot and answer["hits"] >= 2, answer


def assert_least_privilege(container):
    host_config = container["HostConfig"]
    assert host_config["Privileged"] is False
    assert host_config["CapAdd"] == ["CAP_CHECKPOINT_RESTORE"]
    assert {"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"} <= set(container["EffectiveCaps"])
    assert not set(container["EffectiveCaps"]) & {"CAP_SYS_PTRACE", "CAP_SYS_ADMIN"}
    assert host_config["SecurityOpt"] == ["seccomp=%s" % SECCOMP_PROFILE], host_config["SecurityOpt"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_third_party_service_restores_with_least_privilege_and_carries_on(service_images, service):
    result, port = start(service, image_name(service), require_restore=True)
    assert not result.get("failed"), result.get("msg")
    assert result["restored"] is True, result.get("fallback_reason")
    assert_least_privilege(result["container"])
    assert_continues(service, port)
    cold, _cold_port = start(service, app_image(service))
    assert not cold.get("failed"), cold.get("msg")
    MEASURED[service].update(instanton_start_ms=result["start_ms"], criu_restore_ms=result.get("criu_restore_ms"),
                             cold_start_ms=cold["start_ms"])


def test_node_checkpoint_held_no_io_uring_and_its_image_chose_criu_for_the_kernel(service_images):
    """The checkpoint step's shim kept libuv off io_uring (else CRIU cannot dump it), and with no suite
    named the image got a CRIU the lab's kernel can use."""
    version = ssh("podman run --rm --network none --entrypoint criu %s --version" % image_name("node"))
    assert re.search(r"Version: (4\.[2-9]|[5-9]\.)", version), version
    config = json.loads(ssh("podman image inspect %s" % image_name("node")))[0]["Config"]
    assert not any(entry.startswith("LD_PRELOAD=") for entry in config.get("Env") or []), config.get("Env")
