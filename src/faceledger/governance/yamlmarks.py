"""A YAML loader that remembers where every value came from, for errors that name a line.

``load(text, source)`` returns plain data plus a :class:`Locator`; ``locator.find(loc)`` turns a
path such as ``("rules", 2, "when", "operations", 0)`` into the (line, column) of that value
(1-based), falling back to the nearest enclosing node that exists. Duplicate keys, which YAML
would silently let the last one win, are errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from faceledger.governance.errors import PolicyError, PolicyIssue


class _Marked:
    __slots__ = ("line", "column", "children")

    def __init__(self, node: Node) -> None:
        self.line = node.start_mark.line + 1
        self.column = node.start_mark.column + 1
        self.children: dict[Any, _Marked] = {}


class _Loader(yaml.SafeLoader):
    """SafeLoader that records a position tree beside the data (keyed by node identity)."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source = source
        self.duplicates: list[PolicyIssue] = []
        self._checked: set[int] = set()

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode) and id(node) not in self._checked:
            self._checked.add(id(node))
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:  # the keys written here, before merges (<<) apply
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                try:
                    key = self.construct_object(key_node, deep=True)
                    hash(key)
                except (ConstructorError, TypeError):
                    continue
                if key in seen:
                    first = seen[key].start_mark.line + 1
                    self.duplicates.append(
                        PolicyIssue(
                            self.source,
                            key_node.start_mark.line + 1,
                            key_node.start_mark.column + 1,
                            "",
                            f"duplicate key {key!r} (first at line {first})",
                        )
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _positions(loader: _Loader, node: Node | None) -> _Marked | None:
    if node is None:
        return None
    marked = _Marked(node)
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
                hash(key)
            except (ConstructorError, TypeError):
                continue
            child = _positions(loader, value_node)
            if child is not None:
                marked.children[key] = child
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            child = _positions(loader, item)
            if child is not None:
                marked.children[i] = child
    return marked


class Locator:
    def __init__(self, root: _Marked | None) -> None:
        self.root = root

    def find(self, loc: Sequence[Any]) -> tuple[int | None, int | None]:
        node = self.root
        if node is None:
            return None, None
        for part in loc:
            child = node.children.get(part)
            if child is None and isinstance(part, str) and part.isdigit():
                child = node.children.get(int(part))
            if child is None:
                continue  # pydantic adds union/validator names to locs; skip what is not data
            node = child
        return node.line, node.column


def load(text: str, source: str) -> tuple[Any, Locator]:
    """Parse YAML (safe tags only); raise :class:`PolicyError` with the line of a syntax error."""
    loader = _Loader(text, source)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
        positions = _positions(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        message = " ".join(x for x in (exc.context, exc.problem) if x) or str(exc)
        raise PolicyError([PolicyIssue(source, line, column, "", f"YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyIssue(source, None, None, "", f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise PolicyError(loader.duplicates)
    return data, Locator(positions)
