"""Validate raw Rekognition JSON against botocore's service model (read from the installed
botocore at test time): structures (known members, required ones), lists, maps, scalar types,
enums, string patterns and lengths, numeric ranges."""

from __future__ import annotations

import re
from typing import Any

import botocore.session

_MODEL = None


def service_model():
    global _MODEL
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("rekognition")
    return _MODEL


def validate_output(operation: str, body: Any) -> None:
    """Raise AssertionError naming the path of the first mismatch."""
    shape = service_model().operation_model(operation).output_shape
    problems: list[str] = []
    _walk(shape, body, operation, problems)
    assert not problems, f"{operation} response does not match the model: {problems[:5]}"


def _walk(shape, value: Any, path: str, problems: list[str]) -> None:  # noqa: ANN001, C901
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, expected an object")
            return
        members = shape.members
        for name in value:
            if name not in members:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}.{name}: required member missing")
        for name, member in members.items():
            if name in value:
                _walk(member, value[name], f"{path}.{name}", problems)
    elif t == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {type(value).__name__}, expected a list")
            return
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            problems.append(f"{path}: {len(value)} items > max {shape.metadata['max']}")
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{i}]", problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map")
            return
        for k, v in value.items():
            _walk(shape.key, k, f"{path}<key>", problems)
            _walk(shape.value, v, f"{path}[{k!r}]", problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {type(value).__name__}, expected a string")
            return
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in enum {shape.name}")
        meta = shape.metadata
        if "min" in meta and len(value) < meta["min"] or "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: length {len(value)} outside {meta}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {value!r}, expected an integer")
        else:
            _range(shape, value, path, problems)
    elif t in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{path}: {value!r}, expected a number")
        else:
            _range(shape, value, path, problems)
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {value!r}, expected a boolean")
    elif t == "timestamp":
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{path}: {value!r}, expected epoch seconds")
    elif t == "blob":
        if not isinstance(value, str):
            problems.append(f"{path}: expected base64 text")
    else:
        problems.append(f"{path}: unknown shape type {t}")


def _range(shape, value: float, path: str, problems: list[str]) -> None:  # noqa: ANN001
    meta = shape.metadata
    if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
        problems.append(f"{path}: {value} outside [{meta.get('min')}, {meta.get('max')}]")
