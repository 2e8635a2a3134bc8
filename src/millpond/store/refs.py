"""The one way every store finds a stored object from what a person typed: :func:`resolve_id`.

Run ids, model version ids and mart version ids are long; people paste a piece of one. Every store's
``get`` resolves that piece the same way (:func:`matching_ids`), in this order, and stops at the first rule that matches:

1. the exact id;
2. the only id that *starts with* the query;
3. the only id that *contains* the query (e.g. a run's short hash and stage, ``a3f9/03-drift``).

A query shorter than :data:`MIN_PIECE` characters is matched exactly only, so ``03`` never picks a
run by accident. When a rule matches more than one id the store raises an ambiguity error listing them (a later
rule is not tried); when nothing matches, its not-found error with a "did you mean". Aliases (``champion``,
``latest``, a window) are each store's own vocabulary and are translated to an id before this is called.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_PIECE = 4
_SHOWN = 5


def matching_ids(query: str, ids: Iterable[str]) -> list[str]:
    """The ids the first matching rule selects (exact, prefix, substring); empty when none matches."""
    known = sorted(set(ids))
    if query in known:
        return [query]
    if len(query) < MIN_PIECE:
        return []
    prefixed = [i for i in known if i.startswith(query)]
    return prefixed or [i for i in known if query in i]


def shown_ids(found: list[str]) -> str:
    """The first few of several matching ids, for an ambiguity message."""
    return ", ".join(found[:_SHOWN]) + (", …" if len(found) > _SHOWN else "")
