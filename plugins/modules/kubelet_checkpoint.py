#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kubelet_checkpoint
short_description: Checkpoint a container through the kubelet checkpoint API
version_added: 0.1.0
description:
  - Sends C(POST /checkpoint/{namespace}/{pod}/{container}) to the kubelet on port 10250
    with a client certificate, verifying the kubelet against a CA. There is no insecure mode.
  - Runs on the node (the kubelet writes the archive to its own disk, by default under
    C(/var/lib/kubelet/checkpoints)) and returns the archive paths from the answer's C(items).
  - To bring an archive to the controller, follow with M(ansible.builtin.fetch) on
    C(archive) (see the examples).
  - Needs Kubernetes 1.25 or later with the C(ContainerCheckpoint) feature gate (on by default
    since 1.30) and a runtime with checkpoint support (CRI-O with C(enable_criu_support), or
    containerd 2.0+), plus CRIU on the node.
  - Every run creates a new archive, so the module always reports a change; in check mode it
    sends nothing.
options:
  node:
    description:
      - Kubelet address. It must match a name or IP in the kubelet serving certificate.
    type: str
    default: localhost
  port:
    description: Kubelet HTTPS port.
    type: int
    default: 10250
  namespace:
    description: Namespace of the pod.
    type: str
    default: default
  pod:
    description: Pod name.
    type: str
    required: true
  container:
    description: Container name inside the pod.
    type: str
    required: true
  timeout:
    description:
      - Seconds the kubelet waits for the runtime to finish (the API's C(timeout) query
        parameter). Unset or 0 lets the kubelet use its default CRI timeout.
    type: int
  client_cert:
    description:
      - Client certificate (PEM) the kubelet authenticates, for example the API server's
        C(apiserver-kubelet-client.crt). Its user needs C(create) on C(nodes/checkpoint).
    type: path
    required: true
  client_key:
    description: Private key (PEM) of O(client_cert).
    type: path
    required: true
  ca_cert:
    description: CA bundle (PEM) that signed the kubelet serving certificate.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Nothing is sent in check mode.
notes:
  - HTTP 404 means the feature gate is off or the pod/container does not exist; 500 means
    the runtime failed (often no CRIU support); 401/403 mean authentication or RBAC.
    The module's message says which.
  - Tested against a local HTTPS stand-in for the kubelet that requires client certificates;
    not run against a real kubelet in this collection's CI.
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Checkpoint the app container of pod web
  instanton.platform.kubelet_checkpoint:
    node: "{{ inventory_hostname }}"
    namespace: shop
    pod: web-7d4b9
    container: app
    timeout: 60
    client_cert: /etc/kubernetes/pki/apiserver-kubelet-client.crt
    client_key: /etc/kubernetes/pki/apiserver-kubelet-client.key
    ca_cert: /var/lib/kubelet/pki/kubelet-ca.crt
  register: checkpoint

- name: Bring the archive to the controller
  ansible.builtin.fetch:
    src: "{{ checkpoint.archive }}"
    dest: "checkpoints/{{ inventory_hostname }}/"
    flat: true
"""

RETURN = r"""
archive:
  description: Path of the (first) archive on the node.
  returned: changed and not check mode
  type: str
  sample: /var/lib/kubelet/checkpoints/checkpoint-web-7d4b9_shop-app-2026-01-01T00:00:00Z.tar
archives:
  description: All archive paths the kubelet returned in C(items).
  returned: always
  type: list
  elements: str
url:
  description: The request path that was (or in check mode would be) sent.
  returned: always
  type: str
  sample: /checkpoint/shop/web-7d4b9/app?timeout=60
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._kubelet_api import (
    KubeletError, checkpoint_path, request_checkpoint, tls_context)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type="str", default="localhost"),
            port=dict(type="int", default=10250),
            namespace=dict(type="str", default="default"),
            pod=dict(type="str", required=True),
            container=dict(type="str", required=True),
            timeout=dict(type="int"),
            client_cert=dict(type="path", required=True),
            client_key=dict(type="path", required=True, no_log=False),
            ca_cert=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] is not None and params["timeout"] < 0:
        module.fail_json(msg="timeout must be 0 or more seconds, got %d" % params["timeout"])
    url = checkpoint_path(params["namespace"], params["pod"], params["container"],
                          params["timeout"])
    if module.check_mode:
        module.exit_json(changed=True, archives=[], url=url)
    try:
        context = tls_context(params["ca_cert"], params["client_cert"], params["client_key"])
        archives = request_checkpoint(params["node"], params["port"], params["namespace"],
                                      params["pod"], params["container"], context,
                                      params["timeout"])
    except KubeletError as exc:
        module.fail_json(msg=str(exc), url=url)
    module.exit_json(changed=True, archive=archives[0], archives=archives, url=url)


if __name__ == "__main__":
    main()
