# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Read a container checkpoint archive (podman export, CRI-O/kubelet) in one streaming pass.

Only metadata members and the few memory pages that hold each process's command line are
read; pages-*.img and rootfs-diff.tar are otherwise only measured. Field names follow
`checkpointctl inspect --format=json` where checkpointctl has the same information.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import mmap
import os
import re
import socket
import struct
import subprocess
import tarfile
import zlib

from ansible_collections.instanton.platform.plugins.module_utils.kubernetes._protobuf_wire import (
    WireError, decode_message, first, repeated_uint, text)

MAGIC_COMMON = 0x54564319
MAGIC_SERVICE = 0x55105940
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Metadata members bigger than this are measured, never read (they are not metadata).
MAX_METADATA_BYTES = 16 * 1024 * 1024
# What one archive may make this reader hold: all metadata read, members listed, argv bytes per process.
MAX_METADATA_TOTAL = 64 * 1024 * 1024
MAX_MEMBERS = 100000
MAX_ARGV_BYTES = 1024 * 1024
# The engines' JSON members and the JSON type each must hold.
JSON_MEMBERS = {"config.dump": dict, "spec.dump": dict, "deleted.files": list, "network.status": (dict, list)}
# Fields of config.dump this reader uses: each a string when present.
CONFIG_TEXT_FIELDS = ("name", "id", "rootfsImageName", "runtime", "createdTime")
PAGE_SIZE = mmap.PAGESIZE
# pagemap_entry.flags: PE_PARENT = 1, PE_LAZY = 2, PE_PRESENT = 4 (criu/include/pagemap.h)
PE_PARENT, PE_PRESENT = 1, 4
FD_TYPES = {1: "REG", 2: "PIPE", 3: "FIFO", 4: "INETSK", 5: "UNIXSK", 6: "EVENTFD",
            7: "EVENTPOLL", 8: "INOTIFY", 9: "SIGNALFD", 10: "PACKETSK", 11: "TTY",
            12: "FANOTIFY", 13: "NETLINKSK", 14: "NS", 15: "TUNF", 16: "EXT", 17: "TIMERFD",
            18: "MEMFD"}
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}
PROTOCOLS = {6: "TCP", 17: "UDP", 132: "SCTP", 136: "UDPLITE"}
# StatsEntry's dump (field 1) and restore (field 2) messages, fields in order; times in microseconds.
DUMP_STATS = ("freezing_time", "frozen_time", "memdump_time", "memwrite_time", "pages_scanned",
              "pages_skipped_parent", "pages_written", "irmap_resolve", "pages_lazy")
RESTORE_STATS = ("pages_compared", "pages_skipped_cow", "forking_time", "restore_time", "pages_restored")
IMG_NAME = re.compile(r"^checkpoint/(?P<kind>[a-z-]+?)-?(?P<num>\d*)\.img$")


class ArchiveError(Exception):
    """The archive cannot be read; the message says why."""


def criu_entries(data):
    """Decode every entry of a CRIU image: magic(s), then (u32 size, message) records."""
    if len(data) < 4:
        return []
    pos = 8 if struct.unpack("<I", data[:4])[0] in (MAGIC_COMMON, MAGIC_SERVICE) else 4
    entries = []
    while pos + 4 <= len(data):
        size = struct.unpack("<I", data[pos:pos + 4])[0]
        pos += 4
        entries.append(decode_message(data[pos:pos + size]))
        pos += size
    return entries


def detect_compression(path):
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head == ZSTD_MAGIC:
        return "zstd"
    return "none"


