# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Docker Engine checkpoints (experimental mode): the command lines, and the two known bugs a user hits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

# moby issue 42900: `docker start --checkpoint` uploads the checkpoint to containerd, and fails when a blob
# of it is already in containerd's content store ("commit failed: content sha256:...: already exists").
CONTENT_EXISTS = re.compile(r"content (sha256:[a-f0-9]{64}): already exists")
# dockerd keeps its containers' content in this containerd namespace.
MOBY_NAMESPACE = "moby"
# Each 42900 conflict names one blob; a checkpoint has a handful.
MAX_CONTENT_CONFLICTS = 5


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


class DockerError(Exception):
    """A docker command failed; the message says which and why (content_removed: blobs removed for moby 42900)."""

    def __init__(self, message, content_removed=None):
        Exception.__init__(self, message)
        self.content_removed = content_removed or []


class Docker(object):
    """Running docker on the managed host, shaped like _podman.Podman (run, container, image, remove_container)."""

    def __init__(self, module, executable="docker"):
        self.module = module
        self.executable = module.get_bin_path(executable, required=True)

    def run(self, args, check=True):
        rc, out, err = self.module.run_command([self.executable] + list(args))
        if check and rc != 0:
            raise DockerError("docker %s failed (rc=%d): %s" % (" ".join(args[:2]), rc, (err or out).strip()[-2000:]))
        return rc, out, err

    def _inspect(self, kind, name):
        rc, out = self.run([kind, "inspect", name], check=False)[:2]
        if rc != 0:
            return None
        found = json.loads(out)
        return found[0] if found else None

    def container(self, name):
        return self._inspect("container", name)

    def image(self, name):
        return self._inspect("image", name)

    def remove_container(self, name, check=False):
        self.run(["rm", "--force", name], check=False)
        if check and self.container(name) is not None:
            raise DockerError("docker rm --force %s left the container in place" % name)

    def root(self):
        return self.run(["info", "--format", "{{.DockerRootDir}}"])[1].strip()

    def start_from_checkpoint(self, name, checkpoint):
        """`docker start --checkpoint`, getting past moby 42900 (the blob it names is removed from containerd's
        moby namespace and the start tried again); the blobs removed on the way. DockerError when it fails."""
        removed = []
        while True:
            rc, out, err = self.run(start_arguments(name, checkpoint), check=False)
            if rc == 0:
                return removed
            blob = existing_content(out + err)
            if blob is None or blob in removed or len(removed) >= MAX_CONTENT_CONFLICTS:
                raise DockerError("docker start --checkpoint %s failed: %s" % (checkpoint, (err or out).strip()[-2000:]),
                                  removed)
            ctr = self.module.get_bin_path("ctr", required=True)
            self.module.run_command([ctr, "--namespace", MOBY_NAMESPACE, "content", "rm", blob], check_rc=True)
            removed.append(blob)
