# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Running "podman" flavor images: `podman container restore` of the checkpoint image (or --import
of its archive), one restore of an image at a time per host; if podman cannot restore it, the
app image runs cold instead, unless require_restore is set.

podman restores a checkpoint with the checkpointed container's own settings, so options that
would change them are refused, and the restored container runs its app image.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.instanton.platform.plugins.module_utils.common import _host_lock as host_lock
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import CHECKPOINT_NAME_ANNOTATION, last_lines
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import RunFlavor, restore_error_result

ROOTFS_IMAGE_ANNOTATION = "io.podman.annotations.checkpoint.rootfsImageID"
# podman restores a checkpoint image with the checkpointed container's own settings.
NOT_FOR_PODMAN_FLAVOR = ("env", "volumes", "cap_add", "network", "pod")
# crun names CRIU's log in its error: "Please check CRIU logfile `PATH`".
CRIU_LOGFILE = re.compile(r"CRIU logfile `([^`]+)`")


def archive_as_image(path, container_name, app_image):
    """A podman checkpoint archive seen as the checkpoint image of the same checkpoint: the annotations
    podman would give that image, so that it is started, compared and fallen back from the same way."""
    return {"Id": None, "Archive": path,
            "Annotations": {CHECKPOINT_NAME_ANNOTATION: container_name, ROOTFS_IMAGE_ANNOTATION: app_image["Id"]}}


def app_image_id(image):
    """The image the checkpointed container ran: a restored container runs it."""
    return (image.get("Annotations") or {}).get(ROOTFS_IMAGE_ANNOTATION)


def restore_arguments(params, image):
    """`podman container restore` of a podman checkpoint image, or `--import` of its archive."""
    args = ["container", "restore", "--name", params["name"]]
    for port in params["ports"]:
        args += ["--publish", port]
    if image.get("Archive"):
        return args + ["--import", image["Archive"]]
    return args + [params["image"]]


def criu_errors(podman_error):
    """CRIU's last errors from the restore log podman's error names (read before the container is removed)."""
    match = CRIU_LOGFILE.search(podman_error)
    try:
        with open(match.group(1)) as handle:
            errors = [line.strip() for line in handle if "Error" in line]
    except (AttributeError, IOError, OSError):
        return ""
    return " ".join(errors[-2:])


def restore_checkpoint(runner, image):
    """`podman container restore` of a checkpoint image, one at a time per image on this host (podman
    mounts the image to read it and unmounts it when done, even from under a concurrent restore of the
    same image); an archive needs no turn: each import unpacks its own copy."""
    params = runner.params
    if image.get("Archive"):
        return runner.podman.run(restore_arguments(params, image), check=False)
    try:
        with host_lock.exclusive("restore-" + image["Id"], runner.timeout()):
            return runner.podman.run(restore_arguments(params, image), check=False)
    except host_lock.LockError as error:
        runner.fail_json(msg="no restore of %s started: %s" % (params["image"], error))


class PodmanRun(RunFlavor):
    name = "podman"
    applies_seccomp_profile = False

    def option_problem(self, params):
        if params["state"] == "created":
            return ("state=created is not available for podman checkpoint images: podman container restore "
                    "creates and restores in one step")
        given = [key for key in NOT_FOR_PODMAN_FLAVOR if params[key]] + (["privileged"] if params["privileged"] else [])
        if given:
            return ("%s cannot be set for a podman checkpoint image: podman restores it with the checkpointed "
                    "container's own settings" % ", ".join(given))
        if not params["restore"]:
            return "restore=false is not available for podman checkpoint images: run the app image to start cold"
        return None

    def runs_as_asked(self, running, image, params):
        # A restored container runs its app image and keeps no labels of ours.
        return bool(running["State"].get("Restored")) and running["Image"] == app_image_id(image)

    def launch(self, runner, image):
        rc, out, err = restore_checkpoint(runner, image)
        if rc == 0:
            runner.podman_restore = (True, None)
            return "podman container restore --import" if image.get("Archive") else "podman container restore"
        reason = " ".join(filter(None, ["podman container restore failed: %s" % last_lines(out + err, 3),
                                        criu_errors(out + err)]))
        if runner.params["require_restore"]:
            runner.fail_json(msg="the checkpoint was not restored and require_restore is set: %s" % reason,
                             **restore_error_result(reason))
        runner.podman_restore = (False, reason)
        runner.podman.remove_container(runner.params["name"])
        runner.run_container(RunFlavor(), dict(runner.params, image=app_image_id(image)))
        return "podman run"

    def outcome(self, runner, container, image, wait):
        # podman's restore worked or failed: no marker to wait for.
        return runner.podman_restore or (bool(container["State"].get("Restored")), "not restored by podman")


FLAVOR = PodmanRun()
