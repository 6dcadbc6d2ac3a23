"""Request members read as the Rekognition service model constrains them (lengths, patterns,
ranges, enums, Image.Bytes up to 5 MiB, no S3), Rekognition's error type, and the registry of
operations with the request members each reads (any other member is refused, never ignored)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Image.Bytes limit of the real service (5 MiB)."""
COLLECTION_ID = re.compile(r"[a-zA-Z0-9_.\-]+")
USER_ID = re.compile(r"[a-zA-Z0-9_.\-:]+")
EXTERNAL_IMAGE_ID = re.compile(r"[a-zA-Z0-9_.\-:]+")
FACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CLIENT_TOKEN = re.compile(r"[a-zA-Z0-9\-_]+")
LEAD_ID = re.compile(r"lead_[0-9a-f]{1,64}")
QUALITY_FILTERS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")
DEFAULT_ATTRIBUTES = ("DEFAULT",)
"""The facial attributes faceledger returns (BoundingBox, Confidence, Landmarks, Pose, Quality);
it estimates no age, gender, emotion, beard, glasses, eyes, mouth or occlusion."""
ATTRIBUTES = (
    "DEFAULT", "ALL", "AGE_RANGE", "BEARD", "EMOTIONS", "EYE_DIRECTION", "EYEGLASSES",
    "EYES_OPEN", "GENDER", "MOUTH_OPEN", "MUSTACHE", "FACE_OCCLUDED", "SMILE", "SUNGLASSES",
)  # fmt: skip


