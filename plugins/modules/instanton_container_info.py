#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instanton_container_info
short_description: Report whether an InstantOn container restored its checkpoint or started cold
version_added: 0.1.0
description:
  - Reads a container's inspect output and log, and says whether it restored its checkpoint, and if it started
    cold, why (from the restore log). Changes nothing.
extends_documentation_fragment:
  - instanton.platform.podman
options:
  name:
    description: The container's name.
    type: str
    required: true
notes:
  - Supports check mode.
seealso:
  - module: instanton.platform.instanton_container
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: How did pyapp start?
  instanton.platform.instanton_container_info:
    name: pyapp
  register: pyapp_info
"""

RETURN = r"""
exists:
  description: Whether the container exists.
  returned: always
  type: bool
restored:
  description:
    - Whether it restored its checkpoint (from the entrypoint's or Open Liberty's log markers; for podman checkpoint
      images, podman's C(State.Restored)).
  returned: when the container exists
  type: bool
criu_restore_ms:
  description: The restore's own time, as the generic entrypoint logged it.
  returned: when restored by the generic entrypoint
  type: int
criu_error:
  description:
    - Why CRIU's restore failed, when the fallback reason carries CRIU's errors. C(cause) is one of
      C(criu_too_old_for_kernel), C(io_uring), C(mptcp), C(established_tcp), C(seccomp), C(pid_in_use),
      C(external_mount_missing), C(missing_capability) or C(unknown) (then C(log_excerpt) is CRIU's first Error
      line); C(hint) says what to do.
  returned: when a restore failed on CRIU
  type: dict
  sample: {"phase": "restore", "cause": "seccomp", "hint": "a seccomp filter is in the way ...",
           "log_excerpt": "Error (criu/pipes.c:...): Error splicing data: Operation not permitted"}
fallback_reason:
  description: Why it started cold.
  returned: when it started cold
  type: str
container:
  description: The container's C(podman container inspect) output.
  returned: when the container exists
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import Podman, PodmanError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            executable=dict(type="str", default="podman"),
        ),
        supports_check_mode=True,
    )
    try:
        podman = Podman(module, module.params["executable"])
        container = podman.container(module.params["name"])
        if container is None:
            module.exit_json(changed=False, exists=False)
        image = podman.image(container["Image"]) or {}
        runner = container_run.Runner(podman, module.params, module.fail_json)
        module.exit_json(changed=False, exists=True, **runner.report(container, image))
    except PodmanError as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
