"""The params YAML loader: plain data only, bounded, and every refusal names the line and the fix.

A params file is configuration people review as data, so the loader builds nothing
but untagged scalars (str, int, float, bool, null), lists and mappings with string
keys. Refused, naming the line: any explicit tag (``!!binary``, ``!!set``,
``!!timestamp``, ``!!python/...``, ``!custom``), anchors and aliases (an alias bomb
stops at its first anchor), merge keys ``<<``, a key given twice in one mapping,
nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_NODES` values, control characters (other than tab and
newline) and lone surrogates in strings, non-UTF-8 text and files larger than
:data:`MAX_PARAMS_BYTES` (checked before reading). Dates stay strings
('2025-03-01'), as papermill users expect.

libyaml (PyYAML's C parser) scans and parses when it is available, which keeps even
a 1 MiB file of small items under a second; composing (where the checks live) and
constructing stay PyYAML's Python code.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.cyaml import CParser
from yaml.resolver import Resolver

from millpond.config.plain import MAX_DEPTH
from millpond.errors import ParamsError

MAX_PARAMS_BYTES = 1 << 20  # 1 MiB, checked before reading
MAX_NODES = 10_000  # values (scalars, lists, mappings) in one file; a few hundred is typical
_TAB_NEWLINE = frozenset("\t\n\r")
_PLAIN = "millpond params are plain data: strings, numbers, true/false, null, lists and mappings"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


def bad_character(text: str) -> str | None:
    """The first control character (other than tab and newline) or lone surrogate in ``text``, described."""
    for char in text:
        if char not in _TAB_NEWLINE and unicodedata.category(char) in ("Cc", "Cs"):
            kind = "a lone surrogate" if unicodedata.category(char) == "Cs" else "a control character"
            return f"{kind} (U+{ord(char):04X})"
    return None


def _short_tag(tag: str) -> str:
    """'tag:yaml.org,2002:binary' -> '!!binary' (as written in the file)."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _refuse(what: str, mark: Any, fix: str) -> ParamsError:
    where = f"line {mark.line + 1}" if mark is not None else "somewhere"
    return ParamsError(f"{where}: {what}; {fix}.")


class _PlainData:
    """The checks, as hooks on PyYAML's composer and constructor (mixed in before them)."""

    depth = 0
    nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _refuse(
                "anchors and aliases are not supported in millpond params", event.start_mark, "write the value out"
            )
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _refuse(
                f"the tag {_short_tag(tag)!r} is not allowed ({_PLAIN})",
                event.start_mark,
                "remove the tag and write a plain value (quote it to make it a string)",
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refuse(
                f"more than {MAX_NODES:,} values in one file",
                event.start_mark,
                "a params file holds settings, not data",
            )
        nested = isinstance(event, yaml.CollectionStartEvent)
        self.depth += nested
        if self.depth > MAX_DEPTH:
            raise _refuse(f"lists and mappings nested more than {MAX_DEPTH} deep", event.start_mark, "flatten them")
        try:
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self.depth -= nested

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            mark = key_node.start_mark
            if key_node.tag == _MERGE:
                raise _refuse("merge keys '<<' are not supported in millpond params", mark, "write the keys out")
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
                raise _refuse(f"the key {shown!r} is not a string", mark, f'quote it ("{shown}") or use a name')
            if key_node.value in seen:
                raise _refuse(
                    f"the key {key_node.value!r} is given twice (lines {seen[key_node.value]} and {mark.line + 1})",
                    mark,
                    "keep one of them",
                )
            seen[key_node.value] = mark.line + 1
        return super().construct_mapping(node, deep)  # type: ignore[misc]

    def construct_plain_str(self, node: Any) -> str:
        value: str = self.construct_scalar(node)  # type: ignore[attr-defined]
        bad = bad_character(value)
        if bad is not None:
            raise _refuse(f"the string holds {bad}", node.start_mark, "remove it")
        return value


if yaml.__with_libyaml__:

    class ParamsLoader(_PlainData, Composer, CParser, SafeConstructor, Resolver):
        """libyaml's parser, PyYAML's composer and safe constructor, with the plain-data checks."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class ParamsLoader(_PlainData, yaml.SafeLoader):  # type: ignore[no-redef]
        """PyYAML's safe loader with the plain-data checks."""


ParamsLoader.add_constructor(_STR, ParamsLoader.construct_plain_str)
# No implicit timestamps (dates stay strings) and no '=' value tag (a plain '=' is a string).
ParamsLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}


def read_text(file: Path) -> str:
    """The file's text, refused when larger than :data:`MAX_PARAMS_BYTES` (checked before reading) or not UTF-8."""
    size = file.stat().st_size
    if size > MAX_PARAMS_BYTES:
        raise ParamsError(
            f"Parameter file {file} is {size:,} bytes, more than the {MAX_PARAMS_BYTES:,} allowed; "
            "a params file holds settings, not data (data belongs in feature_marts/)."
        )
    with open(file, "rb") as handle:
        raw = handle.read(MAX_PARAMS_BYTES + 1)  # bounded even if the file grew meanwhile
    if len(raw) > MAX_PARAMS_BYTES:
        raise ParamsError(f"Parameter file {file} is larger than the {MAX_PARAMS_BYTES:,} bytes allowed.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamsError(f"Parameter file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None


def parse_yaml(text: str, source: str = "parameters") -> Any:
    """Parse params YAML text with :class:`ParamsLoader` (plain data only), raising :class:`ParamsError`."""
    loader = ParamsLoader(text)
    try:
        return loader.get_single_data()
    except ParamsError as exc:
        raise ParamsError(f"Parameter file {source}, {exc}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"Parameter file {source} is not valid YAML: {exc}") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise ParamsError(
            f"Parameter file {source} holds a value millpond cannot read ({exc}); write it as a string"
        ) from None
    finally:
        loader.dispose()
