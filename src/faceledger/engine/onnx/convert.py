"""Build ONNX graphs equivalent to dlib's face descriptor ResNet and its MMOD face detector.

The layer parameters come from ``dlib_format``; the wiring between residual blocks (which
dlib keeps in C++ types, not in the file) is recovered by matching the block patterns that
``dnn_face_recognition_ex.cpp`` defines, and every step is checked against the layer list
so an unexpected network fails loudly instead of converting wrongly.

Converted models are cached under ``<cache>/onnx/`` keyed by the SHA-256 of the source
``.dat`` so conversion happens once per model file.
"""

# The isort exemption is because, until faceledger/engine has an __init__.py, ruff takes
# this folder ("onnx") for the package of this file and files the onnx library under it.
from __future__ import annotations  # noqa: I001

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faceledger.engine.onnx.dlib_format import DlibFormatError, DlibNet, Layer, read_dlib_net

OPSET = 17
# Bump when the graph construction changes so stale cache entries are not reused.
CONVERTER_VERSION = 1

DESCRIPTOR_INPUT = "chips"  # (N, 150, 150, 3) uint8 RGB
DESCRIPTOR_OUTPUT = "descriptors"  # (N, 128) float32
MMOD_INPUT = "pyramid"  # (N, 3, H, W) float32, already normalised and tiled
MMOD_OUTPUT = "scores"  # (N, windows, H', W') float32

_BLOCK = ["con", "affine", "relu", "con", "affine"]


class _GraphBuilder:
    """Accumulates nodes and initializers and tracks static (C, H, W) shapes when known."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), n))
        return n

    def op(self, op_type: str, inputs: list[str], prefix: str | None = None, **attrs) -> str:
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - k) // stride


def _emit_conv(
    g: _GraphBuilder, x: str, con: Layer, affine: Layer | None, shape: tuple[int, int, int] | None
) -> tuple[str, tuple[int, int, int] | None]:
    """Conv with dlib's padding; a following affine_ (folded batch norm) is folded in."""
    w = con.fields["weights"].astype(np.float32)
    b = con.fields["bias"].astype(np.float32)
    if affine is not None:
        gamma, beta = affine.fields["gamma"], affine.fields["beta"]
        if not affine.fields["conv_mode"] or gamma.shape[0] != w.shape[0]:
            raise DlibFormatError("affine_ layer does not match the preceding con_")
        w = (w * gamma[:, None, None, None]).astype(np.float32)
        b = (b * gamma + beta).astype(np.float32)
    (sy, sx), (py, px) = con.fields["stride"], con.fields["pad"]
    out = g.op(
        "Conv",
        [x, g.const("W", w), g.const("B", b)],
        kernel_shape=list(w.shape[2:]),
        strides=[sy, sx],
        pads=[py, px, py, px],
    )
    if shape is None:
        return out, None
    _, h, wd = shape
    return out, (w.shape[0], _conv_out(h, w.shape[2], sy, py), _conv_out(wd, w.shape[3], sx, px))


def _emit_pool(
    g: _GraphBuilder, x: str, layer: Layer, shape: tuple[int, int, int]
) -> tuple[str, tuple[int, int, int]]:
    (kh, kw), (sy, sx), (py, px) = layer.fields["size"], layer.fields["stride"], layer.fields["pad"]
    if (kh, kw) == (0, 0):
        op = "GlobalMaxPool" if layer.kind == "max_pool" else "GlobalAveragePool"
        return g.op(op, [x]), (shape[0], 1, 1)
    if (py, px) != (0, 0):
        # dlib averages over in-bounds elements only; not needed by the supported nets.
        raise DlibFormatError("padded pooling is not supported")
    op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
    out = g.op(op, [x], kernel_shape=[kh, kw], strides=[sy, sx])
    return out, (shape[0], _conv_out(shape[1], kh, sy, 0), _conv_out(shape[2], kw, sx, 0))


def _pad_to(g: _GraphBuilder, x: str, shape: tuple[int, ...], target: tuple[int, ...]) -> str:
    """Zero-pad at the end of C, H, W: dlib's add_prev_ treats missing entries as 0."""
    if shape == target:
        return x
    pads = [0, 0, 0, 0, 0] + [t - s for s, t in zip(shape, target, strict=True)]  # NCHW begin/end
    return g.op("Pad", [x, g.const("pads", np.array(pads, dtype=np.int64))], mode="constant")


