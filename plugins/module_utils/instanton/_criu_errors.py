# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Why a CRIU dump or restore failed, from its log lines: a cause and a hint. Pure, no I/O.

Every pattern is a line CRIU writes (seen here, or quoted in CRIU's sources and issues); the
unit tests run the table over recorded log lines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.instanton.platform.plugins.module_utils.host._host_requirements import (
    CRIU_FOR_KERNEL, version_string)

# "kernels 6.13+ need CRIU 4.1, 6.16+ need CRIU 4.2", from the collection's one table.
KERNELS_AND_CRIU = "kernels " + ", ".join("%s+ need CRIU %s" % (version_string(kernel), version_string(criu))
                                          for kernel, criu, _why in reversed(CRIU_FOR_KERNEL))

# (cause, pattern over one log line, hint): the first cause whose pattern matches a line wins.
CAUSES = (
    ("criu_too_old_for_kernel",
     re.compile(r"Can't get \d+:\d+ opt|sockets: .*opt: Operation not supported|Unexpected rt vDSO area bounds"),
     "this CRIU is too old for the kernel (%s): let instanton_image " % KERNELS_AND_CRIU +
     "choose the image's CRIU (no criu_apt_suite) or give a suite with a newer CRIU; on hosts, the criu role"),
    ("io_uring",
     re.compile(r"anon_inode:\[io_uring\]|Can't open \S+ mapfile link|map_files.*No such device or address"),
     "the app holds an io_uring instance, which CRIU cannot dump: keep io_uring away from it at checkpoint time "
     "(the generic flavor preloads a shim that does so for libuv apps such as Node.js; others: the app's own "
     "switch)"),
    ("mptcp",
     re.compile(r"Unsupported proto 262|multipathtcp=0"),
     "the app has a Multipath TCP socket (Go 1.24+ listens with MPTCP by default), which CRIU cannot dump: "
     "GODEBUG=multipathtcp=0 for the checkpoint (the generic flavor's checkpoint step sets it)"),
    ("established_tcp",
     re.compile(r"[Cc]onnected TCP socket|consider using --tcp-established|TCP connection is established"),
     "the app had an open TCP connection: close client connections before the checkpoint, or checkpoint with "
     "tcp_established (podman --tcp-established) and restore where the peer still exists"),
    ("seccomp",
     re.compile(r"suspending seccomp failed|[Ss]eccomp.*(Operation not permitted|Permission denied)"
                r"|Error splicing data: Operation not permitted"),
     "a seccomp filter is in the way: the app must not run under its own filter when it is dumped (suspending "
     "one needs CAP_SYS_ADMIN), and the restoring container's profile must allow what CRIU calls (the host "
     "role's profile allows vmsplice, clone3, kcmp, ...); never seccomp=unconfined at run time"),
    ("pid_in_use",
     re.compile(r"Can't fork for \d+: File exists|set_tid.*File exists|[Pp]id \d+ do not match expected"
                r"|[Pp]id \d+ (is )?already in use"),
     "a PID the checkpointed app had is taken in the new container: the checkpoint step burns PIDs first; "
     "restore into a fresh container (no processes started before the restore)"),
    ("external_mount_missing",
     re.compile(r"No mapping for \S+ mountpoint|External mount.*not found|[Uu]nable to find external mount"
                r"|Can't resolve external mount|Can't mount at .*No such file or directory"),
     "a bind mount the checkpointed container had is missing: restore with the same volumes (same paths) as "
     "at the checkpoint"),
    ("missing_capability",
     re.compile(r"Unable to restore capabilities|Operation not permitted|Permission denied"
                r"|CAP_CHECKPOINT_RESTORE|CAP_SYS_ADMIN"),
     "CRIU lacks a privilege: the restoring container needs CHECKPOINT_RESTORE and SETPCAP (instanton_container "
     "adds them), and the app must not hold capabilities the restoring container lacks (such as SYS_PTRACE)"),
)
ERROR_LINE = re.compile(r"\bError\b")
# A reason string may hold several CRIU lines joined with spaces: each starts "(00.012345) ".
LINE_BREAK = re.compile(r"\n|\s(?=\(\d+\.\d+\)\s)")
EXCERPT_LINES = 5


def classify(phase, log_text):
    """{phase, cause, hint, log_excerpt} for a failed dump or restore, or None when the log names no error.

    A cause the table does not know is reported as "unknown" with CRIU's first Error line."""
    lines = [line.strip() for line in LINE_BREAK.split(log_text or "") if line.strip()]
    for cause, pattern, hint in CAUSES:
        matched = [line for line in lines if pattern.search(line)]
        if matched:
            return {"phase": phase, "cause": cause, "hint": hint, "log_excerpt": "\n".join(matched[:EXCERPT_LINES])}
    errors = [line for line in lines if ERROR_LINE.search(line)]
    if not errors:
        return None
    return {"phase": phase, "cause": "unknown", "hint": "read CRIU's log: the first error is the excerpt",
            "log_excerpt": errors[0]}
