# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Can this host checkpoint and restore containers? Pure decisions over recorded facts.

No I/O here: host_probe.py gathers the facts, these functions judge them, so every rule is
unit-tested against facts recorded from real releases (tests/unit/fixtures/host_facts).

A facts dict holds the raw tool outputs, parsed here:
  kernel_release      "4.18.0-372.9.1.el8.x86_64"
  cap_last_cap        int from /proc/sys/kernel/cap_last_cap, or None when not read
  distribution        {"id": "rhel", "version": "8.6"}
  criu                {"version_output": "Version: 3.15\n" | None, "check": {...} | None}
  podman              {"version_output": "podman version 4.0.2" | None}
  runtime             {"name": "crun", "version_output": "crun version 1.4.4\n..."}
  cgroup_version      "v1" | "v2"
  seccomp_profile     {"path", "exists", "valid_json", "error", "not_allowed": [...]} | None
  rlimits             {"nofile_hard": 20000} | None
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

CAP_CHECKPOINT_RESTORE = 40
KERNEL_CHECKPOINT_RESTORE = (5, 9)
# RHEL 8.6 (kernel 4.18.0-372) backports CAP_CHECKPOINT_RESTORE, not clone3 set_tid.
EL8_BACKPORT_KERNEL = (4, 18, 0, 372)
KERNEL_CLONE3_SET_TID = (5, 9)
CRIU_MINIMUM = (3, 15)
# The one table of which CRIU a kernel needs, read by the criu role (criu_for_kernel filter),
# the generic image build and the preflight. (kernel, CRIU it needs, why): newest kernel first.
# Debian 12's CRIU 3.17 is fine on its own 6.1 kernel.
CRIU_FOR_KERNEL = (
    ((6, 16), (4, 2), "kernels 6.16+ restrict SO_PASSCRED/SO_PASSSEC and inet socket dumps "
                      "fail with older CRIU (criu issue 2705)"),
    ((6, 13), (4, 1), "kernels 6.13+ moved the vDSO and older CRIU stops with "
                      "\"vdso: Unexpected rt vDSO area bounds\""),
)
# The newest kernel the table was checked against (CRIU 4.2.1 on 6.18): a newer kernel may need
# a CRIU the table does not know yet, so it gets the newest CRIU there is and a warning.
CRIU_TABLE_CHECKED_UP_TO = (6, 18)
PODMAN_CHECKPOINT_IMAGE = (4, 1)
PODMAN_RUN_CHECKPOINT_IMAGE = (4, 4)
# runc 1.1.3 lets a container mount /proc/sys/kernel/ns_last_pid (runc PR 3451).
RUNC_MINIMUM = (1, 1, 3)
PODMAN_NOFILE_REQUEST = 1048576
NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
# What Open Liberty's InstantOn docs pass where CRIU cannot use clone3 to pick PIDs.
NS_LAST_PID_RUN_OPTIONS = ["--volume", "%s:%s:rw" % (NS_LAST_PID, NS_LAST_PID)]
# Syscalls CRIU makes inside a container to restore it; default profiles deny them or
# allow them only with capabilities such as CAP_SYS_PTRACE (kcmp, process_vm_*).
# vmsplice: CRIU refills pipes that held data with it (containers-common's profile denies it).
# Where the seccomp role installs the CRIU profile by default: the default of the modules that use it
# and, through the seccomp_profile_path lookup, of the roles.
SECCOMP_PROFILE_PATH = "/etc/containers/seccomp.d/instanton.json"
CRIU_SYSCALLS = ("clone3", "kcmp", "prctl", "process_vm_readv", "process_vm_writev",
                 "ptrace", "rseq", "setns", "unshare", "vmsplice")

CRIU_INSTALL_HINTS = {
    "rhel": "dnf install criu (AppStream, part of container-tools)",
    "debian": "apt install criu; where the release's CRIU is too old for the kernel, "
              "install it from sid with apt pinning (set criu_apt_suite: sid)",
    "ubuntu": "Ubuntu 22.04 has criu 3.16.1 in universe; Ubuntu 24.04 has no criu in its "
              "archive: use the CRIU project's PPA (ppa:criu/ppa) or build CRIU",
}


