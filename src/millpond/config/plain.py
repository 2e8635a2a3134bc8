"""Plain data: what a parameter value may be (str, int, finite float, bool, None, lists and str-keyed mappings).

Standard library only, so the params loader and validator (``millpond status``, a cycle refused by its lock) check
values without importing papermill; :mod:`millpond.config.injection` writes them into notebooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

# Containers deeper than this are refused (the params loader applies the same cap to YAML).
MAX_DEPTH = 20
Loc = tuple[str | int, ...]
_PLAIN = "give a string, number, true/false, null, list or mapping"


def iter_problems(
    value: Any, loc: Loc = (), depth: int = 0, check_leaf: Callable[[str | int], str | None] | None = None
) -> Iterator[tuple[Loc, str]]:
    """Why ``value`` is not a plain data tree: (key path, message) pairs, none when it is one.

    Plain: exactly ``str``, ``int``, ``bool``, ``None``, a finite ``float``, or a ``list`` / ``dict`` (``str`` keys)
    of plain values, at most :data:`MAX_DEPTH` containers deep. Subclasses are not plain (their ``repr`` is theirs).
    ``check_leaf``, when given, is asked about every string (keys too) and integer, and returns a problem or None.
    """
    kind = type(value)
    if kind in (str, int):
        problem = check_leaf(value) if check_leaf else None
        if problem is not None:
            yield loc, problem
    elif kind is float:
        if not math.isfinite(value):
            yield (
                loc,
                f"{value!r} is not allowed (NaN and infinities make comparisons meaningless); give a finite number",
            )
    elif kind in (list, dict):
        if depth >= MAX_DEPTH:
            yield loc, f"lists and mappings nested more than {MAX_DEPTH} deep; flatten them"
            return
        items = value.items() if kind is dict else enumerate(value)
        for key, item in items:
            if kind is dict and type(key) is not str:
                yield loc, f"the key {key!r} is a {type(key).__name__}; mapping keys must be strings"
                continue
            if kind is dict and check_leaf is not None and (problem := check_leaf(key)) is not None:
                yield (*loc, key), f"(the key) {problem}"
            yield from iter_problems(item, (*loc, key), depth + 1, check_leaf)
    elif value is not None and kind is not bool:
        yield loc, f"a {kind.__name__} value is not plain data; {_PLAIN}"


def dotted(loc: Loc) -> str:
    """('model', 'params', 'learning_rate') -> 'model.params.learning_rate'."""
    return ".".join(str(part) for part in loc)
