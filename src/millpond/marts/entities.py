"""The typed form of a mart version's ``manifest.json``.

:class:`MartManifest` holds exactly the keys the mart store has always written
(no new key, no renamed key), and :meth:`MartManifest.to_json` gives back the
bytes :meth:`MartManifest.from_json` read: key-sorted JSON indented by two
spaces with a closing newline, as ``store.files.atomic_write_json`` writes it.

Every version holds ``mart``, ``version``, ``window`` and ``created_at``.
The rest may be missing from a manifest (the keys of a mart spec —
``sources``, ``transform``, ``load``, ``contract``, ``warnings`` — are only
written for a use case with a ``mart:`` section, and a hand-made or older
manifest may lack others): such a key reads as ``None`` and is listed in
``omitted``, so writing the manifest back leaves it out again. Keys this
millpond does not know are kept, untouched, in ``extra``.

Read the attributes; :meth:`MartManifest.to_dict` gives the JSON object when a mapping is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from millpond.errors import MartError

REQUIRED = ("mart", "version", "window", "created_at")
SPEC_KEYS = frozenset({"sources", "transform", "load", "contract", "warnings"})  # only with a ``mart:`` section
_BOOKKEEPING = ("extra", "omitted")


@dataclass(frozen=True)
class MartManifest:
    """What ``feature_marts/<mart>/versions/<version>/manifest.json`` records about one version."""

    mart: str
    version: str
    window: str
    created_at: str
    columns: dict[str, str] | None = None  # pandas dtypes of the stored rows
    declared_columns: dict[str, str] | None = None  # the dtypes the params declare
    source: dict[str, Any] | None = None  # provenance of the main source (path or url, sha256…)
    run_id: str | None = None  # the run that ingested it
    sha256: str | None = None  # of data.parquet, set when the version is sealed
    rows: int | None = None
    sources: dict[str, dict[str, Any]] | None = None  # every source of a mart spec, by name
    transform: dict[str, Any] | None = None  # path and sha256 of the DuckDB transform
    load: str | None = None  # "incremental" or "full"
    contract: dict[str, Any] | None = None
    warnings: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this millpond does not know, kept as read
    omitted: frozenset[str] = frozenset()  # known keys the manifest does not hold (left out when written)

    # --- JSON ------------------------------------------------------------------------------------------------
    @classmethod
    def keys_known(cls) -> tuple[str, ...]:
        """The manifest keys this millpond reads and writes."""
        return tuple(f.name for f in fields(cls) if f.name not in _BOOKKEEPING)

    @classmethod
    def from_dict(cls, data: Any) -> MartManifest:
        """The entity of a parsed manifest; a :class:`MartError` when it is not one."""
        if not isinstance(data, dict):
            raise MartError(f"A mart manifest is a JSON object, not {type(data).__name__}.")
        missing = [key for key in REQUIRED if not isinstance(data.get(key), str)]
        if missing:
            raise MartError(f"A mart manifest needs text values for {', '.join(missing)}.")
        if data.get("rows") is not None and (isinstance(data["rows"], bool) or not isinstance(data["rows"], int)):
            raise MartError(f"A mart manifest's 'rows' is a whole number, not {data['rows']!r}.")
        known = cls.keys_known()
        return cls(
            **{key: data[key] for key in known if key in data},
            extra={key: value for key, value in data.items() if key not in known},
            omitted=frozenset(key for key in known if key not in data),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> MartManifest:
        """Parse the bytes of a ``manifest.json`` (a :class:`ValueError` when they are not a manifest)."""
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the plain dict it is stored as."""
        data = {key: getattr(self, key) for key in self.keys_known() if key not in self.omitted}
        data.update(self.extra)
        return data

    def to_json(self) -> str:
        """The text of ``manifest.json``: byte for byte what the store has always written."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"
