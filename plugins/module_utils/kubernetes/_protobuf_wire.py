# -*- coding: utf-8 -*-
# Copyright: instanton.platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Internal to the instanton.platform collection (private API): it may change in any release.
"""Just enough of the protobuf wire format to read CRIU images without a protobuf library.

A message decodes to {field_number: [values]}: varints as int, length-delimited fields as
bytes (decode nested messages again with decode_message), fixed32/fixed64 as int.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(data, pos):
    """Return (value, next position) of the varint at data[pos]."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 64 bits")


def decode_message(data):
    """Decode one message into {field_number: [values]}."""
    fields = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            size, pos = read_varint(data, pos)
            value = data[pos:pos + size]
            if len(value) != size:
                raise WireError("truncated field %d" % number)
            pos += size
        elif wire_type == FIXED64:
            value = struct.unpack("<Q", data[pos:pos + 8])[0]
            pos += 8
        elif wire_type == FIXED32:
            value = struct.unpack("<I", data[pos:pos + 4])[0]
            pos += 4
        else:
            raise WireError("unsupported wire type %d in field %d" % (wire_type, number))
        fields.setdefault(number, []).append(value)
    return fields


def first(fields, number, default=None):
    values = fields.get(number)
    return values[0] if values else default


def text(fields, number, default=None):
    value = first(fields, number)
    return default if value is None else value.decode("utf-8", "replace")


def repeated_uint(fields, number):
    """A repeated integer field, whether the writer packed it or not."""
    result = []
    for value in fields.get(number, []):
        if isinstance(value, bytes):
            pos = 0
            while pos < len(value):
                item, pos = read_varint(value, pos)
                result.append(item)
        else:
            result.append(value)
    return result


def as_signed32(value):
    """int32 fields travel as 64-bit varints when negative."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
