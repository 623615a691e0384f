# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The "generic" flavor: a self-restoring image for any app.

1. build a stage image: the app image plus CRIU and the instanton scripts;
2. run the checkpoint script in it: start the app, wait until ready, criu dump;
3. commit the stopped container as the InstantOn image, entrypoint reset to
   the restore script (a commit keeps the checkpoint command otherwise).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile

from ansible_collections.instanton.platform.plugins.module_utils import instanton_scripts as scripts
from ansible_collections.instanton.platform.plugins.module_utils.image_build import (
    BuildError, Scratch, change_options, label_changes, labels)

# Only the checkpoint step holds these; the InstantOn container gets
# CHECKPOINT_RESTORE and SETPCAP (see instanton_container).
CHECKPOINT_CAPABILITIES = "CHECKPOINT_RESTORE,SYS_PTRACE,SETPCAP"

CONTAINERFILE = """FROM {base}
USER root
ARG INSTANTON_CRIU_APT_SUITE
COPY install-criu checkpoint entrypoint config /usr/local/lib/instanton/
RUN sh /usr/local/lib/instanton/install-criu \\
 && chmod 0755 /usr/local/lib/instanton/checkpoint /usr/local/lib/instanton/entrypoint \\
 && rm /usr/local/lib/instanton/install-criu
"""


def app_command(app_image, command):
    """The app's command: given, or the app image's own entrypoint and command."""
    if command:
        return list(command)
    config = app_image.get("Config") or {}
    found = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    if not found:
        raise BuildError("the app image has no ENTRYPOINT or CMD: give the app's command in `command`")
    return found


def inputs(app_image, params):
    return {
        "flavor": "generic",
        "app_image_id": app_image["Id"],
        "command": app_command(app_image, params["command"]),
        "readiness": params["readiness"],
        "criu_apt_suite": params["criu_apt_suite"] or "",
        "checkpoint_seccomp": params["checkpoint_seccomp"],
        "scripts": [scripts.INSTALL_CRIU, scripts.CHECKPOINT_SCRIPT, scripts.ENTRYPOINT_SCRIPT],
    }


def write_context(directory, app_image, params):
    files = {
        "Containerfile": CONTAINERFILE.format(base=app_image["Id"]),
        "install-criu": scripts.INSTALL_CRIU,
        "checkpoint": scripts.CHECKPOINT_SCRIPT,
        "entrypoint": scripts.ENTRYPOINT_SCRIPT,
        "config": scripts.render_config(app_command(app_image, params["command"]), params["readiness"]),
    }
    for name, content in files.items():
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(content)


def last_lines(text, count=15):
    return "\n".join(text.strip().splitlines()[-count:])


def build(podman, app_image, params, digest):
    """Build the image under params["name"]; returns its inspect dict."""
    context = tempfile.mkdtemp(prefix="instanton-build-")
    try:
        with Scratch(podman) as scratch:
            write_context(context, app_image, params)
            stage = scratch.image("stage")
            rc, out, err = podman.run([
                "build", "--pull=never", "--tag", stage,
                "--build-arg", "INSTANTON_CRIU_APT_SUITE=%s" % (params["criu_apt_suite"] or ""), context], check=False)
            if rc != 0:
                raise BuildError("building the stage image (app image + CRIU) failed:\n%s" % last_lines(out + err))
            checkpoint = scratch.container("checkpoint")
            rc, out, err = podman.run([
                "run", "--name", checkpoint, "--cap-add", CHECKPOINT_CAPABILITIES,
                "--security-opt", "seccomp=%s" % params["checkpoint_seccomp"],
                "--entrypoint", scripts.CHECKPOINT, stage], check=False)
            if rc != 0:
                raise BuildError("the checkpoint step failed:\n%s" % last_lines(out + err))
            changes = [
                "ENTRYPOINT %s" % json.dumps([scripts.ENTRYPOINT]),
                "CMD []",
            ] + label_changes(labels("generic", digest, {
                "io.instanton.platform.app-image": params["app_image"]}))
            podman.run(["commit", "--quiet"] + change_options(changes) + [checkpoint, params["name"]])
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return podman.image(params["name"])
