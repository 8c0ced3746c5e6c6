"""Run an ONNX graph (chat_emotion.onnx_reader) with numpy alone: the operators `emotion-train
export` writes, ONNX Runtime's transformer fusions and int8 dynamic quantization included.

int8 is computed as ONNX Runtime computes it, not approximated: `DynamicQuantizeLinear` picks the
same uint8 scale and zero point per tensor, `MatMulInteger` / `QAttention` multiply the same
integers (as float32, exact for these sizes: |sum| < 2**24 for any row that fits in 64 tokens of
BERT-base width or less) and scale them the same way. What differs is float rounding order and
the erf in GELU (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), far below the gap between two
labels; the engine's agreement with ONNX Runtime is tested on every val text.

Work that depends only on the weights (int8 -> float32 with the zero point taken out, constant
sub-graphs) is done once when the graph is loaded; nodes whose outputs never reach the graph's
outputs are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chat_emotion.onnx_reader import DTYPES, Graph, Node

Op = Callable[..., Any]
OPS: dict[str, Op] = {}


class UnsupportedGraphError(ValueError):
    """The graph uses an operator the numpy engine does not implement."""


def op(*names: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        for name in names:
            OPS[name] = fn
        return fn
    return register


# --- element-wise and shape operators (ONNX opset 17) -------------------------------------------

for _name, _fn in {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
    "Equal": np.equal, "Less": np.less, "Greater": np.greater, "GreaterOrEqual": np.greater_equal,
    "LessOrEqual": np.less_equal, "And": np.logical_and, "Or": np.logical_or,
}.items():
    OPS[_name] = (lambda f: lambda node, a, b: (_same_kind(f(a, b), a, f),))(_fn)

for _name, _fn in {
    "Tanh": np.tanh, "Sqrt": np.sqrt, "Not": np.logical_not, "Neg": np.negative, "Exp": np.exp,
    "Abs": np.abs, "Identity": np.asarray, "Reciprocal": np.reciprocal,
}.items():
    OPS[_name] = (lambda f: lambda node, x: (f(x),))(_fn)


def _same_kind(result: np.ndarray, a: np.ndarray, f: Any) -> np.ndarray:
    """numpy promotes int32 / int32 to float; ONNX keeps the input type (Div on ints truncates)."""
    if f is np.divide and np.issubdtype(a.dtype, np.integer):
        return np.trunc(result).astype(a.dtype)
    return result


@op("Relu")
def _relu(node: Node, x):
    return (np.maximum(x, 0),)


@op("Cast")
def _cast(node: Node, x):
    return (x.astype(DTYPES[node.attributes["to"]]),)


@op("Shape")
def _shape(node: Node, x):
    start, end = node.attributes.get("start", 0), node.attributes.get("end")
    return (np.asarray(x.shape[start:end], dtype=np.int64),)


@op("Gather")
def _gather(node: Node, data, indices):
    return (np.take(data, indices, axis=node.attributes.get("axis", 0)),)


@op("GatherElements")
def _gather_elements(node: Node, data, indices):
    axis = node.attributes.get("axis", 0)
    indices = np.where(indices < 0, indices + data.shape[axis], indices)
    return (np.take_along_axis(data, indices, axis=axis),)


@op("Unsqueeze")
def _unsqueeze(node: Node, x, axes):
    out = x
    for axis in sorted(int(a) % (x.ndim + len(axes)) for a in axes):
        out = np.expand_dims(out, axis)
    return (out,)


@op("Squeeze")
def _squeeze(node: Node, x, axes=None):
    return (np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes)),)


@op("Concat")
def _concat(node: Node, *xs):
    return (np.concatenate(xs, axis=node.attributes["axis"]),)


@op("Slice")
def _slice(node: Node, x, starts, ends, axes=None, steps=None):
    index = [slice(None)] * x.ndim
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return (x[tuple(index)],)


@op("Reshape")
def _reshape(node: Node, x, shape):
    shape = [x.shape[i] if s == 0 and not node.attributes.get("allowzero") else int(s)
             for i, s in enumerate(shape)]
    return (x.reshape(shape),)


@op("Flatten")
def _flatten(node: Node, x):
    axis = node.attributes.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return (x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))),)


@op("Transpose")
def _transpose(node: Node, x):
    return (np.transpose(x, node.attributes.get("perm")),)


@op("Expand")
def _expand(node: Node, x, shape):
    return (x * np.ones(tuple(int(s) for s in shape), dtype=x.dtype),)


@op("Where")
def _where(node: Node, condition, a, b):
    return (np.where(condition, a, b),)


@op("Range")
def _range(node: Node, start, limit, delta):
    return (np.arange(start, limit, delta, dtype=np.asarray(start).dtype),)


@op("CumSum")
def _cumsum(node: Node, x, axis):
    axis = int(axis)
    if node.attributes.get("reverse"):
        x = np.flip(x, axis)
    out = np.cumsum(x, axis=axis, dtype=x.dtype)
    if node.attributes.get("exclusive"):
        out = out - x
    return (np.flip(out, axis) if node.attributes.get("reverse") else out,)


@op("ReduceSum", "ReduceMean", "ReduceMax")
def _reduce(node: Node, x, axes=None):
    f = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.max}[node.op_type]
    keep = bool(node.attributes.get("keepdims", 1))
    if axes is None or len(axes) == 0:
        if node.attributes.get("noop_with_empty_axes"):
            return (x,)
        return (f(x, keepdims=keep).astype(x.dtype),)
    return (f(x, axis=tuple(int(a) for a in axes), keepdims=keep).astype(x.dtype),)


@op("Pad")
def _pad(node: Node, x, pads, value=None, axes=None):
    mode = node.attributes.get("mode", b"constant").decode()
    if mode != "constant" or axes is not None:
        raise UnsupportedGraphError(f"Pad mode {mode!r} with axes {axes}")
    half = len(pads) // 2
    width = [(int(pads[i]), int(pads[i + half])) for i in range(half)]
    fill = 0 if value is None or np.size(value) == 0 else np.asarray(value).item()
    return (np.pad(x, width, constant_values=fill),)


@op("MatMul")
def _matmul(node: Node, a, b):
    return (np.matmul(a, b),)


@op("Gemm")
def _gemm(node: Node, a, b, c=None):
    a = a.T if node.attributes.get("transA") else a
    b = b.T if node.attributes.get("transB") else b
    out = node.attributes.get("alpha", 1.0) * (a @ b)
    if c is not None:
        out = out + node.attributes.get("beta", 1.0) * c
    return (out.astype(np.float32),)


@op("Softmax")
def _softmax_op(node: Node, x):
    return (softmax(x, node.attributes.get("axis", -1)),)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --- normalisation and activations ----------------------------------------------------------------

def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray | None, epsilon: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    out = centred / np.sqrt(variance + np.float32(epsilon)) * gamma
    return out + beta if beta is not None else out


@op("LayerNormalization")
def _layer_norm(node: Node, x, gamma, beta=None):
    if node.attributes.get("axis", -1) not in (-1, x.ndim - 1):
        raise UnsupportedGraphError("LayerNormalization over other than the last axis")
    return (layer_norm(x, gamma, beta, node.attributes.get("epsilon", 1e-5)),)


@op("SkipLayerNormalization")
def _skip_layer_norm(node: Node, x, skip, gamma, beta=None, bias=None):
    total = x + skip if bias is None else x + skip + bias
    out = layer_norm(total, gamma, beta, node.attributes.get("epsilon", 1e-12))
    # Outputs: normalised, mean, inv std (training only, never wired here), and the sum itself.
    return (out, None, None, total)


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32's resolution near GELU's knee."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


def gelu(x: np.ndarray) -> np.ndarray:
    return x * np.float32(0.5) * (np.float32(1.0) + erf(x * np.float32(0.7071067811865476)))


@op("Gelu")
def _gelu(node: Node, x):
    return (gelu(x),)


@op("BiasGelu")
def _bias_gelu(node: Node, x, bias):
    return (gelu(x + bias),)


@op("Erf")
def _erf(node: Node, x):
    return (erf(x),)


# --- quantization (ONNX's integer operators and ONNX Runtime's quantized contrib operators) ------

def quantize_dynamic(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """ONNX DynamicQuantizeLinear: uint8 over [min(x, 0), max(x, 0)], round half to even, every
    step in float32 as ONNX Runtime does it (a zero point one off flips the int8 sums)."""
    low = np.minimum(x.min(), np.float32(0)) if x.size else np.float32(0)
    high = np.maximum(x.max(), np.float32(0)) if x.size else np.float32(0)
    scale = np.float32((high - low) / np.float32(255))
    if scale == 0:
        return np.zeros(x.shape, np.uint8), scale, np.uint8(0)
    zero_point = np.uint8(np.clip(np.rint(np.float32(0) - low / scale), 0, 255))
    q = np.clip(np.rint(x / scale) + zero_point, 0, 255).astype(np.uint8)
    return q, scale, zero_point


@op("DynamicQuantizeLinear")
def _dynamic_quantize(node: Node, x):
    return quantize_dynamic(x)


@op("DequantizeLinear")
def _dequantize(node: Node, x, scale, zero_point=None):
    axis = node.attributes.get("axis", 1)
    if np.ndim(scale) == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero_point = None if zero_point is None else zero_point.reshape(shape)
    centred = x.astype(np.float32) - (0 if zero_point is None else zero_point.astype(np.float32))
    return ((centred * scale).astype(np.float32),)


def centred(q: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
    """Integers q - zero_point as float32: exact, and what BLAS multiplies fastest."""
    out = q if q.dtype == np.float32 else q.astype(np.float32)
    return out if zero_point is None else out - zero_point.astype(np.float32)


@op("MatMulInteger")
def _matmul_integer(node: Node, a, b, a_zero=None, b_zero=None):
    # int32 in ONNX; float32 holds every such product sum here exactly (see the module docstring).
    return (np.matmul(centred(a, a_zero), centred(b, b_zero)).astype(np.int32),)


@op("QAttention")
def _qattention(node: Node, x, weight, bias, x_scale, w_scale, mask_index=None, x_zero=None,
                w_zero=None, past=None):
    """ONNX Runtime's QAttention: quantized QKV projection, then float multi-head attention.
    mask_index [batch] (keys at or past it are masked, right padding), [batch, seq] (0 = masked) or
    absent; a masked key gets -10000 before the softmax, as in ONNX Runtime."""
    if past is not None or node.attributes.get("unidirectional"):
        raise UnsupportedGraphError("QAttention with past state or unidirectional masks")
    heads = node.attributes["num_heads"]
    qkv = np.matmul(centred(x, x_zero), centred(weight, w_zero)) * (x_scale * w_scale) + bias
    batch, seq, width = qkv.shape
    hidden = width // 3
    size = hidden // heads
    q, k, v = (qkv[..., i * hidden:(i + 1) * hidden].reshape(batch, seq, heads, size).transpose(0, 2, 1, 3)
               for i in range(3))
    scores = np.matmul(q, k.transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(size))
    if mask_index is not None:
        if mask_index.ndim == 1:
            keep = np.arange(seq)[None, :] < mask_index[:, None]
        else:
            keep = mask_index.reshape(batch, -1)[:, -seq:] != 0
        scores = scores + np.where(keep, np.float32(0), np.float32(-10000.0))[:, None, None, :]
    context = np.matmul(softmax(scores), v)
    return (context.transpose(0, 2, 1, 3).reshape(batch, seq, hidden).astype(np.float32),)


@op("QEmbedLayerNormalization")
def _qembed_layer_norm(node: Node, input_ids, segment_ids, word, position, segment, gamma, beta,
                       mask=None, word_s=None, position_s=None, segment_s=None, gamma_s=None,
                       beta_s=None, word_z=None, position_z=None, segment_z=None, gamma_z=None,
                       beta_z=None):
    """ONNX Runtime's QEmbedLayerNormalization: uint8 word / position / segment embeddings and
    LayerNorm weights, dequantized ((q - zero point) * scale), summed per token, normalised.
    Second output: the mask's row sums (the keys each text has), which QAttention takes."""
    seq = input_ids.shape[1]
    total = centred(np.take(word, input_ids, axis=0), word_z) * word_s
    total = total + centred(position[:seq], position_z) * position_s
    if segment is not None and segment_ids is not None:
        total = total + centred(np.take(segment, segment_ids, axis=0), segment_z) * segment_s
    out = layer_norm(total.astype(np.float32), centred(gamma, gamma_z) * gamma_s,
                     centred(beta, beta_z) * beta_s, node.attributes.get("epsilon", 1e-12))
    counts = (mask.sum(axis=1) if mask is not None else np.full(input_ids.shape[0], seq)).astype(np.int32)
    return (out.astype(np.float32), counts)


