#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instanton_container
short_description: Run InstantOn containers with least privilege and report whether they restored
version_added: 0.1.0
description:
  - Starts a container from an InstantOn image with only the capabilities restore needs (C(CHECKPOINT_RESTORE)
    and C(SETPCAP)) added and the host's CRIU seccomp profile; never privileged unless O(privileged=true).
  - Measures the time from C(podman run) to the first correct answer (O(readiness)), and reports whether the
    container restored its checkpoint or fell back to a cold start, with the reason read from the restore log.
  - Recognises the generic flavor's entrypoint markers and Open Liberty's (C(CWWKC0452I) restored, C(CWWKE0957I)
    restore failed and started cold, with CRIU's last errors from C(/logs/checkpoint/restore.log); C(CWWKC0451I), a
    checkpoint requested at start, means the image still sets C(WLP_CHECKPOINT) and counts as not restored).
  - "Checkpoint images of O(instanton.platform.instanton_image#module:flavor=podman) are started with
    C(podman container restore --name NAME [--publish ...] IMAGE): podman restores them itself, with the
    checkpointed container's own settings (so O(env), O(volumes), O(cap_add), O(network) and O(privileged) are
    refused). Restore either works or fails; when it fails the container is started cold from the checkpoint's app
    image (its default command), with podman's error as RV(fallback_reason), unless O(require_restore=true)."
  - A running container started with the same image and options is left alone (changed=false).
extends_documentation_fragment:
  - instanton.platform.podman
options:
  name:
    description: The container's name.
    type: str
    required: true
  state:
    description:
      - C(started) runs the container (again, when its image or options changed) and waits until it is ready.
      - C(stopped) stops it, C(absent) removes it.
      - To report on a container without changing it, use M(instanton.platform.instanton_container_info).
    type: str
    choices: [started, stopped, absent]
    default: started
  image:
    description: The image to run. Required with O(state=started).
    type: str
  ports:
    description: Published ports, as for C(podman run --publish), for example C(127.0.0.1:8080:8080).
    type: list
    elements: str
    default: []
  env:
    description: Environment variables.
    type: dict
    default: {}
  volumes:
    description: Volumes, as for C(podman run --volume).
    type: list
    elements: str
    default: []
  network:
    description: The network, as for C(podman run --network); default is podman's.
    type: str
  readiness:
    description:
      - What counts as the first correct answer. Without it, the module waits for the entrypoint to say whether
        it restored.
    type: dict
    suboptions:
      type:
        description: C(http) waits for a 200 answer, C(tcp) for a connection, C(log) for a line in the log.
        type: str
        choices: [http, tcp, log]
        required: true
      port:
        description: The port inside the container, for C(http) and C(tcp).
        type: int
      path:
        description: The path C(http) asks for.
        type: str
        default: /
      pattern:
        description: A regular expression C(log) waits for.
        type: str
      timeout:
        description: Seconds to wait before failing.
        type: int
        default: 60
  restore:
    description:
      - Set C(false) to make the generic entrypoint start cold (C(INSTANTON_DISABLE_RESTORE=1)), for comparisons.
        Liberty and podman images refuse it; run their app image instead.
    type: bool
    default: true
  require_restore:
    description:
      - Fail instead of starting cold when the checkpoint cannot be restored. The generic entrypoint gets
        C(INSTANTON_REQUIRE_RESTORE=1), Open Liberty images C(CRIU_RESTORE_DISABLE_RECOVERY=true); for podman
        checkpoint images a failed C(podman container restore) fails the task.
    type: bool
    default: false
  seccomp_profile:
    description:
      - The seccomp profile. When the file does not exist the runtime's default profile is used.
        C(unconfined) only when asked for.
    type: str
    default: /etc/containers/seccomp.d/instanton.json
  cap_add:
    description: Capabilities to add besides C(CHECKPOINT_RESTORE) and C(SETPCAP).
    type: list
    elements: str
    default: []
  privileged:
    description: Run privileged. Never needed for restore; only for apps that need it themselves.
    type: bool
    default: false
notes:
  - Supports check mode.
