"""The one parser for the references commands take: ``NAME@SELECTOR`` for a model, ``MART@SELECTOR`` for a mart.

A model selector is an alias (champion, challenger, previous, latest) or a version id (a unique prefix of at least
4 characters is enough); a mart selector is a version id (``<window>-<12 hex digits>``) or a window (its newest
version). Without ``@SELECTOR`` the command's default applies. Parsing checks the syntax only: the stores resolve
the selector and name what does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from millpond.errors import MillpondError

RefOf = Literal["model", "mart"]
SelectorKind = Literal["none", "alias", "version", "window"]

MODEL_SELECTORS_BY_NAME = ("champion", "challenger", "previous", "latest")  # models.store.ALIASES and 'latest'
_MART_VERSION = re.compile(r".+-[0-9a-f]{12}")  # marts.store.version_id: <window>-<12 hex digits of the content hash>

_SYNTAX: dict[RefOf, str] = {
    "model": "must look like NAME@champion, NAME@challenger or NAME@<version>, e.g. 'churn@champion'",
    "mart": "must look like MART, MART@VERSION or MART@WINDOW, e.g. 'churn@2025-03'",
}


class RefError(MillpondError, ValueError):
    """A model or mart reference is malformed: no name, or an ``@`` with nothing after it (exit 2)."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference: the model or mart ``name``, its ``selector`` (None: not given) and what the selector is."""

    name: str
    selector: str | None
    kind: SelectorKind

    def __str__(self) -> str:
        return self.name if self.selector is None else f"{self.name}@{self.selector}"

    def selector_or(self, default: str) -> str:
        """The selector, or ``default`` (e.g. 'champion') when the reference has none."""
        return default if self.selector is None else self.selector


def parse_ref(text: str, *, of: RefOf = "model") -> Ref:
    """Split ``NAME``, ``NAME@ALIAS``, ``NAME@VERSION`` or ``MART@WINDOW`` (``of`` says which message a bad one gets).

    Raises :class:`RefError` (exit 2) for an empty name or a trailing ``@``.
    """
    name, sep, selector = str(text).partition("@")
    if not name or (sep and not selector):
        raise RefError(f"{of.capitalize()} reference {text!r} {_SYNTAX[of]}.")
    chosen = selector if sep else None
    return Ref(name, chosen, selector_kind(chosen, of=of))


def selector_kind(selector: str | None, *, of: RefOf = "model") -> SelectorKind:
    """What a selector names, from its spelling alone."""
    if selector is None:
        return "none"
    if of == "model":
        return "alias" if selector in MODEL_SELECTORS_BY_NAME else "version"
    return "version" if _MART_VERSION.fullmatch(selector) else "window"
