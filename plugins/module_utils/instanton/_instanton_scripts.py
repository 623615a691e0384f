# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""The scripts a self-restoring ("generic" flavor) image carries, and its config file.

They live here, not as files, because modules reach the managed host as one
AnsiballZ payload that carries module_utils and nothing else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.six.moves import shlex_quote

LIB_DIR = "/usr/local/lib/instanton"
CHECKPOINT_DIR = "/instanton/checkpoint"
ENTRYPOINT = LIB_DIR + "/entrypoint"
CHECKPOINT = LIB_DIR + "/checkpoint"

# Log lines the entrypoint writes; instanton_container reads them back.
RESTORED_MARKER = "instanton: restored"
COLD_START_MARKER = "instanton: cold start:"

# Installs CRIU with the base image's own package manager, new enough for the kernel
# (INSTANTON_CRIU_MINIMUM, from the collection's CRIU-for-kernel table). On Debian, when the
# release's CRIU is older than that, or the kernel is newer than the table knows
# (INSTANTON_CRIU_NEWEST=1), CRIU comes from sid pinned low; INSTANTON_CRIU_APT_SUITE names
# another suite instead.
INSTALL_CRIU = r"""#!/bin/sh
set -eu
suite=${INSTANTON_CRIU_APT_SUITE:-}
minimum=${INSTANTON_CRIU_MINIMUM:-0}
older() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q -o Acquire::Check-Valid-Until=false update
  stock=$(apt-cache policy criu | sed -n 's/^ *Candidate: *\([0-9.]*\).*/\1/p')
  if [ -z "$suite" ] && grep -qx 'ID=debian' /etc/os-release \
     && { [ "${INSTANTON_CRIU_NEWEST:-0}" = 1 ] || [ -z "$stock" ] || older "$stock" "$minimum"; }; then
    suite=sid
  fi
  if [ -n "$suite" ]; then
    mirror=$(sed -n 's/^deb \([^ ]*\) .*/\1/p; s/^URIs: *//p' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n 1)
    echo "deb $mirror $suite main" > /etc/apt/sources.list.d/instanton-criu.list
    printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n' "$suite" > /etc/apt/preferences.d/instanton-criu
    apt-get -q -o Acquire::Check-Valid-Until=false update
  fi
  apt-get install -y -q --no-install-recommends ${suite:+-t "$suite"} criu
  rm -rf /var/lib/apt/lists/*
elif command -v dnf >/dev/null; then
  dnf install -y criu && dnf clean all
elif command -v microdnf >/dev/null; then
  microdnf install -y criu && microdnf clean all
else
  echo "instanton: no apt-get or dnf in the base image: install criu in it first" >&2
  exit 1
fi
installed=$(criu --version | sed -n 's/^Version: *//p')
if older "$installed" "$minimum"; then
  echo "instanton: the image's CRIU $installed is too old for kernel $(uname -r), which needs CRIU $minimum+" \
       "(set criu_apt_suite to a suite with a newer CRIU)" >&2
  exit 1
fi
echo "instanton: CRIU $installed (kernel $(uname -r) needs $minimum+)"
"""

# Keeps io_uring away from the app during the checkpoint step (LD_PRELOAD): CRIU cannot dump
# an io_uring instance, and libuv (Node.js) creates one per event loop whenever the kernel
# lets it (UV_USE_IO_URING=0 does not stop that one). Answering io_uring_setup with ENOSYS
# makes libuv use epoll; unlike a seccomp filter it leaves nothing CRIU must suspend (which
# needs CAP_SYS_ADMIN). Built in the image build, with the image's own compiler and libc,
# so it fits every architecture.
NO_IO_URING_SOURCE = r"""#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

long syscall(long number, ...)
{
    static long (*next)(long, ...);
    long arg[6];
    va_list list;
    int i;

    if (number == SYS_io_uring_setup) {
        errno = ENOSYS;
        return -1;
    }
    va_start(list, number);
    for (i = 0; i < 6; i++)
        arg[i] = va_arg(list, long);
    va_end(list);
    if (!next)
        next = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return next(number, arg[0], arg[1], arg[2], arg[3], arg[4], arg[5]);
}
"""
NO_IO_URING = LIB_DIR + "/no-io-uring.so"

