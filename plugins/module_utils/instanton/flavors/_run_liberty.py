# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Running "liberty" flavor images: Open Liberty restores its own checkpoint at start.

Liberty logs how it started (start_markers); why CRIU failed is in its restore log inside the
container.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._image_liberty import DISABLE_RECOVERY_ENV
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_base import RunFlavor

# Where Open Liberty (and the stand-in) write why a restore failed.
RESTORE_LOG = "/logs/checkpoint/restore.log"


class LibertyRun(RunFlavor):
    name = "liberty"
    # CWWKC0452I resumed from the checkpoint; CWWKE0957I the restore failed, started cold;
    # CWWKC0451I a checkpoint was requested: the image still has WLP_CHECKPOINT set.
    start_markers = [
        (re.compile(r"CWWKC0452I.*$", re.M), True),
        (re.compile(r"CWWKE0957I(.*)$", re.M), False),
        (re.compile(r"(CWWKC0451I.*)$", re.M), False),
    ]

    def option_problem(self, params):
        if not params["restore"]:
            return "restore=false is not available for liberty images: run the app image to start cold"
        return None

    def start_env(self, params):
        env = dict(params["env"])
        if params["require_restore"]:
            # Liberty then exits instead of starting cold.
            env[DISABLE_RECOVERY_ENV] = "true"
        return env

    def outcome(self, runner, container, image, wait):
        restored, detail = runner.marker_outcome(wait)
        if restored is False:
            detail = " ".join(filter(None, [detail, self.restore_errors(runner)]))
        return restored, detail

    @staticmethod
    def restore_errors(runner):
        """CRIU's last errors from Liberty's restore log, when the container still runs."""
        rc, out = runner.podman.run(["exec", runner.params["name"], "sh", "-c",
                                     "grep -E 'Error|error' %s | tail -n 2" % RESTORE_LOG], check=False)[:2]
        return " ".join(out.split()) if rc == 0 else ""


FLAVOR = LibertyRun()
