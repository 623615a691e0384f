# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""criu_for_kernel: which CRIU a kernel needs, from the collection's one table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: criu_for_kernel
short_description: Which CRIU a kernel release needs
version_added: 0.1.0
description:
  - Reads the collection's CRIU-for-kernel table, the same one the preflight (M(instanton.platform.host_facts))
    and the generic image build (M(instanton.platform.instanton_image)) read.
  - Kernels 6.13 and later need CRIU 4.1 (vDSO layout), 6.16 and later CRIU 4.2 (inet socket options).
  - A kernel newer than the table was checked against gets C(newest=true) (take the newest CRIU available)
    and a warning naming the kernel.
options:
  _input:
    description: A kernel release, for example C(ansible_facts.kernel).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Fail when CRIU is too old for the kernel
  ansible.builtin.assert:
    that: criu_installed is version((ansible_facts.kernel | instanton.platform.criu_for_kernel).minimum, '>=')
"""

RETURN = r"""
_value:
  description: C(minimum) (a version string), C(reason), C(newest) (bool) and C(warning) (a string or null).
  type: dict
"""

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import criu_for_kernel


class FilterModule(object):
    def filters(self):
        return {"criu_for_kernel": criu_for_kernel}
