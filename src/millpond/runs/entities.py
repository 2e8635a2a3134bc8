"""The run record's entities: what ``manifest.json`` of one run folder holds, typed.

:class:`RunManifest` is the file's content: the caller describes the run (stage, status, params, timings and what
it read, wrote and glued) and :meth:`millpond.runs.store.RunStore.record` fills in where it is recorded (run and
cycle id), the sha256 of every file of the folder, and the code and package versions. ``to_json`` gives the file's
exact text, ``from_json`` reads it back: the keys and layout are those every recorded run already has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from millpond.errors import RunIntegrityError

MANIFEST_KEYS = (
    "run_id",
    "cycle_id",
    "stage",
    "use_case",
    "window",
    "status",
    "error",
    "skip_reason",
    "params",
    "inputs",
    "outputs",
    "files",
    "code",
    "packages",
    "timings",
    "scraps",
    "extra",
)


def utc(moment: datetime | str) -> datetime:
    """``moment`` in UTC (a naive datetime or ISO text without an offset is taken as UTC)."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | str) -> str:
    """ISO 8601 in UTC with microseconds, as run records write times."""
    return utc(moment).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RunTimings:
    """When a run started and finished (ISO 8601, UTC) and how long it took."""

    started_at: str
    finished_at: str
    duration_s: float

    @classmethod
    def between(cls, started: datetime | str, finished: datetime | str) -> RunTimings:
        start, finish = utc(started), utc(finished)
        return cls(iso(start), iso(finish), max(0.0, (finish - start).total_seconds()))

    def to_dict(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "finished_at": self.finished_at, "duration_s": self.duration_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunTimings:
        return cls(data["started_at"], data["finished_at"], data["duration_s"])


@dataclass(frozen=True)
class RunManifest:
    """One run's ``manifest.json``: what ran, how it ended, with which inputs, outputs, files, code and packages."""

    use_case: str
    window: str
    stage: str
    status: str  # 'succeeded' | 'failed' | 'skipped'
    timings: RunTimings
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skip_reason: str | None = None
    # what the run read and wrote: Artifact.key -> Artifact.to_dict() (millpond.store.artifacts; {} in older records)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    scraps: dict[str, Any] = field(default_factory=dict)  # what the notebook glued
    extra: dict[str, Any] = field(default_factory=dict)  # timings breakdown, reason, params change, kind…
    # filled in by RunStore.record:
    run_id: str = ""
    cycle_id: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path in the run folder -> sha256
    code: dict[str, Any] = field(default_factory=dict)  # git commit, dirty, branch
    packages: dict[str, Any] = field(default_factory=dict)  # distribution -> version

    @property
    def reason(self) -> str:
        """Why the stage did what it did (``extra.reason``), '' when it gave none."""
        return str(self.extra.get("reason") or "")

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the JSON object the file holds."""
        values = {name: getattr(self, name) for name in MANIFEST_KEYS}
        values["timings"] = self.timings.to_dict()
        return values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunManifest:
        """Read a manifest's JSON object; raises :class:`RunIntegrityError` when it lacks what every manifest has."""
        try:
            return cls(
                run_id=data.get("run_id", ""),
                cycle_id=data.get("cycle_id", ""),
                stage=data["stage"],
                use_case=data["use_case"],
                window=data["window"],
                status=data["status"],
                error=data.get("error"),
                skip_reason=data.get("skip_reason"),
                params=data.get("params") or {},
                inputs=data.get("inputs") or {},
                outputs=data.get("outputs") or {},
                files=data.get("files") or {},
                code=data.get("code") or {},
                packages=data.get("packages") or {},
                timings=RunTimings.from_dict(data["timings"]),
                scraps=data.get("scraps") or {},
                extra=data.get("extra") or {},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise RunIntegrityError(
                f"A run manifest lacks what every manifest holds ({exc!r}): check the run records with "
                "`millpond runs verify`."
            ) from exc

    def to_json(self) -> str:
        """The exact text of ``manifest.json``: indented, key-sorted JSON and a final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> RunManifest:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RunIntegrityError(
                f"A run manifest is not valid JSON ({exc}): check the run records with `millpond runs verify`."
            ) from exc
        return cls.from_dict(data)

    def normalised(self) -> RunManifest:
        """This manifest as the file will hold it: what JSON cannot hold natively (paths, tuples…) becomes text or
        lists, exactly as reading the written file back gives it."""
        return RunManifest.from_dict(json.loads(json.dumps(self.to_dict(), default=str)))