# --- the executor ----------------------------------------------------------------------------------

class NumpyGraph:
    """A loaded graph: call with the graph's inputs by name, get its outputs in order."""

    def __init__(self, graph: Graph) -> None:
        missing = sorted({n.op_type for n in graph.nodes if _key(n) not in OPS})
        if missing:
            raise UnsupportedGraphError(
                f"the numpy engine has no implementation of {', '.join(missing)}: this model needs "
                "ONNX Runtime (pip install onnxruntime), or an export without these operators")
        self.inputs = list(graph.inputs)
        self.outputs = list(graph.outputs)
        nodes = _live(graph.nodes, set(self.outputs))
        values: dict[str, Any] = dict(graph.initializers)
        # Fold what depends on the weights alone, once: constants, shapes of weights, ...
        self._nodes: list[Node] = []
        for node in nodes:
            if node.op_type == "Constant" or all(not i or i in values for i in node.inputs) and node.inputs:
                for name, value in zip(node.outputs, _run(node, values), strict=False):
                    if name:
                        values[name] = value
            else:
                self._nodes.append(node)
        needed = {i for n in self._nodes for i in n.inputs} | set(self.outputs)
        self._constants = {k: v for k, v in values.items() if k in needed}
        # Integer weights go to float32 with their zero point taken out, once.
        for node in self._nodes:
            _prepare(node, self._constants)

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        values = dict(self._constants)
        values.update(feeds)
        for node in self._nodes:
            for name, value in zip(node.outputs, _run(node, values), strict=False):
                if name:
                    values[name] = value
        return [values[name] for name in self.outputs]


