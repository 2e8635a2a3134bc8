"""The monitoring log of one model: KPIs per window, drift verdicts and promotion decisions.

``model_store/<name>/monitoring.jsonl`` is append-only JSON lines (a
:class:`~millpond.store.log.JsonLinesLog`: a line torn by a crash is skipped and
cut off by the next append); stages read it to compare a window with the ones
before it (model drift) and to know whether a retrain or a decision already happened.
Baselines (the KPI history model drift compares with, the earlier champions promotion
compares with) are built only from entries that name the run that wrote them
(``run_id``): an entry without one is left out with a warning.

One KPI per window and model version: a ``kpi`` or ``model_kpi`` entry for a window and model version that already
has one supersedes it (a re-run of the window after a kill, or labels added again). The new entry records which
(``supersedes``: the run id and time of each entry it replaces); baselines and :meth:`MonitoringLog.current` read
only the latest, so a window's KPI always comes from one run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.store.checkpoint import checkpoint
from millpond.store.log import JsonLinesLog

KINDS = ("kpi", "drift", "decision", "model_kpi")
SUPERSEDING = (
    "kpi",
    "model_kpi",
)  # kinds of which a window and model version keep one entry: the latest  # model_kpi: KPIs of one model version (champion or challenger)
MONITORING_FILE = "monitoring.jsonl"
log = logging.getLogger(__name__)


_ENVELOPE = ("time", "kind", "window", "run_id", "model_version", "supersedes")


@dataclass(frozen=True)
class MonitoringEntry:
    """One line of the monitoring log: its ``kind`` and ``window``, the run that wrote it, the model version it is
    about, what it superseded, and the kind's own ``fields`` (metrics of a KPI, verdicts of a drift entry, the
    outcome of a decision…), with properties for the fields the cycle reads."""

    kind: str
    window: str
    time: str = ""
    run_id: str | None = None
    model_version: str | None = None
    supersedes: list[dict[str, Any]] | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitoringEntry:
        """The entry of one parsed line (older lines may lack ``run_id`` or ``model_version``)."""
        return cls(
            kind=str(data.get("kind", "")),
            window=str(data.get("window", "")),
            time=str(data.get("time", "")),
            run_id=data.get("run_id") or None,
            model_version=data.get("model_version"),
            supersedes=data.get("supersedes"),
            fields={k: v for k, v in data.items() if k not in _ENVELOPE},
        )

    def to_dict(self) -> dict[str, Any]:
        """The line's JSON object (keys the line did not hold stay out)."""
        envelope = {"time": self.time, "kind": self.kind, "window": self.window}
        optional = (("run_id", self.run_id), ("model_version", self.model_version), ("supersedes", self.supersedes))
        return {**envelope, **{k: v for k, v in optional if v is not None}, **self.fields}

    @property
    def metrics(self) -> dict[str, Any]:
        """A KPI entry's metrics (empty for other kinds)."""
        return dict(self.fields.get("metrics") or {})

    @property
    def candidate(self) -> str | None:
        """The model version a decision is about."""
        value = self.fields.get("candidate")
        return str(value) if value else None

    @property
    def outcome(self) -> str | None:
        """A decision's outcome (``promoted``, ``awaiting_approval``, ``rejected_by_person``…)."""
        value = self.fields.get("outcome")
        return str(value) if value else None

    @property
    def champion(self) -> str | None:
        """The champion a drift entry judged."""
        value = self.fields.get("champion")
        return str(value) if value else None

    @property
    def data_drift(self) -> bool:
        """A drift entry's data-drift verdict."""
        return bool(self.fields.get("data_drift"))

    @property
    def model_drift(self) -> bool:
        """A drift entry's model-drift verdict."""
        return bool(self.fields.get("model_drift"))


class MonitoringLog:
    """Append-only log of what the cycle observed and decided for one model."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.path = Path(model_store) / name / MONITORING_FILE
        self.log = JsonLinesLog(self.path)

    def append(self, kind: str, window: str, **fields: Any) -> MonitoringEntry:
        """Append one entry (flushed to disk before returning)."""
        if kind not in KINDS:
            raise ValueError(f"monitoring entry kind must be one of {KINDS}, got {kind!r}")
        entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "kind": kind, "window": window, **fields}
        if kind in SUPERSEDING:
            version = fields.get("model_version")
            earlier = [e for e in self.entries(kind, window) if e.model_version == version]
            if earlier:  # the latest of them, which itself superseded any before it
                entry["supersedes"] = [{"run_id": earlier[-1].run_id, "time": earlier[-1].time}]
        written = self.log.append(entry)
        checkpoint("monitoring-appended")
        return MonitoringEntry.from_dict(written)

    def current(self, kind: str) -> list[MonitoringEntry]:
        """The entries of ``kind`` baselines read: named runs only and, for KPIs, the latest per window and model
        version (what a later entry superseded is left out), in the order written."""
        named = self.run_entries(kind)
        if kind not in SUPERSEDING:
            return named
        latest: dict[tuple[str, str | None], MonitoringEntry] = {}
        for entry in named:
            latest[(entry.window, entry.model_version)] = entry
        kept = {id(e) for e in latest.values()}
        return [e for e in named if id(e) in kept]

    def entries(self, kind: str | None = None, window: str | None = None) -> list[MonitoringEntry]:
        """Entries in the order they were written, optionally filtered."""
        every = (MonitoringEntry.from_dict(line) for line in self.log)
        return [e for e in every if (kind is None or e.kind == kind) and (window is None or e.window == window)]

    def latest(self, kind: str, window: str) -> MonitoringEntry | None:
        """The newest entry of ``kind`` for ``window``."""
        matches = self.entries(kind, window)
        return matches[-1] if matches else None

    def run_entries(self, kind: str) -> list[MonitoringEntry]:
        """Entries of ``kind`` that name their run (``run_id``), in the order written: what baselines are built from.

        An entry without a run id (appended by hand, or by code that records no run) is left out, with a warning
        naming its window and this file.
        """
        named = []
        for entry in self.entries(kind):
            if entry.run_id:
                named.append(entry)
            else:
                log.warning(
                    "%s: %s entry for window %s names no run (no run_id); left out of the baselines",
                    self.path,
                    kind,
                    entry.window,
                )
        return named

    def kpi_history(self, metric: str, before: str, count: int = 2) -> list[tuple[str, float]]:
        """The latest KPI value per window for the ``count`` windows before ``before`` (oldest first).

        Only entries that name their run count (:meth:`run_entries`).
        """
        per_window: dict[str, float] = {}
        for entry in self.current("kpi"):
            value = entry.metrics.get(metric)
            if entry.window < before and value is not None:
                per_window[entry.window] = float(value)
        return sorted(per_window.items())[-count:]
