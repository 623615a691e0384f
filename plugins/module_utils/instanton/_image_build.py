# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""What every InstantOn image flavor shares: input fingerprints, labels, scratch names, clean-up."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import uuid

from ansible_collections.instanton.platform.plugins.module_utils.host import _cpu_features as cpu_features
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors as criu_errors

COLLECTION_VERSION = "0.1.0"
LABEL_PREFIX = "io.instanton.platform."
INPUTS_LABEL = LABEL_PREFIX + "inputs"
FLAVOR_LABEL = LABEL_PREFIX + "flavor"
APP_IMAGE_LABEL = LABEL_PREFIX + "app-image"
# Only the checkpoint step holds these; InstantOn containers get CHECKPOINT_RESTORE
# and SETPCAP (see container_run).
CHECKPOINT_CAPABILITIES = "CHECKPOINT_RESTORE,SYS_PTRACE,SETPCAP"
# podman's checkpoint images carry no labels: the podman flavor names its checkpointed
# container after the inputs digest, and podman records that name in this annotation.
CHECKPOINT_NAME_ANNOTATION = "io.podman.annotations.checkpoint.name"
CHECKPOINT_NAME_PREFIX = "instanton-ckpt-"


class BuildError(Exception):
    """A build step failed; the message says which and why, criu_error (criu_errors.classify) why CRIU did."""

    def __init__(self, message, criu_error=None):
        super(BuildError, self).__init__(message)
        self.criu_error = criu_error


def fingerprint(inputs):
    """A stable digest of everything the image is made from (recorded as a label)."""
    document = json.dumps(dict(inputs, collection_version=COLLECTION_VERSION), sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def labels(flavor, inputs_digest, extra=None):
    found = {INPUTS_LABEL: inputs_digest, FLAVOR_LABEL: flavor,
             LABEL_PREFIX + "version": COLLECTION_VERSION}
    # The checkpoint runs only where the CPU has what this (the building) host has: recorded for the check at start.
    found.update(cpu_features.image_labels(cpu_features.host_cpu()))
    found.update(extra or {})
    return found


def app_command(app_image, command=None):
    """The app's command: given, or the app image's own entrypoint and command."""
    if command:
        return list(command)
    config = app_image.get("Config") or {}
    found = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    if not found:
        raise BuildError("the app image has no ENTRYPOINT or CMD: give the app's command in `command`")
    return found


def image_labels(image_inspect):
    return ((image_inspect or {}).get("Config") or {}).get("Labels") or {}


def checkpoint_name(image_inspect):
    """The checkpointed container's name when the image is a podman checkpoint image, else None."""
    return ((image_inspect or {}).get("Annotations") or {}).get(CHECKPOINT_NAME_ANNOTATION)


def image_flavor(image_inspect):
    """generic, liberty or podman for an InstantOn image, else None."""
    if checkpoint_name(image_inspect):
        return "podman"
    return image_labels(image_inspect).get(FLAVOR_LABEL)


def recorded_inputs(image_inspect):
    """The inputs digest an existing image was built from, or None."""
    name = checkpoint_name(image_inspect)
    if name:
        return name[len(CHECKPOINT_NAME_PREFIX):] if name.startswith(CHECKPOINT_NAME_PREFIX) else None
    return image_labels(image_inspect).get(INPUTS_LABEL)


class Scratch(object):
    """Scratch images and containers of one build, removed whatever happens.

    The target name is only ever set by the last step, so a failed build
    leaves neither a half-built image under that name nor scratch objects.
    """

    def __init__(self, podman):
        self.podman = podman
        self.suffix = uuid.uuid4().hex[:12]
        self.images = []
        self.containers = []

    def image(self, role):
        name = "localhost/instanton-%s-%s" % (role, self.suffix)
        self.images.append(name)
        return name

    def container(self, role, name=None):
        """A scratch container's name: instanton-ROLE-SUFFIX, or the given name."""
        name = name or "instanton-%s-%s" % (role, self.suffix)
        self.containers.append(name)
        return name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name in self.containers:
            self.podman.remove_container(name)
        for name in self.images:
            self.podman.remove_image(name)
        return False


def last_lines(text, count=15):
    return "\n".join(text.strip().splitlines()[-count:])


def run_step(podman, args, what, criu_phase=None):
    """One podman build step; BuildError naming the step, with podman's last lines, when it fails (and
    why CRIU failed, for a step that runs CRIU's criu_phase)."""
    rc, out, err = podman.run(args, check=False)
    if rc != 0:
        raise BuildError("%s failed:\n%s" % (what, last_lines(out + err)),
                         criu_errors.classify(criu_phase, out + err) if criu_phase else None)
    return out


def change_options(changes):
    """`podman commit --change` arguments for a list of Containerfile instructions."""
    args = []
    for change in changes:
        args += ["--change", change]
    return args


def label_changes(found_labels):
    return ["LABEL %s=%s" % (key, json.dumps(value)) for key, value in sorted(found_labels.items())]
