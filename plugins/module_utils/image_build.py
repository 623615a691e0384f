# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every InstantOn image flavor shares: input fingerprints, labels, scratch names, clean-up."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import uuid

COLLECTION_VERSION = "0.1.0"
LABEL_PREFIX = "io.instanton.platform."
INPUTS_LABEL = LABEL_PREFIX + "inputs"


class BuildError(Exception):
    """A build step failed; the message says which and why."""


def fingerprint(inputs):
    """A stable digest of everything the image is made from (recorded as a label)."""
    document = json.dumps(dict(inputs, collection_version=COLLECTION_VERSION), sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def labels(flavor, inputs_digest, extra=None):
    found = {INPUTS_LABEL: inputs_digest, LABEL_PREFIX + "flavor": flavor,
             LABEL_PREFIX + "version": COLLECTION_VERSION}
    found.update(extra or {})
    return found


def recorded_inputs(image_inspect):
    """The inputs digest an existing image was built from, or None."""
    if not image_inspect:
        return None
    return ((image_inspect.get("Config") or {}).get("Labels") or {}).get(INPUTS_LABEL)


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

    def container(self, role):
        name = "instanton-%s-%s" % (role, self.suffix)
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


def change_options(changes):
    """`podman commit --change` arguments for a list of Containerfile instructions."""
    args = []
    for change in changes:
        args += ["--change", change]
    return args


def label_changes(found_labels):
    return ["LABEL %s=%s" % (key, json.dumps(value)) for key, value in sorted(found_labels.items())]