class RekognitionError(Exception):
    """An error in Rekognition's terms: ``__type`` and ``Message``."""

    def __init__(self, type_: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status


def invalid(message: str) -> RekognitionError:
    return RekognitionError("InvalidParameterException", message)


class Params:
    """The request's JSON members, read with the service model's constraints."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise RekognitionError("SerializationException", "The request body must be an object.")
        self.body = body
        self.read: set[str] = set()
        """Members the handler has asked for (present or not)."""

    def _get(self, name: str, kind: type | tuple[type, ...], required: bool) -> Any:
        self.read.add(name)
        value = self.body.get(name)
        if value is None:
            if required:
                raise invalid(f"Missing required parameter {name}.")
            return None
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise RekognitionError("SerializationException", f"{name} has the wrong type.")
        return value

    def string(
        self, name: str, *, required: bool = False, max_len: int = 255,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:  # fmt: skip
        value = self._get(name, str, required)
        if value is None:
            return None
        if not 1 <= len(value) <= max_len:
            raise invalid(f"{name} must be 1 to {max_len} characters long.")
        if pattern is not None and not pattern.fullmatch(value):
            raise invalid(f"{name} {value[:80]!r} must match {pattern.pattern}.")
        return value

    def required(self, name: str, **kw: Any) -> str:
        return self.string(name, required=True, **kw)  # type: ignore[return-value]

    def integer(self, name: str, lo: int, hi: int | None, default: int) -> int:
        value = self._get(name, int, False)
        if value is None:
            return default
        if value < lo or (hi is not None and value > hi):
            raise invalid(f"{name} must be between {lo} and {hi if hi is not None else 'any'}.")
        return value

    def percent(self, name: str, default: float) -> float:
        value = self._get(name, (int, float), False)
        if value is None:
            return default
        if not 0 <= value <= 100:
            raise invalid(f"{name} must be between 0 and 100.")
        return min(float(value), 99.9999)  # faceledger's scale stops short of 100

    def enum(self, name: str, values: tuple[str, ...], default: str) -> str:
        value = self._get(name, str, False)
        if value is None:
            return default
        if value not in values:
            raise invalid(f"{name} must be one of {', '.join(values)}.")
        return value

    def string_list(
        self, name: str, *, required: bool, lo: int, hi: int, pattern: re.Pattern[str],
        enum: tuple[str, ...] | None = None,
    ) -> list[str] | None:  # fmt: skip
        value = self._get(name, list, required)
        if value is None:
            return None
        if not lo <= len(value) <= hi:
            raise invalid(f"{name} must hold {lo} to {hi} items.")
        for item in value:
            if not isinstance(item, str):
                raise RekognitionError("SerializationException", f"{name} must hold strings.")
            if (
                enum is not None
                and item not in enum
                or enum is None
                and not pattern.fullmatch(item)
            ):
                raise invalid(f"{name}: {item[:80]!r} is not valid.")
        return value

    def image(self, name: str = "Image") -> bytes:
        image = self._get(name, dict, True)
        if image.get("S3Object") is not None:
            raise invalid(
                f"{name}.S3Object is not supported: faceledger has no S3. Send the image itself "
                f"as {name}.Bytes."
            )
        data = image.get("Bytes")
        if not isinstance(data, str) or not data:
            raise invalid(f"{name}.Bytes is required (the image, base64 in the JSON body).")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise RekognitionError(
                "SerializationException", f"{name}.Bytes is not valid base64."
            ) from None
        if len(raw) > MAX_IMAGE_BYTES:
            raise RekognitionError(
                "ImageTooLargeException",
                f"{name} is {len(raw):,} bytes; Image.Bytes may be at most {MAX_IMAGE_BYTES:,}.",
            )
        return raw

    def present(self, name: str) -> Any:
        """A member's raw value (None when absent), for a handler that only refuses it."""
        self.read.add(name)
        return self.body.get(name)

    def collection(self) -> str:
        return self.required("CollectionId", pattern=COLLECTION_ID)

    def user_id(self, required: bool = True) -> str | None:
        return self.string("UserId", required=required, max_len=128, pattern=USER_ID)

    def face_id(self, required: bool = True) -> str | None:
        return self.string("FaceId", required=required, max_len=36, pattern=FACE_ID)

    def face_ids(self, hi: int) -> list[str]:
        return self.string_list("FaceIds", required=True, lo=1, hi=hi, pattern=FACE_ID)  # type: ignore[return-value]

    def client_token(self) -> str | None:
        """``ClientRequestToken``: a retry with the same token is done once (see
        ``service.idempotency``)."""
        return self.string("ClientRequestToken", max_len=64, pattern=CLIENT_TOKEN)

    def quality(self, default: str) -> str:
        """``QualityFilter`` as faceledger's level: AUTO is LOW (service.quality)."""
        value = self.enum("QualityFilter", QUALITY_FILTERS, default)
        return "LOW" if value == "AUTO" else value

    def attributes(self, name: str) -> None:
        """``Attributes``/``DetectionAttributes``: DEFAULT (or none) only; anything else is
        refused rather than answered without the attributes asked for."""
        values = self.string_list(
            name, required=False, lo=0, hi=20, pattern=COLLECTION_ID, enum=ATTRIBUTES
        )
        other = [v for v in values or [] if v not in DEFAULT_ATTRIBUTES]
        if other:
            raise invalid(
                f"{name} {', '.join(dict.fromkeys(other))} is not supported: faceledger does not "
                "estimate age, gender, emotions or other facial attributes. Ask for DEFAULT (or "
                "leave it out): BoundingBox, Confidence, Landmarks, Pose and Quality."
            )


Handler = Callable[..., dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}
"""Operation name → handler ``(ctx, params, env) -> response``."""
MEMBERS: dict[str, frozenset[str]] = {}
"""Operation name → the request members its handler reads."""


def operation(name: str, *members: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``name`` reading exactly ``members``."""

    def register(handler: Handler) -> Handler:
        OPERATIONS[name] = handler
        MEMBERS[name] = frozenset(members)
        return handler

    return register


def check_members(name: str, body: dict[str, Any]) -> None:
    """Refuse members the operation does not read, naming them (never ignore one)."""
    extra = sorted(set(body) - MEMBERS[name])
    if extra:
        raise invalid(
            f"{name} does not support {', '.join(extra)} on faceledger (see "
            f"docs/rekognition.md); its parameters are: {', '.join(sorted(MEMBERS[name]))}."
        )
