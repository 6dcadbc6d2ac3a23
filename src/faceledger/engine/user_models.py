"""Face descriptor models a user brings: a dlib DNN file of the ResNet family, with its own id.

``faceledger model add FILE --name NAME`` checks that the file is a dlib face descriptor network
the shipped converter can run (it is converted to ONNX once, as dlib's own file is), copies it
into ``<data dir>/models/NAME.dat`` with a record of its SHA-256, and gives it the model id
``user:NAME``. ``Engine(descriptor=registered)`` embeds with it under ``user:NAME+tta6``: its
embeddings never compare with another model's (``ModelError``), and it has no similarity
calibration until one is fitted for its id, so a threshold means nothing for it yet.
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
        }


def add(data_dir: Path, source: Path, name: str) -> UserModel:
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
    model = UserModel(name, target, digest, when)
    (folder / f"{name}.json").write_text(json.dumps(model.to_dict(), indent=1))
    return model


def registered(data_dir: Path) -> list[UserModel]:
    folder = Path(data_dir) / MODELS_DIR
    out = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        body = json.loads(record.read_text())
        out.append(UserModel(body["name"], Path(body["file"]), body["sha256"], body["added_at"]))
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
