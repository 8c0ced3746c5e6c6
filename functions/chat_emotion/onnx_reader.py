"""Read an ONNX model with the standard library and numpy: no `onnx`, no `protobuf`.

An ONNX file is one protobuf message (`ModelProto`, onnx/onnx.proto). Protobuf's wire format is
small: each field is a varint key (field number << 3 | wire type) followed by a varint, a fixed
32/64-bit value, or a length-prefixed byte string (strings, bytes, nested messages and packed
repeated numbers). This module decodes exactly the fields a classifier graph needs, by their
numbers in onnx.proto, and skips the rest, which is what a protobuf parser does with unknown
fields. python-for-android has recipes for neither onnxruntime nor onnx, so this is how the numpy
engine (chat_emotion.numpy_runtime) reads the artifact's own model.onnx on Android and on 32-bit
Raspberry Pi OS: the bytes the manifest's sha256 covers, not a second export.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chat_emotion import protowire

# TensorProto.DataType -> numpy (onnx.proto); strings and complex types are not used by these graphs.
DTYPES: dict[int, Any] = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
    9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}


class OnnxFormatError(ValueError):
    """The bytes are not an ONNX model this reader understands; the message says what was found."""


def fields(data: memoryview) -> list[tuple[int, int, Any]]:
    """protowire.fields, its errors said as OnnxFormatError."""
    try:
        return protowire.fields(data)
    except protowire.WireFormatError as err:
        raise OnnxFormatError(str(err)) from err


@dataclass
class Node:
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass
class Graph:
    nodes: list[Node]
    initializers: dict[str, np.ndarray]
    inputs: list[str]
    """Graph inputs that are not initializers, in order."""
    outputs: list[str]


def _signed(value: int) -> int:
    """A varint read as int64 (negative numbers are written as 10-byte two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _packed_varints(raw: memoryview) -> list[int]:
    values, pos = [], 0
    while pos < len(raw):
        try:
            value, pos = protowire.varint(raw, pos)
        except protowire.WireFormatError as err:
            raise OnnxFormatError(str(err)) from err
        values.append(_signed(value))
    return values


def _repeated_ints(items: list[tuple[int, Any]]) -> list[int]:
    """A repeated int field, packed (wire 2) or not (wire 0): protobuf accepts both."""
    out: list[int] = []
    for wire, value in items:
        out.extend(_packed_varints(value) if wire == 2 else [_signed(value)])
    return out


def _repeated_floats(items: list[tuple[int, Any]]) -> list[float]:
    out: list[float] = []
    for wire, value in items:
        raw = bytes(value)
        out.extend(struct.unpack(f"<{len(raw) // 4}f", raw) if wire == 2 else struct.unpack("<f", raw))
    return out


def _group(message: memoryview) -> dict[int, list[tuple[int, Any]]]:
    grouped: dict[int, list[tuple[int, Any]]] = {}
    for number, wire, value in fields(message):
        grouped.setdefault(number, []).append((wire, value))
    return grouped


def _text(items: list[tuple[int, Any]] | None) -> str:
    return bytes(items[-1][1]).decode("utf-8") if items else ""


def tensor(message: memoryview) -> tuple[str, np.ndarray]:
    """TensorProto -> (name, array): dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7,
    name 8, raw_data 9, double_data 10, uint64_data 11; external data (field 13) is refused."""
    f = _group(message)
    name = _text(f.get(8))
    dims = _repeated_ints(f.get(1, []))
    code = f[2][-1][1] if 2 in f else 0
    if code not in DTYPES:
        raise OnnxFormatError(f"tensor {name!r} has data type {code}, which this reader does not handle")
    if 13 in f or (14 in f and f[14][-1][1] == 1):
        raise OnnxFormatError(f"tensor {name!r} keeps its data in an external file; export it inline")
    dtype = np.dtype(DTYPES[code])
    if 9 in f:
        array = np.frombuffer(bytes(f[9][-1][1]), dtype=dtype.newbyteorder("<")).astype(dtype)
    elif 4 in f:
        array = np.asarray(_repeated_floats(f[4]), dtype=dtype)
    elif 7 in f or 11 in f:
        array = np.asarray(_repeated_ints(f.get(7, []) + f.get(11, [])), dtype=dtype)
    elif 5 in f:  # int32_data also carries the small types (uint8, int8, bool, float16 bits)
        ints = _repeated_ints(f[5])
        array = (np.asarray(ints, dtype=np.uint16).view(np.float16) if dtype == np.float16
                 else np.asarray(ints).astype(dtype))
    elif 10 in f:
        raw = b"".join(bytes(v) for _, v in f[10])
        array = np.frombuffer(raw, dtype="<f8").astype(dtype)
    else:
        array = np.zeros(0, dtype=dtype)
    count = int(np.prod(dims)) if dims else 1
    if array.size != count:
        raise OnnxFormatError(f"tensor {name!r}: {array.size} values for shape {dims}")
    return name, array.reshape(dims)


def _attribute(message: memoryview) -> tuple[str, Any]:
    """AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, strings 9, type 20."""
    f = _group(message)
    name = _text(f.get(1))
    kind = f[20][-1][1] if 20 in f else 0
    if kind == 1 or (not kind and 2 in f):
        return name, struct.unpack("<f", bytes(f[2][-1][1]))[0]
    if kind == 2 or (not kind and 3 in f):
        return name, _signed(f[3][-1][1]) if 3 in f else 0
    if kind == 3:
        return name, bytes(f[4][-1][1]) if 4 in f else b""
    if kind == 4:
        return name, tensor(f[5][-1][1])[1]
    if kind == 6:
        return name, _repeated_floats(f.get(7, []))
    if kind == 7:
        return name, _repeated_ints(f.get(8, []))
    if kind == 8:
        return name, [bytes(v) for _, v in f.get(9, [])]
    raise OnnxFormatError(f"attribute {name!r} has type {kind}, which these graphs never use")


def _node(message: memoryview) -> Node:
    """NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7."""
    f = _group(message)
    return Node(
        op_type=_text(f.get(4)),
        domain=_text(f.get(7)),
        inputs=[bytes(v).decode("utf-8") for _, v in f.get(1, [])],
        outputs=[bytes(v).decode("utf-8") for _, v in f.get(2, [])],
        attributes=dict(_attribute(v) for _, v in f.get(5, [])),
        name=_text(f.get(3)),
    )


def _value_name(message: memoryview) -> str:
    return _text(_group(message).get(1))  # ValueInfoProto.name


def read_model(data: bytes) -> Graph:
    """Parse ModelProto bytes (graph 7) into the graph: GraphProto node 1, initializer 5, input 11,
    output 12. Raises OnnxFormatError when the bytes are not such a model."""
    view = memoryview(data)
    model = _group(view)
    if 7 not in model:
        raise OnnxFormatError("no graph in this file: not an ONNX model")
    graph = _group(model[7][-1][1])
    initializers = dict(tensor(v) for _, v in graph.get(5, []))
    nodes = [_node(v) for _, v in graph.get(1, [])]
    inputs = [n for n in (_value_name(v) for _, v in graph.get(11, [])) if n not in initializers]
    outputs = [_value_name(v) for _, v in graph.get(12, [])]
    if not nodes or not outputs:
        raise OnnxFormatError("the graph has no nodes or no outputs")
    return Graph(nodes=nodes, initializers=initializers, inputs=inputs, outputs=outputs)