# Builds the shim in a throw-away build stage: a C compiler from the base image's own
# packages (tcc on Debian/Ubuntu: one small package), which the InstantOn image never gets.
BUILD_NO_IO_URING = r"""#!/bin/sh
set -eu
cd "$(dirname "$0")"
if command -v cc >/dev/null; then
  compiler=cc
elif command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q -o Acquire::Check-Valid-Until=false update
  # tcc is one small package, on the architectures it supports (x86, arm, riscv64); gcc elsewhere.
  if apt-get install -y -q --no-install-recommends tcc libc6-dev; then
    compiler=tcc
  else
    apt-get install -y -q --no-install-recommends gcc libc6-dev
    compiler=gcc
  fi
elif command -v dnf >/dev/null; then
  dnf install -y gcc glibc-devel
  compiler=gcc
else
  echo "instanton: no C compiler and no apt-get or dnf to get one for the io_uring shim" >&2
  exit 1
fi
# dlsym is in libdl before glibc 2.34, in libc after.
$compiler -shared -fPIC -O2 -o no-io-uring.so no-io-uring.c -ldl 2>/dev/null \
  || $compiler -shared -fPIC -O2 -o no-io-uring.so no-io-uring.c
"""

CHECKPOINT_SCRIPT = r"""#!/bin/bash
# Checkpoint step: start the app, wait until it is ready, dump it with CRIU.
set -euo pipefail
. /usr/local/lib/instanton/config
dir=/instanton/checkpoint
log=/instanton/checkpoint-app.log
fail() { echo "instanton: checkpoint failed: $*" >&2; exit 1; }

# Burn PIDs: a fresh container gives its entrypoint and CRIU the low PIDs, and
# restore needs the app's PIDs free.
for _ in $(seq 300); do /bin/true; done

mkdir -p "$dir" && chmod 0700 /instanton "$dir"
# One pipe for the app's stdout and stderr; restore re-attaches it to the
# container log with --inherit-fd.
exec 3> >(exec tee "$log")
# Drop what only CRIU needs: a restored process cannot get back capabilities
# the restoring container does not hold.
# LD_PRELOAD: no io_uring for the app (see NO_IO_URING_SOURCE). GODEBUG: Go 1.24+ listens with
# Multipath TCP, which CRIU cannot dump ("Unsupported proto 262"); the last setting wins.
LD_PRELOAD=/usr/local/lib/instanton/no-io-uring.so${LD_PRELOAD:+:$LD_PRELOAD} \
GODEBUG=${GODEBUG:+$GODEBUG,}multipathtcp=0 \
  setsid setpriv --bounding-set -checkpoint_restore,-sys_ptrace,-setpcap -- \
  "${APP_COMMAND[@]}" >&3 2>&3 </dev/null &
pid=$!

ready() {
  case "$READY_TYPE" in
    tcp) (exec 9<>"/dev/tcp/127.0.0.1/$READY_PORT") 2>/dev/null ;;
    http)
      local status=
      { exec 9<>"/dev/tcp/127.0.0.1/$READY_PORT"; } 2>/dev/null || return 1
      printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$READY_PATH" >&9
      read -r -t 5 _ status _ <&9 || true
      exec 9<&-
      [ "$status" = 200 ] ;;
    log) grep -Eq -- "$READY_PATTERN" "$log" ;;
  esac
}
deadline=$((SECONDS + READY_TIMEOUT))
until ready; do
  kill -0 "$pid" 2>/dev/null || fail "the app exited before it was ready"
  [ "$SECONDS" -lt "$deadline" ] || fail "the app was not ready within ${READY_TIMEOUT}s ($READY_TYPE readiness)"
  sleep 0.1
done
# Let the app finish what the readiness probe started before it is frozen.
sleep 1
# Restore time grows with the memory dumped: the hook can shrink it first
# (a JVM: jcmd "$APP_PID" GC.run).
if [ "${#PRE_CHECKPOINT[@]}" -gt 0 ]; then
  APP_PID=$pid "${PRE_CHECKPOINT[@]}" || fail "the pre_checkpoint command failed"
  sleep 1
fi
echo "instanton: app ready (pid $pid), checkpointing"
# CRIU cannot dump io_uring ("Can't open PID's mapfile link"): say which process holds one.
for proc in /proc/[0-9]*; do
  if grep -qs 'anon_inode:\[io_uring\]' "$proc/maps" || ls -l "$proc/fd" 2>/dev/null | grep -q 'anon_inode:\[io_uring\]'; then
    fail "pid ${proc#/proc/} ($(cat "$proc/comm" 2>/dev/null)) holds an io_uring instance" \
      "(anon_inode:[io_uring]), which CRIU cannot dump; the app must run without io_uring" \
      "(the image's no-io-uring LD_PRELOAD shim covers libuv apps such as Node.js)"
  fi
done
# What CRIU writes holds the app's memory: 0600 from the start (umask only for CRIU's
# own process; the app keeps its umask, which CRIU saves and restores).
(umask 077; readlink "/proc/$pid/fd/1" > "$dir/stdout-pipe")
if ! (umask 077; exec criu dump --tree "$pid" --images-dir "$dir" --unprivileged --network-lock skip \
     --tcp-close --file-locks --log-file "$dir/dump.log" -v4); then
  # The first errors name the cause (criu_errors.classify); "Unknown shit" names an fd CRIU cannot dump.
  fail "criu dump: $(grep -E 'Error|error|Unknown shit' "$dir/dump.log" | head -n 5)"
fi
rm -f "$dir/dump.log"
chmod 0600 "$dir"/*
echo "instanton: checkpoint written ($(du -sk "$dir" | cut -f1) KiB)"
"""