def version_tuple(text):
    """The first dotted number in text as a tuple of ints, or None: '4.2.1' -> (4, 2, 1)."""
    found = re.search(r"\d+(?:\.\d+)*", text or "")
    return tuple(int(part) for part in found.group(0).split(".")) if found else None


def version_string(version):
    return ".".join(str(part) for part in version) if version else "unknown"


def kernel_version(release):
    """(major, minor, patch, build): '4.18.0-372.9.1.el8.x86_64' -> (4, 18, 0, 372).

    The build is the distribution's number after the dash (Debian '6.1.0-26-amd64' -> 26),
    0 when there is none ('6.18.44-fc-v595')."""
    found = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d+))?", release or "")
    if not found:
        return None
    return tuple(int(part or 0) for part in found.groups())


def is_el8_kernel(release):
    return bool(re.search(r"\.el8", release or ""))


def criu_version(output):
    """'Version: 4.2.1\\nGitID: v4.2.1' -> (4, 2, 1); None when CRIU did not answer."""
    found = re.search(r"Version:\s*(\d+(?:\.\d+)*)", output or "")
    return version_tuple(found.group(1)) if found else None


def podman_version(output):
    """'podman version 4.0.2', 'Version: 5.4.2' or a bare '5.4.2' -> a version tuple."""
    found = re.search(r"(?:podman version|Version:)\s*(\d+(?:\.\d+)*)", output or "", re.I)
    return version_tuple(found.group(1) if found else output)


def runtime_details(name, output):
    """OCI runtime name, version and whether it can checkpoint, from `crun/runc --version`.

    crun links libcriu and lists '+CRIU' among its build features; runc always calls the
    criu binary, so its CRIU support is a question of version only."""
    first_line = (output or "").strip().splitlines()[:1]
    found = re.match(r"(\w+) version\s+(\S+)", first_line[0]) if first_line else None
    name = (found.group(1) if found else name) or "unknown"
    criu_support = "+CRIU" in (output or "").split() if name == "crun" else name == "runc"
    return {"name": name, "version": version_tuple(found.group(2)) if found else None,
            "criu_support": criu_support}


def checkpoint_restore_capability(facts):
    """Whether the kernel knows CAP_CHECKPOINT_RESTORE: cap_last_cap when read, else by version."""
    if facts.get("cap_last_cap") is not None:
        return facts["cap_last_cap"] >= CAP_CHECKPOINT_RESTORE
    kernel = kernel_version(facts.get("kernel_release"))
    if kernel is None:
        return False
    if is_el8_kernel(facts.get("kernel_release")):
        return kernel >= EL8_BACKPORT_KERNEL
    return kernel[:2] >= KERNEL_CHECKPOINT_RESTORE


def clone3_available(facts):
    """Whether CRIU can choose PIDs with clone3(set_tid) instead of writing ns_last_pid."""
    kernel = kernel_version(facts.get("kernel_release"))
    runtime = runtime_of(facts)
    if runtime["name"] == "runc" and (runtime["version"] or ()) < RUNC_MINIMUM:
        return False
    return kernel is not None and kernel[:2] >= KERNEL_CLONE3_SET_TID


def runtime_of(facts):
    runtime = facts.get("runtime") or {}
    return runtime_details(runtime.get("name"), runtime.get("version_output"))


def gate(name, message):
    return {"gate": name, "message": message}


def kernel_gate(facts):
    if checkpoint_restore_capability(facts):
        return None
    return gate("kernel", "kernel %s has no CAP_CHECKPOINT_RESTORE: it needs Linux 5.9+ or the "
                          "RHEL 8.6+ backport (kernel 4.18.0-372+); upgrade to RHEL 8.6 or "
                          "later, or to a 5.9+ kernel" % facts.get("kernel_release"))


def criu_install_hint(facts):
    distribution = (facts.get("distribution") or {}).get("id", "")
    return CRIU_INSTALL_HINTS.get(distribution, "install CRIU from your distribution or "
                                                "build it from https://criu.org")


def criu_needed_for_kernel(kernel):
    """(CRIU version, reason) the running kernel needs."""
    for min_kernel, min_criu, reason in CRIU_FOR_KERNEL:
        if kernel and kernel[:2] >= min_kernel:
            return min_criu, reason
    return CRIU_MINIMUM, "podman needs CRIU 3.15+ (clone3 set_tid, checkpoint images)"


