"""Face embedding models a user brings, each with its own model id: a dlib DNN file of the ResNet
family, or an ONNX embedding model with its input size, normalization and alignment.

``faceledger model add FILE --name NAME`` checks that the file is a dlib face descriptor network
the shipped converter can run (it is converted to ONNX once, as dlib's own file is) or, for a
``.onnx`` file, that onnxruntime runs it on chips of ``--input-size`` with ``--normalization``
and that it gives 128 numbers per face (``engine.onnx.user``); its chips are cut by
``--alignment``: ``dlib-150`` (dlib's chip, as the shipped network) or ``arcface-112`` (five
points onto ArcFace's template, ``engine.arcface``). The file is copied into
``<data dir>/models/NAME.dat|.onnx`` with a record of its SHA-256 (checked at every load), and
the model gets the model id ``user:NAME``. ``Engine(user_model=registered)`` embeds with it
under ``user:NAME+tta6``: its embeddings never compare with another model's (``ModelError``),
and it has no similarity calibration until one is given for its id (``--calibration D90:D99``,
the descriptor distances at which the user measured a false-match rate of 1e-3 and 1e-4 with
test-time augmentation, or ``faceledger model calibrate NAME``, which measures them on a
labelled set), so without one a threshold means nothing for it and its comparisons are refused.
Identification with it can be gated on its fairness audit (policy ``require.audit_on_file``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faceledger.errors import ModelError

MODELS_DIR = "models"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ALIGNMENTS = ("dlib-150", "arcface-112")
"""How chips are cut for a model: dlib's aligned chip (padding 0.25, scaled to the input size)
or the ArcFace five-point template (112×112, scaled to the input size)."""


@dataclass(frozen=True, slots=True)
class UserModel:
    name: str
    file: Path
    sha256: str
    added_at: str
    calibration: tuple[float, float] | None = None
    """(d90, d99): the distances its similarity 90 and 99 sit at (``+tta6`` embeddings)."""
    kind: str = "dlib"
    """``dlib`` (a ResNet .dat) or ``onnx``."""
    input_size: int = 150
    normalization: str = "uint8"
    alignment: str = "dlib-150"
    calibrated_on: dict[str, Any] | None = None
    """What ``faceledger model calibrate`` fitted the calibration on (None: given by hand)."""

    @property
    def fingerprint(self) -> str:
        """What decides its embeddings: the file and how its chips are made."""
        return f"{self.sha256}/{self.kind}/{self.input_size}/{self.normalization}/{self.alignment}"

    @property
    def model_id(self) -> str:
        """The descriptor's id (the Engine appends ``+tta6`` with test-time augmentation)."""
        return f"user:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model_id": self.model_id,
            "kind": self.kind,
            "file": str(self.file),
            "sha256": self.sha256,
            "added_at": self.added_at,
            "input_size": self.input_size,
            "normalization": self.normalization,
            "alignment": self.alignment,
            "calibration": list(self.calibration) if self.calibration else None,
            "calibrated_on": self.calibrated_on,
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> UserModel:
        cal = body.get("calibration")
        return cls(
            body["name"], Path(body["file"]), body["sha256"], body["added_at"],
            (float(cal[0]), float(cal[1])) if cal else None,
            body.get("kind", "dlib"), int(body.get("input_size", 150)),
            body.get("normalization", "uint8"), body.get("alignment", "dlib-150"),
            body.get("calibrated_on"),
        )  # fmt: skip

    def register_calibration(self) -> None:
        """Make its similarity scale known to ``engine.similarity`` (process-wide, by model id:
        the model of a name loaded last decides), or unknown if it was given none."""
        from faceledger.engine.similarity import CALIBRATIONS, Calibration

        key = f"{self.model_id}+tta6"
        if self.calibration is not None:
            CALIBRATIONS[key] = Calibration.from_targets(*self.calibration)
        else:
            CALIBRATIONS.pop(key, None)


def parse_calibration(text: str) -> tuple[float, float]:
    """``D90:D99`` as given on the command line: two distances, the first the larger."""
    try:
        d90, d99 = (float(x) for x in text.split(":"))
    except ValueError:
        raise ModelError(
            f"calibration {text!r}: give D90:D99, the distances at FMR 1e-3 and 1e-4"
        ) from None
    if not 0 < d99 < d90:
        raise ModelError(f"calibration {text!r}: need 0 < D99 < D90 (D90 is the looser)")
    return d90, d99


