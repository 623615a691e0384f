# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""The "podman" flavor: podman's own checkpoint of a running, warmed-up container.

The app image runs as a container; once ready, `podman container checkpoint
--create-image` (podman 4.1+) makes the InstantOn image, restored later by
`podman container restore IMAGE` (or `podman run IMAGE`, podman 4.4+). Optionally the
same checkpoint goes to an --export archive first (file 0600 in a 0700 directory).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
import time

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import ns_last_pid_options
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import (
    CHECKPOINT_NAME_PREFIX, BuildError, Scratch, app_command, run_step)

COMPRESSIONS = ("none", "gzip", "zstd")
MIN_VERSION = (4, 1)
# Let the app finish what the readiness probe started before it is frozen.
SETTLE_SECONDS = 1


def inputs(app_image, params):
    export = params["export"] or {}
    return {
        "flavor": "podman",
        "app_image_id": app_image["Id"],
        "command": app_command(app_image, params["command"]),
        "readiness": params["readiness"],
        "export": dict(path=export.get("path"), compression=export.get("compression")),
    }


def version_problem(version):
    """Why this podman cannot make checkpoint images, or None."""
    try:
        found = tuple(int(part) for part in version.split("-")[0].split(".")[:2])
    except ValueError:
        return "cannot read podman's version %r" % version
    if found < MIN_VERSION:
        return "the podman flavor needs podman 4.1 or later (checkpoint --create-image); this host has %s" % version
    return None


def run_arguments(container, app_image, command):
    # Without clone3 the restore needs ns_last_pid, and podman restores with the checkpointed settings.
    args = ["run", "--detach", "--name", container] + ns_last_pid_options(os.uname()[2])
    if command:
        args += ["--entrypoint", json.dumps(list(command))]
    return args + [app_image["Id"]]


def export_arguments(export, temporary):
    return ["--leave-running", "--export", temporary, "--compress", export["compression"]]


def export_path_problem(path):
    """Why the export archive cannot be written at PATH (checked before anything is built), or None."""
    if os.path.isdir(path):
        return "export.path %s is a directory: give the archive's file name, for example %s" % (
            path, os.path.join(path, "checkpoint.tar.zst"))
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            return "export.path %s is under %s, which is not a directory" % (path, existing)
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        return "export.path %s cannot be written: %s is not writable" % (path, existing)
    return None


def prepare_export_directory(path):
    """The archive's directory, made 0700 when missing: checkpoints hold process memory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    return directory


def export_checkpoint(podman, container, export):
    """--export into a new 0600 file next to the target, renamed over it when complete: the archive
    is never readable by others, not even for a moment, and a failed export leaves no partial file."""
    try:
        directory = prepare_export_directory(export["path"])
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(export["path"]),
                                                 suffix=".partial")
    except (IOError, OSError) as error:
        raise BuildError("cannot write the export archive %s: %s" % (export["path"], error))
    os.close(descriptor)
    try:
        run_step(podman, ["container", "checkpoint"] + export_arguments(export, temporary) + [container],
                 "podman container checkpoint --export", criu_phase="dump")
        os.chmod(temporary, 0o600)
        os.rename(temporary, os.path.abspath(export["path"]))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def raise_build_error(msg, criu_error=None):
    raise BuildError(msg, criu_error)


def wait_until_ready(podman, container, readiness):
    runner = container_run.Runner(podman, {"name": container, "readiness": readiness}, raise_build_error)
    if runner.wait_ready(runner.probe(podman.container(container))) is None:
        runner.fail("the app in %s was not ready within %ds (%s readiness)"
                    % (container, readiness["timeout"], readiness["type"]))


def build(podman, app_image, params, digest):
    """Build the checkpoint image under params["name"]; returns its inspect dict."""
    with Scratch(podman) as scratch:
        # podman records this name in the image: it carries the inputs digest.
        container = scratch.container("checkpoint", CHECKPOINT_NAME_PREFIX + digest)
        podman.remove_container(container)
        run_step(podman, run_arguments(container, app_image, params["command"]), "starting the app container")
        wait_until_ready(podman, container, params["readiness"])
        time.sleep(SETTLE_SECONDS)
        if params["export"]:
            export_checkpoint(podman, container, params["export"])
        run_step(podman, ["container", "checkpoint", "--create-image", params["name"], container],
                 "podman container checkpoint --create-image", criu_phase="dump")
    return podman.image(params["name"])
