# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
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

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _instanton_scripts as scripts
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    criu_for_kernel, ns_last_pid_options)
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import (
    APP_IMAGE_LABEL, CHECKPOINT_CAPABILITIES, Scratch, app_command, change_options, label_changes, labels, run_step)

CONTAINERFILE = """FROM {base} AS shim
USER root
COPY build-no-io-uring no-io-uring.c /tmp/instanton-shim/
RUN sh /tmp/instanton-shim/build-no-io-uring

FROM {base}
USER root
ARG INSTANTON_CRIU_APT_SUITE
ARG INSTANTON_CRIU_MINIMUM
ARG INSTANTON_CRIU_NEWEST
COPY install-criu checkpoint entrypoint config /usr/local/lib/instanton/
COPY --from=shim /tmp/instanton-shim/no-io-uring.so /usr/local/lib/instanton/
RUN sh /usr/local/lib/instanton/install-criu \\
 && chmod 0755 /usr/local/lib/instanton/checkpoint /usr/local/lib/instanton/entrypoint \\
 && rm /usr/local/lib/instanton/install-criu
"""


def criu_build_args(params, kernel_release):
    """`podman build` arguments that choose the image's CRIU: the suite asked for, else the
    CRIU the kernel needs (the collection's one table)."""
    needed = criu_for_kernel(kernel_release)
    return ["--build-arg", "INSTANTON_CRIU_APT_SUITE=%s" % (params["criu_apt_suite"] or ""),
            "--build-arg", "INSTANTON_CRIU_MINIMUM=%s" % needed["minimum"],
            "--build-arg", "INSTANTON_CRIU_NEWEST=%d" % needed["newest"]]


def inputs(app_image, params):
    return {
        "flavor": "generic",
        "app_image_id": app_image["Id"],
        "command": app_command(app_image, params["command"]),
        "readiness": params["readiness"],
        "criu_apt_suite": params["criu_apt_suite"] or "",
        "criu_for_kernel": criu_for_kernel(os.uname()[2]),
        "pre_checkpoint": params["pre_checkpoint"] or [],
        "checkpoint_seccomp": params["checkpoint_seccomp"],
        "scripts": [scripts.INSTALL_CRIU, scripts.CHECKPOINT_SCRIPT, scripts.ENTRYPOINT_SCRIPT,
                    scripts.BUILD_NO_IO_URING, scripts.NO_IO_URING_SOURCE],
    }


def write_context(directory, app_image, params):
    files = {
        "Containerfile": CONTAINERFILE.format(base=app_image["Id"]),
        "install-criu": scripts.INSTALL_CRIU,
        "build-no-io-uring": scripts.BUILD_NO_IO_URING,
        "no-io-uring.c": scripts.NO_IO_URING_SOURCE,
        "checkpoint": scripts.CHECKPOINT_SCRIPT,
        "entrypoint": scripts.ENTRYPOINT_SCRIPT,
        "config": scripts.render_config(app_command(app_image, params["command"]), params["readiness"],
                                        params["pre_checkpoint"]),
    }
    for name, content in files.items():
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(content)


def build(podman, app_image, params, digest):
    """Build the image under params["name"]; returns its inspect dict."""
    context = tempfile.mkdtemp(prefix="instanton-build-")
    try:
        with Scratch(podman) as scratch:
            write_context(context, app_image, params)
            stage = scratch.image("stage")
            run_step(podman, ["build", "--pull=never", "--tag", stage]
                     + criu_build_args(params, os.uname()[2]) + [context],
                     "building the stage image (app image + CRIU + io_uring shim)")
            checkpoint = scratch.container("checkpoint")
            run_step(podman, [
                "run", "--name", checkpoint, "--cap-add", CHECKPOINT_CAPABILITIES,
                "--security-opt", "seccomp=%s" % params["checkpoint_seccomp"],
                "--entrypoint", scripts.CHECKPOINT] + ns_last_pid_options(os.uname()[2]) + [stage], "the checkpoint step", criu_phase="dump")
            changes = [
                "ENTRYPOINT %s" % json.dumps([scripts.ENTRYPOINT]),
                "CMD []",
            ] + label_changes(labels("generic", digest, {
                APP_IMAGE_LABEL: params["app_image"]}))
            podman.run(["commit", "--quiet"] + change_options(changes) + [checkpoint, params["name"]])
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return podman.image(params["name"])
