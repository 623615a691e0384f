# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Moving a running container to another host with podman or Docker Engine: the command lines, what a
container needs on the target, and the private files and directories checkpoint data lives in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import re
import tarfile

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors as criu_errors

# Checkpoint archives and image archives hold process memory: 0700 directories, 0600 files.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# podman names CRIU's log in its error, with (crun's wording) or without backticks around the path.
# Docker (runc) names it "log file: PATH".
CRIU_LOGFILE = re.compile(r"(?:CRIU logfile `?|log file: )(/[^`\s:]+)")
# Docker has no checkpoint archive and no record of a restore: the migration packs the checkpoint directory
# with the source container's inspect, and marks the container it creates on the target with this label.
DOCKER_CHECKPOINT = "instanton-migration"
DOCKER_RESTORED_LABEL = "io.instanton.platform.migration.restored"
DOCKER_CONFIG_MEMBER = "container.json"
DOCKER_CHECKPOINT_MEMBER = "checkpoint"


def checkpoint_arguments(name, archive, tcp_established=False, compress="none"):
    """`podman container checkpoint` that stops NAME and exports its checkpoint to ARCHIVE. --keep leaves
    the checkpoint in the container's own directory, so the source can restore itself in place when the
    target fails."""
    args = ["container", "checkpoint", "--keep", "--export", archive, "--compress", compress]
    if tcp_established:
        args.append("--tcp-established")
    return args + [name]


def in_flight(criu_errors_text):
    """Whether a dump failed on a connection the service had not accepted yet (a service under traffic):
    CRIU lets the process run on, and a moment later the queue is another. podman has no way to pass
    CRIU's --skip-in-flight."""
    return "In-flight connection" in (criu_errors_text or "")


def restore_arguments(archive, tcp_established=False, ignore_static_ip=True, ignore_static_mac=True, ports=None):
    """`podman container restore --import` of a migrated checkpoint; the container keeps its name.
    A static IP or MAC the source's network gave it may be taken on the target: podman then drops them."""
    args = ["container", "restore", "--import", archive]
    if tcp_established:
        args.append("--tcp-established")
    if ignore_static_ip:
        args.append("--ignore-static-ip")
    if ignore_static_mac:
        args.append("--ignore-static-mac")
    for port in ports or []:
        args += ["--publish", port]
    return args


def container_summary(inspect):
    """What the migration needs to know about a container (its `podman container inspect` or
    `docker container inspect`), or None."""
    if not inspect:
        return None
    state = inspect.get("State") or {}
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    return {
        "name": (inspect.get("Name") or "").lstrip("/"),
        "image_id": inspect.get("Image"),
        "image_name": inspect.get("ImageName") or (inspect.get("Config") or {}).get("Image"),
        "running": bool(state.get("Running")),
        "status": state.get("Status"),
        "restored": bool(state.get("Restored")) or labels.get(DOCKER_RESTORED_LABEL) == "true",
        "checkpointed": bool(state.get("Checkpointed")),
        # Bind mounts are host paths: the checkpoint carries neither them nor their contents
        # (named volumes go into the archive).
        "bind_mounts": sorted(mount["Source"] for mount in inspect.get("Mounts") or []
                              if mount.get("Type") == "bind" and mount.get("Source")),
    }


def missing_paths(paths, exists=os.path.exists):
    return [path for path in paths if not exists(path)]


def pre_dump_support(rc, output):
    """{supported, reason} from `criu check --feature mem_dirty_track` (rc and its output)."""
    if rc == 0:
        return {"supported": True, "reason": "the kernel tracks dirty memory (criu check --feature mem_dirty_track)"}
    detail = " ".join(output.split())[-300:] if output else "no output"
    return {"supported": False,
            "reason": "the kernel does not track dirty memory, so no pre-dump: the whole memory is dumped while "
                      "the container is stopped (criu check --feature mem_dirty_track: %s)" % detail}


def make_private_dir(path):
    """A directory only root can enter (created or tightened)."""
    if not os.path.isdir(path):
        os.makedirs(path, PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)


def archive_path(directory, name, kind):
    """Where a migration keeps the checkpoint (kind=checkpoint) or image (kind=image) archive of NAME."""
    return os.path.join(directory, "%s.%s.tar" % (name, kind))


def remove_file(path):
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def downtime_ms(last_answer_at, first_answer_at):
    """Milliseconds from the source's last answer to the target's first (epoch seconds of both hosts)."""
    if last_answer_at is None or first_answer_at is None:
        return None
    return int(round((first_answer_at - last_answer_at) * 1000))


def criu_failure(phase, podman_output):
    """(CRIU's last error lines, criu_errors.classify's cause) from the log a failed podman command names."""
    match = CRIU_LOGFILE.search(podman_output or "")
    try:
        with open(match.group(1)) as handle:
            lines = [line.strip() for line in handle if "Error" in line]
    except (AttributeError, IOError, OSError):
        return "", None
    text = "\n".join(lines[-3:])
    return text, criu_errors.classify(phase, text)