seealso:
  - module: instanton.platform.instanton_image
  - module: instanton.platform.instanton_container_info
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Start the InstantOn image and time its first answer
  instanton.platform.instanton_container:
    name: pyapp
    image: localhost/pyapp:instanton
    ports: ["127.0.0.1:8080:8080"]
    readiness:
      type: http
      port: 8080
  register: pyapp

- name: Show how it started
  ansible.builtin.debug:
    msg: "restored={{ pyapp.restored }} in {{ pyapp.start_ms }} ms"

- name: Fail rather than start cold
  instanton.platform.instanton_container:
    name: pyapp-strict
    image: localhost/pyapp:instanton
    require_restore: true

- name: Remove it
  instanton.platform.instanton_container:
    name: pyapp
    state: absent
"""

RETURN = r"""
restored:
  description:
    - Whether the container restored its checkpoint; false when it started cold (or the image is not InstantOn).
    - For podman checkpoint images, whether C(podman container restore) worked (C(State.Restored)).
  returned: when the container is running
  type: bool
start_ms:
  description: Milliseconds from C(podman run) to the first correct answer; null when the container was already running.
  returned: with O(state=started)
  type: int
  sample: 216
criu_restore_ms:
  description: The restore's own time, as the generic entrypoint logged it.
  returned: when restored by the generic entrypoint
  type: int
  sample: 82
fallback_reason:
  description: Why the container started cold, read from its log.
  returned: when it started cold
  type: str
  sample: "criu restore failed: (00.000012) Error (criu/cr-restore.c:...): ..."
container:
  description: The container's C(podman container inspect) output.
  returned: success, except after O(state=absent)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils import container_run, readiness as probes
from ansible_collections.instanton.platform.plugins.module_utils.image_build import image_flavor
from ansible_collections.instanton.platform.plugins.module_utils.podman import Podman, PodmanError


def started(module, runner, existing):
    params = module.params
    image = runner.podman.image(params["image"])
    if image is None:
        module.fail_json(msg="image %s is not on this host: build it with instanton.platform.instanton_image "
                             "or pull it first" % params["image"])
    problem = container_run.flavor_problem(params, image_flavor(image))
    if problem:
        module.fail_json(msg=problem)
    if container_run.is_current(existing, image, params):
        module.exit_json(changed=False, **runner.result(existing, None, image))
    if module.check_mode:
        module.exit_json(changed=True)
    container, start_ms = runner.start(image)
    module.exit_json(changed=True, **runner.result(container, start_ms, image))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="started", choices=["started", "stopped", "absent"]),
            image=dict(type="str"),
            ports=dict(type="list", elements="str", default=[]),
            env=dict(type="dict", default={}),
            volumes=dict(type="list", elements="str", default=[]),
            network=dict(type="str"),
            readiness=dict(type="dict", options=probes.argument_spec(60)),
            restore=dict(type="bool", default=True),
            require_restore=dict(type="bool", default=False),
            seccomp_profile=dict(type="str", default="/etc/containers/seccomp.d/instanton.json"),
            cap_add=dict(type="list", elements="str", default=[]),
            privileged=dict(type="bool", default=False),
            executable=dict(type="str", default="podman"),
        ),
        required_if=[("state", "started", ("image",))],
        supports_check_mode=True,
    )
    if probes.problem(module.params["readiness"]):
        module.fail_json(msg=probes.problem(module.params["readiness"]))
    try:
        podman = Podman(module, module.params["executable"])
        runner = container_run.Runner(podman, module.params, module.fail_json)
        existing = podman.container(module.params["name"])
        state = module.params["state"]
        if state == "started":
            started(module, runner, existing)
        if existing is None:
            module.exit_json(changed=False, container={})
        if state == "absent":
            if not module.check_mode:
                podman.remove_container(module.params["name"])
            module.exit_json(changed=True)
        if existing["State"]["Running"] and not module.check_mode:
            podman.run(["stop", module.params["name"]])
        module.exit_json(changed=existing["State"]["Running"], container=podman.container(module.params["name"]))
    except PodmanError as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