def _key(node: Node) -> str:
    return "Constant" if node.op_type == "Constant" else node.op_type


OPS["Constant"] = lambda node: (np.asarray(node.attributes["value"]),)


def _run(node: Node, values: dict[str, Any]) -> tuple:
    args = [values[name] if name else None for name in node.inputs]
    while args and args[-1] is None:
        args.pop()
    return OPS[_key(node)](node, *args)


def _live(nodes: list[Node], wanted: set[str]) -> list[Node]:
    """The nodes the outputs depend on, in the file's (topological) order."""
    needed, keep = set(wanted), []
    for node in reversed(nodes):
        if any(o in needed for o in node.outputs):
            keep.append(node)
            needed.update(i for i in node.inputs if i)
    return keep[::-1]


def _prepare(node: Node, constants: dict[str, Any]) -> None:
    """Swap a quantized weight for its float32 (q - zero point) and drop the zero point, so the
    per-message work is one float matmul."""
    slots = {"MatMulInteger": (1, 3), "QAttention": (1, 7)}.get(node.op_type)
    if slots is None:
        return
    weight, zero = (node.inputs[i] if i < len(node.inputs) else "" for i in slots)
    if weight not in constants or (zero and zero not in constants):
        return
    prepared = f"{weight}::centred::{zero}"
    constants[prepared] = centred(constants[weight], constants.get(zero) if zero else None)
    node.inputs[slots[0]] = prepared
    if zero:
        node.inputs[slots[1]] = ""
