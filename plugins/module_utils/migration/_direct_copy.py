# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Copying a migration's archives from the source host straight to the target over SSH, with a key pair made
for one move: the source holds the private key (0600); the target authorizes the public key for one forced
command (write that move's archive, nothing else), from the source's address only; both are removed after
the move. The source checks the target's host key, which the target itself reported."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

# The forced command names the directory and the container: keep both to characters that need no quoting.
SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")
KINDS = ("checkpoint", "image")
HOST_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+")
PUBLIC_KEY = re.compile(r"^ssh-ed25519 [A-Za-z0-9+/=]+$")
ADDRESS = re.compile(r"^[A-Za-z0-9.:-]+$")


def marker(name):
    """The comment that marks this move's line in authorized_keys (and nothing else's)."""
    return "instanton-migration:%s" % name


def key_path(directory, name):
    return os.path.join(directory, "%s.copy-key" % name)


def known_hosts_path(directory, name):
    return os.path.join(directory, "%s.known_hosts" % name)


def directory_problem(directory):
    if not SAFE_PATH.match(directory or "") or ".." in directory.split("/"):
        return ("directory %r cannot be named in the target's forced command: use an absolute path of letters, "
                "digits, '_', '.', '/' and '-'" % directory)
    return None


def address_problem(address, option):
    if not address or not ADDRESS.match(address):
        return "%s %r is not a host name or an IP address" % (option, address)
    return None


def forced_command(directory, name):
    """What the copy key may run on the target: write this move's checkpoint or image archive (0600, beside it
    first, then renamed), chosen by the command the source sends; anything else is refused."""
    base = os.path.join(directory, name)
    return ('umask 077; case "$SSH_ORIGINAL_COMMAND" in checkpoint|image) '
            'cat > %s."$SSH_ORIGINAL_COMMAND".tar.part && mv %s."$SSH_ORIGINAL_COMMAND".tar.part '
            '%s."$SSH_ORIGINAL_COMMAND".tar ;; *) echo "only checkpoint or image" >&2; exit 1 ;; esac'
            % (base, base, base))


def authorized_line(public_key, from_address, directory, name):
    """The authorized_keys line: no pty, no forwarding (restrict), from the source's address only, the forced
    command only."""
    # sshd unquotes only \" inside an option's value.
    command = forced_command(directory, name).replace('"', '\\"')
    return 'restrict,from="%s",command="%s" %s %s' % (from_address, command, public_key.strip(), marker(name))


def without_marked(lines, name):
    """authorized_keys lines without this move's."""
    return [line for line in lines if not line.rstrip().endswith(" " + marker(name))]


def known_hosts_lines(address, port, host_keys):
    host = address if int(port) == 22 else "[%s]:%d" % (address, int(port))
    return ["%s %s" % (host, " ".join(key.split()[:2])) for key in host_keys if HOST_KEY.match(key)]


def ssh_arguments(ssh, key, known_hosts, address, port, kind):
    """ssh from the source to the target with the move's key only, the target's reported host key only."""
    return [ssh, "-i", key, "-p", str(port), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known_hosts,
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "root@" + address, kind]
