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


class MonitoringLog:
    """Append-only log of what the cycle observed and decided for one model."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.path = Path(model_store) / name / MONITORING_FILE
        self.log = JsonLinesLog(self.path)

    def append(self, kind: str, window: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (flushed to disk before returning)."""
        if kind not in KINDS:
            raise ValueError(f"monitoring entry kind must be one of {KINDS}, got {kind!r}")
        entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "kind": kind, "window": window, **fields}
        if kind in SUPERSEDING:
            earlier = [e for e in self.entries(kind, window) if e.get("model_version") == fields.get("model_version")]
            if earlier:  # the latest of them, which itself superseded any before it
                entry["supersedes"] = [{"run_id": earlier[-1].get("run_id"), "time": earlier[-1].get("time")}]
        written = self.log.append(entry)
        checkpoint("monitoring-appended")
        return written

    def current(self, kind: str) -> list[dict[str, Any]]:
        """The entries of ``kind`` baselines read: named runs only and, for KPIs, the latest per window and model
        version (what a later entry superseded is left out), in the order written."""
        named = self.run_entries(kind)
        if kind not in SUPERSEDING:
            return named
        latest: dict[tuple[Any, Any], dict[str, Any]] = {}
        for entry in named:
            latest[(entry["window"], entry.get("model_version"))] = entry
        kept = {id(e) for e in latest.values()}
        return [e for e in named if id(e) in kept]

    def entries(self, kind: str | None = None, window: str | None = None) -> list[dict[str, Any]]:
        """Entries in the order they were written, optionally filtered."""
        return [
            entry
            for entry in self.log
            if (kind is None or entry["kind"] == kind) and (window is None or entry["window"] == window)
        ]

    def latest(self, kind: str, window: str) -> dict[str, Any] | None:
        """The newest entry of ``kind`` for ``window``."""
        matches = self.entries(kind, window)
        return matches[-1] if matches else None

    def run_entries(self, kind: str) -> list[dict[str, Any]]:
        """Entries of ``kind`` that name their run (``run_id``), in the order written: what baselines are built from.

        An entry without a run id (appended by hand, or by code that records no run) is left out, with a warning
        naming its window and this file.
        """
        named = []
        for entry in self.entries(kind):
            if entry.get("run_id"):
                named.append(entry)
            else:
                log.warning(
                    "%s: %s entry for window %s names no run (no run_id); left out of the baselines",
                    self.path,
                    kind,
                    entry.get("window"),
                )
        return named

    def kpi_history(self, metric: str, before: str, count: int = 2) -> list[tuple[str, float]]:
        """The latest KPI value per window for the ``count`` windows before ``before`` (oldest first).

        Only entries that name their run count (:meth:`run_entries`).
        """
        per_window: dict[str, float] = {}
        for entry in self.current("kpi"):
            if entry["window"] < before and entry.get("metrics", {}).get(metric) is not None:
                per_window[entry["window"]] = float(entry["metrics"][metric])
        return sorted(per_window.items())[-count:]
