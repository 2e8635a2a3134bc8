"""The KPI per slice value with bootstrap intervals, and the paired slice gain the promotion guard judges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from millpond.config.params import UseCase, validate_use_case
from millpond.drift.slices import MISSING, SliceReport, slice_gains, slice_kpis

REPO = Path(__file__).resolve().parents[3]


def _use_case(**slices: object) -> UseCase:
    data = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    return validate_use_case({**data, "slices": {"columns": ["region", "contract"], "min_rows": 50, **slices}})


def _rows(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.45, 0.05]),
            "contract": rng.choice(["monthly", "yearly", None], n, p=[0.6, 0.3, 0.1]),
        }
    )
    y = rng.integers(0, 2, n)
    scores = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    return frame, y, scores


def test_each_slice_value_gets_its_metric_with_an_interval_and_small_slices_are_not_judged() -> None:
    uc = _use_case()
    frame, y, scores = _rows()
    report = slice_kpis(frame, y, scores, uc, resamples=100, confidence=0.9)
    by_label = {s.label: s for s in report.slices}
    assert set(by_label) == {
        "region=east",
        "region=north",
        "region=south",
        "contract=monthly",
        "contract=yearly",
        f"contract={MISSING}",
    }
    north = by_label["region=north"]
    mask = frame["region"].to_numpy() == "north"
    assert north.rows == int(mask.sum()) and north.status == "ok" and north.kpi is not None
    assert north.kpi.value == pytest.approx(roc_auc_score(y[mask], scores[mask]), abs=1e-12)
    assert north.kpi.low < north.kpi.value < north.kpi.high and north.kpi.confidence == 0.9
    east = by_label["region=east"]  # about 30 rows, below min_rows 50
    assert east.rows < 50 and east.status == "too_small" and east.kpi is None
    assert by_label[f"contract={MISSING}"].rows == int(frame["contract"].isna().sum())
    cells = {label: shown for label, _, shown, _ in report.cells()}
    assert cells["region=east"] == "too small (< 50 rows): not judged"
    assert cells["region=north"].startswith(f"{north.kpi.value:.3f} [")


def test_a_slice_with_one_class_is_undefined_and_the_report_round_trips() -> None:
    uc = _use_case(columns=["region"])
    frame, y, scores = _rows()
    y = np.where(frame["region"].to_numpy() == "south", 0, y)  # roc_auc has no meaning on one class
    report = slice_kpis(frame, y, scores, uc, resamples=50, confidence=0.95)
    south = next(s for s in report.slices if s.value == "south")
    assert south.status == "undefined" and south.kpi is None
    again = SliceReport.from_dict(report.as_dict())
    assert again.table().equals(report.table()) and again.metric == "roc_auc" and again.min_rows == 50


def test_the_slice_gain_is_the_paired_difference_on_the_slice_oriented_so_positive_is_better() -> None:
    uc = _use_case(columns=["region"])
    frame, y, good = _rows()
    worse = good.copy()
    south = frame["region"].to_numpy() == "south"
    worse[south] = np.random.default_rng(1).uniform(0, 1, int(south.sum()))  # noise on the south only
    gains = {g.value: g for g in slice_gains(frame, y, worse, good, uc)}
    expected = roc_auc_score(y[south], worse[south]) - roc_auc_score(y[south], good[south])
    assert gains["south"].gain is not None and gains["south"].gain.value == pytest.approx(expected, abs=1e-12)
    assert gains["south"].gain.high < 0  # clearly worse there
    assert gains["north"].gain is not None and gains["north"].gain.value == pytest.approx(0.0, abs=1e-12)
    assert gains["east"].status == "too_small" and gains["east"].gain is None
