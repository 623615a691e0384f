# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running podman on the managed host: one place for the command line, errors and inspect."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


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

    def remove_container(self, name):
        self.run(["rm", "--force", "--ignore", "--time", "5", name], check=False)

    def remove_image(self, name):
        self.run(["rmi", "--force", "--ignore", name], check=False)

    def version(self):
        return self.run(["version", "--format", "{{.Client.Version}}"])[1].strip()
