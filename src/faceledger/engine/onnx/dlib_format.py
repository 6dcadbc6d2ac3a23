"""Reader for dlib's binary DNN serialization (the format of the shipped ``.dat`` networks).

We read the bytes ourselves instead of asking dlib, so that conversion needs nothing but
numpy and the result can be checked against dlib independently.  Layout, as written by
``dlib::serialize`` (dlib/serialize.h, dlib/dnn/core.h, layers.h, input.h, loss.h):

* integers: one control byte (low nibble = byte count, bit 7 = sign) + little-endian bytes;
* floats/doubles: an integer mantissa and an integer exponent, value = m * 2**e;
* strings: integer length + raw bytes; bools: one ASCII byte '0'/'1';
* tensors: version 2, then num_samples, k, nr, nc and raw little-endian float32 data.

A network is ``add_loss_layer(version, loss, subnet)``.  ``add_layer`` writes its version and
then its subnet *before* its own details, so the file holds a run of version integers
(2 = add_layer, 1 = tag/skip layer, 3 = the add_layer sitting on the input layer), then the
input layer, then every layer's details from the input upwards.  Tag and skip layers store
no payload (their ids live in the C++ type), so the topology between residual blocks is
recovered in ``convert.py`` from the known network definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_ADD_LAYER = 2
_TAG_OR_SKIP = 1
_ADD_LAYER_ON_INPUT = 3


class DlibFormatError(ValueError):
    """The file does not look like a dlib network this reader understands."""


@dataclass
class Layer:
    """One computational layer: its dlib name (e.g. ``con``) and its parsed fields."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class DlibNet:
    """A parsed network: loss details, input layer details, and layers from input to output."""

    loss: dict[str, Any]
    input: dict[str, Any]
    layers: list[Layer]
    num_tags: int


