"""The sweetviz comparison sees at most ``drift.comparison_rows`` sampled rows per side (a fixed seed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from millpond.config.params import DriftPolicy
from millpond.drift.comparison_report import write_comparison
from millpond.errors import ParamsError


class _FakeReport:
    seen: list[pd.DataFrame] = []

    def __init__(self, left: list[Any], target: Any, right: list[Any], *args: Any, **kwargs: Any) -> None:
        _FakeReport.seen[:] = [left[0], right[0]]

    def show_html(self, path: str, **kwargs: Any) -> None:
        Path(path).write_text("report", encoding="utf-8")


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=rows), "y": rng.integers(0, 2, rows)})


def test_the_comparison_samples_at_most_max_rows_per_side_reproducibly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sweetviz

    monkeypatch.setattr(sweetviz, "DataframeReport", _FakeReport)
    reference, current = _frame(3_000, 1), _frame(800, 2)
    write_comparison(reference, current, tmp_path / "a.html", features=["x"], target="y", max_rows=1_000)
    left, right = (f.copy() for f in _FakeReport.seen)
    assert (len(left), len(right)) == (1_000, 800)  # the small side whole, the big one sampled
    assert left.index.isin(reference.index).all() and left.index.is_unique
    write_comparison(reference, current, tmp_path / "b.html", features=["x"], target="y", max_rows=1_000)
    assert _FakeReport.seen[0].index.equals(left.index)  # the same rows each time


def test_comparison_rows_is_a_validated_drift_param() -> None:
    assert DriftPolicy().comparison_rows == 5_000
    assert DriftPolicy(comparison_rows=20_000).comparison_rows == 20_000
    with pytest.raises((ParamsError, ValueError)):
        DriftPolicy(comparison_rows=10)
