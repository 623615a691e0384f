# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Host-wide locks between module runs that would race on one managed host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import re
import time

# tmpfs on systemd hosts: no lock file outlives a boot, and the kernel drops a lock
# when its holder dies, so a killed run never leaves a host locked.
LOCK_DIRECTORY = "/run/instanton"
POLL_SECONDS = 0.01


class LockError(Exception):
    """The lock could not be taken: held by another run for longer than the caller waits, or no lock file."""


def lock_path(name, directory=LOCK_DIRECTORY):
    """The lock file for NAME; anything but [A-Za-z0-9_.-] in it becomes '_'."""
    return os.path.join(directory, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")


@contextlib.contextmanager
def exclusive(name, timeout, directory=LOCK_DIRECTORY):
    """Hold NAME's lock for the with block; LockError after TIMEOUT seconds of waiting."""
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
        descriptor = os.open(lock_path(name, directory), os.O_RDWR | os.O_CREAT, 0o600)
    except (IOError, OSError) as error:
        raise LockError("cannot make the lock file for %s in %s: %s" % (name, directory, error))
    try:
        wait_for_lock(descriptor, timeout, name)
        yield
    finally:
        os.close(descriptor)


def wait_for_lock(descriptor, timeout, name):
    deadline = time.time() + timeout
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (IOError, OSError) as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise LockError("cannot lock %s: %s" % (name, error))
        if time.time() > deadline:
            raise LockError("another run on this host still holds the lock for %s after %gs" % (name, timeout))
        time.sleep(POLL_SECONDS)