def docker_create_arguments(name, inspect, ports=None):
    """`docker create` of a container like the one INSPECT describes (from another host): same image by ID,
    command, environment, ports, network, mounts, user and working directory, never pulled, marked as restored
    by a migration. PORTS (`--publish` syntax) replace its published ports."""
    config = inspect.get("Config") or {}
    host = inspect.get("HostConfig") or {}
    args = ["create", "--name", name, "--pull", "never", "--label", DOCKER_RESTORED_LABEL + "=true"]
    network = host.get("NetworkMode") or "default"
    if network not in ("default", "bridge"):
        args += ["--network", network]
    for port in ports or published_ports(host.get("PortBindings") or {}):
        args += ["--publish", port]
    for variable in config.get("Env") or []:
        args += ["--env", variable]
    for key, value in sorted((config.get("Labels") or {}).items()):
        if key != DOCKER_RESTORED_LABEL:
            args += ["--label", "%s=%s" % (key, value)]
    for bind in host.get("Binds") or []:
        args += ["--volume", bind]
    if config.get("WorkingDir"):
        args += ["--workdir", config["WorkingDir"]]
    if config.get("User"):
        args += ["--user", config["User"]]
    if config.get("Tty"):
        args.append("--tty")
    if config.get("OpenStdin"):
        args.append("--interactive")
    entrypoint = config.get("Entrypoint") or []
    if entrypoint:
        # --entrypoint takes one word: the rest goes before the command.
        args += ["--entrypoint", entrypoint[0]]
    return args + [inspect["Image"]] + list(entrypoint[1:]) + list(config.get("Cmd") or [])


def published_ports(port_bindings):
    """`--publish` arguments for Docker's HostConfig.PortBindings."""
    ports = []
    for container_port, bindings in sorted(port_bindings.items()):
        for binding in bindings or []:
            host_ip = binding.get("HostIp") or ""
            ports.append("%s%s:%s" % (host_ip + ":" if host_ip else "", binding.get("HostPort") or "", container_port))
    return ports


def pack_docker_checkpoint(path, checkpoint_dir, inspect, compress="none"):
    """One 0600 tar at PATH (written beside it, then renamed) with the checkpoint directory and the container's
    inspect, which the target needs to create the container again."""
    partial = path + ".part"
    remove_file(partial)
    handle = os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "wb")
    with handle:
        with tarfile.open(fileobj=handle, mode="w:gz" if compress == "gzip" else "w") as archive:
            archive.add(checkpoint_dir, arcname=DOCKER_CHECKPOINT_MEMBER)
            config = json.dumps(inspect).encode("utf-8")
            info = tarfile.TarInfo(DOCKER_CONFIG_MEMBER)
            info.size, info.mode = len(config), PRIVATE_FILE_MODE
            archive.addfile(info, io.BytesIO(config))
    os.rename(partial, path)


def docker_archive_config(path):
    """The source container's inspect from a packed Docker checkpoint; ValueError when it is not one."""
    with tarfile.open(path, "r:*") as archive:
        try:
            member = archive.getmember(DOCKER_CONFIG_MEMBER)
        except KeyError:
            raise ValueError("%s is not a Docker checkpoint archive of a migration (no %s)"
                             % (path, DOCKER_CONFIG_MEMBER))
        return json.loads(archive.extractfile(member).read().decode("utf-8"))


def unpack_docker_checkpoint(path, destination):
    """The checkpoint directory of a packed Docker checkpoint into DESTINATION (0700, files 0600). Only plain
    files and directories under checkpoint/ are taken: ValueError for anything else (links, absolute or
    parent paths)."""
    prefix = DOCKER_CHECKPOINT_MEMBER + "/"
    with tarfile.open(path, "r:*") as archive:
        members = [member for member in archive.getmembers() if member.name.startswith(prefix)]
        for member in members:
            relative = member.name[len(prefix):]
            if not (member.isfile() or member.isdir()) or relative.startswith("/") or ".." in relative.split("/"):
                raise ValueError("%s holds %s, which a checkpoint does not: nothing was extracted"
                                 % (path, member.name))
        make_private_dir(destination)
        for member in members:
            target = os.path.join(destination, member.name[len(prefix):])
            if member.isdir():
                make_private_dir(target)
                continue
            make_private_dir(os.path.dirname(target))
            source = archive.extractfile(member)
            with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE), "wb") as out:
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)


def write_private_lines(path, lines):
    """LINES into PATH atomically (a 0600 file beside it, then renamed), its directory made 0700 if missing."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, PRIVATE_DIR_MODE)
    partial = path + ".instanton-part"
    remove_file(partial)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.rename(partial, path)
