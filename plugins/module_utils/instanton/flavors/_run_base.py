# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""What the run side (instanton_container, instanton_container_info) asks of an image flavor.

Each flavor has a run file here (_run_generic.py, _run_liberty.py, _run_podman.py) next to its build
file (_image_*.py); _container_run.RUN_FLAVORS lists them. The defaults below are an image that is
not an InstantOn image: it runs with the options asked for and starts cold.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors as criu_causes
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import FLAVOR_LABEL

# The label that records what a container was started with (config_digest).
CONFIG_LABEL = "io.instanton.platform.run-config"
CONFIG_KEYS = ("image", "ports", "volumes", "env", "cap_add", "privileged", "seccomp_profile",
               "network", "pod", "require_restore", "restore")


def config_digest(params):
    """What the container was started with, to tell whether a running one matches."""
    document = json.dumps(dict((key, params[key]) for key in CONFIG_KEYS), sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def same_config(existing, image, params):
    """Whether a container was made from this image with these options."""
    labels = existing["Config"].get("Labels") or {}
    return existing["Image"] == image["Id"] and labels.get(CONFIG_LABEL) == config_digest(params)


def restore_error(reason):
    """Why CRIU's restore failed (_criu_errors.classify), when the fallback reason carries CRIU's errors."""
    return criu_causes.classify("restore", reason) if reason else None


def restore_error_result(reason):
    found = restore_error(reason)
    return {"criu_error": found} if found else {}


class RunFlavor(object):
    """How images of one flavor are started and how their start is told apart (restored or cold)."""

    name = None
    # (compiled pattern, restored) pairs for the lines its entrypoint logs about how it started;
    # a pattern's first group, if any, is the detail (restore ms, or why it started cold).
    start_markers = ()
    # Whether the container runs with the seccomp profile asked for (checked before it starts).
    applies_seccomp_profile = True

    def option_problem(self, params):
        """Options this flavor cannot honour, with the way out, or None."""
        return None

    def start_env(self, params):
        """The container's environment: the one asked for, plus the flavor's switches."""
        return dict(params["env"])

    def runs_as_asked(self, running, image, params):
        """Whether a running container is this image with these options (then it is left alone)."""
        return same_config(running, image, params)

    def launch(self, runner, image):
        """Start a new container of the image (runner: _container_run.Runner); the command used."""
        runner.run_container(self)
        return "podman run"

    def outcome(self, runner, container, image, wait):
        """(restored, detail) of a started container; may wait up to `wait` s for its start marker."""
        return False, "the image is not an InstantOn image (no %s label)" % FLAVOR_LABEL
