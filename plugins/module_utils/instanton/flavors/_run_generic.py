# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Running "generic" flavor images: their entrypoint restores the checkpoint, or starts cold.

The entrypoint (_instanton_scripts.py) logs how it started; two switches in the environment
make it refuse a cold start or skip the restore.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _instanton_scripts as scripts
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import RunFlavor

REQUIRE_RESTORE_ENV = "INSTANTON_REQUIRE_RESTORE"
DISABLE_RESTORE_ENV = "INSTANTON_DISABLE_RESTORE"


class GenericRun(RunFlavor):
    name = "generic"
    start_markers = [
        (re.compile(r"^%s pid \d+ in (\d+) ms" % re.escape(scripts.RESTORED_MARKER), re.M), True),
        (re.compile(r"^%s (.*)$" % re.escape(scripts.COLD_START_MARKER), re.M), False),
    ]

    def start_env(self, params):
        env = dict(params["env"])
        if params["require_restore"]:
            env[REQUIRE_RESTORE_ENV] = "1"
        if not params["restore"]:
            env[DISABLE_RESTORE_ENV] = "1"
        return env

    def outcome(self, runner, container, image, wait):
        return runner.marker_outcome(wait)


FLAVOR = GenericRun()