class _Reader:
    """Cursor over the raw bytes with dlib's primitive decoders."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int(self) -> int:
        ctrl = self.data[self.pos]
        n = ctrl & 0x0F
        if n > 8 or ctrl & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{ctrl:02x} at {self.pos}")
        raw = self.data[self.pos + 1 : self.pos + 1 + n]
        self.pos += 1 + n
        value = int.from_bytes(raw, "little")
        return -value if ctrl & 0x80 else value

    def peek_int(self) -> int:
        pos = self.pos
        try:
            return self.int()
        finally:
            self.pos = pos

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        if exponent >= 32000:  # dlib's markers for inf / -inf / nan
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(mantissa) * 2.0**exponent

    def str(self) -> str:
        n = self.int()
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("ascii")

    def bool(self) -> bool:
        ch = self.data[self.pos : self.pos + 1]
        self.pos += 1
        if ch not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool byte {ch!r} at {self.pos - 1}")
        return ch == b"1"

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor version {version} at {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return arr.reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.int()
        if version != 1:
            raise DlibFormatError(f"unsupported alias_tensor version {version}")
        return (self.int(), self.int(), self.int(), self.int())

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


# --------------------------------------------------------------------------------------
# Layer details, keyed by the version string each layer writes first.


def _read_con(r: _Reader) -> Layer:
    params = r.tensor().reshape(-1)
    num_filters, nr, nc = r.int(), r.int(), r.int()
    stride_y, stride_x, pad_y, pad_x = r.int(), r.int(), r.int(), r.int()
    filt_shape = r.alias()
    bias_shape = r.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    n_w = int(np.prod(filt_shape))
    weights = params[:n_w].reshape(filt_shape)
    bias = params[n_w : n_w + int(np.prod(bias_shape))].copy()
    if weights.shape[0] != num_filters or weights.shape[2:] != (nr, nc):
        raise DlibFormatError("con_ filter shape does not match its header")
    return Layer(
        "con",
        {"weights": weights, "bias": bias, "stride": (stride_y, stride_x), "pad": (pad_y, pad_x)},
    )


def _read_affine(r: _Reader) -> Layer:
    params = r.tensor().reshape(-1)
    g_shape = r.alias()
    b_shape = r.alias()
    mode = r.int()
    n_g = int(np.prod(g_shape))
    gamma = params[:n_g].copy()
    beta = params[n_g : n_g + int(np.prod(b_shape))].copy()
    return Layer("affine", {"gamma": gamma, "beta": beta, "conv_mode": mode == 0})


def _read_bn_con(r: _Reader) -> Layer:
    """A batch-norm layer stored in training form; dlib turns it into affine_ at load time."""
    params = r.tensor().reshape(-1)
    g_shape = r.alias()
    r.alias()
    r.tensor()  # means of the last batch
    r.tensor()  # invstds of the last batch
    running_means = r.tensor().reshape(-1)
    running_vars = r.tensor().reshape(-1)
    r.int()  # num_updates
    r.int()  # running_stats_window_size
    for _ in range(4):
        r.float()
    eps = r.float()
    n_g = int(np.prod(g_shape))
    gamma_bn, beta_bn = params[:n_g], params[n_g : 2 * n_g]
    # Same arithmetic as affine_(const bn_&) in layers.h, in float32.
    gamma = (gamma_bn * (np.float32(1) / np.sqrt(running_vars + np.float32(eps)))).astype(
        np.float32
    )
    beta = (beta_bn - gamma * running_means).astype(np.float32)
    return Layer("affine", {"gamma": gamma, "beta": beta, "conv_mode": True})


def _read_pool(kind: str):
    def read(r: _Reader) -> Layer:
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        return Layer(kind, {"size": (nr, nc), "stride": (sy, sx), "pad": (py, px)})

    return read


def _read_fc(r: _Reader) -> Layer:
    num_outputs, num_inputs = r.int(), r.int()
    params = r.tensor().reshape(-1)
    w_shape = r.alias()
    b_shape = r.alias()
    bias_mode = r.int()  # 0 = FC_HAS_BIAS, 1 = FC_NO_BIAS
    for _ in range(4):
        r.float()
    n_w = int(np.prod(w_shape))
    weights = params[:n_w].reshape(num_inputs, num_outputs)
    bias = params[n_w : n_w + int(np.prod(b_shape))].copy() if bias_mode == 0 else None
    return Layer("fc", {"weights": weights, "bias": bias})


_LAYER_READERS = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "bn_con2": _read_bn_con,
    "relu_": lambda r: Layer("relu"),
    "add_prev_": lambda r: Layer("add_prev"),
    "max_pool_2": _read_pool("max_pool"),
    "avg_pool_2": _read_pool("avg_pool"),
    "fc_2": _read_fc,
}


def _read_loss(r: _Reader) -> dict[str, Any]:
    name = r.str()
    if name == "loss_metric_2":
        return {"kind": "metric", "margin": r.float(), "distance_threshold": r.float()}
    if name == "loss_metric_":
        return {"kind": "metric"}
    if name == "loss_mmod_":
        version = r.int()
        if version != 1:
            raise DlibFormatError(f"mmod_options version {version} is not supported")
        width, height = r.int(), r.int()
        opts: dict[str, Any] = {
            "kind": "mmod",
            "detector_windows": [(width, height)],
            "loss_per_false_alarm": r.float(),
            "loss_per_missed_target": r.float(),
            "truth_match_iou_threshold": r.float(),
            "overlaps_nms": (r.float(), r.float()),  # (iou_thresh, percent_covered_thresh)
            "overlaps_ignore": (r.float(), r.float()),
        }
        return opts
    raise DlibFormatError(f"unsupported loss layer {name!r}")


def _read_input(r: _Reader) -> dict[str, Any]:
    name = r.str()
    means = (r.float(), r.float(), r.float())
    if name == "input_rgb_image_sized":
        return {"kind": "rgb_sized", "means": means, "size": (r.int(), r.int())}
    if name == "input_rgb_image":
        return {"kind": "rgb", "means": means}
    if name == "input_rgb_image_pyramid":
        # Files of this vintage predate the padding fields; dlib then uses 10 and 11.
        return {"kind": "rgb_pyramid", "means": means, "padding": 10, "outer_padding": 11}
    if name == "input_rgb_image_pyramid2":
        return {"kind": "rgb_pyramid", "means": means, "padding": r.int(), "outer_padding": r.int()}
    raise DlibFormatError(f"unsupported input layer {name!r}")


def _skip_layer_state(r: _Reader, on_input: bool) -> None:
    """Skip the runtime state add_layer stores after its details (flags and empty buffers)."""
    for _ in range(3):
        r.bool()
    for _ in range(3):
        r.tensor()
    if on_input:
        r.int()  # the extra trailing integer version 3 of add_layer writes


def parse_dlib_net(data: bytes) -> DlibNet:
    """Parse a serialized ``add_loss_layer<...>`` network from bytes."""
    r = _Reader(data)
    if r.int() != 1:
        raise DlibFormatError("not a dlib add_loss_layer (version != 1)")
    loss = _read_loss(r)
    versions: list[int] = []
    while True:
        v = r.int()
        versions.append(v)
        if v == _ADD_LAYER_ON_INPUT:
            break
        if v not in (_ADD_LAYER, _TAG_OR_SKIP):
            raise DlibFormatError(f"unexpected layer version {v} in the layer chain")
    inp = _read_input(r)
    n_layers = versions.count(_ADD_LAYER) + 1
    layers: list[Layer] = []
    for i in range(n_layers):
        name = r.str()
        reader = _LAYER_READERS.get(name)
        if reader is None:
            raise DlibFormatError(f"unsupported layer {name!r}")
        layers.append(reader(r))
        _skip_layer_state(r, on_input=(i == 0))
    if not r.at_end():
        raise DlibFormatError(f"{len(data) - r.pos} trailing bytes after the last layer")
    return DlibNet(loss, inp, layers, versions.count(_TAG_OR_SKIP))


def read_dlib_net(path: str | Path) -> DlibNet:
    """Parse a dlib ``.dat`` network file."""
    return parse_dlib_net(Path(path).read_bytes())