def add(
    data_dir: Path,
    source: Path,
    name: str,
    calibration: tuple[float, float] | None = None,
    *,
    input_size: int | None = None,
    normalization: str | None = None,
    alignment: str | None = None,
) -> UserModel:
    """Register ``source`` (a dlib ResNet descriptor ``.dat``, or an ``.onnx`` embedding model
    with its ``input_size``, ``normalization`` and ``alignment``) as ``user:<name>``."""
    if not NAME.match(name):
        raise ModelError(
            f"model name {name!r}: use 1-63 lowercase letters, digits, '.', '_' or '-'"
        )
    source = Path(source)
    if not source.is_file():
        raise ModelError(f"{source}: no such file")
    folder = Path(data_dir) / MODELS_DIR
    if (folder / f"{name}.json").exists():
        raise ModelError(f"a model named {name!r} is registered already; choose another name")
    onnx = source.suffix.lower() == ".onnx"
    if onnx:
        if input_size is None or normalization is None or alignment is None:
            raise ModelError(
                f"{source}: an ONNX model needs --input-size, --normalization and --alignment "
                f"({' or '.join(ALIGNMENTS)})"
            )
        if alignment not in ALIGNMENTS:
            raise ModelError(f"alignment {alignment!r}: use {' or '.join(ALIGNMENTS)}")
        if not 32 <= input_size <= 512:
            raise ModelError(f"input size {input_size}: give the chip side in pixels, 32-512")
    else:
        if (input_size, normalization, alignment) != (None, None, None):
            raise ModelError(
                f"{source}: --input-size, --normalization and --alignment are for .onnx models "
                "(a dlib .dat says its own)"
            )
        _check_descriptor(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    when = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    target = folder / f"{name}{'.onnx' if onnx else '.dat'}"
    if onnx:
        model = UserModel(
            name, source, digest, when, calibration, "onnx", input_size, normalization, alignment
        )  # type: ignore[arg-type]
        _check_onnx(model)
    else:
        model = UserModel(name, source, digest, when, calibration)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    model = replace(model, file=target)
    _write(folder, model)
    return model


def set_calibration(
    data_dir: Path, name: str, calibration: tuple[float, float], on: dict[str, Any]
) -> UserModel:
    """Store a fitted calibration with the model (``faceledger model calibrate``)."""
    model = replace(get(data_dir, name), calibration=calibration, calibrated_on=on)
    _write(Path(data_dir) / MODELS_DIR, model)
    return model


def _write(folder: Path, model: UserModel) -> None:
    record = folder / f"{model.name}.json"
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(model.to_dict(), indent=1))
    tmp.replace(record)


def registered(data_dir: Path) -> list[UserModel]:
    folder = Path(data_dir) / MODELS_DIR
    out = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        out.append(UserModel.from_dict(json.loads(record.read_text())))
    return out


def get(data_dir: Path, name: str) -> UserModel:
    for model in registered(data_dir):
        if name in (model.name, model.model_id):
            model_bytes = model.file.read_bytes() if model.file.is_file() else b""
            if hashlib.sha256(model_bytes).hexdigest() != model.sha256:
                raise ModelError(f"model {model.model_id}: its file changed since it was added")
            return model
    raise ModelError(f"no model {name!r} registered; `faceledger model add FILE --name NAME`")


def _check_descriptor(path: Path) -> None:
    """The file must be a dlib DNN whose output is a 128-D descriptor the converter can build."""
    from faceledger.engine.onnx import convert

    try:
        convert.descriptor_onnx(path)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - the converter's own message says what it met
        raise ModelError(
            f"{path}: not a dlib face descriptor network of the ResNet family that faceledger "
            f"can convert ({type(exc).__name__}: {exc})"
        ) from None


def _check_onnx(model: UserModel) -> None:
    """onnxruntime loads it, its input fits the options, and it gives 128 finite numbers for a
    chip (a grey one: any image will do to check the shapes)."""
    import numpy as np

    from faceledger.engine.onnx.user import OnnxEmbedder

    try:
        embedder = OnnxEmbedder(
            model.file, model_id=model.model_id, size=model.input_size,
            normalization=model.normalization, threads=1,
        )  # fmt: skip
        embedder.compute(np.full((2, model.input_size, model.input_size, 3), 128, np.uint8))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own message says what it met
        raise ModelError(
            f"{model.file}: onnxruntime cannot run it on {model.input_size}-pixel chips "
            f"({type(exc).__name__}: {exc})"
        ) from None
