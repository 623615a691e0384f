# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""The kubelet checkpoint API: POST /checkpoint/{namespace}/{pod}/{container} over mutual TLS.

Standard library only (http.client, ssl) so it runs on RHEL 8's platform-python 3.6.
Certificates are always verified: there is deliberately no insecure mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import ssl

from http.client import HTTPException, HTTPSConnection
from urllib.parse import quote, urlencode

# Why a status code happens, in the kubelet's own terms (kubelet checkpoint API reference).
STATUS_HINTS = {
    401: "the kubelet did not accept the client certificate (unauthenticated)",
    403: "the client is not authorised: it needs RBAC permission to 'create' the "
         "'nodes/checkpoint' subresource",
    404: "either the ContainerCheckpoint feature gate is off on this kubelet (Kubernetes < 1.30 "
         "needs it enabled) or there is no such namespace/pod/container on this node",
    500: "the container runtime could not checkpoint: it may lack CRIU support (CRI-O needs "
         "enable_criu_support = true and CRIU installed) or CRIU failed",
}


class KubeletError(Exception):
    """The checkpoint request failed; the message says why and what to check."""


def checkpoint_path(namespace, pod, container, timeout=None):
    path = "/checkpoint/%s/%s/%s" % tuple(quote(part, safe="") for part in
                                          (namespace, pod, container))
    if timeout:
        path += "?" + urlencode({"timeout": int(timeout)})
    return path


def tls_context(ca_cert, client_cert, client_key):
    """Verify the kubelet against ca_cert and present the client certificate."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_cert)
        context.load_cert_chain(client_cert, client_key)
    except (ssl.SSLError, IOError, OSError) as exc:
        raise KubeletError("cannot load the TLS files (ca_cert=%s, client_cert=%s, "
                           "client_key=%s): %s" % (ca_cert, client_cert, client_key, exc))
    return context


def archives_from_body(body):
    try:
        items = json.loads(body.decode("utf-8")).get("items")
    except (ValueError, AttributeError) as exc:
        raise KubeletError("the kubelet answered 200 but not with JSON items: %s" % exc)
    if not isinstance(items, list) or not items:
        raise KubeletError("the kubelet answered 200 without archive paths in 'items'")
    return items


def error_for(status, reason, body):
    detail = body.decode("utf-8", "replace").strip()[:2000]
    hint = STATUS_HINTS.get(status, "unexpected answer from the kubelet")
    return KubeletError("kubelet answered HTTP %d %s: %s. Response: %s"
                        % (status, reason, hint, detail or "(empty)"))


def request_checkpoint(node, port, namespace, pod, container, context, timeout=None):
    """POST the checkpoint request; return the archive paths the kubelet wrote on the node."""
    # The checkpoint takes as long as CRIU needs; give the socket that plus a margin.
    connection = HTTPSConnection(node, port, context=context, timeout=(timeout or 120) + 30)
    try:
        connection.request("POST", checkpoint_path(namespace, pod, container, timeout))
        response = connection.getresponse()
        body = response.read()
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise KubeletError("TLS with %s:%s failed: the kubelet certificate must be signed by "
                           "ca_cert and name '%s', and the kubelet must accept the client "
                           "certificate: %s" % (node, port, node, exc))
    except (socket.error, HTTPException) as exc:
        raise KubeletError("cannot reach the kubelet at %s:%s: %s" % (node, port, exc))
    finally:
        connection.close()
    if response.status == 200:
        return archives_from_body(body)
    raise error_for(response.status, response.reason, body)
