# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""An OCI checkpoint image from a checkpoint archive: FROM scratch, the archive unpacked at /,
and the annotations CRI-O, containerd and podman look for (org.criu.checkpoint.*)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import tempfile

SHA_LABEL = "io.instanton.checkpoint.sha256"
# CRI-O before the shared checkpointctl names looked only at this one.
CRIO_NAME_ANNOTATION = "io.kubernetes.cri-o.annotations.checkpoint.name"
# org.criu.checkpoint.* as defined in checkpointctl's lib (used by CRI-O, podman, containerd).
INFO_ANNOTATIONS = (
    ("org.criu.checkpoint.container.name", "container_name"),
    ("org.criu.checkpoint.rootfsImageName", "image"),
    ("org.criu.checkpoint.runtime.name", "runtime"),
    ("org.criu.checkpoint.pod.name", "pod"),
    ("org.criu.checkpoint.pod.namespace", "namespace"),
    ("org.criu.checkpoint.criu.version", "criu_version"),
)
# podman 5 restores an image only when it has io.podman.annotations.checkpoint.runtime.name.
PODMAN_ANNOTATIONS = (
    ("io.podman.annotations.checkpoint.name", "container_name"),
    ("io.podman.annotations.checkpoint.rootfsImageName", "image"),
    ("io.podman.annotations.checkpoint.rawImageName", "image"),
    ("io.podman.annotations.checkpoint.runtime.name", "runtime"),
)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_annotations(info, container_name, extra):
    """Annotations for the image; container_name overrides what the archive says."""
    values = dict(info)
    if container_name:
        values["container_name"] = container_name
    known = INFO_ANNOTATIONS + (PODMAN_ANNOTATIONS if values.get("engine") == "Podman" else ())
    annotations = dict((key, str(values[field])) for key, field in known if values.get(field))
    if values.get("engine"):
        annotations["org.criu.checkpoint.engine.name"] = values["engine"].lower()
    if values.get("container_name"):
        annotations[CRIO_NAME_ANNOTATION] = values["container_name"]
    annotations.update(extra or {})
    return annotations


def is_current(image, sha256, annotations):
    """True when the image exists, was built from this very archive and has the annotations."""
    labels = (image or {}).get("Labels") or {}
    present = (image or {}).get("Annotations") or {}
    return labels.get(SHA_LABEL) == sha256 and all(
        present.get(key) == value for key, value in annotations.items())


class BuildContext(object):
    """A private (0700) directory with the archive and a Containerfile that ADDs it at /."""

    def __init__(self, archive):
        self.directory = tempfile.mkdtemp(prefix="instanton-ckpt-")
        os.chmod(self.directory, 0o700)
        name = "checkpoint" + archive_suffix(archive)
        target = os.path.join(self.directory, name)
        try:
            os.link(archive, target)
        except OSError:
            # Another file system: copy into a file that is 0600 from its creation (checkpoint data).
            with open(archive, "rb") as source:
                with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as copy:
                    shutil.copyfileobj(source, copy, 1 << 20)
        self.containerfile = os.path.join(self.directory, "Containerfile")
        with open(self.containerfile, "w") as handle:
            # ADD unpacks a local tar (plain, gzip or zstd) into the image, as CRI-O expects.
            handle.write("FROM scratch\nADD %s /\n" % name)

    def cleanup(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def archive_suffix(archive):
    for suffix in (".tar.gz", ".tar.zst", ".tar.zstd", ".tgz", ".tar"):
        if archive.endswith(suffix):
            return suffix
    return ".tar"


def build_args(image, context, sha256, annotations):
    # --no-cache: a cached layer would keep the annotations of an earlier build.
    args = ["build", "--no-cache", "--format", "oci", "--tag", image,
            "--label", "%s=%s" % (SHA_LABEL, sha256), "--file", context.containerfile]
    for key in sorted(annotations):
        args += ["--annotation", "%s=%s" % (key, annotations[key])]
    return args + [context.directory]
