"""What a run read and wrote, with sha256: the :class:`Artifact` a run manifest's ``inputs`` and ``outputs`` hold.

An artifact is one stored thing a stage read or wrote: a mart version (its ``data.parquet``), a model version (its
``model.skops``), a raw source file, a database query, a transform, a capture part, a quarantine file, or one line
appended to a log. ``path`` is the file the ``sha256`` covers, relative to the workspace; a log line also has the
byte ``offset`` it starts at (logs are append-only, so it never moves); a database query has no file: its ``ref`` is
the source and its redacted URL, its ``sha256`` that of the query text.

A stage records what it touches in a :class:`Ledger` (``with recording(workspace_root) as ledger``): the stores note
each read and write into every active ledger (:func:`note_read`, :func:`note_written`); with no ledger open, noting
does nothing. The manifest keeps them as ``{artifact.key: artifact.to_dict()}`` (:func:`as_manifest`), and
:func:`from_manifest` reads them back, including the flat ``name``/``name_sha256`` pairs older ad-hoc records hold.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = (
    "mart_version",  # ref NAME@VERSION, path its data.parquet, sha256 from the mart manifest
    "model_version",  # ref NAME@VERSION, path its model.skops, sha256 from the model store
    "raw_file",  # ref = path of a raw source file
    "database_query",  # ref "<source>: <redacted URL>", sha256 of the query text, no path
    "transform",  # ref = path of the mart's SQL transform
    "capture_part",  # ref = path of one capture part
    "quarantine",  # ref = path of the rows an ingest refused
    "log_entry",  # ref = path of the log, offset where the line starts, sha256 of the line (newline included)
    "input_file",  # ref = path of a file ``millpond score`` scored
    "predictions",  # ref = path of the predictions ``millpond score`` wrote where its user asked
)


@dataclass(frozen=True)
class Artifact:
    """One thing a run read or wrote, and the sha256 it had then."""

    kind: str
    ref: str
    sha256: str
    path: str | None = None  # the file the sha256 covers, relative to the workspace (None: not a file)
    offset: int | None = None  # a log line's first byte in the log

    @property
    def key(self) -> str:
        """The artifact's key in the manifest: ``kind:ref`` (and ``@offset`` for a log line)."""
        return f"{self.kind}:{self.ref}" + (f"@{self.offset}" if self.offset is not None else "")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "ref": self.ref, "sha256": self.sha256, "path": self.path}
        if self.offset is not None:
            data["offset"] = self.offset
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifact:
        offset = data.get("offset")
        return cls(
            str(data["kind"]),
            str(data["ref"]),
            str(data["sha256"]),
            None if data.get("path") is None else str(data["path"]),
            None if offset is None else int(offset),
        )


def as_manifest(artifacts: Iterable[Artifact]) -> dict[str, dict[str, Any]]:
    """Artifacts as a manifest's ``inputs`` or ``outputs`` hold them: by key, in key order."""
    by_key = {a.key: a.to_dict() for a in artifacts}
    return {key: by_key[key] for key in sorted(by_key)}


def from_manifest(entries: Mapping[str, Any]) -> list[Artifact]:
    """The artifacts of a manifest's ``inputs`` or ``outputs``; flat ``name`` + ``name_sha256`` pairs (ad-hoc
    records written before artifacts) are read as ``input_file``/``predictions``/``capture_part`` artifacts, and
    anything else (free-form values of older records) is left out."""
    found = []
    for name, value in entries.items():
        if isinstance(value, Mapping) and {"kind", "ref", "sha256"} <= set(value):
            found.append(Artifact.from_dict(value))
        elif isinstance(value, str) and isinstance(entries.get(f"{name}_sha256"), str) and entries[f"{name}_sha256"]:
            kind = "capture_part" if name.startswith("capture_") else _LEGACY_KINDS.get(name)
            if kind is not None:
                path = None if kind == "model_version" else value
                found.append(Artifact(kind, value, str(entries[f"{name}_sha256"]), path))
    return found


_LEGACY_KINDS = {"file": "input_file", "model": "model_version", "predictions": "predictions"}


@dataclass
class Ledger:
    """What one stage read and wrote, as the stores noted it (paths relative to ``root``, the workspace)."""

    root: Path
    reads: dict[str, Artifact] = field(default_factory=dict)
    writes: dict[str, Artifact] = field(default_factory=dict)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the workspace (POSIX), or as given when it lies outside it."""
        for shown, root in (
            (Path(os.path.abspath(path)), Path(os.path.abspath(self.root))),
            (Path(path).resolve(), self.root.resolve()),
        ):
            try:
                return shown.relative_to(root).as_posix()
            except ValueError:
                continue
        return str(path)

    def artifact(
        self, kind: str, path: str | os.PathLike[str] | None, sha256: str, ref: str | None, offset: int | None
    ) -> Artifact:
        shown = None if path is None else self.relative(path)
        return Artifact(kind, ref if ref is not None else str(shown), sha256, shown, offset)

    @property
    def inputs(self) -> list[Artifact]:
        """What was read, without what this stage wrote itself (reading back its own output is not an input)."""
        return [a for key, a in self.reads.items() if key not in self.writes]

    @property
    def outputs(self) -> list[Artifact]:
        return list(self.writes.values())


_LEDGERS: ContextVar[tuple[Ledger, ...]] = ContextVar("millpond_ledgers", default=())


@contextmanager
def recording(root: str | os.PathLike[str]) -> Iterator[Ledger]:
    """Open a ledger of what the code inside reads and writes (ledgers nest: each one open gets every note)."""
    ledger = Ledger(Path(root))
    token = _LEDGERS.set((*_LEDGERS.get(), ledger))
    try:
        yield ledger
    finally:
        _LEDGERS.reset(token)


def _note(
    side: str, kind: str, path: str | os.PathLike[str] | None, sha256: str, ref: str | None, offset: int | None
) -> None:
    for ledger in _LEDGERS.get():
        artifact = ledger.artifact(kind, path, sha256, ref, offset)
        getattr(ledger, side)[artifact.key] = artifact


def note_read(
    kind: str,
    path: str | os.PathLike[str] | None,
    sha256: str,
    *,
    ref: str | None = None,
    offset: int | None = None,
) -> None:
    """Tell every open ledger that ``path`` (with ``sha256``) was read; ``ref`` defaults to the relative path."""
    _note("reads", kind, path, sha256, ref, offset)


def note_written(
    kind: str,
    path: str | os.PathLike[str] | None,
    sha256: str,
    *,
    ref: str | None = None,
    offset: int | None = None,
) -> None:
    """Tell every open ledger that ``path`` was written with ``sha256``; ``ref`` defaults to the relative path."""
    _note("writes", kind, path, sha256, ref, offset)
