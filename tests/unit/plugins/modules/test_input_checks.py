"""Bad input to instanton_container and instanton_image: a clear fail_json before podman runs."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.common import _host_lock as host_lock
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import (
    container_name_problem, image_name_problem)
from support import COLLECTIONS_ROOT, REPO

BAD_CONTAINER_NAMES = ["", " ", "-app", ".app", "a b", "a/b", "a;rm -rf /", "$(id)", "é", "a" * 254, "a\nb"]
BAD_IMAGE_NAMES = ["", " ", "Localhost/App", "a b", "app:", "app:tag:tag", "/app", "app@sha256:xyz", "-app",
                   "app;id", "a" * 254]


@pytest.mark.parametrize("name", BAD_CONTAINER_NAMES)
def test_bad_container_names_are_refused(name):
    assert container_name_problem(name)


@pytest.mark.parametrize("name", ["app", "App_1.x-y", "itest-generic-abc123-19100", "0"])
def test_good_container_names_pass(name):
    assert container_name_problem(name) is None


@pytest.mark.parametrize("name", BAD_IMAGE_NAMES)
def test_bad_image_names_are_refused(name):
    assert image_name_problem(name)


@pytest.mark.parametrize("name", ["localhost/pyapp:instanton", "app", "docker.io/library/debian:13",
                                  "registry.example.com:5000/team/app:1.0", "a" * 64, "sha256:" + "f" * 64,
                                  "quay.io/app@sha256:" + "0" * 64])
def test_good_image_names_pass(name):
    assert image_name_problem(name) is None


def run_module(name, args, tmp_path):
    """The module run as Ansible runs it, with podman replaced by a program that records any call: bad
    input must be refused before podman runs at all."""
    calls = tmp_path / "calls"
    podman = tmp_path / "podman"
    podman.write_text("#!/bin/sh\necho \"$@\" >> %s\nexit 1\n" % calls)
    podman.chmod(0o755)
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, executable=str(podman))}))
    done = subprocess.run([sys.executable, str(REPO / "plugins" / "modules" / (name + ".py")), str(args_file)],
                          env=dict(os.environ, PYTHONPATH=str(COLLECTIONS_ROOT)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert "Traceback" not in done.stdout + done.stderr
    return json.loads(done.stdout), calls.exists()


@pytest.mark.parametrize("module, args, expected", [
    ("instanton_container", {"name": "", "image": "localhost/app:1"}, "name must not be empty"),
    ("instanton_container", {"name": "a b", "image": "localhost/app:1"}, "is not a valid container name"),
    ("instanton_container", {"name": "app", "image": ""}, "image must not be empty"),
    ("instanton_container", {"name": "app", "image": "Bad Image"}, "is not a valid image name"),
    ("instanton_container", {"name": "app", "image": "localhost/app:1", "pod": "-pod"}, "pod '-pod' is not a valid container name"),
    ("instanton_container", {"name": "", "state": "absent"}, "name must not be empty"),
    ("instanton_image", {"name": "", "app_image": "localhost/app:1", "readiness": {"type": "tcp", "port": 80}}, "name must not be empty"),
    ("instanton_image", {"name": "localhost/x:1", "app_image": "", "readiness": {"type": "tcp", "port": 80}},
     "app_image must not be empty"),
    ("instanton_image", {"name": "UPPER/case", "state": "absent"}, "is not a valid image name"),
])
def test_modules_refuse_bad_names_before_podman_runs(tmp_path, module, args, expected):
    result, podman_ran = run_module(module, args, tmp_path)
    assert result["failed"] and expected in result["msg"]
    assert not podman_ran


@pytest.mark.parametrize("module, args, what", [
    ("instanton_container", {"image": "localhost/app:1"}, "container"),
    ("instanton_image", {"state": "absent"}, "image"),
])
def test_a_name_held_by_another_run_fails_after_lock_timeout(tmp_path, module, args, what):
    name = "itest-held-%d" % os.getpid()
    name = name if what == "container" else "localhost/%s:1" % name
    with host_lock.exclusive("%s-%s" % (what, name), 5):
        result, podman_ran = run_module(module, dict(args, name=name, lock_timeout=1), tmp_path)
    assert result["failed"] and result["msg"].startswith("nothing was done to %s %s: another run" % (what, name))
    assert not podman_ran
