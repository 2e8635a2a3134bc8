"""The monitoring log of one model: KPIs per window, drift verdicts and promotion decisions.

``model_store/<name>/monitoring.jsonl`` is append-only JSON lines; stages read
it to compare a window with the ones before it (model drift) and to know
whether a retrain or a decision already happened.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

KINDS = ("kpi", "drift", "decision", "model_kpi")  # model_kpi: KPIs of one model version (champion or challenger)


class MonitoringLog:
    """Append-only log of what the cycle observed and decided for one model."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.path = Path(model_store) / name / "monitoring.jsonl"

    def append(self, kind: str, window: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (flushed to disk before returning)."""
        if kind not in KINDS:
            raise ValueError(f"monitoring entry kind must be one of {KINDS}, got {kind!r}")
        entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "kind": kind, "window": window, **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        with FileLock(str(self.path) + ".lock", timeout=30), open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def entries(self, kind: str | None = None, window: str | None = None) -> list[dict[str, Any]]:
        """Entries in the order they were written, optionally filtered."""
        if not self.path.exists():
            return []
        found = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                entry = json.loads(line)
                if (kind is None or entry["kind"] == kind) and (window is None or entry["window"] == window):
                    found.append(entry)
        return found

    def latest(self, kind: str, window: str) -> dict[str, Any] | None:
        """The newest entry of ``kind`` for ``window``."""
        matches = self.entries(kind, window)
        return matches[-1] if matches else None

    def kpi_history(self, metric: str, before: str, count: int = 2) -> list[tuple[str, float]]:
        """The latest KPI value per window for the ``count`` windows before ``before`` (oldest first)."""
        per_window: dict[str, float] = {}
        for entry in self.entries("kpi"):
            if entry["window"] < before and entry.get("metrics", {}).get(metric) is not None:
                per_window[entry["window"]] = float(entry["metrics"][metric])
        return sorted(per_window.items())[-count:]
