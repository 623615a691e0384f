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
  - "Restores of one podman checkpoint image take turns on a host, under a lock in C(/run/instanton): podman
    unmounts the image when a restore ends, even from under a concurrent restore of it. RV(start_ms) includes the
    wait."
  - "The same checkpoint exported as an archive (O(checkpoint_archive)) is started with C(podman container restore
    --import), in the same way and with the same refusals. It starts faster than the checkpoint image (43-45% on a
    lab host, uncompressed; see C(docs/performance.md)) and its restores need not take turns."
  - A running container started with the same image and options is left alone (changed=false).
  - "For the fastest start (scale to zero), create the container ahead with O(state=created) and start it with
    O(state=started) when it is needed: the start then skips creating the container, and, with O(pod), setting up
    its network (the pod holds it), and, with O(api_socket), the C(podman) command's own start-up. Each was measured
    on a lab host; see C(docs/performance.md)."
extends_documentation_fragment:
  - instanton.platform.podman
options:
  name:
    description: The container's name.
    type: str
    required: true
  state:
    description:
      - C(started) runs the container (again, when its image or options changed) and waits until it is ready. A
        container created ahead with the same image and options (O(state=created)) is started as it is.
      - C(created) creates the container and leaves it stopped, ready for a fast O(state=started). A container that
        has run once (its root file system is used) is replaced; a running one with the same image and options is
        left alone. Not for O(instanton.platform.instanton_image#module:flavor=podman) images.
      - C(stopped) stops it, C(absent) removes it.
      - To report on a container without changing it, use M(instanton.platform.instanton_container_info).
    type: str
    choices: [started, created, stopped, absent]
    default: started
  image:
    description:
      - The image to run. Required with O(state=created), and with O(state=started) unless O(checkpoint_archive) is
        given.
    type: str
  checkpoint_archive:
    description:
      - Start from this podman checkpoint archive on the host instead of an image, with C(podman container restore
        --import), for example the O(instanton.platform.instanton_image#module:export) of the podman flavor or
        C(podman container checkpoint --export). Plain tar, gzip and zstd archives are read (zstd needs the C(zstd)
        program).
      - The archive's app image (the checkpointed container's image) must be on the host; when the restore fails,
        the container starts cold from it. Archives that CRI-O wrote are refused; see
        M(instanton.platform.checkpoint_image).
      - The archive holds the process's memory, so keep it C(0600) in a C(0700) directory.
      - Mutually exclusive with O(image); only with O(state=started).
    type: path
  ports:
    description: Published ports, as for C(podman run --publish), for example C(127.0.0.1:8080:8080).
    type: list
    elements: str
    default: []
  env:
    description:
      - Environment variables.
      - Their values are treated as secrets (C(no_log)) and never appear in the task's result, warnings or
        invocation, at any verbosity; in the returned RV(container) they are masked.
      - Ansible masks a C(no_log) value wherever it appears in the result, so a short value (C(1), C(true)) also
        masks that text elsewhere in RV(container), IDs included.
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
  pod:
    description:
      - Run the container in this existing pod (C(podman run --pod)), for example one made with
        M(containers.podman.podman_pod) with the published ports. A running pod holds the network namespace, so
        a start does not set up the network (about 25 ms less a start, measured on a lab host).
      - Mutually exclusive with O(ports) and O(network), which the pod has.
    type: str
  api_socket:
    description:
      - Start a container created ahead (O(state=created)) through podman's REST API on this unix socket
        (C(podman system service), or the C(podman.socket) systemd unit, C(/run/podman/podman.sock)) instead of
        the C(podman start) command, the way an activator that scales from zero would (about 45 ms less a
        start, measured on a lab host). Everything else still uses the C(podman) command.
    type: path
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
      - The seccomp profile file, C(runtime-default) or C(unconfined).
      - A profile file that is missing or is not a seccomp profile fails the task, naming the fix (the
        C(instanton.platform.seccomp) role writes the default path); the module never falls back to another profile
        on its own. C(runtime-default) opts out explicitly and runs with the container runtime's own default
        profile (podman's restores CRIU checkpoints with podman 5). C(unconfined) only when asked for.
      - Not used for podman checkpoint images, which podman restores with their own settings.
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
  verify_signature:
    description:
      - "Verify the image before any container is created: resolve O(image) to its manifest digest (C(skopeo
        inspect)), pull exactly that digest through O(signature_policy) (C(podman pull --signature-policy)), which
        checks the image's signature as the policy asks and every blob's digest, then run that digest
        (C(REPOSITORY@sha256:...)), so the container runs exactly what was verified."
      - containers' policy.json is enforced only when an image is pulled or copied, never when a local image is
        run; this option is how the collection applies it before a restore. Only registry images
        (C(host[:port]/path)) can be verified.
      - When verification fails, nothing is created and the task fails, unless O(fallback_image) is given and
        O(require_signature) is not set (then the container starts cold from O(fallback_image)). RV(verification)
        says what failed.
      - Not done in check mode (it would pull).
    type: bool
    default: false
  require_signature:
    description:
      - "Make verification mandatory and fatal: O(image) is verified as for O(verify_signature) and the policy
        must demand a signature for its repository (a rule of type C(sigstoreSigned) or C(signedBy), as the
        P(instanton.platform.image_trust#role) role writes), and O(checkpoint_archive) must verify with
        O(archive_public_key). Any failure fails the task before a container, pod or image is created; no
        fallback."
    type: bool
    default: false
  signature_policy:
    description: The signature policy (containers-policy.json(5)) images are verified with.
    type: path
    default: /etc/containers/policy.json
  archive_public_key:
    description:
      - Check O(checkpoint_archive)'s detached signature (see M(instanton.platform.checkpoint_archive_sign)) with
        this public key (PEM) before the archive is read or imported.
    type: path
  fallback_image:
    description:
      - An image to start cold when O(image) or O(checkpoint_archive) does not verify (for example the app image
        the InstantOn image was made from, already on the host). Without it a failed verification fails the
        task. Not with O(require_signature).
    type: str
  host_cpu_flags:
    description:
      - CPU features of this host to check the image's recorded ones against, instead of C(/proc/cpuinfo)'s (a
        host whose cpuinfo is hidden, or a test that simulates another CPU).
      - "InstantOn images record the architecture and CPU features of the host that checkpointed them
        (labels C(io.instanton.platform.build.arch) and C(io.instanton.platform.build.cpu-flags)). On a host that
        lacks some, the checkpoint is not restored (the process could die of SIGILL later): the container starts
        cold with the missing features in RV(fallback_reason), or the task fails under O(require_restore=true)
        and for Open Liberty images, which have no cold switch."
    type: list
    elements: str
  lock_timeout:
    description:
      - Seconds to wait for another run on this host that works on a container of the same O(name) (every state
        takes a per-host, per-name lock in C(/run/instanton), so that concurrent runs for one name take turns
        and report what is really there). The task fails with a clear message when the wait runs out.
    type: int
    default: 300
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

- name: Create a spare ahead, in a pod that holds the published port and the network
  block:
    - name: Create the pod
      containers.podman.podman_pod:
        name: pyapp-pod
        state: started
        publish: ["127.0.0.1:8081:8080"]

    - name: Create the container, not started
      instanton.platform.instanton_container:
        name: pyapp-spare
        image: localhost/pyapp:instanton
        pod: pyapp-pod
        state: created

- name: Later, when a request comes, start the spare through podman's API socket
  instanton.platform.instanton_container:
    name: pyapp-spare
    image: localhost/pyapp:instanton
    pod: pyapp-pod
    api_socket: /run/podman/podman.sock
    readiness:
      type: http
      port: 8080
  register: spare

- name: Start from a podman checkpoint archive (uncompressed archives start fastest)
  instanton.platform.instanton_container:
    name: pyapp-archive
    checkpoint_archive: /var/lib/instanton/exports/pyapp.tar
    ports: ["127.0.0.1:8082:8080"]
    readiness:
      type: http
      port: 8080

- name: Run only a signed InstantOn image, pulled by digest through the host's sigstoreSigned policy
  instanton.platform.instanton_container:
    name: pyapp-signed
    image: registry.example:5000/instanton/pyapp:1.0
    require_signature: true
    ports: ["127.0.0.1:8083:8080"]

- name: Restore a signed archive; start the app image cold if the archive does not verify
  instanton.platform.instanton_container:
    name: pyapp-archive-checked
    checkpoint_archive: /var/lib/instanton/exports/pyapp.tar
    archive_public_key: /etc/instanton/keys/archive-signing.pub
    fallback_image: localhost/pyapp:1.0

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
  description: Milliseconds from the start command to the first correct answer; null when the container was already running.
  returned: with O(state=started)
  type: int
  sample: 216
start_command:
  description:
    - How the container was started; null when it was already running.
    - C(podman run), C(podman start) (a spare), C(api start) (a spare, through O(api_socket)), C(podman container restore)
      (a podman checkpoint image), or C(podman container restore --import) (O(checkpoint_archive)).
  returned: with O(state=started)
  type: str
  sample: api start
criu_restore_ms:
  description: The restore's own time, as the generic entrypoint logged it.
  returned: when restored by the generic entrypoint
  type: int
  sample: 82
criu_error:
  description:
    - Why CRIU's restore failed, when the fallback reason (or, with O(require_restore), the failure) carries CRIU's
      errors. C(cause) is one of C(criu_too_old_for_kernel), C(io_uring), C(mptcp), C(established_tcp), C(seccomp),
      C(pid_in_use), C(external_mount_missing), C(missing_capability) or C(unknown) (then C(log_excerpt) is CRIU's
      first Error line); C(hint) says what to do.
  returned: when a restore failed on CRIU
  type: dict
  sample: {"phase": "restore", "cause": "seccomp", "hint": "a seccomp filter is in the way ...",
           "log_excerpt": "Error (criu/pipes.c:...): Error splicing data: Operation not permitted"}
fallback_reason:
  description: Why the container started cold, read from its log.
  returned: when it started cold
  type: str
  sample: "criu restore failed: (00.000012) Error (criu/cr-restore.c:...): ..."
container:
  description: The container's C(podman container inspect) output.
  returned: success, except after O(state=absent)
  type: dict
verification:
  description:
    - What was verified before the container was created. For an image, C(verified), C(image) (the digest
      reference that runs), C(digest), C(image_id), C(signature_required) (whether the policy demanded a signature)
      and C(policy). For an archive, C(verified), C(archive), C(sha256), C(signature), C(public_key).
    - When it failed, C(verified=false), C(failed) (C(signature_missing), C(signature_invalid),
      C(content_modified), C(not_required_by_policy), C(not_a_registry_image), C(no_public_key) or
      C(pull_failed)) and C(message); for archives C(changed_members) names the members C(added), C(removed) or
      C(modified) since signing.
    - C(verify_ms), the milliseconds the check took (before RV(start_ms) starts).
  returned: when O(verify_signature), O(require_signature) or O(archive_public_key) is set
  type: dict
  sample: {"verified": false, "failed": "signature_missing",
           "message": "registry.example:5000/instanton/app@sha256:... did not verify: ..."}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.common import _host_lock as host_lock
from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as probes
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import SECCOMP_PROFILE_PATH
from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._checkpoint_archive import ArchiveError, read_archive
from ansible_collections.instanton.platform.plugins.module_utils.instanton.flavors._run_podman import archive_as_image
from ansible_collections.instanton.platform.plugins.module_utils.trust._archive_signature import archive_verification
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import image_flavor
from ansible_collections.instanton.platform.plugins.module_utils.trust._image_trust import ImageVerifier, TrustError
from ansible_collections.instanton.platform.plugins.module_utils.host import _cpu_features as cpu_features
from ansible_collections.instanton.platform.plugins.module_utils.instanton._image_build import image_flavor, image_labels
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import (
    Podman, PodmanError, container_name_problem, image_name_problem)


def archive_image(module, runner):
    """The checkpoint archive as the checkpoint image it could be; fails unless podman can restore it here."""
    path = module.params["checkpoint_archive"]
    try:
        archive = read_archive(path, zstd_executable=module.get_bin_path("zstd"), want_cmdline=False)
    except ArchiveError as error:
        module.fail_json(msg=str(error))
    if archive["engine"] != "Podman":
        module.fail_json(msg="%s was written by %s, not podman: podman cannot import it (for CRI-O archives, see "
                             "instanton.platform.checkpoint_image)" % (path, archive["engine"]))
    app_image = runner.podman.image(archive["image"] or "")
    if app_image is None:
        module.fail_json(msg="%s restores onto app image %s, which is not on this host: build or pull it first"
                             % (path, archive["image"]))
    return archive_as_image(path, archive["container_name"] or os.path.basename(path), app_image)


def installed_image(module, runner):
    """The image to run, inspected; fails when it is not on the host."""
    image = runner.podman.image(module.params["image"])
    if image is None:
        module.fail_json(msg="image %s is not on this host: build it with instanton.platform.instanton_image "
                             "or pull it first" % module.params["image"])
    return image


def wanted_image(module, runner):
    """The image (or archive) to run, inspected; fails when it is missing or its flavor cannot honour the options."""
    image = archive_image(module, runner) if module.params["checkpoint_archive"] else installed_image(module, runner)
    problem = container_run.options_problem(module.params, container_run.run_flavor(image))
    if problem:
        module.fail_json(msg=problem)
    return image


def image_verification(module, podman):
    """Pull the image by digest through the signature policy; the verification (module.params["image"] then
    names the verified digest, so that exactly it runs)."""
    params = module.params
    if module.check_mode:
        return {"verified": None, "image": params["image"], "message": "not checked in check mode (it would pull)"}
    verifier = ImageVerifier(podman, module.get_bin_path("skopeo"), params["signature_policy"])
    try:
        verification = verifier.verify(params["image"], params["require_signature"])
    except TrustError as error:
        return {"verified": False, "image": params["image"], "failed": error.failed, "message": str(error)}
    params["image"] = verification["image"]
    return verification


def verified_source(module, podman):
    """Verify the image or archive before anything is created, when asked; the verification, or None. A failure
    fails the task, or, when the user allowed it (fallback_image, no require_signature), switches to a cold start
    of fallback_image."""
    params = module.params
    began = time.time()
    if params["checkpoint_archive"]:
        verification = archive_verification(module, params["checkpoint_archive"], params["archive_public_key"],
                                            params["require_signature"], module.get_bin_path("zstd"))
    elif params["verify_signature"] or params["require_signature"]:
        verification = image_verification(module, podman)
    else:
        return None
    if verification is None:
        return None
    verification["verify_ms"] = int(round((time.time() - began) * 1000))
    if verification["verified"] is not False:
        return verification
    if params["require_signature"] or not params["fallback_image"]:
        module.fail_json(msg="nothing was created: %s" % verification["message"], verification=verification)
    params.update(image=params["fallback_image"], checkpoint_archive=None)
    return verification


def trust_result(verification):
    """The result fields verification adds: the check itself, and why a fallback started cold."""
    if verification is None:
        return {}
    if verification["verified"] is False:
        return {"verification": verification,
                "fallback_reason": "did not verify, started cold from fallback_image: %s" % verification["message"]}
    return {"verification": verification}


def cpu_mismatch(module, image):
    """Why this host's CPU cannot run the image's checkpoint, or None; then the start is cold (restore=false), or
    the task fails under require_restore and for Liberty images (no cold switch)."""
    problem = cpu_features.image_problem(image_labels(image), cpu_features.host_cpu(module.params["host_cpu_flags"]))
    if problem is None:
        return None
    if module.params["require_restore"] or image_flavor(image) == "liberty":
        module.fail_json(msg="the checkpoint cannot be restored on this host (%s): %s" % (
            "require_restore is set" if module.params["require_restore"] else "liberty images cannot start cold: "
            "run the app image", problem))
    module.params["restore"] = False
    return problem


def started(module, runner, existing, verification):
    image = wanted_image(module, runner)
    cpu_problem = cpu_mismatch(module, image)
    if container_run.is_current(existing, image, module.params):
        module.exit_json(changed=False, **dict(runner.result(existing, image), **trust_result(verification)))
    if module.check_mode:
        module.exit_json(changed=True, **trust_result(verification))
    spare = existing if container_run.is_spare(existing, image, module.params) else None
    container, start_ms, command = runner.start(image, spare)
    result = dict(runner.result(container, image, start_ms, command), **trust_result(verification))
    if cpu_problem:
        result["fallback_reason"] = cpu_problem
    module.exit_json(changed=True, **result)


def created(module, runner, existing, verification):
    image = wanted_image(module, runner)
    cpu_mismatch(module, image)
    if container_run.is_current(existing, image, module.params) or container_run.is_spare(existing, image, module.params):
        module.exit_json(changed=False, container=existing, **trust_result(verification))
    if module.check_mode:
        module.exit_json(changed=True, **trust_result(verification))
    module.exit_json(changed=True, container=runner.create(image), **trust_result(verification))


def name_problem(params):
    """What is wrong with the container, pod or image name given, or None (checked before podman runs)."""
    problems = [container_name_problem(params["name"])]
    if params["pod"] is not None:
        problems.append(container_name_problem(params["pod"], "pod"))
    for option in ("image", "fallback_image"):
        if params[option] is not None:
            problems.append(image_name_problem(params[option], option))
    return next((problem for problem in problems if problem), None)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="started", choices=["started", "created", "stopped", "absent"]),
            image=dict(type="str"),
            checkpoint_archive=dict(type="path"),
            ports=dict(type="list", elements="str", default=[]),
            env=dict(type="dict", default={}, no_log=True),
            volumes=dict(type="list", elements="str", default=[]),
            network=dict(type="str"),
            pod=dict(type="str"),
            api_socket=dict(type="path"),
            readiness=dict(type="dict", options=probes.argument_spec(60)),
            restore=dict(type="bool", default=True),
            require_restore=dict(type="bool", default=False),
            seccomp_profile=dict(type="str", default=SECCOMP_PROFILE_PATH),
            cap_add=dict(type="list", elements="str", default=[]),
            privileged=dict(type="bool", default=False),
            executable=dict(type="str", default="podman"),
            verify_signature=dict(type="bool", default=False),
            require_signature=dict(type="bool", default=False),
            signature_policy=dict(type="path", default="/etc/containers/policy.json"),
            archive_public_key=dict(type="path"),
            fallback_image=dict(type="str"),
            host_cpu_flags=dict(type="list", elements="str"),
            lock_timeout=dict(type="int", default=300),
        ),
        required_if=[("state", "started", ("image", "checkpoint_archive"), True), ("state", "created", ("image",))],
        mutually_exclusive=[("image", "checkpoint_archive"), ("pod", "ports"), ("pod", "network"),
                            ("require_signature", "fallback_image")],
        supports_check_mode=True,
    )
    problem = name_problem(module.params) or probes.problem(module.params["readiness"])
    if problem:
        module.fail_json(msg=problem)
    try:
        with host_lock.exclusive("container-" + module.params["name"], module.params["lock_timeout"]):
            apply_state(module, Podman(module, module.params["executable"]))
    except host_lock.LockError as error:
        module.fail_json(msg="nothing was done to container %s: %s" % (module.params["name"], error))
    except PodmanError as error:
        module.fail_json(msg=str(error))


def apply_state(module, podman):
    """Bring the container to the state asked for; the caller holds the container's name lock."""
    runner = container_run.Runner(podman, module.params, module.fail_json)
    existing = podman.container(module.params["name"])
    state = module.params["state"]
    if state in ("started", "created"):
        verification = verified_source(module, podman)
        (started if state == "started" else created)(module, runner, existing, verification)
    if existing is None:
        module.exit_json(changed=False, container={})
    if state == "absent":
        if not module.check_mode:
            podman.remove_container(module.params["name"], check=True)
        module.exit_json(changed=True)
    if existing["State"]["Running"] and not module.check_mode:
        podman.run(["stop", module.params["name"]])
    module.exit_json(changed=existing["State"]["Running"], container=podman.container(module.params["name"]))


if __name__ == "__main__":
    main()
