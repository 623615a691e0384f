#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_facts
short_description: Preflight a host for checkpoint/restore containers (CRIU, podman, runtime, seccomp)
description:
  - Reads the kernel, C(CAP_CHECKPOINT_RESTORE) support, CRIU (C(criu --version), C(criu check)
    per category and per feature), podman (C(podman version), C(podman info)), the OCI runtime
    (C(crun --version) or C(runc --version)), the cgroup version, the seccomp profile and the
    RLIMIT hard limits, and decides whether the host can checkpoint and restore containers.
  - Each failed gate comes with a message that names the fix.
  - With O(smoke=true) it also checkpoints and restores a real container that holds a TCP
    listener and checks that the restored listener answers.
  - Never changes the host, except for the smoke test container, which is always removed.
version_added: 0.1.0
author:
  - instanton.platform engineers (@instanton)
extends_documentation_fragment:
  - instanton.platform.podman
options:
  smoke:
    description:
      - Run the smoke test; a failed smoke test makes the verdict C(not_ready).
      - Skipped in check mode.
    type: bool
    default: false
  seccomp_profile:
    description:
      - The seccomp profile containers run with; it must be valid JSON that allows the
        syscalls CRIU needs to restore (for example C(clone3), C(kcmp), C(ptrace)) to every
        container.
      - The smoke test runs its container with this profile.
    type: path
    default: /etc/containers/seccomp.d/instanton.json
  smoke_image:
    description:
      - The image for the smoke test; it needs C(sh) and C(perl) (with C(IO::Socket::INET), as
        Debian's C(perl-base) has) or C(python3) (or RHEL 8's C(/usr/libexec/platform-python)).
      - Default is the host distribution's own image, pulled when missing,
        C(registry.access.redhat.com/ubiN/ubi:latest) on RHEL and its rebuilds (N the major version),
        C(docker.io/library/debian:N) on Debian and C(docker.io/library/ubuntu:X.Y) on Ubuntu. On
        other distributions set it.
    type: str
notes:
  - Supports check mode; the smoke test is skipped in check mode.
  - Run as root; podman checkpoint/restore needs root.
requirements:
  - criu, podman and crun or runc on the managed host (missing ones are reported, not fatal)
"""

EXAMPLES = r"""
- name: Preflight
  instanton.platform.host_facts:
    smoke: true
    seccomp_profile: /etc/containers/seccomp.d/instanton.json
  register: preflight

- name: Stop here unless the host can checkpoint and restore
  ansible.builtin.assert:
    that: preflight.verdict == 'ready'
    fail_msg: "{{ preflight.reasons | join('; ') }}"

- name: Run a restored container with the options this host needs
  ansible.builtin.debug:
    msg: "podman run {{ preflight.run_options | join(' ') }} ..."
"""

RETURN = r"""
verdict:
  description: C(ready) when every gate passed (and the smoke test, when it ran), else C(not_ready).
  returned: always
  type: str
  sample: ready
reasons:
  description: Why the host is not ready, each naming the fix; empty when ready.
  returned: always
  type: list
  elements: str
  sample: ["CRIU 4.1.1 is too old for kernel 6.18: kernels 6.16+ restrict SO_PASSCRED/SO_PASSSEC ..."]
warnings_found:
  description:
    - Limits that do not fail the verdict (for example podman older than 4.4, or a kernel newer than the
      CRIU-for-kernel table knows); each is also given as an Ansible warning.
  returned: always
  type: list
  elements: str
run_options:
  description:
    - Extra C(podman run) options checkpointed containers need here; the C(ns_last_pid) volume
      where CRIU cannot use clone3 to choose PIDs (kernel older than 5.9, runc older than 1.1.3).
  returned: always
  type: list
  elements: str
  sample: ["--volume", "/proc/sys/kernel/ns_last_pid:/proc/sys/kernel/ns_last_pid:rw"]
