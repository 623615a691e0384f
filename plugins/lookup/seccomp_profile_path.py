# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""seccomp_profile_path: where the collection's CRIU seccomp profile lives, from its one home."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: seccomp_profile_path
short_description: Where the collection's CRIU seccomp profile is installed
version_added: 0.1.0
description:
  - Returns the path the P(instanton.platform.seccomp#role) role installs the CRIU seccomp profile at by default,
    and that M(instanton.platform.instanton_container) and M(instanton.platform.host_facts) use by default.
  - The roles' defaults read it from here, so the path is set in one place in the collection.
options: {}
"""

EXAMPLES = r"""
- name: Run a container with the collection's seccomp profile
  ansible.builtin.command: >-
    podman run --rm --security-opt seccomp={{ lookup('instanton.platform.seccomp_profile_path') }} app:1
  changed_when: false
"""

RETURN = r"""
_raw:
  description: The path, as a one-element list.
  type: list
  elements: path
"""

from ansible.plugins.lookup import LookupBase
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import SECCOMP_PROFILE_PATH


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [SECCOMP_PROFILE_PATH]
