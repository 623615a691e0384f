# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Starting a container through podman's REST API socket (`podman system service`, podman.socket).

Only the start goes this way: it is the step on a restore's critical path, and the
service skips the podman command's own start-up (measured: about 45 ms a start).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket

from ansible.module_utils.six.moves import http_client
from ansible.module_utils.six.moves.urllib.parse import quote

from ansible_collections.instanton.platform.plugins.module_utils.common._podman import PodmanError

# The libpod API as podman 4.0 (RHEL 8.6) and later serve it.
API_VERSION = "v4.0.0"


class UnixHTTPConnection(http_client.HTTPConnection):
    """HTTP over a unix socket: the host part of the URL is ignored."""

    def __init__(self, socket_path, timeout):
        http_client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def api_message(body):
    """The error message of a libpod API answer, or its raw text."""
    try:
        return json.loads(body).get("message") or body
    except (ValueError, AttributeError):
        return body


def start_container(socket_path, name, timeout=60):
    """Start a created container; True when started, False when it was already running."""
    connection = UnixHTTPConnection(socket_path, timeout)
    try:
        connection.request("POST", "/%s/libpod/containers/%s/start" % (API_VERSION, quote(name, safe="")))
        answer = connection.getresponse()
        body = answer.read().decode("utf-8", "replace")
    except (IOError, OSError, http_client.HTTPException) as error:
        raise PodmanError("podman API socket %s: %s (is `podman system service` or podman.socket running?)"
                          % (socket_path, error))
    finally:
        connection.close()
    if answer.status not in (204, 304):
        raise PodmanError("podman API start of %s failed (HTTP %d): %s" % (name, answer.status, api_message(body)))
    return answer.status == 204