ENTRYPOINT_SCRIPT = r"""#!/bin/bash
# Entrypoint: restore the checkpointed app, or start it cold and say why.
set -uo pipefail
. /usr/local/lib/instanton/config
dir=/instanton/checkpoint
restore_log=/run/instanton-restore.log
cold_start() {
  echo "instanton: cold start: $*"
  if [ "${INSTANTON_REQUIRE_RESTORE:-0}" = 1 ]; then
    echo "instanton: restore required (INSTANTON_REQUIRE_RESTORE=1), not starting cold" >&2
    exit 1
  fi
  "${APP_COMMAND[@]}" &
  supervise $!
}
# Stay PID 1 (the app never is, so it gets SIGTERM's default action): forward
# stop signals to the app and live as long as it does.
supervise() {
  pid=$1
  trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2 & wait $!; done
  exit 0
}
# A restore that failed or was cut short can leave restored tasks behind,
# holding the app's ports: everything in this PID namespace but us goes.
clear_partial_restore() {
  local proc
  for proc in /proc/[0-9]*; do
    [ "${proc#/proc/}" = $$ ] || kill -KILL "${proc#/proc/}" 2>/dev/null
  done
  sleep 0.2
}
[ "${INSTANTON_DISABLE_RESTORE:-0}" = 1 ] && cold_start "restore disabled (INSTANTON_DISABLE_RESTORE=1)"
[ -s "$dir/inventory.img" ] || cold_start "no checkpoint in $dir"
# A container started again keeps /run: CRIU refuses an existing pidfile, and an old
# pidfile or log must never stand for this restore.
rm -f /run/instanton-app.pid "$restore_log"
started=$(date +%s%N)
# -v1: errors only, all the cold-start reason needs (-v4 measured no faster or slower).
# Bounded: CRIU 4.2.1 spins instead of failing on some damaged checkpoints
# (truncated page files), and a hung restore must still fall back.
restore_timeout=${INSTANTON_RESTORE_TIMEOUT:-30}
# umask: the stats CRIU writes into $dir are 0600 like the rest (the app gets its own back).
(umask 077; exec timeout --kill-after=2 "$restore_timeout" \
  criu restore --images-dir "$dir" --unprivileged --tcp-close --file-locks \
  --restore-detached --pidfile /run/instanton-app.pid \
  --inherit-fd "fd[1]:$(cat "$dir/stdout-pipe")" \
  --log-file "$restore_log" -v1 2>>"$restore_log")
status=$?
if [ "$status" != 0 ]; then
  clear_partial_restore
  if [ "$status" -ge 124 ]; then
    cold_start "criu restore failed: no result within ${restore_timeout}s (INSTANTON_RESTORE_TIMEOUT)"
  fi
  cold_start "criu restore failed: $(grep -E 'Error|error|missing' "$restore_log" | head -n 3 | tr '\n' ' ')"
fi
pid=$(cat /run/instanton-app.pid)
echo "instanton: restored pid $pid in $(( ($(date +%s%N) - started) / 1000000 )) ms"
supervise "$pid"
"""


def shell_array(words):
    return "(%s)" % " ".join(shlex_quote(word) for word in words)


def render_config(app_command, readiness, pre_checkpoint=None):
    """The config file both scripts source: the app's command, its readiness check, and an
    optional command the checkpoint step runs (APP_PID set) between readiness and the dump."""
    lines = [
        "APP_COMMAND=%s" % shell_array(app_command),
        "PRE_CHECKPOINT=%s" % shell_array(pre_checkpoint or []),
        "READY_TYPE=%s" % shlex_quote(readiness["type"]),
        "READY_PORT=%s" % shlex_quote(str(readiness.get("port") or "")),
        "READY_PATH=%s" % shlex_quote(readiness.get("path") or "/"),
        "READY_PATTERN=%s" % shlex_quote(readiness.get("pattern") or ""),
        "READY_TIMEOUT=%d" % readiness["timeout"],
    ]
    return "\n".join(lines) + "\n"
