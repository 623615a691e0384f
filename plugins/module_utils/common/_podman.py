# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Running podman on the managed host: one place for the command line, errors and inspect."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# podman's own rule for container and pod names.
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# An image reference: [host[:port]/]path[:tag][@digest], lower-case path components (OCI distribution);
# a first component is a host when it is localhost or has a dot or a port.
IMAGE_REFERENCE = re.compile(r"^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?/"
                             r"|[a-zA-Z0-9-]+:[0-9]+/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                             r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                             r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
IMAGE_ID = re.compile(r"^(?:sha256:)?[a-f0-9]{12,64}$")
MAX_NAME_LENGTH = 253


def container_name_problem(name, option="name"):
    """Why NAME cannot name a container (checked before anything is created), or None."""
    if not name or not name.strip():
        return "%s must not be empty" % option
    if len(name) > MAX_NAME_LENGTH or not CONTAINER_NAME.match(name):
        return ("%s %r is not a valid container name: start with a letter or digit, then only letters, digits, "
                "'_', '.' or '-', at most %d characters" % (option, name, MAX_NAME_LENGTH))
    return None


def image_name_problem(name, option="name"):
    """Why NAME cannot name an image (a reference such as localhost/app:tag, or an image ID), or None."""
    if not name or not name.strip():
        return "%s must not be empty" % option
    if len(name) > MAX_NAME_LENGTH or not (IMAGE_REFERENCE.match(name) or IMAGE_ID.match(name)):
        return ("%s %r is not a valid image name: use [registry/]path[:tag], lower-case path, for example "
                "localhost/app:instanton" % (option, name))
    return None


class PodmanError(Exception):
    """A podman command failed; the message says which and why."""


class Podman(object):
    def __init__(self, module, executable="podman"):
        self.module = module
        self.executable = module.get_bin_path(executable, required=True)
        # cgroup v1 hosts (RHEL 8, the lab) get a warning on every call otherwise.
        self.environ = {"PODMAN_IGNORE_CGROUPSV1_WARNING": "1"}

    def run(self, args, check=True, data=None):
        rc, out, err = self.module.run_command([self.executable] + list(args), data=data,
                                               environ_update=self.environ)
        if check and rc != 0:
            raise PodmanError("podman %s failed (rc=%d): %s"
                              % (" ".join(args[:2]), rc, (err or out).strip()[-2000:]))
        return rc, out, err

    def _inspect(self, kind, name):
        rc, out = self.run([kind, "inspect", name], check=False)[:2]
        if rc != 0:
            return None
        found = json.loads(out)
        return found[0] if found else None

    def image(self, name):
        """`podman image inspect` as a dict, or None when there is no such image."""
        return self._inspect("image", name)

    def container(self, name):
        """`podman container inspect` as a dict, or None when there is no such container."""
        return self._inspect("container", name)

    def remove_container(self, name, check=False):
        """Remove NAME if it exists; with CHECK, PodmanError when podman could not (podman's own message)."""
        self.run(["rm", "--force", "--ignore", "--time", "5", name], check=check)

    def remove_image(self, name):
        self.run(["rmi", "--force", "--ignore", name], check=False)

    def version(self):
        return self.run(["version", "--format", "{{.Client.Version}}"])[1].strip()
