#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: crio_restore
short_description: Restore a container from a checkpoint image in a new CRI-O pod
version_added: 0.2.0
description:
  - Starts a pod and, in it, a container created from a checkpoint image (built by
    M(instanton.platform.checkpoint_image)), through CRI-O's CRI socket with C(crictl). CRI-O
    sees the checkpoint annotations and restores the process instead of starting it anew.
  - The pod and container get the labels the kubelet gives its containers
    (C(io.kubernetes.pod.name), C(io.kubernetes.pod.namespace), C(io.kubernetes.pod.uid),
    C(io.kubernetes.container.name)).
  - Before creating anything it checks what makes CRI-O refuse a restore, or fail with a
    misleading message, and says the cause and the fix, namely restores disabled
    (C([crio.checkpoint_restore] container_level_enabled) other than C(checkpoint_restore),
    or C(enable_criu_support = false) before CRI-O 1.37), CRIU missing, a namespaced
    signature policy for the pod's namespace, an image that is not a checkpoint image, and a
    checkpointed container whose image has no C(CMD)/C(ENTRYPOINT).
  - When a step fails after the pod was started, the pod (and the container in it) is
    removed again; nothing is left half-created.
  - Idempotent. A running container of that name in a ready pod of that name and
    namespace is left alone.
  - For tests and single nodes; in a cluster, the kubelet creates the pod from a manifest
    (role P(instanton.platform.k8s_manifests#role)) and the same checks apply to the node.
options:
  image:
    description: Checkpoint image on the node (CRI-O does not pull it here).
    type: str
    required: true
  pod:
    description: Name of the new pod.
    type: str
    required: true
  namespace:
    description: Namespace of the new pod (a namespaced signature policy may apply to it).
    type: str
    default: default
  container:
    description: Name of the restored container in the new pod.
    type: str
    required: true
  timeout:
    description: Seconds to wait for each CRI call and for the container to run.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Runs the checks, creates nothing.
  diff_mode:
    support: none
    description: Nothing to compare; the result says what was started.
requirements:
  - CRI-O with C(crictl) configured for its socket (C(/etc/crictl.yaml)), root.
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Restore the checkpointed app in a new pod
  instanton.platform.crio_restore:
    image: localhost/shop/app:checkpoint
    pod: app-restored
    namespace: shop
    container: app
  register: restored
"""

RETURN = r"""
pod_id:
  description: ID of the pod sandbox.
  returned: success, not in check mode
  type: str
container_id:
  description: ID of the restored container.
  returned: success, not in check mode
  type: str
restore_ms:
  description: Milliseconds from creating the container to CRI-O reporting it running (0 when left alone).
  returned: success, not in check mode
  type: int
checkpoint_level:
  description: What CRI-O allows, as C(container_level_enabled) or C(enable_criu_support=true).
  returned: always
  type: str
"""

import json
import os
import re
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

CHECKPOINT_ANNOTATION = "io.kubernetes.cri-o.annotations.checkpoint.name"
ROOTFS_IMAGE_ANNOTATION = "org.criu.checkpoint.rootfsImageName"
LEVEL_TABLE = "crio.checkpoint_restore"


class RestoreError(Exception):
    """Why the restore cannot or did not work, with the fix."""


def crio_settings(text):
    """{table: {key: value}} from `crio config` output, which prints a setting that keeps its
    default as a comment ("# key = value"); a set value wins over such a default."""
    tables, current = {}, ""
    for line in text.splitlines():
        header = re.match(r"^\[([^\[\]]+)\]\s*$", line.strip())
        setting = re.match(r"^(#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$", line.strip())
        if header:
            current = header.group(1)
            tables.setdefault(current, {})
        elif setting:
            table = tables.setdefault(current, {})
            if not setting.group(1) or setting.group(2) not in table:
                table[setting.group(2)] = setting.group(3).strip('"')
    return tables


def restore_level(tables):
    """What this CRI-O allows; RestoreError when it does not restore."""
    if LEVEL_TABLE in tables:
        level = tables[LEVEL_TABLE].get("container_level_enabled", "unset")
        if level != "checkpoint_restore":
            raise RestoreError(
                "CRI-O on this node does not restore containers: [%s] container_level_enabled "
                "is %s, so CRI-O would create an ordinary container from the checkpoint image "
                "and fail with 'no command specified'. Fix: set it to \"checkpoint_restore\" "
                "(role instanton.platform.crio_node with crio_node_restore: true) and restart "
                "CRI-O." % (LEVEL_TABLE, level))
        return level
    if tables.get("crio.runtime", {}).get("enable_criu_support") != "true":
        raise RestoreError(
            "CRI-O on this node has checkpoint/restore off ([crio.runtime] enable_criu_support "
            "is not true). Fix: apply role instanton.platform.crio_node and restart CRI-O.")
    return "enable_criu_support=true"


def namespaced_policy(tables, namespace):
    """The signature policy file CRI-O applies to pods of NAMESPACE, if there is one."""
    directory = tables.get("crio.image", {}).get("signature_policy_dir") or "/etc/crio/policies"
    path = os.path.join(directory, namespace + ".json")
    return path if os.path.exists(path) else None


def image_config(status):
    """The OCI image config (Cmd, Entrypoint, ...) from `crictl inspecti -o json`."""
    spec = (status.get("info") or {}).get("imageSpec") or {}
    return spec.get("config") or {}


def image_annotations(status):
    image = status.get("status") or {}
    spec = image.get("spec") or {}
    annotations = dict(spec.get("annotations") or {})
    annotations.update(((status.get("info") or {}).get("imageSpec") or {}).get("annotations") or {})
    return annotations


class Crictl(object):
    def __init__(self, module):
        self.module = module
        self.executable = module.get_bin_path("crictl", required=True)
        self.timeout = "%ds" % module.params["timeout"]

    def run(self, args, check=True):
        rc, out, err = self.module.run_command([self.executable, "--timeout", self.timeout] + args)
        if check and rc != 0:
            raise RestoreError(explain("crictl %s failed: %s" % (args[0], (err or out).strip()[-2000:])))
        return rc, out.strip(), err

    def image(self, name):
        rc, out, _err = self.run(["inspecti", "-o", "json", name], check=False)
        return json.loads(out) if rc == 0 and out else None

    def running(self, pod, namespace, container):
        """(pod id, container id) of a ready pod with a running container of these names."""
        pods = self.run(["pods", "-q", "--state", "ready", "--name", "^%s$" % re.escape(pod),
                         "--namespace", "^%s$" % re.escape(namespace)])[1].split()
        for pod_id in pods:
            ids = self.run(["ps", "-q", "--state", "running", "--pod", pod_id,
                            "--name", "^%s$" % re.escape(container)])[1].split()
            if ids:
                return pod_id, ids[0]
        return None


def explain(message):
    """CRI-O's restore errors with their cause and fix."""
    if "no command specified" in message:
        return (message + ". CRI-O did not restore: either restores are off on this node "
                "(container_level_enabled) or the checkpointed container's image has no CMD or "
                "ENTRYPOINT. Fix: enable restores (role instanton.platform.crio_node, "
                "crio_node_restore: true), or give the application image a CMD.")
    if "signature policy" in message:
        return (message + ". Fix: restore into a namespace without a namespaced signature "
                "policy; CRI-O does not verify signatures on restore.")
    return message


def check_node(module, crictl, tables):
    params = module.params
    if not module.get_bin_path("criu"):
        raise RestoreError("CRIU is missing on this node: CRI-O restores through it. Fix: install "
                           "CRIU (role instanton.platform.criu, which crio_node includes).")
    policy = namespaced_policy(tables, params["namespace"])
    if policy:
        raise RestoreError(
            "namespaced signature policy %s applies to pods in namespace %s, and CRI-O refuses "
            "to restore there (it cannot verify signatures on restore). Fix: restore into "
            "another namespace, or remove that policy." % (policy, params["namespace"]))
    status = crictl.image(params["image"])
    if status is None:
        raise RestoreError("image %s is not on this node. Fix: build it there with "
                           "instanton.platform.checkpoint_image, or pull it." % params["image"])
    annotations = image_annotations(status)
    if CHECKPOINT_ANNOTATION not in annotations:
        raise RestoreError("image %s is not a checkpoint image (no %s annotation), so CRI-O "
                           "would start it anew. Fix: build it with "
                           "instanton.platform.checkpoint_image." % (params["image"], CHECKPOINT_ANNOTATION))
    check_original_image(crictl, annotations.get(ROOTFS_IMAGE_ANNOTATION))


def check_original_image(crictl, name):
    if not name:
        return
    original = crictl.image(name)
    if original is None:
        raise RestoreError("the checkpointed container's image %s is not on this node; CRI-O "
                           "restores on top of it. Fix: pull it first." % name)
    config = image_config(original)
    if original.get("info") and not (config.get("Cmd") or config.get("Entrypoint")):
        raise RestoreError(
            "the checkpointed container's image %s has neither CMD nor ENTRYPOINT; CRI-O "
            "restores only containers whose command comes from their image (it fails with "
            "'no command specified'). Fix: give the application image a CMD, run the "
            "container from it, and checkpoint again." % name)


def kubelet_labels(params, uid):
    return {"io.kubernetes.pod.name": params["pod"], "io.kubernetes.pod.namespace": params["namespace"],
            "io.kubernetes.pod.uid": uid, "io.kubernetes.container.name": params["container"]}


def create(crictl, params, directory):
    """Pod, then container from the checkpoint image; the pod is removed again on failure."""
    uid = os.path.basename(directory)
    labels = kubelet_labels(params, uid)
    pod_config = {"metadata": {"name": params["pod"], "namespace": params["namespace"], "uid": uid},
                  "labels": dict((key, value) for key, value in labels.items()
                                 if key != "io.kubernetes.container.name")}
    container_config = {"metadata": {"name": params["container"]},
                        "image": {"image": params["image"]}, "labels": labels}
    paths = {}
    for name, config in (("pod", pod_config), ("container", container_config)):
        paths[name] = os.path.join(directory, name + ".json")
        with open(paths[name], "w") as handle:
            json.dump(config, handle)
    pod_id = crictl.run(["runp", paths["pod"]])[1]
    try:
        started = time.time()
        container_id = crictl.run(["create", "--no-pull", pod_id, paths["container"], paths["pod"]])[1]
        crictl.run(["start", container_id])
        wait_running(crictl, container_id, params["timeout"])
        return pod_id, container_id, int((time.time() - started) * 1000)
    except Exception:
        crictl.run(["rmp", "-f", pod_id], check=False)
        raise


def wait_running(crictl, container_id, timeout):
    deadline = time.time() + timeout
    while True:
        state = json.loads(crictl.run(["inspect", "-o", "json", container_id])[1])["status"]
        if state["state"] == "CONTAINER_RUNNING":
            return
        if state["state"] == "CONTAINER_EXITED" or time.time() > deadline:
            raise RestoreError("the restored container %s is %s (%s): %s" % (
                container_id, state["state"], state.get("reason"), state.get("message")))
        time.sleep(0.1)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="str", required=True),
            pod=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            container=dict(type="str", required=True),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False}
    try:
        crictl = Crictl(module)
        crio = module.get_bin_path("crio", required=True)
        tables = crio_settings(module.run_command([crio, "config"], check_rc=True)[1])
        result["checkpoint_level"] = restore_level(tables)
        found = crictl.running(params["pod"], params["namespace"], params["container"])
        if found:
            result.update(pod_id=found[0], container_id=found[1], restore_ms=0)
            module.exit_json(**result)
        check_node(module, crictl, tables)
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        directory = tempfile.mkdtemp(prefix="instanton-restore-")
        try:
            pod_id, container_id, restore_ms = create(crictl, params, directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        result.update(pod_id=pod_id, container_id=container_id, restore_ms=restore_ms)
    except RestoreError as exc:
        result["changed"] = False
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
