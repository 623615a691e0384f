# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""The "liberty" flavor: Open Liberty's own InstantOn checkpoint, driven from outside.

method=build: a Containerfile ending in `RUN checkpoint.sh PHASE`, built with the
  capabilities CRIU needs (podman build --cap-add ... --security-opt seccomp=...);
method=run: for builders that cannot grant those, `podman run` the app image with
  WLP_CHECKPOINT=PHASE, then `podman commit` the stopped container, with
  WLP_CHECKPOINT emptied and the app image's ENTRYPOINT/CMD put back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    NS_LAST_PID, ns_last_pid_options)
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import (
    APP_IMAGE_LABEL, CHECKPOINT_CAPABILITIES, Scratch, change_options, label_changes, labels, run_step)

PHASES = ("beforeAppStart", "afterAppStart")
CHECKPOINT_ENV = "WLP_CHECKPOINT"
# Liberty's switch to fail instead of starting cold when restore fails.
DISABLE_RECOVERY_ENV = "CRIU_RESTORE_DISABLE_RECOVERY"


def phase_problem(phase):
    """What is wrong with a checkpoint phase, or None."""
    if phase == "features":
        return ("the checkpoint phase `features` was removed in Open Liberty 23.0.0.2-beta: "
                "use beforeAppStart or afterAppStart")
    if phase not in PHASES:
        return "unknown checkpoint phase %r: use one of %s" % (phase, ", ".join(PHASES))
    return None


def method_problem(method, kernel_release):
    """Why a method cannot checkpoint on this kernel, or None. Without clone3 CRIU sets PIDs through
    ns_last_pid, which a checkpoint inside `podman build` cannot be given (Open Liberty's docs: the
    run-and-commit flow for RHEL 8)."""
    if method == "build" and ns_last_pid_options(kernel_release):
        return ("kernel %s has no clone3 for CRIU to choose PIDs with, and a checkpoint inside podman build cannot "
                "get %s: use method: run (podman run with that volume, then podman commit)"
                % (kernel_release, NS_LAST_PID))
    return None


def inputs(app_image, params):
    return {
        "flavor": "liberty",
        "app_image_id": app_image["Id"],
        "phase": params["phase"],
        "method": params["method"],
        "checkpoint_seccomp": params["checkpoint_seccomp"],
    }


def checkpoint_options(seccomp):
    """What the checkpoint step needs besides the defaults (build and run take the same)."""
    return ["--cap-add", CHECKPOINT_CAPABILITIES, "--security-opt", "seccomp=%s" % seccomp]


def render_containerfile(base, phase, found_labels):
    """The Containerfile of method=build: labels first, the checkpoint as the last layer."""
    lines = ["FROM %s" % base]
    lines += ["LABEL %s=%s" % (key, json.dumps(value)) for key, value in sorted(found_labels.items())]
    lines.append("RUN checkpoint.sh %s" % phase)
    return "\n".join(lines) + "\n"


def commit_changes(app_image, found_labels):
    """What the commit must not keep from the checkpoint run: its WLP_CHECKPOINT, a changed command."""
    config = app_image.get("Config") or {}
    return ["ENV %s=" % CHECKPOINT_ENV,
            "ENTRYPOINT %s" % json.dumps(config.get("Entrypoint") or []),
            "CMD %s" % json.dumps(config.get("Cmd") or [])] + label_changes(found_labels)


def build_with_containerfile(podman, app_image, params, found_labels):
    context = tempfile.mkdtemp(prefix="instanton-liberty-")
    try:
        with open(os.path.join(context, "Containerfile"), "w") as handle:
            handle.write(render_containerfile(app_image["Id"], params["phase"], found_labels))
        # --layers=false: a failed RUN leaves no intermediate image behind.
        run_step(podman, ["build", "--pull=never", "--layers=false", "--force-rm", "--tag", params["name"]]
                 + checkpoint_options(params["checkpoint_seccomp"]) + [context],
                 "podman build with RUN checkpoint.sh %s" % params["phase"], criu_phase="dump")
    finally:
        shutil.rmtree(context, ignore_errors=True)


def build_with_run_and_commit(podman, app_image, params, found_labels):
    with Scratch(podman) as scratch:
        checkpoint = scratch.container("checkpoint")
        run_step(podman, ["run", "--name", checkpoint, "--env", "%s=%s" % (CHECKPOINT_ENV, params["phase"])]
                 + checkpoint_options(params["checkpoint_seccomp"]) + ns_last_pid_options(os.uname()[2])
                 + [app_image["Id"]],
                 "the checkpoint run (%s=%s)" % (CHECKPOINT_ENV, params["phase"]), criu_phase="dump")
        run_step(podman, ["commit", "--quiet"] + change_options(commit_changes(app_image, found_labels))
                 + [checkpoint, params["name"]], "podman commit")


def build(podman, app_image, params, digest):
    """Build the image under params["name"]; returns its inspect dict."""
    found_labels = labels("liberty", digest, {APP_IMAGE_LABEL: params["app_image"]})
    if params["method"] == "build":
        build_with_containerfile(podman, app_image, params, found_labels)
    else:
        build_with_run_and_commit(podman, app_image, params, found_labels)
    return podman.image(params["name"])
