"""The monitoring log: entries by kind and window, and a crash mid-append never makes it unreadable."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from millpond.models.monitoring import MonitoringLog


def test_entries_filter_by_kind_and_window_and_kpi_history_keeps_the_latest_per_window(tmp_path: Path) -> None:
    log = MonitoringLog(tmp_path, "churn")
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.7}, run_id="c1/02-score")
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.71}, run_id="c2/02-score")
    log.append("kpi", "2025-02", metrics={"roc_auc": 0.8}, run_id="c3/02-score")
    log.append("drift", "2025-02", data_drift=False)
    assert [e.kind for e in log.entries(window="2025-02")] == ["kpi", "drift"]
    assert log.latest("kpi", "2025-01").metrics == {"roc_auc": 0.71}  # type: ignore[union-attr]
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
    assert [e.window for e in log.entries()] == ["2025-01"]  # earlier code raised here
    assert log.latest("decision", "2025-01") is None
    log.append("decision", "2025-01", outcome="promoted")
    assert [json.loads(line)["kind"] for line in log.path.read_bytes().splitlines()] == ["kpi", "decision"]
    assert log.latest("decision", "2025-01").outcome == "promoted"  # type: ignore[union-attr]


@pytest.mark.parametrize("run_id", [None, ""], ids=["run-id-none", "run-id-empty"])
def test_a_kpi_entry_that_names_no_run_is_left_out_of_the_baseline_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, run_id: str | None
) -> None:
    log = MonitoringLog(tmp_path, "churn")
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.7}, run_id="c1/02-score")
    log.append("kpi", "2025-02", metrics={"roc_auc": 0.8}, run_id="c2/02-score")
    baseline = log.kpi_history("roc_auc", before="2025-03")
    log.append("kpi", "2025-02", metrics={"roc_auc": 0.1}, run_id=run_id)  # e.g. appended by hand
    log.append("kpi", "2025-01", metrics={"roc_auc": 0.2})  # no run_id key at all
    with caplog.at_level(logging.WARNING, logger="millpond.models.monitoring"):
        assert log.kpi_history("roc_auc", before="2025-03") == baseline == [("2025-01", 0.7), ("2025-02", 0.8)]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert all(str(log.path) in m and "names no run" in m for m in warned)
    assert "window 2025-02" in warned[0] and "window 2025-01" in warned[1]
    assert len(log.entries("kpi")) == 4  # still in the log, only left out of the baseline
