"""The typed record of one stored model version: ``versions/<version>/metadata.json``.

:class:`ModelMetadata` has one attribute per key the store and the train stage
write. A key missing from an older or hand-made file reads as its default (an
empty mapping or list, or None), and keys it does not know are kept in
``extra``, so :meth:`ModelMetadata.to_json` gives back the very bytes
:meth:`ModelMetadata.from_json` read: the file is key-sorted JSON indented by
two (what :func:`millpond.store.files.atomic_write_json` writes).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class ModelMetadata:
    """What the store recorded about one model version, with typed attributes.

    Written by the store: ``name``, ``version``, ``sha256`` (of ``model.skops``),
    ``created_at``, ``size_bytes``, ``skops_version``, ``sklearn_version``. Written
    by the train stage: the rest. Nested values stay as JSON holds them (dicts and
    lists), so their readers are unchanged.
    """

    sha256: str
    created_at: str
    name: str = ""
    version: str = ""
    size_bytes: int | None = None
    skops_version: str | None = None
    sklearn_version: str | None = None
    use_case: str | None = None
    task: str | None = None
    family: str | None = None
    model_params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    train_rows: int | None = None
    holdout_rows: int | None = None
    fit_seconds: float | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] | None = None
    trained_for_window: str | None = None
    training_marts: list[dict[str, Any]] = field(default_factory=list)
    input_schema: dict[str, str] = field(default_factory=dict)
    input_contract: dict[str, Any] | None = None
    input_example: list[dict[str, Any]] = field(default_factory=list)
    retrain_reasons: list[str] = field(default_factory=list)
    run_id: str | None = None
    code: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    column_order: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this class does not know, kept as read
    # the known keys the file holds (None: all of them); absent ones read as defaults and are not written back
    present: frozenset[str] | None = field(default=None, compare=False, repr=False)

    # --- JSON ------------------------------------------------------------------------------------------------
    @classmethod
    def known_keys(cls) -> tuple[str, ...]:
        """The metadata.json keys with an attribute of their own."""
        return tuple(f.name for f in fields(cls) if f.name not in ("extra", "present"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        """The entity of a metadata mapping (``sha256`` and ``created_at`` are required, as the store has always written them)."""
        missing = [key for key in ("sha256", "created_at") if key not in data]
        if missing:
            raise ValueError(f"model metadata has no {' or '.join(repr(key) for key in missing)}")
        known = set(cls.known_keys())
        values = {key: value for key, value in data.items() if key in known}
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra, present=frozenset(values))

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Parse the text of a metadata.json."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"model metadata must be a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The mapping metadata.json holds: every key that was read or set, unknown ones included."""
        keys = [key for key in self.known_keys() if self.present is None or key in self.present]
        return {**{key: getattr(self, key) for key in keys}, **self.extra}

    def to_json(self) -> str:
        """metadata.json's text: key-sorted, indented by two, a final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    # --- mapping bridge ------------------------------------------------------------------------------------------
    # For readers that still index metadata by key (``meta["params"]``, ``meta.get("metrics", {})``); new code uses
    # the attributes.
    def _lookup(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key in ("extra", "present") or not hasattr(self, key):
            return _MISSING
        if self.present is not None and key not in self.present:
            return _MISSING
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``metadata.json[key]``, or ``default`` when the file does not hold the key (as ``dict.get``)."""
        value = self._lookup(key)
        return default if value is _MISSING else value

    def __getitem__(self, key: str) -> Any:
        value = self._lookup(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not _MISSING


@dataclass(frozen=True)
class PendingSwitch:
    """A move of a model's aliases, written (``<name>/pending.json``) before ``aliases.json`` changes.

    The write-ahead record of :meth:`millpond.models.store.ModelStore.promote` and friends: a crash between any two
    writes of a move leaves it behind, and the next write to the model (or the next cycle, for a *governed* move)
    completes or undoes it from what it says. ``before`` and ``after`` are the whole aliases mapping on either side;
    each history entry of the move carries ``intent: id``, so recovery appends the missing ones exactly once.

    A governed move (a promotion by :mod:`millpond.governance.deployment`) is not done when the aliases moved: its
    audit entry, its smoke test and, when that fails, its rollback follow. ``phase`` says where it is: ``promote``
    (the alias move itself), ``rollback`` (the smoke test failed; ``after`` is the rollback), ``done`` (audited and
    tested; removed once the promotion's decision entry is in the monitoring log). ``context`` holds the version,
    the champion before, window, run id and, for a rollback, why.
    """

    id: str
    model: str
    action: str
    before: dict[str, str]
    after: dict[str, str]
    actor: str
    reason: str
    created_at: str
    governed: bool = False
    phase: str = "promote"
    context: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def new(
        cls,
        model: str,
        action: str,
        before: dict[str, str],
        after: dict[str, str],
        *,
        actor: str,
        reason: str,
        context: dict[str, Any] | None = None,
    ) -> PendingSwitch:
        """A move about to be made: a fresh id, the time now; governed when ``context`` is given."""
        return cls(
            id=uuid.uuid4().hex[:16],
            model=model,
            action=action,
            before=dict(before),
            after=dict(after),
            actor=actor,
            reason=reason,
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            governed=context is not None,
            context=dict(context or {}),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingSwitch:
        """Read ``pending.json`` (raises ``ValueError`` when it is not a pending move)."""
        if not isinstance(data, dict):
            raise ValueError(f"a JSON object was expected, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        missing = {"id", "model", "action", "before", "after"} - set(data)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
        if not (isinstance(data["before"], dict) and isinstance(data["after"], dict)):
            raise ValueError("'before' and 'after' must be mappings of alias to version")
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("actor", "")
        values.setdefault("reason", "")
        values.setdefault("created_at", "")
        return cls(**values)
