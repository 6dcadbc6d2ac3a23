"""Face descriptor models a user brings: a dlib DNN file of the ResNet family, with its own id.

``faceledger model add FILE --name NAME`` checks that the file is a dlib face descriptor network
the shipped converter can run (it is converted to ONNX once, as dlib's own file is), copies it
into ``<data dir>/models/NAME.dat`` with a record of its SHA-256, and gives it the model id
``user:NAME``. ``Engine(descriptor=registered)`` embeds with it under ``user:NAME+tta6``: its
embeddings never compare with another model's (``ModelError``), and it has no similarity
calibration until one is given for its id (``--calibration D90:D99``, the descriptor distances at
which the user measured a false-match rate of 1e-3 and 1e-4 with test-time augmentation), so
without one a threshold means nothing for it and its comparisons are refused.
Identification with it can be gated on its fairness audit (policy ``require.audit_on_file``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from faceledger.errors import ModelError

MODELS_DIR = "models"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True, slots=True)
class UserModel:
    name: str
    file: Path
    sha256: str
    added_at: str
    calibration: tuple[float, float] | None = None
    """(d90, d99): the distances its similarity 90 and 99 sit at (``+tta6`` embeddings)."""

    @property
    def model_id(self) -> str:
        """The descriptor's id (the Engine appends ``+tta6`` with test-time augmentation)."""
        return f"user:{self.name}"

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "model_id": self.model_id,
            "file": str(self.file),
            "sha256": self.sha256,
            "added_at": self.added_at,
            "calibration": list(self.calibration) if self.calibration else None,
        }

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
    data_dir: Path, source: Path, name: str, calibration: tuple[float, float] | None = None
) -> UserModel:
    """Register ``source`` (a dlib ResNet descriptor ``.dat``) as ``user:<name>``."""
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
    _check_descriptor(source)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.dat"
    shutil.copyfile(source, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    when = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    model = UserModel(name, target, digest, when, calibration)
    (folder / f"{name}.json").write_text(json.dumps(model.to_dict(), indent=1))
    return model


def registered(data_dir: Path) -> list[UserModel]:
    folder = Path(data_dir) / MODELS_DIR
    out = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        body = json.loads(record.read_text())
        cal = body.get("calibration")
        out.append(
            UserModel(
                body["name"], Path(body["file"]), body["sha256"], body["added_at"],
                (float(cal[0]), float(cal[1])) if cal else None,
            )
        )  # fmt: skip
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