def _descriptor_body(g: _GraphBuilder, net: DlibNet, x: str, shape: tuple[int, int, int]) -> str:
    layers = net.layers
    kinds = [lay.kind for lay in layers]
    i = 0
    while i < len(layers):
        head = kinds[i : i + 5]
        if head == _BLOCK and i + 5 < len(kinds) and kinds[i + 5] in ("add_prev", "avg_pool"):
            block_in, in_shape = x, shape
            y, ys = _emit_conv(g, x, layers[i], layers[i + 1], shape)
            y = g.op("Relu", [y])
            y, ys = _emit_conv(g, y, layers[i + 3], layers[i + 4], ys)
            j = i + 5
            skip, ss = block_in, in_shape
            if kinds[j] == "avg_pool":  # residual_down: pool the block input (skip1 -> tag1)
                skip, ss = _emit_pool(g, block_in, layers[j], in_shape)
                j += 1
            if kinds[j] != "add_prev":
                raise DlibFormatError(f"expected add_prev_ at layer {j}, found {kinds[j]}")
            assert ys is not None
            target = tuple(max(a, b) for a, b in zip(ys, ss, strict=True))
            x = g.op("Add", [_pad_to(g, y, ys, target), _pad_to(g, skip, ss, target)])
            shape = target  # type: ignore[assignment]
            i = j + 1
            continue
        layer = layers[i]
        if layer.kind == "con":
            nxt = layers[i + 1] if i + 1 < len(layers) and kinds[i + 1] == "affine" else None
            x, s = _emit_conv(g, x, layer, nxt, shape)
            assert s is not None
            shape = s
            i += 2 if nxt is not None else 1
        elif layer.kind == "relu":
            x = g.op("Relu", [x])
            i += 1
        elif layer.kind in ("max_pool", "avg_pool"):
            x, shape = _emit_pool(g, x, layer, shape)
            i += 1
        elif layer.kind == "fc":
            w = layer.fields["weights"]
            if w.shape[0] != int(np.prod(shape)):
                raise DlibFormatError("fc_ input size does not match the feature map")
            x = g.op("Flatten", [x], axis=1)
            x = g.op("MatMul", [x, g.const("fc_W", w.astype(np.float32))])
            if layer.fields["bias"] is not None:
                x = g.op("Add", [x, g.const("fc_B", layer.fields["bias"].astype(np.float32))])
            shape = (w.shape[1], 1, 1)
            i += 1
        else:
            raise DlibFormatError(f"layer {layer.kind!r} at {i} is not supported here")
    return x


def _normalise_uint8_nhwc(g: _GraphBuilder, x: str, means: tuple[float, ...]) -> str:
    """(pixel - mean) / 256 as in input_rgb_image::to_tensor; /256 is exact in float32."""
    x = g.op("Cast", [x], to=TensorProto.FLOAT)
    x = g.op("Sub", [x, g.const("mean", np.array(means, dtype=np.float32))])
    x = g.op("Mul", [x, g.const("scale", np.array(1.0 / 256.0, dtype=np.float32))])
    return g.op("Transpose", [x], perm=[0, 3, 1, 2])


def build_descriptor_model(net: DlibNet) -> onnx.ModelProto:
    """ONNX graph for ``loss_metric<fc<avg_pool_everything<resnet<input_rgb_image_sized>>>>``."""
    if net.loss["kind"] != "metric" or net.input["kind"] != "rgb_sized":
        raise DlibFormatError("not a dlib metric-learning network with a sized RGB input")
    nr, nc = net.input["size"]
    g = _GraphBuilder()
    x = _normalise_uint8_nhwc(g, DESCRIPTOR_INPUT, net.input["means"])
    out = _descriptor_body(g, net, x, (3, nr, nc))
    g.nodes.append(helper.make_node("Identity", [out], [DESCRIPTOR_OUTPUT]))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_descriptor",
        [helper.make_tensor_value_info(DESCRIPTOR_INPUT, TensorProto.UINT8, ["N", nr, nc, 3])],
        [helper.make_tensor_value_info(DESCRIPTOR_OUTPUT, TensorProto.FLOAT, ["N", None])],
        g.inits,
    )
    return _finish(graph)


def build_mmod_model(net: DlibNet) -> onnx.ModelProto:
    """ONNX graph for the MMOD detector's CNN; the pyramid and decoding stay in numpy."""
    if net.loss["kind"] != "mmod" or net.input["kind"] != "rgb_pyramid":
        raise DlibFormatError("not a dlib MMOD network with an RGB pyramid input")
    g = _GraphBuilder()
    x = MMOD_INPUT
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.kind == "con":
            nxt = layers[i + 1] if i + 1 < len(layers) and layers[i + 1].kind == "affine" else None
            x, _ = _emit_conv(g, x, layer, nxt, None)
            i += 2 if nxt is not None else 1
        elif layer.kind == "relu":
            x = g.op("Relu", [x])
            i += 1
        else:
            raise DlibFormatError(f"layer {layer.kind!r} is not supported in an MMOD net")
    g.nodes.append(helper.make_node("Identity", [x], [MMOD_OUTPUT]))
    graph = helper.make_graph(
        g.nodes,
        "dlib_mmod_detector",
        [helper.make_tensor_value_info(MMOD_INPUT, TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(MMOD_OUTPUT, TensorProto.FLOAT, ["N", None, None, None])],
        g.inits,
    )
    return _finish(graph)


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceledger"
    )
    model.ir_version = min(model.ir_version, 9)  # readable by onnxruntime >= 1.18
    onnx.checker.check_model(model)
    return model


