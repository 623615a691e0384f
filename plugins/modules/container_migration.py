#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: container_migration
short_description: One step of moving a running podman or Docker container to another host (checkpoint, copy, restore)
version_added: 0.2.0
description:
  - Each step runs on one host; the P(instanton.platform.migration#role) role runs them in order on the source
    and target hosts (C(delegate_to)) and copies the archives through the controller with their SHA-256 checked.
    Use the role; the steps are documented for those who write their own flow.
  - "O(step=inspect): the host's CPU (architecture, model, features), whether CRIU can pre-dump here, and the
    container O(name) as it is (image ID, bind mounts). Changes nothing."
  - "O(step=prepare), on the target, before anything is stopped: refuses when the target lacks CPU features
    the source has (the list is in the message; O(force) skips this), when a bind mount's host path is missing,
    or when a container O(name) is already there; says whether the source's exact image (by ID) is here."
  - "O(step=export_image), on the source: C(podman save) of the container's image into a private archive.
    O(step=import_image), on the target: C(podman load) of it, checked against its SHA-256 and the image ID."
  - "O(step=checkpoint), on the source: waits for a last answer (O(readiness)), then C(podman container
    checkpoint --export --keep) (with C(--tcp-established) when O(tcp_established=true)), which stops the
    container and keeps the checkpoint beside it, so that the source can restore itself if the target fails."
  - "O(step=restore), on the target: checks the archive's SHA-256, C(podman container restore --import)
    (dropping a static IP or MAC that could clash, see O(ignore_static_ip)), and waits for the first answer.
    When the restore fails or the container does not answer, whatever it left is removed and the step fails
    with podman's and CRIU's reasons."
  - "O(step=finish), on the source: after O(outcome=migrated) removes the stopped source container and its
    archives; after O(outcome=failed) restores the source in place from its kept checkpoint (its state goes on),
    or starts it cold if that fails, and says which."
  - "Direct copy (host to host): O(step=copy_key), on the source, makes a key pair for this move only (the
    private key stays there, C(0600), and is never returned); O(step=authorize), on the target, lets that key run
    one forced command (write this move's archive into O(directory)) from O(from_address) only, and returns the
    target's SSH host keys; O(step=export_image) and O(step=checkpoint) with O(send_to) then stream the archive to
    the target over SSH, checking those host keys; O(step=revoke), on both hosts, removes the key, its
    C(authorized_keys) line and the C(known_hosts) file. The target's step checks the SHA-256 as with any copy."
  - "O(runtime=docker) runs the same steps with Docker Engine (experimental mode, CRIU): images move with
    C(docker save) / C(docker load) by ID; O(step=checkpoint) runs C(docker checkpoint create) (the checkpoint stays
    in the container's own directory) and packs that directory with the container's C(docker inspect) into one
    C(0600) tar; O(step=restore) creates the container again from it (same image ID, command, environment, ports,
    network, labelled C(io.instanton.platform.migration.restored=true)), puts the checkpoint into its own
    C(checkpoints/) directory (docker/cli issue 3008) and runs C(docker start --checkpoint), past moby issue 42900
    as M(instanton.platform.docker_checkpoint) does. Docker cannot move established TCP connections
    (O(tcp_established)), compress with C(zstd), or pre-dump."
  - Pre-dump (C(--pre-checkpoint)) needs a kernel that tracks dirty memory; O(step=inspect) reports whether
    CRIU finds that (C(criu check --feature mem_dirty_track)). The migration always takes a full dump while the
    container is stopped.
requirements:
  - podman 4.1 or later, or Docker Engine with experimental mode and containerd's C(ctr) (O(runtime=docker)), and
    CRIU on the managed host
options:
  runtime:
    description: The container engine on both hosts.
    type: str
    choices: [podman, docker]
    default: podman
  executable:
    description: The podman or docker binary, by name on C(PATH) or as a full path; the O(runtime)'s name when unset.
    type: str
  step:
    description: The step to run on this host (see the description).
    type: str
    required: true
    choices: [inspect, prepare, export_image, import_image, checkpoint, restore, finish, copy_key, authorize, revoke]
  name:
    description: The container that moves; it keeps its name on the target.
    type: str
    required: true
  directory:
    description: Where the archives are kept on this host; made C(0700), archives are C(0600).
    type: path
    default: /var/lib/instanton/migration
  cpu_flags:
    description:
      - With O(step=inspect) and O(step=prepare), CPU features to use instead of C(/proc/cpuinfo)'s, for hosts
        whose cpuinfo is hidden or to simulate another CPU in a test.
    type: list
    elements: str
  source:
    description: With O(step=prepare), the RV(cpu) and RV(container) that O(step=inspect) returned on the source.
    type: dict
  force:
    description: With O(step=prepare), go on although the target lacks CPU features of the source.
    type: bool
    default: false
  image:
    description: With O(step=export_image) and O(step=import_image), the image's ID (C(image_id) of the RV(container) that O(step=inspect) returned).
    type: str
  image_name:
    description:
      - With O(step=import_image), the image's name on the source (C(image_name) of the RV(container)). When the
        target has no image of that name, the image is tagged with it, as C(podman container restore --import)
        looks the name up first (and tries to pull it when missing).
    type: str
  public_key:
    description: With O(step=authorize), the public key that O(step=copy_key) returned on the source.
    type: str
  from_address:
    description: With O(step=authorize), the source's address as the target sees it; the key works from there only.
    type: str
  send_to:
    description:
      - With O(step=export_image) and O(step=checkpoint), stream the archive straight to the target over SSH (as
        C(root), with the key of O(step=copy_key)) right after writing it.
    type: dict
    suboptions:
      address:
        description: The target's address as the source reaches it.
        type: str
        required: true
      port:
        description: The target's SSH port.
        type: int
        default: 22
      host_keys:
        description: The target's SSH host keys (RV(host_keys) of O(step=authorize)); no other key is accepted.
        type: list
        elements: str
        required: true
  sha256:
    description:
      - With O(step=import_image) and O(step=restore), the archive's SHA-256 as the source computed it; a
        different archive here fails the step before it is used.
    type: str
  tcp_established:
    description:
      - With O(step=checkpoint), O(step=restore) and O(step=finish), checkpoint and restore established TCP
        connections (C(--tcp-established)).
      - A connection survives only where both its addresses exist after the restore; see C(docs/migration.md).
      - Not with O(runtime=docker) (C(docker checkpoint create) has no such option).
    type: bool
    default: false
  compress:
    description:
      - With O(step=checkpoint), the archive's compression; uncompressed restores fastest.
      - O(runtime=docker) takes C(none) or C(gzip).
    type: str
    choices: [none, gzip, zstd]
    default: none
  ignore_static_ip:
    description: With O(step=restore), drop a static IP address the container had on the source (C(--ignore-static-ip)).
    type: bool
    default: true
  ignore_static_mac:
    description: With O(step=restore), drop a static MAC address the container had on the source (C(--ignore-static-mac)).
    type: bool
    default: true
  last_answer_at:
    description: With O(step=restore), the source's RV(last_answer_at), from which RV(downtime_ms) is counted.
    type: float
  ports:
    description: With O(step=restore), publish these ports instead of the source's (C(--publish)).
    type: list
    elements: str
    default: []
  keep_archives:
    description:
      - With O(step=restore) and O(step=finish), leave the archives in O(directory) (C(0600)) instead of removing
        them once the container moved, for an audit or a test.
    type: bool
    default: false
  outcome:
    description: With O(step=finish), whether the target restored and answered (C(migrated)) or not (C(failed)).
    type: str
    choices: [migrated, failed]
  readiness:
    description:
      - What counts as an answer; the source's last one is timed just before the checkpoint, the target's first
        one after the restore (and the source's after O(outcome=failed)).
    type: dict
    suboptions:
      type:
        description: C(http) waits for a 200 answer, C(tcp) for a connection, C(log) for a line in the log.
        type: str
        choices: [http, tcp, log]
        required: true
      port:
        description: The port inside the container, for C(http) and C(tcp).
        type: int
      path:
        description: The path C(http) asks for.
        type: str
        default: /
      pattern:
        description: A regular expression C(log) waits for.
        type: str
      timeout:
        description: Seconds to wait before failing.
        type: int
        default: 60
notes:
  - Supports check mode; C(inspect) and C(prepare) run in check mode, every other step only says it would change.
  - The downtime is the target's first answer time minus the source's last answer time, read from each
    host's clock, so keep the clocks in sync (NTP).
seealso:
  - module: instanton.platform.instanton_container
author:
  - instanton.platform engineers (@instanton)
"""

EXAMPLES = r"""
- name: Move the service (the role runs every step)
  ansible.builtin.include_role:
    name: instanton.platform.migration
  vars:
    migration_container: shop
    migration_source: host1
    migration_target: host2
    migration_readiness: {type: http, port: 8080, path: /healthz}

- name: Move a Docker Engine container (the image goes by ID with docker save / docker load)
  ansible.builtin.include_role:
    name: instanton.platform.migration
  vars:
    migration_runtime: docker
    migration_container: counter
    migration_source: host1
    migration_target: host2
    migration_readiness: {type: tcp, port: 8080}

- name: Only look at a host's CPU and pre-dump support
  instanton.platform.container_migration:
    step: inspect
    name: shop
  register: shop_host
"""

RETURN = r"""
cpu:
  description: With O(step=inspect) and O(step=prepare), this host's C(arch), C(model), C(flags) and where the flags came from (C(source)).
  returned: with those steps
  type: dict
  sample: {"arch": "x86_64", "model": "Intel(R) Xeon(R) Processor", "flags": ["avx", "avx2"], "source": "/proc/cpuinfo"}
pre_dump:
  description: With O(step=inspect), whether CRIU can pre-dump here (C(supported)) and why (C(reason)).
  returned: with O(step=inspect)
  type: dict
container:
  description:
    - The container on this host (C(name), C(image_id), C(image_name), C(running), C(status), C(restored),
      C(checkpointed), C(bind_mounts)); null when there is none.
  returned: with O(step=inspect), O(step=prepare) and O(step=restore)
  type: dict
image_present:
  description: With O(step=prepare), whether the source's image (by ID) is on this host.
  returned: with O(step=prepare)
  type: bool
image_name_present:
  description:
    - With O(step=prepare), whether an image of the source's image name is on this host (podman's restore needs
      the name; O(step=import_image) tags the image when it is missing). Always true with O(runtime=docker).
  returned: with O(step=prepare)
  type: bool
public_key:
  description: With O(step=copy_key), the move's public key (null in check mode).
  returned: with O(step=copy_key)
  type: str
host_keys:
  description: With O(step=authorize), this host's SSH host keys (C(type key)).
  returned: with O(step=authorize)
  type: list
  elements: str
copy_ms:
  description: With O(send_to), how long streaming the archive to the target took.
  returned: with O(send_to)
  type: int
missing_cpu_features:
  description: With O(step=prepare), the CPU features the source has and this host lacks (also when O(force) let it go on).
  returned: with O(step=prepare)
  type: list
  elements: str
archive:
  description: The archive this step wrote or read.
  returned: with O(step=export_image), O(step=checkpoint), O(step=import_image) and O(step=restore)
  type: str
bytes:
  description: The archive's size in bytes.
  returned: with O(step=export_image) and O(step=checkpoint)
  type: int
sha256:
  description: The archive's SHA-256.
  returned: with O(step=export_image) and O(step=checkpoint)
  type: str
criu_error:
  description:
    - When a checkpoint or restore failed on CRIU, why (C(phase), C(cause), C(hint), C(log_excerpt)), as in
      M(instanton.platform.instanton_container)'s RV(instanton.platform.instanton_container#module:criu_error).
  returned: when CRIU failed
  type: dict
last_answer_at:
  description: With O(step=checkpoint), the source's last answer before the checkpoint (epoch seconds).
  returned: with O(step=checkpoint)
  type: float
checkpoint_attempts:
  description:
    - With O(step=checkpoint), how many checkpoints it took. A dump that meets a connection the service has not
      accepted yet fails (CRIU cannot dump it) and the service runs on; it is tried again, up to 3 times.
  returned: with O(step=checkpoint)
  type: int
checkpoint_ms:
  description: With O(step=checkpoint), how long C(podman container checkpoint --export) took.
  returned: with O(step=checkpoint)
  type: int
first_answer_at:
  description: With O(step=restore), the target's first answer (epoch seconds).
  returned: with O(step=restore)
  type: float
downtime_ms:
  description:
    - With O(step=restore), milliseconds from the source's last answer (O(last_answer_at)) to the target's first,
      by the two hosts' clocks; null without O(last_answer_at).
  returned: with O(step=restore)
  type: int
  sample: 1840
restore_ms:
  description: With O(step=restore), from the start of C(podman container restore --import) to the first answer.
  returned: with O(step=restore)
  type: int
restored:
  description:
    - With O(step=restore), whether podman restored the container (C(State.Restored)); with O(runtime=docker),
      whether C(docker start --checkpoint) did (Docker keeps no such record).
  returned: with O(step=restore)
  type: bool
content_removed:
  description: With O(runtime=docker) and O(step=restore), blobs removed from containerd to get past moby issue 42900.
  returned: with O(runtime=docker) and O(step=restore)
  type: list
  elements: str
source_removed:
  description: With O(step=finish), whether the source container is gone.
  returned: with O(step=finish)
  type: bool
source_restart:
  description: With O(step=finish) and O(outcome=failed), C(restored) (in place, its state goes on) or C(cold).
  returned: with O(step=finish) and O(outcome=failed)
  type: str
"""

import glob
import os
import pwd
import shutil
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.instanton.platform.plugins.module_utils.migration import _direct_copy as direct
from ansible_collections.instanton.platform.plugins.module_utils.host import _cpu_features as cpu_features
from ansible_collections.instanton.platform.plugins.module_utils.migration import _migration as migration
from ansible_collections.instanton.platform.plugins.module_utils.common import _readiness as probes
from ansible_collections.instanton.platform.plugins.module_utils.instanton._checkpoint_image import file_sha256
from ansible_collections.instanton.platform.plugins.module_utils.instanton._container_run import host_endpoint
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _docker_checkpoint as docker
from ansible_collections.instanton.platform.plugins.module_utils.common._podman import (
    Podman, PodmanError, container_name_problem)


# A dump that meets a connection not accepted yet fails and the service runs on; the next moment's queue
# is another, so the checkpoint is tried again (podman cannot pass CRIU's --skip-in-flight).
CHECKPOINT_ATTEMPTS = 3
IN_FLIGHT_FIX = (" %d times in a row on connections not accepted yet: under steady traffic, have CRIU drop them with "
                 "a line skip-in-flight in /etc/criu/default.conf (CRIU reads it at every checkpoint podman asks for; "
                 "the criu role writes it from criu_extra_options)" % CHECKPOINT_ATTEMPTS)


class Step(object):
    """The host side of one migration step."""

    def __init__(self, module, engine):
        self.module = module
        self.engine = engine
        self.params = module.params
        self.name = module.params["name"]

    def archive(self, kind):
        return migration.archive_path(self.params["directory"], self.name, kind)

    def container(self):
        return self.engine.container(self.name)

    def probe(self, container):
        """A callable that tells whether the container answers now (its readiness), or None without readiness."""
        check = self.params["readiness"]
        if not check:
            return None
        if check["type"] == "log":
            return lambda: probes.log_matches(lambda: self.engine.run(["logs", self.name], check=False)[1],
                                              check["pattern"])
        endpoint = self.endpoint(container, check["port"])
        if endpoint is None:
            self.module.fail_json(msg="no published port or address reaches port %d of container %s"
                                      % (check["port"], self.name))
        if check["type"] == "tcp":
            return lambda: probes.tcp_open(endpoint)
        url = probes.http_url(endpoint[0], endpoint[1], check["path"])
        return lambda: probes.http_ok(url)

    def endpoint(self, container, port):
        return host_endpoint(container, port)

    def wait_answer(self, container):
        """Epoch seconds of the container's first answer from now (now, without readiness), or None."""
        probe = self.probe(container)
        if probe is None:
            return time.time()
        if probes.wait_until(probe, self.params["readiness"]["timeout"], self.running) is None:
            return None
        return time.time()

    def running(self):
        return bool((self.container() or {}).get("State", {}).get("Running"))

    def check_sha256(self, path):
        if not os.path.isfile(path):
            self.module.fail_json(msg="%s is not on this host: copy it from the source first" % path)
        found = file_sha256(path)
        if self.params["sha256"] and found != self.params["sha256"]:
            self.module.fail_json(msg="%s has SHA-256 %s, not %s as on the source: the copy is damaged, nothing "
                                      "was restored" % (path, found, self.params["sha256"]))
        return found

    def fail_on_criu(self, message, phase, output, cleanup=None):
        """Fail with podman's message, CRIU's last errors and their cause (criu_error) when its log names them;
        cleanup runs after the log was read (it may remove the container that holds it)."""
        errors, cause = migration.criu_failure(phase, output)
        if cleanup:
            cleanup()
        extra = {"criu_error": cause} if cause else {}
        hint = (" Hint: %s." % cause["hint"]) if cause else ""
        self.module.fail_json(msg="%s: %s %s%s" % (message, output.strip()[-1500:], errors, hint), **extra)

    def private_archive_result(self, path, kind):
        """The archive's path, size and SHA-256; sent straight to the target first with O(send_to)."""
        os.chmod(path, migration.PRIVATE_FILE_MODE)
        result = dict(archive=path, bytes=os.path.getsize(path), sha256=file_sha256(path))
        if self.params["send_to"]:
            result["copy_ms"] = self.send(path, kind)
        return result

    def send(self, path, kind):
        """Stream the archive to the target over SSH with the move's key (direct copy); milliseconds taken."""
        target = self.params["send_to"]
        key = direct.key_path(self.params["directory"], self.name)
        if not os.path.isfile(key):
            self.module.fail_json(msg="no copy key %s on the source: run step=copy_key first" % key)
        known_hosts = direct.known_hosts_path(self.params["directory"], self.name)
        lines = direct.known_hosts_lines(target["address"], target["port"], target["host_keys"])
        if not lines:
            self.module.fail_json(msg="send_to.host_keys holds no SSH host key of the target")
        migration.write_private_lines(known_hosts, lines)
        args = direct.ssh_arguments(self.module.get_bin_path("ssh", required=True), key, known_hosts,
                                    target["address"], target["port"], kind)
        # The archive is ssh's standard input, read by the shell (no quoting: the path and ssh's arguments are
        # positional parameters), not through this process's memory.
        started = time.time()
        rc, _out, err = self.module.run_command(
            [self.module.get_bin_path("sh", required=True), "-c", 'archive=$1; shift; exec "$@" < "$archive"', "sh",
             path] + args)
        if rc != 0:
            self.module.fail_json(msg="the %s archive could not be sent to %s over SSH (direct copy): %s"
                                      % (kind, target["address"], err.strip()[-1000:]))
        return int(round((time.time() - started) * 1000))

    def copy_key(self):
        """On the source: a key pair for this move only; the private key stays here (0600), never returned."""
        key = direct.key_path(self.params["directory"], self.name)
        if self.module.check_mode:
            return dict(changed=not os.path.isfile(key), public_key=None)
        migration.make_private_dir(self.params["directory"])
        changed = not (os.path.isfile(key) and os.path.isfile(key + ".pub"))
        if changed:
            migration.remove_file(key)
            migration.remove_file(key + ".pub")
            self.module.run_command([self.module.get_bin_path("ssh-keygen", required=True), "-q", "-t", "ed25519",
                                     "-N", "", "-C", direct.marker(self.name), "-f", key], check_rc=True)
        os.chmod(key, migration.PRIVATE_FILE_MODE)
        with open(key + ".pub") as public:
            return dict(changed=changed, public_key=" ".join(public.read().split()[:2]))

    def authorized_keys(self):
        path = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".ssh", "authorized_keys")
        lines = []
        if os.path.isfile(path):
            with open(path) as handle:
                lines = handle.read().splitlines()
        return path, lines

    def authorize(self):
        """On the target: the move's public key may write this move's archives, from the source's address only.
        Returns the target's SSH host keys, which the source checks."""
        public_key = self.params["public_key"].strip()
        if not direct.PUBLIC_KEY.match(public_key):
            self.module.fail_json(msg="public_key must be one ssh-ed25519 key, as step=copy_key returned it")
        host_keys = []
        for path in sorted(glob.glob("/etc/ssh/ssh_host_*_key.pub")):
            with open(path) as handle:
                host_keys.append(" ".join(handle.read().split()[:2]))
        if not host_keys:
            self.module.fail_json(msg="nothing was stopped: the target has no SSH host key (/etc/ssh/ssh_host_*_key.pub); "
                                      "a direct copy needs sshd there")
        path, lines = self.authorized_keys()
        wanted = direct.without_marked(lines, self.name) + [direct.authorized_line(
            public_key, self.params["from_address"], self.params["directory"], self.name)]
        changed = wanted != lines
        if changed and not self.module.check_mode:
            migration.make_private_dir(self.params["directory"])
            migration.write_private_lines(path, wanted)
        return dict(changed=changed, host_keys=host_keys)

    def revoke(self):
        """On the source or the target: this move's authorized_keys line, key pair and known_hosts, gone."""
        path, lines = self.authorized_keys()
        kept = direct.without_marked(lines, self.name)
        key = direct.key_path(self.params["directory"], self.name)
        files = [name for name in (key, key + ".pub", direct.known_hosts_path(self.params["directory"], self.name))
                 if os.path.exists(name)]
        if not self.module.check_mode:
            if kept != lines:
                migration.write_private_lines(path, kept)
            for name in files:
                migration.remove_file(name)
        return dict(changed=kept != lines or bool(files))

    # ------------------------------------------------------------------ steps

    def pre_dump_support(self, rc, output):
        return migration.pre_dump_support(rc, output)

    def save_arguments(self, path):
        return ["save", "--format", "oci-archive", "--output", path, self.params["image"]]

    def inspect(self):
        criu = self.module.get_bin_path("criu")
        rc, out, err = (self.module.run_command([criu, "check", "--feature", "mem_dirty_track"]) if criu
                        else (127, "criu is not installed", ""))
        return dict(changed=False, cpu=cpu_features.host_cpu(self.params["cpu_flags"]),
                    pre_dump=self.pre_dump_support(rc, out + err),
                    container=migration.container_summary(self.container()))

    def prepare(self):
        source = self.params["source"] or {}
        if not source.get("cpu") or not source.get("container"):
            self.module.fail_json(msg="source must hold the cpu and container that step=inspect returned on the source")
        here = cpu_features.host_cpu(self.params["cpu_flags"])
        missing = cpu_features.missing_features(source["cpu"].get("flags") or [], here["flags"])
        problem = cpu_features.compatibility_problem(source["cpu"], here, "the source", "the target")
        if problem and not self.params["force"]:
            self.module.fail_json(msg="nothing was stopped: %s (force=true goes on anyway)" % problem,
                                  missing_cpu_features=missing, cpu=here)
        if self.container() is not None:
            self.module.fail_json(msg="nothing was stopped: the target already has a container named %s; remove it "
                                      "first" % self.name)
        absent = migration.missing_paths(source["container"].get("bind_mounts") or [])
        if absent:
            self.module.fail_json(msg="nothing was stopped: the checkpoint does not carry bind mounts, and these host "
                                      "paths are missing on the target: %s" % ", ".join(absent))
        if problem:
            self.module.warn("forced past a CPU check: %s" % problem)
        image_present = self.engine.image(source["container"]["image_id"]) is not None
        return dict(changed=False, cpu=here, missing_cpu_features=missing, image_present=image_present,
                    image_name_present=self.has_image_name(source["container"].get("image_name")))

    def has_image_name(self, name):
        """Whether podman finds the image name here: `podman container restore --import` looks the name up
        before the ID, and tries to pull it when it is missing."""
        return not name or self.engine.image(name) is not None

    def export_image(self):
        path = self.archive("image")
        if self.module.check_mode:
            return dict(changed=True, archive=path)
        migration.make_private_dir(self.params["directory"])
        migration.remove_file(path)
        self.engine.run(self.save_arguments(path))
        return dict(changed=True, **self.private_archive_result(path, "image"))

    def import_image(self):
        path = self.archive("image")
        present = self.engine.image(self.params["image"]) is not None
        named = self.has_image_name(self.params["image_name"])
        if present and named:
            return dict(changed=False, archive=path)
        if self.module.check_mode:
            return dict(changed=True, archive=path)
        if not present:
            self.check_sha256(path)
            self.engine.run(["load", "--input", path])
            migration.remove_file(path)
            if self.engine.image(self.params["image"]) is None:
                self.module.fail_json(msg="%s load did not bring image %s to this host: its ID changed on the way"
                                          % (self.params["runtime"], self.params["image"]))
        if not named:
            # Only a name the target lacks: its own images keep theirs.
            self.engine.run(["tag", self.params["image"], self.params["image_name"]])
        return dict(changed=True, archive=path)

    def checkpoint(self):
        container = self.container()
        if container is None or not container["State"]["Running"]:
            self.module.fail_json(msg="container %s is not running on this host" % self.name)
        path = self.archive("checkpoint")
        if self.module.check_mode:
            return dict(changed=True, archive=path)
        migration.make_private_dir(self.params["directory"])
        for attempt in range(1, CHECKPOINT_ATTEMPTS + 1):
            last_answer_at = self.wait_answer(container)
            if last_answer_at is None:
                self.module.fail_json(msg="nothing was stopped: container %s does not answer on the source" % self.name)
            migration.remove_file(path)
            started = time.time()
            rc, out, err = self.engine.run(migration.checkpoint_arguments(
                self.name, path, self.params["tcp_established"], self.params["compress"]), check=False)
            if rc == 0:
                break
            migration.remove_file(path)
            met_in_flight = migration.in_flight(migration.criu_failure("dump", out + err)[0])
            if attempt == CHECKPOINT_ATTEMPTS or not met_in_flight:
                self.fail_on_criu("podman container checkpoint failed on the source (the container goes on running "
                                  "there when CRIU could not dump it)%s" % (IN_FLIGHT_FIX if met_in_flight else ""),
                                  "dump", out + err)
        checkpoint_ms = int(round((time.time() - started) * 1000))
        return dict(changed=True, last_answer_at=last_answer_at, checkpoint_ms=checkpoint_ms, checkpoint_attempts=attempt,
                    **self.private_archive_result(path, "checkpoint"))

    def restore(self):
        path = self.archive("checkpoint")
        if self.module.check_mode:
            return dict(changed=True, archive=path)
        self.check_sha256(path)
        started = time.time()
        rc, out, err = self.engine.run(migration.restore_arguments(
            path, self.params["tcp_established"], self.params["ignore_static_ip"], self.params["ignore_static_mac"],
            self.params["ports"]), check=False)
        if rc != 0:
            self.fail_on_criu("podman container restore --import failed on the target (what it made is removed)",
                              "restore", out + err, cleanup=lambda: self.engine.remove_container(self.name))
        return self.restored_result(path, started, lambda container: bool(container["State"].get("Restored")))

    def restored_result(self, path, started, restored, **extra):
        """After the restore on the target: its first answer (without one the container is removed and its last
        log lines given), the archive removed unless kept, and the step's result; restored(container) says
        whether the runtime restored it."""
        first_answer_at = self.wait_answer(self.container())
        if first_answer_at is None:
            logs = self.engine.run(["logs", "--tail", "5", self.name], check=False)
            self.engine.remove_container(self.name)
            self.module.fail_json(msg="the restored container did not answer on the target within %ds (it is "
                                      "removed); its last log lines: %s"
                                      % (self.params["readiness"]["timeout"], (logs[1] + logs[2]).strip()[-1000:]))
        if not self.params["keep_archives"]:
            migration.remove_file(path)
        container = self.container()
        return dict(changed=True, archive=path, first_answer_at=first_answer_at,
                    restore_ms=int(round((first_answer_at - started) * 1000)),
                    downtime_ms=migration.downtime_ms(self.params["last_answer_at"], first_answer_at),
                    restored=restored(container), container=migration.container_summary(container), **extra)

    def finish(self):
        container = self.container()
        outcome = self.params["outcome"]
        if outcome == "migrated":
            if self.module.check_mode:
                return dict(changed=container is not None, source_removed=True)
            if container is not None:
                self.engine.remove_container(self.name, check=True)
            if not self.params["keep_archives"]:
                migration.remove_file(self.archive("checkpoint"))
                migration.remove_file(self.archive("image"))
            return dict(changed=container is not None, source_removed=True)
        if container is not None and container["State"]["Running"]:
            return dict(changed=False, source_removed=False, source_restart=None)
        if container is None:
            self.module.fail_json(msg="container %s is gone from the source and did not move: restore it from %s"
                                      % (self.name, self.archive("checkpoint")))
        if self.module.check_mode:
            return dict(changed=True, source_removed=False)
        return dict(changed=True, source_removed=False, source_restart=self.restart_source())

    def restart_source(self):
        """Restore the source in place from the checkpoint it kept; cold when that fails. How it restarted."""
        how = "restored" if self.restore_source_in_place() else "cold"
        if how == "cold":
            self.engine.run(["start", self.name])
        if self.wait_answer(self.container()) is None:
            self.module.fail_json(msg="container %s was started again on the source (%s) but does not answer"
                                      % (self.name, how))
        return how

    def restore_source_in_place(self):
        """podman container restore --keep from the checkpoint the source kept; whether it restored."""
        args = ["container", "restore", "--keep"] + (["--tcp-established"] if self.params["tcp_established"] else [])
        return self.engine.run(args + [self.name], check=False)[0] == 0


class DockerStep(Step):
    """The same steps with Docker Engine: no checkpoint archive and no import in Docker, so the checkpoint
    directory is packed with the container's inspect, and the target creates the container again from it
    (same image ID, command, environment, ports) and starts it from the checkpoint in its own directory."""

    def endpoint(self, container, port):
        if (container.get("HostConfig") or {}).get("NetworkMode") == "host":
            return ("127.0.0.1", port)
        return host_endpoint(container, port)

    def pre_dump_support(self, rc, output):
        return {"supported": False,
                "reason": "Docker has no pre-dump (docker checkpoint create has no --pre-checkpoint): the whole memory "
                          "is dumped while the container is stopped"}

    def save_arguments(self, path):
        return ["save", "--output", path, self.params["image"]]

    def has_image_name(self, name):
        # The container is created again from the image ID: a name is not needed.
        return True

    def own_checkpoint(self, container):
        return docker.container_checkpoint_dir(self.engine.root(), container["Id"], migration.DOCKER_CHECKPOINT)

    def checkpoint(self):
        container = self.container()
        if container is None or not container["State"]["Running"]:
            self.module.fail_json(msg="container %s is not running on this host" % self.name)
        path = self.archive("checkpoint")
        if self.module.check_mode:
            return dict(changed=True, archive=path)
        migration.make_private_dir(self.params["directory"])
        own = self.own_checkpoint(container)
        for attempt in range(1, CHECKPOINT_ATTEMPTS + 1):
            last_answer_at = self.wait_answer(container)
            if last_answer_at is None:
                self.module.fail_json(msg="nothing was stopped: container %s does not answer on the source" % self.name)
            shutil.rmtree(own, ignore_errors=True)
            started = time.time()
            rc, out, err = self.engine.run(docker.create_arguments(self.name, migration.DOCKER_CHECKPOINT), check=False)
            if rc == 0:
                break
            met_in_flight = migration.in_flight(migration.criu_failure("dump", out + err)[0])
            if attempt == CHECKPOINT_ATTEMPTS or not met_in_flight:
                self.fail_on_criu("docker checkpoint create failed on the source (the container goes on running there "
                                  "when CRIU could not dump it)%s" % (IN_FLIGHT_FIX if met_in_flight else ""),
                                  "dump", out + err)
        checkpoint_ms = int(round((time.time() - started) * 1000))
        # The container keeps its checkpoint in its own directory, from which the source starts again when the
        # target fails; the archive carries a copy.
        docker.make_private(own)
        migration.pack_docker_checkpoint(path, own, container, self.params["compress"])
        return dict(changed=True, last_answer_at=last_answer_at, checkpoint_ms=checkpoint_ms, checkpoint_attempts=attempt,
                    **self.private_archive_result(path, "checkpoint"))

    def restore(self):
        path = self.archive("checkpoint")
        if self.module.check_mode:
            return dict(changed=True, archive=path)
        self.check_sha256(path)
        try:
            source = migration.docker_archive_config(path)
        except (ValueError, tarfile.TarError) as error:
            self.module.fail_json(msg="nothing was restored: %s" % error)
        started = time.time()
        self.engine.run(migration.docker_create_arguments(self.name, source, self.params["ports"]))
        removed = []
        try:
            migration.unpack_docker_checkpoint(path, self.own_checkpoint(self.container()))
            removed = self.engine.start_from_checkpoint(self.name, migration.DOCKER_CHECKPOINT)
        except (ValueError, tarfile.TarError, docker.DockerError) as error:
            output = str(error)
            self.fail_on_criu("docker start --checkpoint failed on the target (the container it created is removed)",
                              "restore", output, cleanup=lambda: self.engine.remove_container(self.name))
        return self.restored_result(path, started, lambda container: True, content_removed=removed)

    def restore_source_in_place(self):
        """Start the source from the checkpoint in its own directory (moby 42900 handled); whether it restored."""
        try:
            self.engine.start_from_checkpoint(self.name, migration.DOCKER_CHECKPOINT)
        except docker.DockerError:
            return False
        return True


def direct_copy_problem(params):
    """What keeps the archives from going straight to the target, or None."""
    if not (params["send_to"] or params["step"] in ("copy_key", "authorize")):
        return None
    return (direct.directory_problem(params["directory"])
            or (params["send_to"] and direct.address_problem(params["send_to"]["address"], "send_to.address"))
            or (params["from_address"] is not None and direct.address_problem(params["from_address"], "from_address")))


def runtime_problem(params):
    """What Docker cannot do that was asked for, or None."""
    if params["runtime"] != "docker":
        return None
    if params["tcp_established"]:
        return ("runtime=docker cannot move established TCP connections: docker checkpoint create has no "
                "--tcp-established (use podman for that)")
    if params["compress"] == "zstd":
        return "runtime=docker packs the checkpoint directory itself: compress takes none or gzip there, not zstd"
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type="str", required=True,
                      choices=["inspect", "prepare", "export_image", "import_image", "checkpoint", "restore", "finish",
                               "copy_key", "authorize", "revoke"]),
            name=dict(type="str", required=True),
            directory=dict(type="path", default="/var/lib/instanton/migration"),
            cpu_flags=dict(type="list", elements="str"),
            source=dict(type="dict"),
            force=dict(type="bool", default=False),
            image=dict(type="str"),
            image_name=dict(type="str"),
            sha256=dict(type="str"),
            tcp_established=dict(type="bool", default=False),
            compress=dict(type="str", default="none", choices=["none", "gzip", "zstd"]),
            ignore_static_ip=dict(type="bool", default=True),
            ignore_static_mac=dict(type="bool", default=True),
            ports=dict(type="list", elements="str", default=[]),
            last_answer_at=dict(type="float"),
            keep_archives=dict(type="bool", default=False),
            outcome=dict(type="str", choices=["migrated", "failed"]),
            readiness=dict(type="dict", options=probes.argument_spec(60)),
            runtime=dict(type="str", default="podman", choices=["podman", "docker"]),
            public_key=dict(type="str"),
            from_address=dict(type="str"),
            send_to=dict(type="dict", options=dict(
                address=dict(type="str", required=True),
                port=dict(type="int", default=22),
                host_keys=dict(type="list", elements="str", required=True, no_log=False),
            )),
            executable=dict(type="str"),
        ),
        required_if=[("step", "prepare", ("source",)), ("step", "export_image", ("image",)),
                     ("step", "import_image", ("image", "sha256")), ("step", "restore", ("sha256",)),
                     ("step", "finish", ("outcome",)), ("step", "authorize", ("public_key", "from_address"))],
        supports_check_mode=True,
    )
    problem = (container_name_problem(module.params["name"]) or probes.problem(module.params["readiness"])
               or runtime_problem(module.params) or direct_copy_problem(module.params))
    if problem:
        module.fail_json(msg=problem)
    runtime = module.params["runtime"]
    executable = module.params["executable"] or runtime
    step = DockerStep(module, docker.Docker(module, executable)) if runtime == "docker" else \
        Step(module, Podman(module, executable))
    try:
        result = getattr(step, module.params["step"])()
    except (PodmanError, docker.DockerError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
