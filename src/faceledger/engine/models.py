"""Where the shipped model files are and which model id each pipeline produces.

Only models whose licence allows any use: dlib's 5-point landmark model (not the research-only
68-point one), dlib's ResNet face descriptor, dlib's HOG and MMOD detectors. The files come
from the ``face_recognition_models`` wheel; nothing is downloaded at run time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from faceledger.errors import ModelError

DESCRIPTOR_MODEL_ID = "dlib-resnet-v1"
"""dlib_face_recognition_resnet_model_v1 on dlib's 150×150 chip with padding 0.25."""


@cache
def model_path(name: str) -> Path:
    """Absolute path of one of the shipped model files ("descriptor", "landmarks5", "mmod")."""
    try:
        import face_recognition_models as frm
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(
            "face_recognition_models is not installed; pip install faceledger"
        ) from exc
    locations = {
        "descriptor": frm.face_recognition_model_location,
        "landmarks5": frm.pose_predictor_five_point_model_location,
        "mmod": frm.cnn_face_detector_model_location,
    }
    if name not in locations:
        raise ModelError(f"unknown model file {name!r}")
    path = Path(locations[name]())
    if not path.is_file():
        raise ModelError(f"model file missing: {path}; reinstall face_recognition_models")
    return path
