# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""criu_seccomp_profile: a runtime's default seccomp profile made fit for CRIU restore."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: criu_seccomp_profile
short_description: Make a container runtime's default seccomp profile fit for CRIU restore
version_added: 0.1.0
description:
  - Takes an OCI/podman seccomp profile (defaultAction, archMap, syscalls) and returns a copy in which
    the given syscalls are allowed whatever capabilities the container holds.
  - Rules that deny one of them (for example podman's C(clone3) rule returning ENOSYS, which makes CRIU
    fall back to C(/proc/sys/kernel/ns_last_pid)) are removed; rules that allow them only with
    capabilities are kept, since the new unconditional rule covers them.
  - Every other rule is kept as it is, so the result is as strict as the runtime's default otherwise.
options:
  _input:
    description: The base profile, as a dict.
    type: dict
    required: true
  syscalls:
    description: The syscalls to allow unconditionally.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Write a CRIU profile
  ansible.builtin.copy:
    content: "{{ base | instanton.platform.criu_seccomp_profile(['clone3', 'kcmp']) | to_nice_json }}"
    dest: /etc/containers/seccomp.d/instanton.json
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The new profile.
  type: dict
"""

import copy

from ansible.errors import AnsibleFilterError

ALLOW = "SCMP_ACT_ALLOW"


def _rule_names(rule):
    return rule.get("names") or ([rule["name"]] if rule.get("name") else [])


def criu_seccomp_profile(profile, syscalls):
    if not isinstance(profile, dict) or "syscalls" not in profile or "defaultAction" not in profile:
        raise AnsibleFilterError("criu_seccomp_profile: the base profile needs defaultAction and syscalls")
    wanted = set(syscalls)
    result = copy.deepcopy(profile)
    kept = []
    for rule in result["syscalls"]:
        names = _rule_names(rule)
        if rule.get("action") != ALLOW and wanted.intersection(names):
            remaining = [name for name in names if name not in wanted]
            if not remaining:
                continue
            rule = dict(rule, names=remaining)
            rule.pop("name", None)
        kept.append(rule)
    criu_rule = {"names": sorted(wanted), "action": ALLOW, "args": [],
                 "comment": "instanton.platform: CRIU restore", "includes": {}, "excludes": {}}
    result["syscalls"] = [criu_rule] + kept
    return result


class FilterModule(object):
    def filters(self):
        return {"criu_seccomp_profile": criu_seccomp_profile}
