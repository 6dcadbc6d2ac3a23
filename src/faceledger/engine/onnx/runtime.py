"""onnxruntime-backed drop-ins for dlib's face descriptor and CNN (MMOD) face detector.

Both classes convert the dlib ``.dat`` once (cached, see ``convert``) and then run the
network with onnxruntime, which is an order of magnitude faster than dlib's CPU DNN code
while producing the same numbers (see ``tests/engine/test_onnx_parity.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceledger.cpus import available_cpus
from faceledger.engine.onnx import convert, mmod
from faceledger.engine.onnx.dlib_format import read_dlib_net


def onnx_available() -> bool:
    """True when onnx and onnxruntime (with its CPU provider) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
    except ImportError:
        return False
    return "CPUExecutionProvider" in ort.get_available_providers()


def _session(model_path: Path, threads: int | None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads if threads else available_cpus()
    so.inter_op_num_threads = 1
    # Idle workers sleep instead of spinning: on a 2-core or shared machine a spinning worker
    # takes the core the other threads need (the video decoder, dlib's HOG in the caller, the
    # describing thread). benchmarks/video.py: 16.5 -> 11.8 CPU s for the same work.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def _default_descriptor_path() -> str:
    import face_recognition_models

    return face_recognition_models.face_recognition_model_location()


def _default_detector_path() -> str:
    import face_recognition_models

    return face_recognition_models.cnn_face_detector_model_location()


class OnnxDescriptor:
    """128-D face descriptors equal to ``dlib.face_recognition_model_v1.compute_face_descriptor``.

    ``threads`` sets onnxruntime's intra-op threads (default: the CPUs this process may use,
    see ``faceledger.cpus``).  Chips are run in batches of ``batch_size``; larger batches
    amortise per-call overhead.
    """

    model_id = "dlib-resnet-v1"
    backend = "onnx"
    chip_size = 150
    batch_size = 16

    def __init__(self, dat_path: str | None = None, *, threads: int | None = None) -> None:
        self.dat_path = dat_path or _default_descriptor_path()
        self.onnx_path = convert.descriptor_onnx(self.dat_path)
        self._session = _session(self.onnx_path, threads)

    def compute(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips from ``dlib.get_face_chip`` -> (N, 128) float32."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        size = self.chip_size
        if chips.ndim != 4 or chips.shape[1:] != (size, size, 3):
            raise ValueError(f"expected (N, {size}, {size}, 3) chips, got {chips.shape}")
        if chips.dtype != np.uint8:
            raise ValueError(f"expected uint8 chips, got {chips.dtype}")
        if len(chips) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        chips = np.ascontiguousarray(chips)
        outs = [
            self._session.run(None, {convert.DESCRIPTOR_INPUT: chips[i : i + self.batch_size]})[0]
            for i in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(outs).astype(np.float32, copy=False)


class OnnxDescriptorInt8(OnnxDescriptor):
    """int8-quantized descriptor: about 2x faster, but *not* numerically equal to dlib.

    Its own ``model_id`` keeps its embeddings from being mixed with float ones.  The
    quantization is calibrated once on ``calibration_chips`` (a few dozen representative
    aligned chips); later constructions may omit them to reuse the cached model.  The parity
    gap is measured by ``benchmarks/inference.py``.
    """

    model_id = "dlib-resnet-v1-int8"

    def __init__(
        self,
        dat_path: str | None = None,
        *,
        calibration_chips: np.ndarray | None = None,
        threads: int | None = None,
    ) -> None:
        self.dat_path = dat_path or _default_descriptor_path()
        self.onnx_path = convert.descriptor_int8_onnx(self.dat_path, calibration_chips)
        self._session = _session(self.onnx_path, threads)


class OnnxMmodDetector:
    """Face boxes equal to ``dlib.cnn_face_detection_model_v1(path)(rgb, upsample)``.

    The CNN runs in onnxruntime; the image pyramid and the detection decoding (threshold,
    mapping through the pyramid, NMS) are done in numpy exactly as dlib does them.
    """

    model_id = "dlib-mmod-human-face-v1"

    def __init__(self, dat_path: str | None = None, *, threads: int | None = None) -> None:
        self.dat_path = dat_path or _default_detector_path()
        net = read_dlib_net(self.dat_path)  # small file; we need its options anyway
        stride, offset = convert.mmod_stride_and_offset(net)
        iou, covered = net.loss["overlaps_nms"]
        self.config = mmod.MmodConfig(
            means=tuple(net.input["means"]),  # type: ignore[arg-type]
            padding=net.input["padding"],
            outer_padding=net.input["outer_padding"],
            pyramid_n=6,
            windows=tuple(net.loss["detector_windows"]),
            nms_iou=iou,
            nms_covered=covered,
            stride=stride,
            offset=offset,
        )
        self._convs = [
            (lay.fields["weights"].shape[2], lay.fields["stride"][0], lay.fields["pad"][0])
            for lay in net.layers
            if lay.kind == "con"
        ]
        self.onnx_path = convert.mmod_onnx(self.dat_path)
        self._session = _session(self.onnx_path, threads)

    def _fits(self, nr: int, nc: int) -> bool:
        """Whether every conv still has a non-empty output for an nr x nc input tensor."""
        for k, stride, pad in self._convs:
            nr, nc = 1 + (nr + 2 * pad - k) // stride, 1 + (nc + 2 * pad - k) // stride
            if nr < 1 or nc < 1:
                return False
        return True

    def scores(self, rgb: np.ndarray) -> tuple[np.ndarray, list[mmod.Rect]]:
        """Raw detector output over the tiled pyramid of ``rgb`` and the level rectangles."""
        tensor, rects = mmod.build_tiled_pyramid(rgb, self.config)
        if not rects or not self._fits(*tensor.shape[2:]):  # dlib raises here; we find nothing
            return np.zeros((1, len(self.config.windows), 0, 0), np.float32), rects
        out = self._session.run(None, {convert.MMOD_INPUT: tensor})[0]
        return out, rects

    def detect(
        self, rgb: np.ndarray, upsample: int = 0
    ) -> list[tuple[tuple[int, int, int, int], float]]:
        """[((left, top, right, bottom), confidence), ...], highest confidence first."""
        img = np.asarray(rgb)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        for _ in range(upsample):
            img = mmod.pyramid_up_2(img)
        out, rects = self.scores(img)
        dets = mmod.decode_detections(out, rects, self.config)
        if upsample:
            dets = [(mmod.rect_down_2(r, upsample), s) for r, s in dets]
        return dets
