# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Waiting for a started container to give its first correct answer, and timing it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

POLL_SECONDS = 0.01
# Asking whether the container still runs is a podman command (tens of ms): done at every poll,
# it would be most of the wait between two probes, and of start_ms's error.
ALIVE_CHECK_SECONDS = 0.25


def http_url(address, port, path):
    """The probe's URL; an IPv6 address goes in brackets (http://[::1]:8080/)."""
    host = "[%s]" % address if ":" in address else address
    return "http://%s:%d%s" % (host, port, path)


def http_ok(url):
    # Never through a proxy: http_proxy in the module's environment must not carry 127.0.0.1 elsewhere.
    try:
        return open_url(url, timeout=2, validate_certs=False, use_proxy=False).getcode() == 200
    except (HTTPError, URLError, socket.error, ValueError):
        return False


def tcp_open(address):
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except socket.error:
        return False


def log_matches(read_log, pattern):
    return re.search(pattern, read_log(), re.MULTILINE) is not None


def wait_until(probe, timeout, still_running):
    """Poll probe() until it holds; seconds waited, or None on timeout or when the container died."""
    started = checked = time.time()
    while time.time() - started < timeout:
        if probe():
            return time.time() - started
        if time.time() - checked >= ALIVE_CHECK_SECONDS:
            if not still_running():
                return None
            checked = time.time()
        time.sleep(POLL_SECONDS)
    return None


def argument_spec(default_timeout):
    """The `readiness` suboptions both InstantOn modules take."""
    return dict(
        type=dict(type="str", required=True, choices=["http", "tcp", "log"]),
        port=dict(type="int"),
        path=dict(type="str", default="/"),
        pattern=dict(type="str"),
        timeout=dict(type="int", default=default_timeout),
    )


def problem(readiness):
    """What is wrong with a readiness dict, or None."""
    if not readiness:
        return None
    if readiness["type"] in ("http", "tcp") and not readiness["port"]:
        return "readiness.port is required for readiness.type=%s" % readiness["type"]
    if readiness["port"] is not None and not 1 <= readiness["port"] <= 65535:
        return "readiness.port must be between 1 and 65535, not %d" % readiness["port"]
    if readiness["type"] == "log" and not readiness["pattern"]:
        return "readiness.pattern is required for readiness.type=log"
    if readiness["timeout"] < 1:
        return "readiness.timeout must be at least 1 second"
    return None
