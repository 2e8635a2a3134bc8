"""The drift stage's sweetviz comparison is drawn by a child process and reaches the record only when collected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millpond.drift.comparison_report import BackgroundComparison
from millpond.errors import ReportError


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"tenure": rng.normal(size=rows), "plan": rng.choice(["a", "b"], rows), "y": rng.integers(0, 2, rows)}
    )


def _started(out: Path, **options: float) -> BackgroundComparison:
    comparison = BackgroundComparison(out, features=["tenure", "plan"], target="y", max_rows=300, **options)
    comparison.start(_frame(2_000, 1), _frame(500, 2))
    return comparison


def test_the_report_lands_at_out_only_when_collected(tmp_path: Path) -> None:
    out = tmp_path / "outputs" / "comparison.html"
    out.parent.mkdir()
    with _started(out) as comparison:
        assert comparison._child is not None
        assert comparison._child.wait(timeout=300) == 0
        assert not out.exists()  # drawn in the child's own folder: a killed stage never gets a late file
        assert comparison.result() == out
    html = out.read_text(encoding="utf-8")
    assert "tenure" in html and "plan" in html
    assert comparison._folder is None


def test_a_child_that_dies_is_a_report_error_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "comparison.html"
    comparison = _started(out)
    assert comparison._child is not None
    folder = comparison._folder
    comparison._child.kill()
    with pytest.raises(ReportError, match="exited -9"):
        comparison.result()
    assert not out.exists() and folder is not None and not folder.exists()


def test_a_comparison_past_its_timeout_is_stopped_and_cleaned_up(tmp_path: Path) -> None:
    out = tmp_path / "comparison.html"
    comparison = _started(out, timeout=0.01)
    child, folder = comparison._child, comparison._folder
    with pytest.raises(ReportError, match="longer than 0 s.*comparison_rows"):
        comparison.result()
    comparison.close()
    assert child is not None and child.poll() is not None  # not left drawing
    assert not out.exists() and folder is not None and not folder.exists()


def test_missing_columns_are_refused_before_any_process_starts(tmp_path: Path) -> None:
    comparison = BackgroundComparison(tmp_path / "c.html", features=["tenure", "absent"], target="y", max_rows=300)
    comparison.start(_frame(50, 1), _frame(50, 2))
    assert comparison._child is None
    with pytest.raises(ReportError, match=r"\['absent'\] are missing"):
        comparison.result()


def test_the_sampled_rows_leave_the_disk_once_the_child_has_read_them(tmp_path: Path) -> None:
    with _started(tmp_path / "comparison.html") as comparison:
        assert comparison._child is not None and comparison._folder is not None
        assert comparison._child.wait(timeout=300) == 0
        assert sorted(p.name for p in comparison._folder.iterdir()) == ["comparison.html", "stderr.txt"]


def test_a_child_whose_stage_died_removes_its_own_folder(tmp_path: Path) -> None:
    comparison = _started(tmp_path / "comparison.html")
    child, folder = comparison._child, comparison._folder
    assert child is not None and child.stdin is not None and folder is not None
    child.stdin.close()  # what the stage's death looks like from the child: its stdin pipe at end of file
    assert child.wait(timeout=300) == 0
    assert not folder.exists()
    with pytest.raises(ReportError, match="was not written"):
        comparison.result()
    assert not (tmp_path / "comparison.html").exists()


def test_any_failure_in_the_child_is_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from millpond.drift import comparison_report

    for name in ("reference.parquet", "current.parquet"):
        _frame(20, 1).to_parquet(tmp_path / name)
    (tmp_path / "options.json").write_text('{"features": ["tenure"], "colour": "red"}', encoding="utf-8")
    monkeypatch.setattr(comparison_report, "_parent_gone", lambda: False)
    assert comparison_report._draw(tmp_path) == 1
    assert "TypeError" in (tmp_path / "failure.txt").read_text(encoding="utf-8")  # not a ReportError of its own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failure.txt"]  # the rows are gone too


def test_a_child_that_cannot_start_is_a_report_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    comparison = _started(tmp_path / "comparison.html")
    assert comparison._folder is None  # removed at once
    with pytest.raises(ReportError, match="could not be started.*FileNotFoundError"):
        comparison.result()
