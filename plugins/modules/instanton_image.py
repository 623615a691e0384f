#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instanton_image
short_description: Build InstantOn (checkpoint/restore) container images
version_added: 0.1.0
description:
  - Builds an image whose containers start by restoring a checkpoint of the warmed-up app with CRIU,
    instead of starting it cold.
  - "O(flavor=generic): a self-restoring image for any app. The app image gets CRIU (from the base image's
    own distribution) and two scripts; a checkpoint container starts the app with the capabilities only CRIU
    needs dropped, waits until it is ready (HTTP, TCP or a log line), and dumps it; the stopped container is
    committed as the image, with an entrypoint that restores the checkpoint or starts the app cold and says why
    in the container log."
  - "O(flavor=liberty): Open Liberty's own InstantOn checkpoint of an Open Liberty app image. O(method=build)
    builds a Containerfile that ends with C(RUN checkpoint.sh <phase>) with C(podman build --cap-add
    CHECKPOINT_RESTORE,SYS_PTRACE,SETPCAP --security-opt seccomp=<checkpoint_seccomp>); O(method=run) is the
    three-step flow for builders that cannot grant those: C(podman run) the app image with
    C(WLP_CHECKPOINT=<phase>) and those options, then C(podman commit) the stopped container, with
    C(WLP_CHECKPOINT) emptied and the app image's ENTRYPOINT and CMD put back."
  - "O(flavor=podman): podman's own checkpoint (podman 4.1+). The app image runs as a container; once O(readiness)
    holds, C(podman container checkpoint --create-image) makes the image, which C(podman container restore IMAGE)
    (or C(podman run IMAGE), podman 4.4+) restores; M(instanton.platform.instanton_container) does that. With
    O(export), the same checkpoint is also written as an C(--export) archive."
  - The inputs (app image ID, command, readiness, phase, method, flavor, CRIU source, scripts, collection version)
    are recorded in the label C(io.instanton.platform.inputs) (for O(flavor=podman), whose checkpoint images carry
    no labels, in the checkpointed container's name, C(instanton-ckpt-<digest>), which podman records in the
    image's C(io.podman.annotations.checkpoint.name) annotation); an image whose inputs match is not rebuilt
    unless O(force=true).
  - A failed build leaves no image under O(name) and no scratch images or containers.
  - The checkpoint data inside the image holds the app's memory, including any secrets it had loaded; the
    checkpoint directory is 0700 and its files 0600. Treat the image like a memory dump.
extends_documentation_fragment:
  - instanton.platform.podman
options:
  name:
    description: The InstantOn image to build, for example C(localhost/app:instanton).
    type: str
    required: true
  state:
    description:
      - C(present) builds the image when it is missing or its inputs changed; C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  flavor:
    description: How the checkpoint is taken and restored.
    type: str
    choices: [generic, liberty, podman]
    default: generic
  app_image:
    description:
      - The app's image, present on the host. Required with O(state=present).
      - For O(flavor=liberty), an Open Liberty based image whose C(checkpoint.sh) is on PATH.
    type: str
  command:
    description:
      - The app's command (O(flavor=generic) and O(flavor=podman)). Default is the app image's ENTRYPOINT and CMD.
    type: list
    elements: str
  phase:
    description:
      - O(flavor=liberty) only. When Liberty takes the checkpoint; C(afterAppStart) restores fastest,
        C(beforeAppStart) before any application code runs.
      - C(features) is rejected; it was removed in Open Liberty 23.0.0.2-beta.
    type: str
    default: afterAppStart
  method:
    description:
      - O(flavor=liberty) only. C(build) runs C(checkpoint.sh) in a C(podman build); C(run) is the
        C(podman run) with C(WLP_CHECKPOINT) and C(podman commit) flow.
    type: str
    choices: [build, run]
    default: build
  export:
    description:
      - O(flavor=podman) only. Also write the checkpoint as a C(podman container checkpoint --export) archive.
      - The archive holds the app's memory; it is written 0600, its directory created 0700 when missing.
    type: dict
    suboptions:
      path:
        description: Where the archive goes, for example C(/var/lib/instanton/app.tar.zst).
        type: path
        required: true
      compression:
        description: The archive's compression.
        type: str
        choices: [none, gzip, zstd]
        default: zstd
  readiness:
    description:
      - When the app is warm enough to checkpoint. Required with O(state=present) for O(flavor=generic) and
        O(flavor=podman); O(flavor=liberty) uses Liberty's O(phase) instead.
    type: dict
    suboptions:
      type:
        description: C(http) waits for a 200 answer, C(tcp) for a listening port, C(log) for a line in the app's output.
        type: str
        choices: [http, tcp, log]
        required: true
      port:
        description: The app's port inside the container, for C(http) and C(tcp).
        type: int
      path:
        description: The path C(http) asks for.
        type: str
        default: /
      pattern:
        description: An extended regular expression C(log) waits for.
        type: str
      timeout:
        description: Seconds the app has to become ready before the build fails.
        type: int
        default: 120
  criu_apt_suite:
    description:
      - For Debian-based app images, the apt suite CRIU comes from, pinned at low priority (for example C(sid)).
        An override; without it the image gets the CRIU the host's kernel needs.
      - Empty chooses from the collection's CRIU-for-kernel table (the one the C(criu) role and the preflight
        read; kernels 6.13 and later need CRIU 4.1, 6.16 and later 4.2). That is the base image distribution's own
        CRIU when it is new enough, else (Debian) CRIU from sid pinned low. A kernel newer than the table knows gets
        the newest CRIU and a warning naming the kernel. The build fails when the image's CRIU is too old.
    type: str
    default: ""
  pre_checkpoint:
    description:
      - O(flavor=generic) only. A command run in the checkpoint container after the app is ready and before the
        dump, with C(APP_PID) set to the app's PID; a failure fails the build.
      - What the app holds when it is checkpointed is what every restore reads back, so shrinking it pays on every
        start, for example a JVM garbage collection C([sh, -c, 'jcmd "$APP_PID" GC.run']) (on the lab's JVM sample
        CRIU's restore went from 296 to 104 ms and the checkpoint from 243 to 35 MB).
    type: list
    elements: str
  checkpoint_seccomp:
    description:
      - The seccomp option of the checkpoint container or build (O(flavor=generic), O(flavor=liberty); containers
        that restore use the host's CRIU profile).
      - C(unconfined) is the default because CRIU cannot dump a process that runs under any seccomp filter from
        inside a container; the kernel lets only an unfiltered tracer holding CAP_SYS_ADMIN suspend seccomp.
        The checkpoint container runs your own app image for the few seconds the dump takes.
    type: str
    default: unconfined
  push:
    description:
      - Push the image to a registry after it is built (and when the registry does not have it yet), optionally
        signed with a sigstore key the way C(podman push --sign-by-sigstore-private-key) signs.
      - The signing key and its passphrase file stay on the build host and must be C(0600); the module refuses
        them otherwise and never shows either path.
    type: dict
    suboptions:
      destination:
        description: Where to push, for example C(registry.example:5000/instanton/app:1.0).
        type: str
        required: true
      sign_by_sigstore_private_key:
        description:
          - The sigstore private key (from C(skopeo generate-sigstore-key)) on the build host. The signature is stored
            where C(registries.d) says; with C(use-sigstore-attachments) (the P(instanton.platform.image_trust#role)
            role writes it) in the registry beside the image.
        type: path
      sign_passphrase_file:
        description: The file holding the key's passphrase.
        type: path
      tls_verify:
        description: Verify the registry's TLS certificate (trust its CA in C(/etc/containers/certs.d)).
        type: bool
        default: true
  force:
    description: Rebuild even when the recorded inputs match.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for another run on this host that builds or removes an image of the same O(name) (both
        take a per-host, per-name lock in C(/run/instanton)). The task fails with a clear message when the wait
        runs out.
    type: int
    default: 900
notes:
  - Supports check mode; it reports whether the image would be built.
  - O(flavor=podman) checkpoints from the host with the host's CRIU; O(flavor=generic) and O(flavor=liberty) with the
    image's own CRIU, which must be new enough for the kernel (4.2 for kernels 6.16 and later).
  - For O(flavor=generic) the app runs as root inside the container, with CHECKPOINT_RESTORE, SYS_PTRACE and SETPCAP dropped from its
    capability bounding set before it is checkpointed.
seealso:
  - module: instanton.platform.instanton_container
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Make a self-restoring image of a Flask app
  instanton.platform.instanton_image:
    name: localhost/pyapp:instanton
    app_image: localhost/pyapp:latest
    readiness:
      type: http
      port: 8080
      path: /
      timeout: 60

- name: Same, for an app that logs when it is ready
  instanton.platform.instanton_image:
    name: localhost/worker:instanton
    app_image: localhost/worker:1.4
    command: [java, -XX:-UsePerfData, -jar, /srv/worker.jar]
    readiness:
      type: log
      pattern: "Started in [0-9.]+ ?s"

- name: Open Liberty, checkpoint at build time (RUN checkpoint.sh afterAppStart)
  instanton.platform.instanton_image:
    name: localhost/liberty-app:instanton
    flavor: liberty
    app_image: localhost/liberty-app:latest
    phase: afterAppStart

- name: Open Liberty, podman run with WLP_CHECKPOINT then podman commit
  instanton.platform.instanton_image:
    name: localhost/liberty-app:instanton-run
    flavor: liberty
    method: run
    app_image: localhost/liberty-app:latest
    phase: beforeAppStart

- name: podman's own checkpoint image, and an archive of it
  instanton.platform.instanton_image:
    name: localhost/jvmapp:checkpoint
    flavor: podman
    app_image: localhost/jvmapp:latest
    readiness:
      type: http
      port: 8080
    export:
      path: /var/lib/instanton/jvmapp.tar.zst
      compression: zstd

- name: Remove it
  instanton.platform.instanton_image:
    name: localhost/pyapp:instanton
    state: absent
"""

RETURN = r"""
image:
  description: The image's C(podman image inspect) output; empty after O(state=absent).
  returned: success, when not in check mode
  type: dict
inputs_digest:
  description: The digest of the build inputs, as recorded in the C(io.instanton.platform.inputs) label.
  returned: when O(state=present)
  type: str
  sample: 3f2a9c0e...
built:
  description: Whether the image was (or in check mode would be) built.
  returned: when O(state=present)
  type: bool
criu_error:
  description:
    - Why CRIU's dump failed, when the checkpoint step failed on it. C(cause) is one of C(criu_too_old_for_kernel),
      C(io_uring), C(mptcp), C(established_tcp), C(seccomp), C(pid_in_use), C(external_mount_missing), C(missing_capability)
      or C(unknown) (then C(log_excerpt) is CRIU's first Error line); C(hint) says what to do.
  returned: when a dump failed
  type: dict
  sample: {"phase": "dump", "cause": "io_uring", "hint": "the app holds an io_uring instance ...",
           "log_excerpt": "Error (criu/proc_parse.c:...): Can't open PID's mapfile link ..."}
pushed:
  description: Where the image was pushed in this run (null when it was not), and whether it was signed.
  returned: when O(push) is set
  type: dict
  sample: {"destination": "registry.example:5000/instanton/app:1.0", "signed": true}
build_seconds:
  description: How long the build, checkpoint and commit took.
  returned: when the image was built
  type: float
  sample: 41.7
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils.common import _host_lock as host_lock
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_generic as image_generic
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_liberty as image_liberty
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors import _image_podman as image_podman
from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as probes
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import criu_for_kernel
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import (
    BuildError, fingerprint, recorded_inputs)
from ansible_collections.instanton.platform.plugins.module_utils.trust._image_trust import push_arguments, signing_problem
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import Podman, PodmanError, image_name_problem

FLAVORS = {"generic": image_generic, "liberty": image_liberty, "podman": image_podman}


def remove(module, podman, existing):
    if existing and not module.check_mode:
        podman.run(["rmi", module.params["name"]])
    module.exit_json(changed=bool(existing), image={})


def up_to_date(params, existing, digest):
    export = params["export"]
    return (recorded_inputs(existing) == digest and not params["force"]
            and not (export and not os.path.exists(export["path"])))


def parameter_problem(params):
    """What is wrong with the parameters for the chosen flavor, or None."""
    if params["state"] == "absent":
        return image_name_problem(params["name"])
    names = (image_name_problem(params["name"]) or image_name_problem(params["app_image"], "app_image")
             or push_problem(params["push"]))
    if names:
        return names
    if params["flavor"] == "liberty":
        return image_liberty.phase_problem(params["phase"]) or image_liberty.method_problem(
            params["method"], os.uname()[2])
    if not params["readiness"]:
        return "readiness is required for flavor=%s" % params["flavor"]
    if params["export"] and params["flavor"] != "podman":
        return "export is only for flavor=podman"
    export_problem = params["export"] and image_podman.export_path_problem(params["export"]["path"])
    return probes.problem(params["readiness"]) or export_problem


def push_problem(push):
    """What is wrong with the push options (destination name, private key modes), or None."""
    if not push:
        return None
    return image_name_problem(push["destination"], "push.destination") or signing_problem(
        push["sign_by_sigstore_private_key"], push["sign_passphrase_file"])


def pushed(module, podman, built):
    """Push (and sign) after a build, or when the registry lacks the destination; what was pushed, or None."""
    push = module.params["push"]
    if not push:
        return {}
    skopeo = module.get_bin_path("skopeo")
    if not built and skopeo and module.run_command(
            [skopeo, "inspect", "--no-tags", "--tls-verify=%s" % str(push["tls_verify"]).lower(),
             "docker://" + push["destination"]])[0] == 0:
        return {"pushed": None}
    if not module.check_mode:
        podman.run(push_arguments(module.params["name"], push["destination"], push["tls_verify"],
                                  push["sign_by_sigstore_private_key"], push["sign_passphrase_file"]))
    return {"pushed": {"destination": push["destination"], "signed": bool(push["sign_by_sigstore_private_key"])}}


def present(module, podman, existing):
    params = module.params
    app_image = podman.image(params["app_image"])
    if app_image is None:
        module.fail_json(msg="app image %s is not on this host: build or pull it first" % params["app_image"])
    flavor = FLAVORS[params["flavor"]]
    digest = fingerprint(flavor.inputs(app_image, params))
    if up_to_date(params, existing, digest):
        push_result = pushed(module, podman, built=False)
        module.exit_json(changed=bool(push_result.get("pushed")), built=False, inputs_digest=digest, image=existing,
                         **push_result)
    if module.check_mode:
        module.exit_json(changed=True, built=True, inputs_digest=digest, **pushed(module, podman, built=True))
    if params["flavor"] == "generic" and not params["criu_apt_suite"]:
        kernel_warning = criu_for_kernel(os.uname()[2])["warning"]
        if kernel_warning:
            module.warn(kernel_warning)
    started = time.time()
    image = flavor.build(podman, app_image, params, digest)
    if existing and existing["Id"] != image["Id"]:
        # The old build lost its name; drop it unless a container still uses it.
        podman.run(["rmi", existing["Id"]], check=False)
    module.exit_json(changed=True, built=True, inputs_digest=digest, image=image,
                     build_seconds=round(time.time() - started, 1), **pushed(module, podman, built=True))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            flavor=dict(type="str", default="generic", choices=sorted(FLAVORS)),
            app_image=dict(type="str"),
            command=dict(type="list", elements="str"),
            phase=dict(type="str", default="afterAppStart"),
            method=dict(type="str", default="build", choices=["build", "run"]),
            export=dict(type="dict", options=dict(
                path=dict(type="path", required=True),
                compression=dict(type="str", default="zstd", choices=list(image_podman.COMPRESSIONS)))),
            readiness=dict(type="dict", options=probes.argument_spec(120)),
            criu_apt_suite=dict(type="str", default=""),
            pre_checkpoint=dict(type="list", elements="str"),
            checkpoint_seccomp=dict(type="str", default="unconfined"),
            push=dict(type="dict", options=dict(
                destination=dict(type="str", required=True),
                sign_by_sigstore_private_key=dict(type="path", no_log=True),
                sign_passphrase_file=dict(type="path", no_log=True),
                tls_verify=dict(type="bool", default=True))),
            force=dict(type="bool", default=False),
            executable=dict(type="str", default="podman"),
            lock_timeout=dict(type="int", default=900),
        ),
        required_if=[("state", "present", ("app_image",))],
        supports_check_mode=True,
    )
    problem = parameter_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        podman = Podman(module, module.params["executable"])
        if module.params["flavor"] == "podman":
            problem = image_podman.version_problem(podman.version())
            if problem:
                module.fail_json(msg=problem)
        with host_lock.exclusive("image-" + module.params["name"], module.params["lock_timeout"]):
            existing = podman.image(module.params["name"])
            if module.params["state"] == "absent":
                remove(module, podman, existing)
            present(module, podman, existing)
    except host_lock.LockError as error:
        module.fail_json(msg="nothing was done to image %s: %s" % (module.params["name"], error))
    except BuildError as error:
        module.fail_json(msg=str(error), **({"criu_error": error.criu_error} if error.criu_error else {}))
    except PodmanError as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
