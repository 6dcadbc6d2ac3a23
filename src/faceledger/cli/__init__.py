"""The ``faceledger`` command. Thin: parse arguments, call the library or service, print.

Sub-command groups live in their own modules and are registered in ``app.py``.
"""

from faceledger.cli.app import app, main

__all__ = ["app", "main"]
