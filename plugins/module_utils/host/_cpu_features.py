# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""CPU features of a host, and whether a checkpoint taken on one host can run on another.

A restored process goes on with the instructions it chose at start-up (glibc, the JVM and numpy pick
code paths by CPU feature once): restoring it where a feature is missing crashes it late, with SIGILL.
So the features of the checkpointing host are compared with the restoring host's before anything stops."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import platform

CPUINFO = "/proc/cpuinfo"
# Labels an InstantOn image carries: the architecture and CPU features of the host that checkpointed it.
ARCH_LABEL = "io.instanton.platform.build.arch"
CPU_FLAGS_LABEL = "io.instanton.platform.build.cpu-flags"
# Flags the kernel or the hypervisor reports about the machine, not instructions a process can use:
# a host that lacks one runs the same code.
MACHINE_ONLY_FLAGS = frozenset([
    "hypervisor", "constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_deadline_timer", "tsc_adjust",
    "tsc_reliable", "rep_good", "nopl", "xtopology", "cpuid", "cpuid_fault", "arat", "arch_capabilities",
    "flush_l1d", "md_clear", "ssbd", "ibrs", "ibpb", "stibp", "ibrs_enhanced", "ibt", "bus_lock_detect",
    "aperfmperf", "pti", "retpoline", "amd_ssbd", "virt_ssbd", "ht", "pbe", "tm", "tm2", "acpi", "ds_cpl",
    "dtes64", "monitor", "est", "xtpr", "pdcm", "vmx", "smx", "svm", "epb", "dtherm", "ida", "pln", "pts",
    "hwp", "hwp_notify", "hwp_act_window", "hwp_epp", "hwp_pkg_req", "tpr_shadow", "vnmi", "flexpriority",
    "ept", "vpid", "ept_ad", "x2apic", "apic", "pcid", "invpcid", "smep", "smap", "umip",
])
# /proc/cpuinfo names the feature list "flags" on x86 and "Features" on arm64.
FLAG_KEYS = ("flags", "features")
MODEL_KEYS = ("model name", "cpu model", "cpu", "processor")


def parse_cpuinfo(text):
    """{model, flags} of the first processor listed in /proc/cpuinfo's text (all cores of a host agree)."""
    model, flags = None, None
    for line in text.splitlines():
        key, _sep, value = line.partition(":")
        key = key.strip().lower()
        if flags is None and key in FLAG_KEYS:
            flags = sorted(set(value.split()))
        if model is None and key in MODEL_KEYS and value.strip() and not value.strip().isdigit():
            model = value.strip()
    return {"model": model, "flags": flags or []}


def host_cpu(declared_flags=None, cpuinfo_path=CPUINFO):
    """This host's {arch, model, flags, source}; declared_flags (a list) stand in for /proc/cpuinfo's,
    for hosts whose cpuinfo a container hides, and for tests that simulate another CPU."""
    try:
        with open(cpuinfo_path) as handle:
            found = parse_cpuinfo(handle.read())
    except (IOError, OSError):
        found = {"model": None, "flags": []}
    found["arch"] = platform.machine()
    found["source"] = cpuinfo_path
    if declared_flags is not None:
        found["flags"] = sorted(set(declared_flags))
        found["source"] = "declared"
    return found


def missing_features(source_flags, target_flags):
    """Sorted features the source uses that the target lacks (machine-only flags left out)."""
    return sorted(set(source_flags) - set(target_flags) - MACHINE_ONLY_FLAGS)


def compatibility_problem(source, target, source_name="the source", target_name="this host"):
    """Why a checkpoint of a process on `source` (a host_cpu dict) cannot run on `target`, or None."""
    if source.get("arch") and target.get("arch") and source["arch"] != target["arch"]:
        return ("%s is %s and %s is %s: a checkpoint runs only on the architecture it was taken on"
                % (source_name, source["arch"], target_name, target["arch"]))
    missing = missing_features(source.get("flags") or [], target.get("flags") or [])
    if missing:
        return ("%s lacks CPU features that %s has, which the checkpointed process may use (it would die of "
                "SIGILL after the restore): %s" % (target_name, source_name, " ".join(missing)))
    return None


def image_labels(cpu):
    """The labels that record the checkpointing host's architecture and CPU features in an image."""
    return {ARCH_LABEL: cpu["arch"], CPU_FLAGS_LABEL: " ".join(cpu["flags"])}


def recorded_cpu(labels):
    """The checkpointing host's {arch, flags} as an image's labels record them, or None (older images)."""
    labels = labels or {}
    if ARCH_LABEL not in labels:
        return None
    return {"arch": labels[ARCH_LABEL], "flags": (labels.get(CPU_FLAGS_LABEL) or "").split()}


def image_problem(labels, host):
    """Why an InstantOn image (its labels) cannot restore on a host (a host_cpu dict), or None;
    images without the labels are not judged."""
    recorded = recorded_cpu(labels)
    if recorded is None:
        return None
    return compatibility_problem(recorded, host, "the host that checkpointed the image", "this host")
