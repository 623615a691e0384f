"""Archive parsing that cannot crash: checkpoint_archive's reader over damaged and hostile archives.

A property-based fuzz test (Hypothesis) over a small podman-layout archive with real CRIU image
bytes: truncated, bit-flipped, with random JSON members and hostile members added. Every input
gives a result or an ArchiveError, never another exception; an accepted archive has no member that
could land outside the directory it is unpacked into. Each kind of damage has its own message.
"""
import gzip
import io
import json
import os
import struct
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.instanton.platform.plugins.module_utils.kubernetes import _checkpoint_archive as ca
from criu_images import PSTREE_IMG, STATS_DUMP

# Bounded: about 1,000 archives in all, a few seconds on the development machine.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PAGEMAP_MAGIC = struct.pack("<II", ca.MAGIC_COMMON, 0x56084025)
MM_MAGIC = struct.pack("<II", ca.MAGIC_COMMON, 0x57492820)
ARGV = b"python3\0-m\0app\0"
ARGV_ADDRESS = 0x400000


def varint(value):
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def message(fields):
    """A protobuf message of varint fields {number: value}."""
    return b"".join(varint(number << 3) + varint(value) for number, value in sorted(fields.items()))


def criu_image(magic, entries):
    return magic + b"".join(struct.pack("<I", len(entry)) + entry for entry in entries)


def base_members():
    """A podman-layout archive whose process 1 has its argv in pages-1.img (read through mm and pagemap)."""
    mm = criu_image(MM_MAGIC, [message({8: ARGV_ADDRESS, 9: ARGV_ADDRESS + len(ARGV)})])
    pagemap = criu_image(PAGEMAP_MAGIC, [message({1: 1}), message({1: ARGV_ADDRESS, 4: 4, 5: 1})])
    return {
        "config.dump": json.dumps({"name": "web", "rootfsImageName": "localhost/app:1", "id": "abc",
                                   "runtime": "crun", "createdTime": "2026-01-02T03:04:05.6Z"}).encode(),
        "spec.dump": b'{"annotations": {"io.container.manager": "libpod"}}',
        "checkpoint/mm-1.img": mm, "checkpoint/pagemap-1.img": pagemap,
        "checkpoint/pages-1.img": ARGV.ljust(ca.PAGE_SIZE, b"\0"),
        "checkpoint/pstree.img": PSTREE_IMG, "stats-dump": STATS_DUMP,
        "deleted.files": b'["/etc/motd"]', "network.status": b"[]",
    }


def tar_bytes(members, extra=()):
    """A tar of MEMBERS {name: bytes} plus EXTRA TarInfo members (links, devices, odd names)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buffer.getvalue()


def read(tmp_path, data, name="archive.tar"):
    path = tmp_path / name
    path.write_bytes(data)
    return ca.read_archive(str(path), want_cmdline=True)


def outcome(tmp_path, data):
    """The reader's result, or its ArchiveError; any other exception fails the test."""
    try:
        return read(tmp_path, data)
    except ca.ArchiveError as error:
        assert str(error) and "Traceback" not in str(error)
        return error


def stays_inside(data, target="/unpack/here"):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar.getmembers():
            where = os.path.normpath(os.path.join(target, member.name))
            if not (where + "/").startswith(target + "/"):
                return False
            if member.issym():
                linked = os.path.normpath(os.path.join(os.path.dirname(where), member.linkname))
                if not (linked + "/").startswith(target + "/"):
                    return False
    return True


def test_the_base_archive_reads_with_its_command_line(tmp_path):
    info = read(tmp_path, tar_bytes(base_members()))
    assert info["container_name"] == "web"
    assert [proc["cmdline"] for proc in info["processes"] if proc["pid"] == 1] == ["python3 -m app"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(tar_bytes(base_members())) - 1))
def test_fuzz_truncated_archives(tmp_path, cut):
    outcome(tmp_path, tar_bytes(base_members())[:cut])


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=8),
       compress=st.booleans())
def test_fuzz_flipped_bytes(tmp_path, flips, compress):
    data = bytearray(tar_bytes(base_members()))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    data = bytes(data)
    outcome(tmp_path, gzip.compress(data) if compress else data)


@FUZZ
@given(member=st.sampled_from(sorted(ca.JSON_MEMBERS) + ["checkpoint/mm-1.img", "checkpoint/pagemap-1.img",
                                                         "checkpoint/pstree.img", "stats-dump"]),
       value=JSON_VALUES | st.binary(max_size=64))
def test_fuzz_member_contents(tmp_path, member, value):
    members = base_members()
    members[member] = value if isinstance(value, bytes) else json.dumps(value).encode()
    outcome(tmp_path, tar_bytes(members))


@FUZZ
@given(name=st.text(alphabet="./a\\", min_size=1, max_size=12),
       kind=st.sampled_from([tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                             tarfile.FIFOTYPE, tarfile.DIRTYPE]),
       link=st.text(alphabet="./a", max_size=12))
def test_fuzz_hostile_members_never_land_outside(tmp_path, name, kind, link):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    data = tar_bytes(base_members(), [info])
    if not isinstance(outcome(tmp_path, data), ca.ArchiveError):
        assert stays_inside(data), "accepted an archive with a member outside: %r -> %r" % (name, link)


def link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def special(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


@pytest.mark.parametrize("damage, expected", [
    (lambda: tar_bytes(base_members())[:1500], "is truncated"),
    (lambda: tar_bytes(dict(base_members(), **{"config.dump": b"{not json"})), "config.dump is not valid JSON"),
    (lambda: tar_bytes(dict(base_members(), **{"spec.dump": b"[1, 2]"})), "spec.dump holds a JSON list"),
    (lambda: tar_bytes(dict(base_members(), **{"config.dump": b'{"name": 7}'})), "field name holds a int"),
    (lambda: tar_bytes(dict(base_members(), **{"spec.dump": b'{"annotations": [1]}'})),
     "annotations are not an object of strings"),
    (lambda: tar_bytes(dict(base_members(), **{"../../etc/cron.d/x": b"boom"})), "points outside the archive"),
    (lambda: tar_bytes(base_members(), [link("checkpoint/evil", "../../etc/shadow")]), "outside the archive"),
    (lambda: tar_bytes(base_members(), [link("/abs", "x")]), "points outside the archive"),
    (lambda: tar_bytes(base_members(), [special("dev/sda", tarfile.BLKTYPE)]), "special file"),
])
def test_each_kind_of_damage_has_its_own_message(tmp_path, damage, expected):
    with pytest.raises(ca.ArchiveError, match=expected):
        read(tmp_path, damage())


def test_oversize_metadata_member_is_named(tmp_path):
    data = tar_bytes(dict(base_members(), **{"config.dump": b" " * (ca.MAX_METADATA_BYTES + 1)}))
    with pytest.raises(ca.ArchiveError, match=r"config.dump is \d+ bytes, more than"):
        read(tmp_path, data)


def test_argv_reading_is_bounded(tmp_path):
    members = base_members()
    huge = ARGV_ADDRESS + ca.MAX_ARGV_BYTES + ca.PAGE_SIZE
    members["checkpoint/mm-1.img"] = criu_image(MM_MAGIC, [message({8: ARGV_ADDRESS, 9: huge})])
    members["checkpoint/pagemap-1.img"] = criu_image(
        PAGEMAP_MAGIC, [message({1: 1}), message({1: ARGV_ADDRESS, 4: 4, 5: huge // ca.PAGE_SIZE})])
    info = read(tmp_path, tar_bytes(members))
    assert [proc["cmdline"] for proc in info["processes"] if proc["pid"] == 1] == [None]
