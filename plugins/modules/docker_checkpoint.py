#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: docker_checkpoint
short_description: Checkpoint a Docker Engine container and start it again from the checkpoint
version_added: 0.2.0
description:
  - "The Docker Engine runtime choice next to podman, for hosts that run Docker (experimental mode on, CRIU
    installed): O(state=checkpointed) runs C(docker checkpoint create), O(state=restored) runs
    C(docker start --checkpoint) and waits for the first answer, with the same result fields as
    M(instanton.platform.instanton_container) (RV(restored), RV(start_ms), RV(start_command))."
  - "It handles two Docker bugs for the user: moby issue 42900 (C(docker start --checkpoint) fails with
    C(content sha256:...: already exists) when a blob of the checkpoint is already in containerd's C(moby)
    namespace; the module removes that blob with C(ctr -n moby content rm) and starts again) and docker/cli issue
    3008 (C(docker start) has no C(--checkpoint-dir); a checkpoint from O(checkpoint_dir) is copied into the
    container's own C(checkpoints/) directory first)."
  - "What Docker cannot do that podman can: export a checkpoint as one archive (C(podman container checkpoint
    --export)) and restore it into a new container (C(--import)); restore with the container's name, ports or
    network changed; report that a container was restored (podman's C(State.Restored)); pre-dump. A checkpoint
    moves between hosts only as its directory, into a container created on the target from the same image with
    the same options."
requirements:
  - Docker Engine with experimental mode (C(docker checkpoint)), CRIU, and containerd's C(ctr) on the managed host
options:
  executable:
    description: The docker binary to use, by name on C(PATH) or as a full path.
    type: str
    default: docker
  name:
    description: The container.
    type: str
    required: true
  state:
    description:
      - C(checkpointed) checkpoints the running container (it stops unless O(leave_running=true)); a stopped
        container that has the checkpoint already is left alone.
      - C(restored) starts the stopped (created or exited) container from the checkpoint; a running container is
        left alone.
    type: str
    choices: [checkpointed, restored]
    required: true
  checkpoint:
    description: The checkpoint's name.
    type: str
    default: instanton
  checkpoint_dir:
    description:
      - With O(state=checkpointed), write the checkpoint under this directory (C(--checkpoint-dir)) instead of the
        container's own; made C(0700), files C(0600).
      - With O(state=restored), take the checkpoint from this directory (for example one copied from another host);
        it is copied into the container's own C(checkpoints/) directory first, as C(docker start) cannot read it
        elsewhere.
    type: path
  leave_running:
    description: With O(state=checkpointed), keep the container running after the checkpoint.
    type: bool
    default: false
  readiness:
    description: With O(state=restored), what counts as the first answer; without it the start command's end counts.
    type: dict
    suboptions:
      type:
        description: C(http) waits for a 200 answer, C(tcp) for a connection.
        type: str
        choices: [http, tcp]
        required: true
      address:
        description: The address to probe, for example C(127.0.0.1) for a container on the host's network.
        type: str
        default: 127.0.0.1
      port:
        description: The port to probe.
        type: int
        required: true
      path:
        description: The path C(http) asks for.
        type: str
        default: /
      timeout:
        description: Seconds to wait before failing.
        type: int
        default: 60
notes:
  - Supports check mode.
  - dockerd needs C("experimental" true) in C(daemon.json) for checkpoints, and CRIU on the host.
seealso:
  - module: instanton.platform.container_migration
  - module: instanton.platform.instanton_container
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Checkpoint the counter (it stops)
  instanton.platform.docker_checkpoint:
    name: counter
    state: checkpointed
    checkpoint: warm

- name: Start it again from the checkpoint and time the first answer
  instanton.platform.docker_checkpoint:
    name: counter
    state: restored
    checkpoint: warm
    readiness: {type: http, port: 8080}
  register: counter

- name: Start a container created on this host from a checkpoint copied from another
  instanton.platform.docker_checkpoint:
    name: counter
    state: restored
    checkpoint: warm
    checkpoint_dir: /var/lib/instanton/docker-checkpoints
"""

RETURN = r"""
restored:
  description: Whether C(docker start --checkpoint) restored the container; null when it was already running.
  returned: with O(state=restored)
  type: bool
start_ms:
  description: Milliseconds from the start command to the first answer; null when it was already running.
  returned: with O(state=restored)
  type: int
start_command:
  description: C(docker start --checkpoint); null when the container was already running.
  returned: with O(state=restored)
  type: str
content_removed:
  description: Blobs removed from containerd's C(moby) namespace to get past moby issue 42900.
  returned: with O(state=restored)
  type: list
  elements: str
checkpoint_ms:
  description: How long C(docker checkpoint create) took.
  returned: with O(state=checkpointed), when it ran
  type: int
bytes:
  description: The checkpoint's size on disk.
  returned: with O(state=checkpointed), when it ran
  type: int
path:
  description: The checkpoint's directory.
  returned: always
  type: str
"""

import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _docker_checkpoint as docker
from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as readiness
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import container_name_problem


def checkpointed(module, engine, container):
    params = module.params
    path = os.path.join(params["checkpoint_dir"], params["checkpoint"]) if params["checkpoint_dir"] else \
        docker.container_checkpoint_dir(engine.root(), container["Id"], params["checkpoint"])
    if not container["State"]["Running"] and os.path.isdir(path):
        return dict(changed=False, path=path)
    if not container["State"]["Running"]:
        module.fail_json(msg="container %s is not running and has no checkpoint %s" % (params["name"], path))
    if module.check_mode:
        return dict(changed=True, path=path)
    if params["checkpoint_dir"] and not os.path.isdir(params["checkpoint_dir"]):
        os.makedirs(params["checkpoint_dir"], 0o700)
    started = time.time()
    engine.run(docker.create_arguments(params["name"], params["checkpoint"], params["leave_running"],
                                       params["checkpoint_dir"]))
    checkpoint_ms = int(round((time.time() - started) * 1000))
    docker.make_private(params["checkpoint_dir"] or path)
    return dict(changed=True, path=path, checkpoint_ms=checkpoint_ms, bytes=docker.tree_size(path))


def bring_checkpoint(module, engine, container):
    """The checkpoint where `docker start` looks for it (docker/cli 3008); its path there."""
    params = module.params
    own = docker.container_checkpoint_dir(engine.root(), container["Id"], params["checkpoint"])
    if params["checkpoint_dir"]:
        source = os.path.join(params["checkpoint_dir"], params["checkpoint"])
        if not os.path.isdir(source):
            module.fail_json(msg="no checkpoint %s in %s" % (params["checkpoint"], params["checkpoint_dir"]))
        if not module.check_mode and os.path.realpath(source) != os.path.realpath(own):
            shutil.rmtree(own, ignore_errors=True)
            shutil.copytree(source, own)
            docker.make_private(os.path.dirname(own))
    elif not os.path.isdir(own):
        module.fail_json(msg="container %s has no checkpoint %s (%s)" % (params["name"], params["checkpoint"], own))
    return own


def wait_ready(module):
    check = module.params["readiness"]
    if not check:
        return 0
    endpoint = (check["address"], check["port"])
    probe = (lambda: readiness.tcp_open(endpoint)) if check["type"] == "tcp" else \
        (lambda: readiness.http_ok(readiness.http_url(check["address"], check["port"], check["path"])))
    waited = readiness.wait_until(probe, check["timeout"], lambda: True)
    if waited is None:
        module.fail_json(msg="container %s did not answer on %s:%d within %ds after the restore"
                             % (module.params["name"], check["address"], check["port"], check["timeout"]))
    return waited


def restored(module, engine, container):
    if container["State"]["Running"]:
        return dict(changed=False, restored=None, start_ms=None, start_command=None, content_removed=[],
                    path=docker.container_checkpoint_dir(engine.root(), container["Id"], module.params["checkpoint"]))
    path = bring_checkpoint(module, engine, container)
    if module.check_mode:
        return dict(changed=True, path=path)
    started = time.time()
    try:
        removed = engine.start_from_checkpoint(module.params["name"], module.params["checkpoint"])
    except docker.DockerError as error:
        module.fail_json(msg=str(error), content_removed=error.content_removed)
    wait_ready(module)
    return dict(changed=True, restored=True, start_ms=int(round((time.time() - started) * 1000)),
                start_command="docker start --checkpoint", content_removed=removed, path=path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["checkpointed", "restored"]),
            checkpoint=dict(type="str", default="instanton"),
            checkpoint_dir=dict(type="path"),
            leave_running=dict(type="bool", default=False),
            readiness=dict(type="dict", options=dict(
                type=dict(type="str", required=True, choices=["http", "tcp"]),
                address=dict(type="str", default="127.0.0.1"),
                port=dict(type="int", required=True),
                path=dict(type="str", default="/"),
                timeout=dict(type="int", default=60),
            )),
            executable=dict(type="str", default="docker"),
        ),
        supports_check_mode=True,
    )
    problem = container_name_problem(module.params["name"]) or container_name_problem(
        module.params["checkpoint"], "checkpoint")
    if problem:
        module.fail_json(msg=problem)
    engine = docker.Docker(module, module.params["executable"])
    try:
        container = engine.container(module.params["name"])
        if container is None:
            module.fail_json(msg="there is no Docker container %s on this host" % module.params["name"])
        if module.params["state"] == "checkpointed":
            module.exit_json(**checkpointed(module, engine, container))
        module.exit_json(**restored(module, engine, container))
    except docker.DockerError as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