class _Stream(object):
    """The archive as a tar stream; zstd goes through the zstd CLI over a pipe."""

    def __init__(self, path, compression, zstd_executable):
        self.process = None
        if compression == "zstd":
            if not zstd_executable:
                raise ArchiveError("%s is zstd-compressed and no zstd executable was found; "
                                   "install zstd (Debian/RHEL package 'zstd')" % path)
            self.process = subprocess.Popen([zstd_executable, "-dcq", path],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.tar = tarfile.open(fileobj=self.process.stdout, mode="r|")
        else:
            self.tar = tarfile.open(path, mode="r|*")

    def close(self):
        self.tar.close()
        if self.process:
            self.process.stdout.close()
            err = self.process.stderr.read().decode("utf-8", "replace")
            if self.process.wait() != 0:
                raise ArchiveError("zstd could not decompress the archive: %s" % err.strip())


class _Collector(object):
    """Everything one pass over the members yields: sizes, metadata bytes, argv bytes."""

    def __init__(self, want_cmdline):
        self.want_cmdline = want_cmdline
        self.sizes = {}
        self.files = {}
        self.cmdline_bytes = {}
        self.metadata_bytes = 0

    def add(self, tar, member):
        name = member.name[2:] if member.name.startswith("./") else member.name
        if len(self.sizes) >= MAX_MEMBERS:
            raise ArchiveError("has more than %d members: not a container checkpoint archive" % MAX_MEMBERS)
        self.sizes[name] = member.size
        if name in JSON_MEMBERS and member.size > MAX_METADATA_BYTES:
            raise ArchiveError("%s is %d bytes, more than the %d a metadata member may have"
                               % (name, member.size, MAX_METADATA_BYTES))
        pages = re.match(r"^checkpoint/pages-(\d+)\.img$", name)
        if pages:
            self._read_argv_pages(tar.extractfile(member), int(pages.group(1)))
        elif self._is_metadata(name, member.size):
            self.metadata_bytes += member.size
            if self.metadata_bytes > MAX_METADATA_TOTAL:
                raise ArchiveError("holds more than %d bytes of metadata members: not a container checkpoint "
                                   "archive" % MAX_METADATA_TOTAL)
            self.files[name] = tar.extractfile(member).read()

    @staticmethod
    def _is_metadata(name, size):
        if size > MAX_METADATA_BYTES or name == "rootfs-diff.tar":
            return False
        return name.endswith(".img") or "/" not in name or name.endswith("dump.log")

    def _read_argv_pages(self, handle, pages_id):
        """Copy the argv bytes of every process whose pages live in pages-<pages_id>.img.

        Works in one pass because podman and CRI-O write the checkpoint directory in name
        order, so mm-*.img and pagemap-*.img come before pages-*.img."""
        if not self.want_cmdline:
            return
        wanted = sorted((start, end, pid) for pid, (start, end) in self._argv_ranges(pages_id))
        offset = 0
        for start, end, pid in wanted:
            if start < offset or not 0 < end - start <= MAX_ARGV_BYTES:
                continue
            skip_bytes(handle, start - offset)
            self.cmdline_bytes[pid] = handle.read(end - start)
            offset = end

    def _argv_ranges(self, pages_id):
        for name in list(self.files):
            found = re.match(r"^checkpoint/pagemap-(\d+)\.img$", name)
            if not found:
                continue
            pid = int(found.group(1))
            entries = criu_entries(self.files[name])
            mm_name = "checkpoint/mm-%d.img" % pid
            if not entries or first(entries[0], 1) != pages_id or mm_name not in self.files:
                continue
            mm = criu_entries(self.files[mm_name])[0]
            span = file_span(entries[1:], first(mm, 8), first(mm, 9))
            if span:
                yield pid, span


def skip_bytes(handle, count):
    """Read past count bytes of a stream that cannot seek."""
    while count > 0:
        chunk = handle.read(min(count, 1 << 20))
        if not chunk:
            return
        count -= len(chunk)


def page_count(entry):
    """CRIU 4 writes the count as uint64 field 5 and leaves the old uint32 field 2 zero."""
    return first(entry, 5) or first(entry, 2, 0)


def present_in_pages_file(entry):
    flags = first(entry, 4)
    if flags is None:
        return not first(entry, 3, 0)
    return bool(flags & PE_PRESENT) and not flags & PE_PARENT


def file_span(pagemap_entries, start, end):
    """Byte range of pages-N.img that holds virtual addresses [start, end), if contiguous."""
    page_index = 0
    for entry in pagemap_entries:
        vaddr, nr_pages = first(entry, 1), page_count(entry)
        if present_in_pages_file(entry):
            if vaddr <= start and end <= vaddr + nr_pages * PAGE_SIZE:
                base = page_index * PAGE_SIZE - vaddr
                return base + start, base + end
            page_index += nr_pages
    return None


def member_problem(member):
    """Why a member must not be in a checkpoint archive (it could land outside the directory the archive
    is unpacked into, or is no kind of file an engine writes), or None."""
    parts = member.name.replace("\\", "/").split("/")
    if member.name.startswith("/") or ".." in parts:
        return "member %r points outside the archive (absolute path or '..')" % member.name
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        named = [part for part in parts if part not in ("", ".")]
        if not named:
            return "member %r is a link in place of the archive's top directory" % member.name
        depth = 0 if member.islnk() else len(named) - 1
        for part in target.split("/"):
            depth += -1 if part == ".." else 0 if part in ("", ".") else 1
            if depth < 0:
                break
        if target.startswith("/") or depth < 0:
            return "member %r is a link to %r, outside the archive" % (member.name, member.linkname)
    elif not (member.isfile() or member.isdir()):
        return "member %r is a device, FIFO or other special file" % member.name
    return None


def read_members(path, compression, collector, zstd_executable):
    """One pass over the archive's members into the collector; ArchiveError naming what is wrong."""
    try:
        stream = _Stream(path, compression, zstd_executable)
        try:
            for member in stream.tar:
                problem = member_problem(member)
                if problem:
                    raise ArchiveError(problem)
                if member.isfile():
                    collector.add(stream.tar, member)
            check_end_of_archive(stream.tar)
        finally:
            stream.close()
    except ArchiveError as exc:
        raise ArchiveError(str(exc) if str(exc).startswith(path) else "%s: %s" % (path, exc))
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        if "unexpected end" in str(exc) or isinstance(exc, EOFError):
            raise ArchiveError("%s is truncated (%s compression): %s" % (path, compression, exc))
        raise ArchiveError("%s is not a readable checkpoint archive (%s compression): %s"
                           % (path, compression, exc))
    except (WireError, struct.error, TypeError, ValueError, KeyError, IndexError, AttributeError,
            OverflowError) as exc:
        raise ArchiveError("%s has a malformed CRIU image (memory map or page map): %s" % (path, exc))


def check_end_of_archive(tar):
    """tarfile ends quietly at a missing, cut or damaged header; a whole tar ends with two zero blocks, and
    tarfile has read the first of them."""
    if tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise ArchiveError("is truncated, or a member header after %s is damaged (no end-of-archive blocks)"
                           % (repr(tar.members[-1].name) if tar.members else "the start"))


def check_json_members(path, collector):
    """Each JSON member parses and holds the type engines write; ArchiveError naming the member."""
    for name, kind in sorted(JSON_MEMBERS.items()):
        data = collector.files.get(name)
        if not data:
            continue
        try:
            document = json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise ArchiveError("%s: %s is not valid JSON: %s" % (path, name, exc))
        if not isinstance(document, kind):
            raise ArchiveError("%s: %s holds a JSON %s, not the %s engines write"
                               % (path, name, type(document).__name__, json_kind(kind)))
        problem = config_problem(document) if name == "config.dump" else (
            spec_problem(document) if name == "spec.dump" else None)
        if problem:
            raise ArchiveError("%s: %s %s" % (path, name, problem))


def json_kind(kind):
    names = {dict: "object", list: "array"}
    return " or ".join(names[one] for one in (kind if isinstance(kind, tuple) else (kind,)))


def config_problem(config):
    for field in CONFIG_TEXT_FIELDS:
        if config.get(field) is not None and not isinstance(config[field], str):
            return "field %s holds a %s, not a string" % (field, type(config[field]).__name__)
    return None


def spec_problem(spec):
    annotations = spec.get("annotations")
    if annotations is None:
        return None
    if not isinstance(annotations, dict) or not all(isinstance(value, str) for value in annotations.values()):
        return "annotations are not an object of strings"
    metadata = annotations.get("io.kubernetes.cri-o.Metadata")
    try:
        if metadata is not None and not isinstance(json.loads(metadata), dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        return "annotation io.kubernetes.cri-o.Metadata is not a JSON object: %s" % exc
    return None


def read_archive(path, zstd_executable=None, want_cmdline=True):
    if not os.path.isfile(path):
        raise ArchiveError("%s does not exist or is not a file" % path)
    try:
        compression = detect_compression(path)
    except (IOError, OSError) as exc:
        raise ArchiveError("%s cannot be read: %s" % (path, exc))
    collector = _Collector(want_cmdline)
    read_members(path, compression, collector, zstd_executable)
    if "spec.dump" not in collector.files and "config.dump" not in collector.files:
        raise ArchiveError("%s has neither config.dump nor spec.dump: not a container "
                           "checkpoint archive" % path)
    check_json_members(path, collector)
    try:
        return describe(collector, compression)
    except (WireError, ValueError, KeyError, IndexError, struct.error) as exc:
        raise ArchiveError("%s has a malformed checkpoint image: %s" % (path, exc))
    except (TypeError, AttributeError, OverflowError) as exc:
        raise ArchiveError("%s has a CRIU image with a field of the wrong type: %s" % (path, exc))


def _json_member(collector, name, default):
    data = collector.files.get(name)
    return json.loads(data.decode("utf-8")) if data else default


def rfc3339_seconds(value):
    """Drop fractional seconds, the way checkpointctl prints times."""
    return re.sub(r"\.\d+", "", value) if value else value


def container_identity(config, spec):
    annotations = spec.get("annotations") or {}
    manager = annotations.get("io.container.manager")
    identity = {"image": config.get("rootfsImageName"), "id": config.get("id"),
                "runtime": config.get("runtime"), "pod": None, "namespace": None,
                "created": rfc3339_seconds(config.get("createdTime"))}
    if manager == "libpod":
        identity.update(engine="Podman", container_name=config.get("name"))
    elif manager == "cri-o":
        metadata = json.loads(annotations.get("io.kubernetes.cri-o.Metadata") or "{}")
        identity.update(engine="CRI-O", container_name=metadata.get("name"),
                        created=annotations.get("io.kubernetes.cri-o.Created"),
                        namespace=annotations.get("io.kubernetes.pod.namespace"),
                        pod=annotations.get("io.kubernetes.pod.name"))
    else:
        identity.update(engine="containerd",
                        container_name=annotations.get("io.kubernetes.cri.container-name"),
                        namespace=annotations.get("io.kubernetes.cri.sandbox-namespace"),
                        pod=annotations.get("io.kubernetes.cri.sandbox-name"))
    return identity


# Where each Kubernetes field of a CRI-O archive comes from: the labels the kubelet gives
# every container, which CRI-O copies into the container's annotations.
KUBELET_LABELS = {"pod": "io.kubernetes.pod.name", "namespace": "io.kubernetes.pod.namespace",
                  "container_name": "io.kubernetes.container.name"}


def absent_fields(identity, spec):
    """{field: why} for the Kubernetes fields a CRI-O archive does not tell."""
    if identity.get("engine") != "CRI-O":
        return {}
    annotations = spec.get("annotations") or {}
    crio_name = annotations.get("io.kubernetes.cri-o.Name")
    absent = {}
    for field, label in sorted(KUBELET_LABELS.items()):
        if identity.get(field) or annotations.get(label):
            continue
        why = ("the container has no %s label: the kubelet sets it on every container, so the "
               "container was made by another CRI client (crictl, a test)" % label)
        if crio_name:
            why += "; CRI-O's own name for it, %s, is k8s_<container>_<pod>_<namespace>_<uid>_<attempt> " \
                   "from the pod's metadata" % crio_name
        absent[field] = why
    return absent


def criu_version(collector, spec):
    annotated = (spec.get("annotations") or {}).get("org.criu.checkpoint.criu.version")
    if annotated:
        return annotated
    for name, data in collector.files.items():
        if name.endswith("dump.log"):
            found = re.search(rb"Version: (\S+)", data)
            if found:
                return found.group(1).decode("ascii", "replace")
    return None


def sizes(collector):
    checkpoint = pages = 0
    for name, size in collector.sizes.items():
        if name.startswith("checkpoint/"):
            checkpoint += size
            if name.startswith("checkpoint/pages-"):
                pages += size
    return {"total_size": checkpoint, "memory_pages_size": pages,
            "root_fs_diff_size": collector.sizes.get("rootfs-diff.tar", 0)}


def stats_entry(data, field, names):
    """One part of a CRIU stats image (stats-dump: field 1, stats-restore: field 2) as a dict, or None."""
    entries = criu_entries(data) if data else []
    part = first(entries[0], field) if entries else None
    if part is None:
        return None
    fields = decode_message(part)
    return dict((name, first(fields, number + 1)) for number, name in enumerate(names)
                if first(fields, number + 1) is not None)


def statistics(collector):
    data = collector.files.get("stats-dump") or collector.files.get("checkpoint/stats-dump")
    return stats_entry(data, 1, DUMP_STATS)


def restore_statistics(data):
    """CRIU's own figures of a restore, from the stats-restore.img it writes into the images directory."""
    return stats_entry(data, 2, RESTORE_STATS)


def image_entries(collector, name):
    data = collector.files.get("checkpoint/" + name)
    return criu_entries(data) if data else []


def processes(collector):
    result = []
    for entry in image_entries(collector, "pstree.img"):
        pid = first(entry, 1)
        core = image_entries(collector, "core-%d.img" % pid)
        task = decode_message(first(core[0], 3)) if core and first(core[0], 3) else {}
        argv = collector.cmdline_bytes.get(pid)
        result.append({
            "pid": pid, "ppid": first(entry, 2), "pgid": first(entry, 3), "sid": first(entry, 4),
            "threads": repeated_uint(entry, 5), "command": text(task, 6),
            "cmdline": " ".join(part.decode("utf-8", "replace")
                                for part in argv.split(b"\0") if part) if argv else None,
            "memory_pages": memory_pages(collector, pid)})
    return result


def memory_pages(collector, pid):
    return sum(page_count(entry) for entry in image_entries(collector, "pagemap-%d.img" % pid)[1:]
               if present_in_pages_file(entry))


def process_tree(flat):
    nodes = dict((proc["pid"], {"pid": proc["pid"], "command": proc["command"],
                                "cmdline": proc["cmdline"]}) for proc in flat)
    root = None
    for proc in flat:
        parent = nodes.get(proc["ppid"])
        if parent is None:
            root = root or nodes[proc["pid"]]
        else:
            parent.setdefault("children", []).append(nodes[proc["pid"]])
    return root


def ipv_address(family, words):
    packed = b"".join(struct.pack("<I", word) for word in words)
    if family == socket.AF_INET6 and len(packed) == 16:
        return socket.inet_ntop(socket.AF_INET6, packed)
    return socket.inet_ntop(socket.AF_INET, packed[:4].ljust(4, b"\0"))


def describe_inet(isk):
    family = first(isk, 3)
    proto = first(isk, 5)
    opts = decode_message(first(isk, 14, b""))
    return {"protocol": PROTOCOLS.get(proto, str(proto)) + ("6" if family == socket.AF_INET6 else ""),
            "state": TCP_STATES.get(first(isk, 6), str(first(isk, 6))),
            "src": ipv_address(family, repeated_uint(isk, 11)), "src_port": first(isk, 7),
            "dst": ipv_address(family, repeated_uint(isk, 12)), "dst_port": first(isk, 8),
            "send_buf": first(opts, 1), "recv_buf": first(opts, 2)}


def file_table(collector):
    """files.img as {file id: (type name, path shown to people, socket or None)}."""
    table = {}
    for entry in image_entries(collector, "files.img"):
        kind = FD_TYPES.get(first(entry, 1), str(first(entry, 1)))
        socket_info = None
        if first(entry, 3):
            path = text(decode_message(first(entry, 3)), 6)
        elif first(entry, 18):
            path = "pipe[%d]" % first(decode_message(first(entry, 18)), 2)
        elif first(entry, 4):
            socket_info = describe_inet(decode_message(first(entry, 4)))
            path = "%s %s:%s" % (socket_info["protocol"], socket_info["src"], socket_info["src_port"])
        elif first(entry, 16):
            usk = decode_message(first(entry, 16))
            name = first(usk, 11, b"").replace(b"\0", b"@").decode("utf-8", "replace")
            path = name or "unix[%d]" % first(usk, 2)
        else:
            path = kind
        table[first(entry, 2)] = (kind, path, socket_info)
    return table


def open_files(collector, flat):
    table = file_table(collector)
    descriptors, sockets = [], []
    for proc in flat:
        pid = proc["pid"]
        ids = image_entries(collector, "ids-%d.img" % pid)
        if not ids:
            continue
        files_id = first(ids[0], 2)
        entries, proc_sockets = [], []
        for fdinfo in image_entries(collector, "fdinfo-%d.img" % files_id):
            kind, path, socket_info = table.get(first(fdinfo, 1), ("UND", "?", None))
            entries.append({"type": kind, "fd": first(fdinfo, 4), "path": path})
            if socket_info:
                proc_sockets.append(socket_info)
        fs = image_entries(collector, "fs-%d.img" % pid)
        for label, number in (("cwd", 1), ("root", 2)):
            if fs and first(fs[0], number) in table:
                entries.append({"type": "", "fd": label, "path": table[first(fs[0], number)][1]})
        descriptors.append({"pid": pid, "open_files": entries})
        if proc_sockets:
            sockets.append({"pid": pid, "open_sockets": proc_sockets})
    return descriptors, sockets


def describe(collector, compression):
    config = _json_member(collector, "config.dump", {})
    spec = _json_member(collector, "spec.dump", {})
    inventory = image_entries(collector, "inventory.img")
    flat = processes(collector)
    descriptors, sockets = open_files(collector, flat)
    info = container_identity(config, spec)
    info["absent"] = absent_fields(info, spec)
    info.update({
        "compression": compression,
        "criu_version": criu_version(collector, spec),
        "criu_image_version": first(inventory[0], 1) if inventory else None,
        "checkpoint_size": sizes(collector),
        "statistics": statistics(collector),
        "processes": flat,
        "process_tree": process_tree(flat),
        "file_descriptors": descriptors,
        "sockets": sockets,
        "deleted_files": _json_member(collector, "deleted.files", []),
        "network": _json_member(collector, "network.status", None),
    })
    return info