def mmod_stride_and_offset(net: DlibNet) -> tuple[int, int]:
    """How an output cell maps to an input pixel: ``p_in = stride * p_out + offset``.

    Composes each con_'s ``map_output_to_input`` (p*stride - padding + kernel/2) from the
    top layer down, exactly as dlib's ``output_tensor_to_input_tensor`` does.
    """
    stride, offset = 1, 0
    for layer in reversed(net.layers):
        if layer.kind != "con":
            continue
        s = layer.fields["stride"][0]
        k = layer.fields["weights"].shape[2]
        pad = layer.fields["pad"][0]
        # p_in = s * p + (k//2 - pad); compose with the mapping accumulated so far.
        stride, offset = stride * s, offset * s + (k // 2 - pad)
    return stride, offset


# --------------------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """``$FACELEDGER_CACHE_DIR/onnx`` if set, else the platform user cache dir."""
    root = os.environ.get("FACELEDGER_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("faceledger")
    return Path(root) / "onnx"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, memoised per (path, size, mtime) so repeated loads skip re-hashing."""
    st = os.stat(path)
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_save(model: onnx.ModelProto, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def converted_path(
    dat_path: str | Path,
    kind: str,
    builder: Callable[[DlibNet], onnx.ModelProto],
) -> Path:
    """Return the cached ONNX file for ``dat_path``, converting it first if needed."""
    digest = file_sha256(dat_path)
    target = cache_dir() / f"{kind}-{digest}-c{CONVERTER_VERSION}.onnx"
    if not target.exists():
        _atomic_save(builder(read_dlib_net(dat_path)), target)
    return target


def descriptor_onnx(dat_path: str | Path) -> Path:
    """Cached ONNX conversion of a dlib face descriptor network."""
    return converted_path(dat_path, "descriptor", build_descriptor_model)


def mmod_onnx(dat_path: str | Path) -> Path:
    """Cached ONNX conversion of a dlib MMOD detector network."""
    return converted_path(dat_path, "mmod", build_mmod_model)


# --------------------------------------------------------------------------------------
# int8 variant of the descriptor (static QDQ quantization, calibrated on caller's chips)


def _chips_digest(chips: np.ndarray) -> str:
    h = hashlib.sha256(str(chips.shape).encode())
    h.update(np.ascontiguousarray(chips).tobytes())
    return h.hexdigest()[:16]


def descriptor_int8_onnx(dat_path: str | Path, calibration_chips: np.ndarray | None) -> Path:
    """Cached int8 (QDQ, per-channel weights) descriptor, calibrated on ``calibration_chips``.

    The first conv and the final fc stay in float (quantizing them costs the most accuracy
    for the least time).  Calibration needs representative aligned chips; the cache key is
    the .dat SHA-256 plus a digest of the chips.  With ``calibration_chips=None`` an existing
    cached int8 model for this .dat is reused (or ``FileNotFoundError`` is raised).
    """
    digest = file_sha256(dat_path)
    prefix = f"descriptor-int8-{digest}"
    if calibration_chips is None:
        found = sorted(cache_dir().glob(f"{prefix}-*-c{CONVERTER_VERSION}.onnx"))
        if not found:
            raise FileNotFoundError("no cached int8 descriptor; pass calibration_chips once")
        return found[-1]
    chips = np.asarray(calibration_chips, dtype=np.uint8)
    target = cache_dir() / f"{prefix}-{_chips_digest(chips)}-c{CONVERTER_VERSION}.onnx"
    if target.exists():
        return target
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = descriptor_onnx(dat_path)
    model = onnx.load(str(fp32))
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    matmuls = [n.name for n in model.graph.node if n.op_type == "MatMul"]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter({DESCRIPTOR_INPUT: chips[i : i + 8]} for i in range(0, len(chips), 8))

        def get_next(self):  # type: ignore[override]
            return next(self._it, None)

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        out = Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["Conv", "MatMul"],
            nodes_to_exclude=convs[:1] + matmuls,
        )
        os.replace(out, target)
    return target
