"""The library's exceptions: one base type, so callers catch one thing."""

from __future__ import annotations


class FaceledgerError(Exception):
    """Base of every error faceledger raises on purpose.

    ``code`` is a stable machine-readable identifier (used in JSON output and HTTP errors);
    the message is one line a person can act on.
    """

    code = "faceledger_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ImageError(FaceledgerError):
    """The input could not be turned into pixels: empty, not an image, corrupt, too large."""

    code = "invalid_image"


class VideoError(FaceledgerError):
    """A video could not be read: empty, not a video, unsupported codec, corrupt or truncated,
    or beyond a limit (size, duration, resolution, frame count, bit rate)."""

    code = "invalid_video"


class ModelError(FaceledgerError):
    """A model file is missing or embeddings of different models were mixed."""

    code = "model_error"


class NotFoundError(FaceledgerError):
    """No such object for this tenant (another tenant's objects are reported the same way)."""

    code = "not_found"


class ConflictError(FaceledgerError):
    """The object exists already, or its state does not allow the change."""

    code = "conflict"


class InvalidRequestError(FaceledgerError):
    """An argument is out of range or malformed (ids, free text, page size, batch size)."""

    code = "invalid_request"
