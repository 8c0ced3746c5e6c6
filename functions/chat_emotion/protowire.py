"""Protobuf's wire format, read with the standard library: no `protobuf` package.

A message is a run of fields, each a varint key (field number << 3 | wire type) followed by a
varint (wire type 0), a fixed 64- or 32-bit value (1, 5), or a length-prefixed byte string (2:
strings, bytes, nested messages, packed repeated numbers). Two readers here need only that:
chat_emotion.onnx_reader (a model.onnx where neither onnx nor onnxruntime installs) and
chat_emotion.cloudevent (the `model` hint of a Firestore event, before the SDK would have loaded).
"""

from __future__ import annotations

from typing import Any


class WireFormatError(ValueError):
    """The bytes are not a protobuf message; the message says what was found."""


def varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(the varint at `pos`, the position after it)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireFormatError("truncated varint: the data ends inside a field")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise WireFormatError("varint longer than 10 bytes: not a protobuf message")


def fields(data: bytes | memoryview) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: ints for varints (wire 0), slices of `data`
    for length-delimited fields (2), raw little-endian bytes for fixed32/64 (5/1)."""
    out = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 2:
            length, pos = varint(data, pos)
            if pos + length > end:
                raise WireFormatError(f"field {number} claims {length} bytes past the end of its message")
            value, pos = data[pos:pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise WireFormatError(f"field {number} claims {size} bytes past the end of its message")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise WireFormatError(f"wire type {wire} (field {number}) is not one protobuf 3 writes")
        out.append((number, wire, value))
    return out