host_facts:
  description: What was read from the host and the decision derived from it.
  returned: always
  type: dict
  contains:
    kernel_release:
      description: C(uname -r).
      type: str
      sample: 6.18.44-fc-v595
    cap_last_cap:
      description: C(/proc/sys/kernel/cap_last_cap); 40 or more means C(CAP_CHECKPOINT_RESTORE) exists.
      type: int
    distribution:
      description: C(ID) and C(VERSION_ID) from C(/etc/os-release).
      type: dict
    criu:
      description: CRIU path, C(criu --version) output and C(criu check) results per category
        (C(required), C(extra), C(experimental)) and per feature (C(features)).
      type: dict
    podman:
      description: podman path and version.
      type: dict
    runtime:
      description: The OCI runtime podman uses, its path and C(--version) output.
      type: dict
    cgroup_version:
      description: C(v1) or C(v2).
      type: str
    seccomp_profile:
      description: Whether the profile exists, is valid JSON, and which CRIU syscalls it does
        not allow (C(not_allowed)).
      type: dict
    rlimits:
      description: Hard limits (C(nofile_hard), C(nproc_hard), C(memlock_hard)); null is unlimited.
      type: dict
    clone3:
      description: Whether CRIU can choose PIDs with clone3 (kernel 5.9+, not runc older than 1.1.3).
      type: bool
    checkpoint_restore_capability:
      description: Whether the kernel has C(CAP_CHECKPOINT_RESTORE).
      type: bool
    versions:
      description: Parsed versions of kernel, CRIU, podman and the runtime.
      type: dict
    failed_gates:
      description: Each failed gate (C(kernel), C(criu), C(criu_version), C(criu_check),
        C(podman), C(runtime), C(seccomp)) with its message.
      type: list
      elements: dict
smoke:
  description: The smoke test result.
  returned: when O(smoke=true)
  type: dict
  contains:
    passed:
      description: True when the restored listener answered; null when skipped (check mode).
      type: bool
    failed_step:
      description: C(run), C(listen), C(checkpoint), C(restore) or C(answer); null when passed.
      type: str
    message:
      description: What happened, with podman's or CRIU's error when a step failed.
      type: str
    timings_ms:
      description: Milliseconds per step.
      type: dict
      sample: {"run": 180, "listen": 120, "checkpoint": 400, "restore": 450, "answer": 60}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.host._host_probe import (
    SmokeTest, default_smoke_image, gather)
from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    SECCOMP_PROFILE_PATH, evaluate, run_options)
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import PodmanError

SMOKE_SKIPPED_IN_CHECK_MODE = {"passed": None, "failed_step": None, "timings_ms": {},
                               "message": "check mode: smoke test skipped"}


def smoke_result(module, facts):
    if module.check_mode:
        return dict(SMOKE_SKIPPED_IN_CHECK_MODE)
    if not (facts["podman"].get("path") and facts["podman"].get("version_output")):
        return {"passed": False, "failed_step": "run", "timings_ms": {},
                "message": "podman is not usable here: %s"
                           % facts["podman"].get("error", "not installed")}
    image = module.params["smoke_image"] or default_smoke_image(facts["distribution"])
    if not image:
        return {"passed": False, "failed_step": "run", "timings_ms": {},
                "message": "no default smoke image for %(id)s %(version)s: set smoke_image" % facts["distribution"]}
    test = SmokeTest(module, module.params["executable"], image,
                     module.params["seccomp_profile"], run_options(facts), facts["runtime"].get("name"))
    return test.run()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            smoke=dict(type="bool", default=False),
            seccomp_profile=dict(type="path", default=SECCOMP_PROFILE_PATH),
            smoke_image=dict(type="str"),
            executable=dict(type="str", default="podman"),
        ),
        supports_check_mode=True,
    )
    if module.params["smoke_image"] is not None and not module.params["smoke_image"].strip():
        module.fail_json(msg="smoke_image must not be empty")
    try:
        facts = gather(module, module.params["executable"], module.params["seccomp_profile"])
        smoke = smoke_result(module, facts) if module.params["smoke"] else None
    except (PodmanError, OSError) as error:
        module.fail_json(msg="host_facts could not read the host: %s" % error)
    decision = evaluate(facts, smoke)
    facts.update((key, decision[key]) for key in
                 ("clone3", "checkpoint_restore_capability", "versions", "failed_gates"))
    result = dict(changed=False, host_facts=facts, verdict=decision["verdict"],
                  reasons=decision["reasons"], warnings_found=decision["warnings"],
                  run_options=decision["run_options"])
    if smoke is not None:
        result["smoke"] = smoke
    for warning in decision["warnings"]:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