def criu_for_kernel(release):
    """What CRIU the kernel release needs: {"minimum": "4.2", "reason", "newest", "warning"}.

    newest: take the newest CRIU available (the kernel is newer than the table knows, or
    unreadable); warning then names the kernel."""
    kernel = kernel_version(release)
    needed, reason = criu_needed_for_kernel(kernel)
    unknown = kernel is None or kernel[:2] > CRIU_TABLE_CHECKED_UP_TO
    warning = None
    if unknown:
        warning = ("kernel %s is newer than the CRIU-for-kernel table knows (checked up to %s): "
                   "taking the newest CRIU available; if checkpoints fail, a newer CRIU may be needed"
                   % (release, version_string(CRIU_TABLE_CHECKED_UP_TO)))
    return {"minimum": version_string(needed), "reason": reason, "newest": unknown,
            "warning": warning}


def criu_gates(facts):
    criu = facts.get("criu") or {}
    version = criu_version(criu.get("version_output"))
    if version is None:
        return [gate("criu", "CRIU is not installed (criu --version gave no version); "
                             "install CRIU: %s" % criu_install_hint(facts))]
    gates = []
    kernel = kernel_version(facts.get("kernel_release"))
    needed, reason = criu_needed_for_kernel(kernel)
    if version < needed:
        gates.append(gate("criu_version", "CRIU %s is too old for kernel %s: %s; install CRIU "
                                          "%s+ (%s)"
                          % (version_string(version), version_string(kernel[:2]) if kernel
                             else facts.get("kernel_release"), reason,
                             version_string(needed), criu_install_hint(facts))))
    check = (criu.get("check") or {}).get("required")
    if check and not check.get("passed"):
        gates.append(gate("criu_check", "`criu check` failed: %s; fix what it reports (kernel "
                                        "configuration or a CRIU built for this kernel)"
                          % (check.get("output") or "no output").strip()[-500:]))
    return gates


def podman_gate(facts):
    version = podman_version((facts.get("podman") or {}).get("version_output"))
    if version is None:
        return gate("podman", "podman is not installed; install podman %s+"
                    % version_string(PODMAN_CHECKPOINT_IMAGE))
    if version < PODMAN_CHECKPOINT_IMAGE:
        return gate("podman", "podman %s cannot make checkpoint images (--create-image needs "
                              "podman 4.1+); install podman 4.4+ (RHEL: container-tools from "
                              "RHEL 8.7+/9.1+)" % version_string(version))
    return None


def runtime_gate(facts):
    runtime = runtime_of(facts)
    if runtime["name"] in ("crun", "runc") and runtime["version"] is None:
        return gate("runtime", "%s did not answer `%s --version`; reinstall it"
                    % (runtime["name"], runtime["name"]))
    if runtime["name"] == "crun" and not runtime["criu_support"]:
        return gate("runtime", "crun %s was built without CRIU support (`crun --version` lacks "
                               "+CRIU); install a crun built with libcriu (and libcriu2/criu-libs)"
                    % version_string(runtime["version"]))
    if runtime["name"] == "runc" and (runtime["version"] or ()) < RUNC_MINIMUM:
        return gate("runtime", "runc %s cannot mount %s into a container; install runc 1.1.3+ "
                               "or use crun built with CRIU support"
                    % (version_string(runtime["version"]), NS_LAST_PID))
    if runtime["name"] not in ("crun", "runc"):
        return gate("runtime", "podman's OCI runtime %s cannot checkpoint; configure crun "
                               "(built with +CRIU) or runc 1.1.3+" % runtime["name"])
    return None


def seccomp_gate(facts):
    profile = facts.get("seccomp_profile")
    if profile is None:
        return None
    path = profile.get("path")
    if not profile.get("exists"):
        return gate("seccomp", "seccomp profile %s does not exist; install it (the "
                               "instanton.platform host role writes it)" % path)
    if not profile.get("valid_json"):
        return gate("seccomp", "seccomp profile %s is not valid JSON (%s); reinstall it"
                    % (path, profile.get("error")))
    if profile.get("not_allowed"):
        return gate("seccomp", "seccomp profile %s does not allow %s unconditionally, which "
                               "CRIU needs to restore; allow them (the host role's profile does)"
                    % (path, ", ".join(profile["not_allowed"])))
    return None


