"""The governed HTTP API: ``create_app`` and ``faceledger serve``."""

from faceledger.api.app import create_app

__all__ = ["create_app"]
