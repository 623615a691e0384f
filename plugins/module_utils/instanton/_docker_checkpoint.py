# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Docker Engine checkpoints (experimental mode): the command lines, and the two known bugs a user hits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

# moby issue 42900: `docker start --checkpoint` uploads the checkpoint to containerd, and fails when a blob
# of it is already in containerd's content store ("commit failed: content sha256:...: already exists").
CONTENT_EXISTS = re.compile(r"content (sha256:[a-f0-9]{64}): already exists")
# dockerd keeps its containers' content in this containerd namespace.
MOBY_NAMESPACE = "moby"


def create_arguments(name, checkpoint, leave_running=False, checkpoint_dir=None):
    args = ["checkpoint", "create"]
    if leave_running:
        args.append("--leave-running")
    if checkpoint_dir:
        args += ["--checkpoint-dir", checkpoint_dir]
    return args + [name, checkpoint]


def start_arguments(name, checkpoint):
    # docker/cli issue 3008: `docker start` has no --checkpoint-dir; the checkpoint must be in the
    # container's own checkpoints/ directory (see container_checkpoint_dir).
    return ["start", "--checkpoint", checkpoint, name]


def existing_content(error_text):
    """The blob digest that moby 42900 complains about, or None."""
    match = CONTENT_EXISTS.search(error_text or "")
    return match.group(1) if match else None


def container_checkpoint_dir(docker_root, container_id, checkpoint):
    """Where `docker start --checkpoint NAME` looks for checkpoint NAME of a container."""
    return os.path.join(docker_root, "containers", container_id, "checkpoints", checkpoint)


def tree_size(path):
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(directory, name))
    return total


def make_private(path):
    """Checkpoint data holds process memory: directories 0700, files 0600."""
    for directory, dirs, files in os.walk(path):
        os.chmod(directory, 0o700)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o600)
