"""The monitoring log: entries by kind and window, and a crash mid-append never makes it unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millpond.models.monitoring import MonitoringLog


def test_entries_filter_by_kind_and_window_and_kpi_history_keeps_the_latest_per_window(tmp_path: Path) -> None:
    log = MonitoringLog(tmp_path, "churn")
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.7})
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.71})
    log.append("kpi", "2025-02", metrics={"roc_auc": 0.8})
    log.append("drift", "2025-02", data_drift=False)
    assert [e["kind"] for e in log.entries(window="2025-02")] == ["kpi", "drift"]
    assert log.latest("kpi", "2025-01")["metrics"] == {"roc_auc": 0.71}
    assert log.kpi_history("roc_auc", before="2025-03") == [("2025-01", 0.71), ("2025-02", 0.8)]
    line = (tmp_path / "churn" / "monitoring.jsonl").read_text().splitlines()[-1]
    assert line == json.dumps(json.loads(line), sort_keys=True)  # key-sorted JSON, one entry a line
    with pytest.raises(ValueError, match="kind must be one of"):
        log.append("kpis", "2025-01")


def test_a_torn_last_line_is_skipped_then_cut_by_the_next_append(tmp_path: Path) -> None:
    log = MonitoringLog(tmp_path, "churn")
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.7})
    with open(log.path, "ab") as handle:
        handle.write(b'{"kind": "decision", "win')  # a cycle killed mid-append
    assert [e["window"] for e in log.entries()] == ["2025-01"]  # earlier code raised here
    assert log.latest("decision", "2025-01") is None
    log.append("decision", "2025-01", outcome="promoted")
    assert [json.loads(line)["kind"] for line in log.path.read_bytes().splitlines()] == ["kpi", "decision"]
    assert log.latest("decision", "2025-01")["outcome"] == "promoted"
