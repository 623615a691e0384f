# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""policy_with_requirement: a containers signature policy with one more requirement for a scope."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: policy_with_requirement
short_description: Add a signature requirement for one scope to a containers policy.json, weakening nothing
version_added: 0.2.0
description:
  - Returns the policy with O(requirement) for the C(docker) transport's O(scope). The scope's existing requirements
    (which must all hold) are kept, except C(insecureAcceptAnything) and an earlier copy of the same requirement
    (same type and C(keyPath)), which it replaces. Every other scope, transport and the default stay as they were.
  - The P(instanton.platform.image_trust#role) role writes policy.json with it.
options:
  _input:
    description: The policy (containers-policy.json(5)) as a dictionary.
    type: dict
    required: true
  scope:
    description: The scope, for example C(registry.example:5000/instanton).
    type: str
    required: true
  requirement:
    description: The requirement, for example a C(sigstoreSigned) one.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Require a sigstore signature for the InstantOn repository
  ansible.builtin.set_fact:
    policy: >-
      {{ policy | instanton.platform.policy_with_requirement('registry.example:5000/instanton',
         {'type': 'sigstoreSigned', 'keyPath': '/etc/containers/keys/instanton-sigstore.pub',
          'signedIdentity': {'type': 'matchRepository'}}) }}
"""

RETURN = r"""
_value:
  description: The updated policy.
  type: dict
"""

from ansible_collections.instanton.platform.plugins.module_utils.trust._image_trust import policy_with_requirement


class FilterModule(object):
    def filters(self):
        return {"policy_with_requirement": policy_with_requirement}