def seccomp_not_allowed(profile, syscalls=CRIU_SYSCALLS):
    """Which of syscalls a parsed OCI seccomp profile does not allow for every container.

    Allowed: the default action allows, or an ALLOW rule without capability or argument
    conditions names it and no rule that applies without extra capabilities denies it."""
    rules = profile.get("syscalls") or []
    allowed, denied = set(), set()
    for rule in rules:
        names = set(rule.get("names") or [rule.get("name")])
        conditional = bool((rule.get("includes") or {}).get("caps") or rule.get("args"))
        if rule.get("action") == "SCMP_ACT_ALLOW":
            if not conditional and not (rule.get("excludes") or {}).get("caps"):
                allowed |= names
        elif not conditional:
            denied |= names
    if profile.get("defaultAction") == "SCMP_ACT_ALLOW":
        return sorted(set(syscalls) & denied)
    return sorted(name for name in syscalls if name not in allowed or name in denied)


def warnings_for(facts):
    """Things that work but limit what the host can do: they do not fail the verdict."""
    found = []
    kernel_warning = criu_for_kernel(facts.get("kernel_release"))["warning"]
    if kernel_warning:
        found.append(kernel_warning)
    version = podman_version((facts.get("podman") or {}).get("version_output"))
    if version and PODMAN_CHECKPOINT_IMAGE <= version < PODMAN_RUN_CHECKPOINT_IMAGE:
        found.append("podman %s can make checkpoint images but only podman 4.4+ can "
                     "`podman run` them; use `podman container restore IMAGE`"
                     % version_string(version))
    nofile = (facts.get("rlimits") or {}).get("nofile_hard")
    if nofile is not None and nofile < PODMAN_NOFILE_REQUEST and version and version < (5,):
        found.append("RLIMIT_NOFILE hard limit %d is below the %d podman %s asks the runtime "
                     "for; raise the hard limit or containers may not start"
                     % (nofile, PODMAN_NOFILE_REQUEST, version_string(version)))
    return found


def failed_gates(facts):
    gates = [kernel_gate(facts)] + criu_gates(facts)
    gates += [podman_gate(facts), runtime_gate(facts), seccomp_gate(facts)]
    return [found for found in gates if found]


def run_options(facts):
    """podman run options a checkpointed container needs on this host."""
    return [] if clone3_available(facts) else list(NS_LAST_PID_RUN_OPTIONS)


def ns_last_pid_options(kernel_release):
    """run_options for a host known by its kernel release, as the image and container modules know it:
    the ns_last_pid volume where the kernel has no clone3 (RHEL 8). (runc older than 1.1.3 also lacks
    it, but cannot mount ns_last_pid either: the preflight fails such a host.)"""
    return run_options({"kernel_release": kernel_release})


def smoke_reason(smoke):
    if not smoke or smoke.get("passed") is not False:
        return None
    return "smoke test failed at step %s: %s" % (smoke.get("failed_step"), smoke.get("message"))


def evaluate(facts, smoke=None):
    """The verdict for facts (and a smoke result when one ran)."""
    gates = failed_gates(facts)
    reasons = [found["message"] for found in gates]
    if smoke_reason(smoke):
        reasons.append(smoke_reason(smoke))
    runtime = runtime_of(facts)
    return {
        "verdict": "not_ready" if reasons else "ready",
        "reasons": reasons,
        "failed_gates": gates,
        "warnings": warnings_for(facts),
        "clone3": clone3_available(facts),
        "run_options": run_options(facts),
        "versions": {
            "kernel": facts.get("kernel_release"),
            "criu": version_string(criu_version((facts.get("criu") or {}).get("version_output"))),
            "podman": version_string(podman_version((facts.get("podman") or {})
                                                    .get("version_output"))),
            "runtime": "%s %s" % (runtime["name"], version_string(runtime["version"])),
        },
        "checkpoint_restore_capability": checkpoint_restore_capability(facts),
    }
