"""Bootstrap intervals, paired differences, model drift over T-1/T-2/benchmark and the CBPE estimate on the demo data."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from millpond.demo_data import generate_window
from millpond.errors import DriftError
from millpond.params import validate_use_case
from millpond.performance import (
    Calibrator, Interval, bootstrap_metric, compare_kpi, estimate_check, estimate_roc_auc, paired_difference,
    point_metric, resample_counts, weighted_roc_auc,
)
from millpond.training import fit, predict_scores, split_training_data
from tests.conftest import REPO


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    scores = np.round(np.clip(0.5 * y + rng.normal(0.25, 0.3, 2000), 0, 1), 2)  # rounded: many ties
    return y, scores


def test_weighted_auc_equals_sklearn_with_ties_and_with_resampled_rows(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    assert weighted_roc_auc(y, s, np.ones((1, len(y))))[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    counts = resample_counts(len(y), 5, seed=1)
    for row, auc in zip(counts, weighted_roc_auc(y, s, counts)):
        idx = np.repeat(np.arange(len(y)), row)
        assert auc == pytest.approx(roc_auc_score(y[idx], s[idx]), abs=1e-12)
    assert counts.sum(axis=1).tolist() == [len(y)] * 5


def test_mean_metrics_equal_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    assert point_metric("brier", y, s) == pytest.approx(brier_score_loss(y, s), abs=1e-12)
    assert point_metric("log_loss", y, np.clip(s, 0.01, 0.99)) == pytest.approx(log_loss(y, np.clip(s, 0.01, 0.99)), abs=1e-12)
    with pytest.raises(DriftError, match="No bootstrap for metric 'pr_auc'"):
        point_metric("pr_auc", y, s)


def test_bootstrap_interval_brackets_the_value_and_a_paired_difference_of_a_model_with_itself_is_zero(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    ci = bootstrap_metric("roc_auc", y, s, resamples=200)
    assert ci.low < ci.value < ci.high and ci.high - ci.low < 0.06 and ci.resamples == 200
    same = paired_difference("roc_auc", y, s, s, resamples=100)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    noisy = np.clip(s + np.random.default_rng(0).normal(0, 0.3, len(s)), 0, 1)
    worse = paired_difference("roc_auc", y, noisy, s, resamples=200)
    assert worse.high < 0  # the noisier model is clearly worse on the same rows


def test_model_drift_needs_the_whole_interval_below_the_baseline() -> None:
    history = [("2025-01", 0.80), ("2025-02", 0.80)]
    noisy = Interval(0.77, 0.74, 0.805, 0.95, 200)   # 0.03 lower, but the interval reaches the baseline: noise
    assert compare_kpi(noisy, history, None, tolerance=0.02, higher_is_better=True)["model_drift"] is False
    real = Interval(0.77, 0.76, 0.78, 0.95, 200)
    out = compare_kpi(real, history, None, tolerance=0.02, higher_is_better=True)
    assert out["model_drift"] is True and out["delta"] == pytest.approx(-0.03) and "drift" in out["reason"]
    bench = compare_kpi(Interval(0.80, 0.79, 0.81, 0.95, 200), history, 0.85, tolerance=0.02, higher_is_better=True)
    assert bench["model_drift"] is True and bench["below_benchmark"] is True and "benchmark 0.8500: below" in bench["reason"]
    loss = compare_kpi(Interval(0.30, 0.28, 0.32, 0.95, 200), [("a", 0.2)], None, tolerance=0.02, higher_is_better=False)
    assert loss["model_drift"] is True and loss["delta"] == pytest.approx(-0.1)


@pytest.fixture(scope="module")
def demo_champion() -> tuple[object, Calibrator, object]:
    """A champion trained like the demo's on 2025-05 and 2025-06 (20,000 rows each), calibrated on its holdout."""
    uc = validate_use_case(yaml.safe_load((REPO / "params" / "churn.yaml").read_text()))
    frames = [(w, generate_window(w, 20_000)) for w in ("2025-05", "2025-06")]
    train, holdout, windows = split_training_data(frames, "2025-06", uc)
    model = fit(train, holdout, uc, windows=windows).model
    calibrator = Calibrator.fit(holdout[uc.target].to_numpy(), predict_scores(model, holdout[uc.feature_columns], uc))
    return model, calibrator, uc


@pytest.mark.parametrize("window", ["2025-07", "2025-08"])
def test_cbpe_estimate_is_within_001_auc_under_covariate_shift(demo_champion: tuple, window: str) -> None:
    model, calibrator, uc = demo_champion
    frame = generate_window(window, 20_000)
    scores = predict_scores(model, frame[uc.feature_columns], uc)
    realised = roc_auc_score(frame[uc.target], scores)
    estimate = estimate_roc_auc(scores, calibrator)
    assert abs(estimate - realised) < 0.01, (estimate, realised)
    assert estimate_check(estimate, realised, 0.02)["estimate_trusted"] is True


def test_cbpe_estimate_cannot_be_trusted_under_concept_drift(demo_champion: tuple) -> None:
    model, calibrator, uc = demo_champion
    frame = generate_window("2025-09", 20_000)
    scores = predict_scores(model, frame[uc.feature_columns], uc)
    realised = roc_auc_score(frame[uc.target], scores)
    estimate = estimate_roc_auc(scores, calibrator)
    assert estimate - realised > 0.04  # P(y|x) changed: the estimate is far too optimistic
    check = estimate_check(estimate, realised, 0.02)
    assert check["estimate_trusted"] is False and "concept-like drift" in check["estimate_note"]
    assert estimate_check(estimate, None, 0.02)["estimate_note"].startswith("labels not there yet: the KPI shown is an ESTIMATE")


@pytest.fixture(scope="module")
def demo_first_champion() -> tuple[object, object, dict[str, object]]:
    """The demo's first champion: trained for 2025-01 alone (15,000 rows, 20,000-row windows), and windows 2025-01..08."""
    uc = validate_use_case(yaml.safe_load((REPO / "params" / "churn.yaml").read_text()))
    frames = {f"2025-{m:02d}": generate_window(f"2025-{m:02d}", 20_000) for m in range(1, 9)}
    train, holdout, windows = split_training_data([("2025-01", frames["2025-01"])], "2025-01", uc)
    return fit(train, holdout, uc, windows=windows).model, uc, {"holdout": holdout, **frames}


@pytest.mark.parametrize("window", ["2025-07", "2025-08"])
def test_cbpe_estimate_in_demo_conditions_calibrates_on_every_labelled_out_of_sample_row(demo_first_champion: tuple, window: str) -> None:
    """As the drift stage does (stages.calibration_rows): holdout + the later labelled windows before ``window``."""
    import pandas as pd

    model, uc, frames = demo_first_champion
    rows = pd.concat([frames["holdout"]] + [frames[w] for w in frames if "2025-01" < w < window], ignore_index=True)
    calibrator = Calibrator.fit(rows[uc.target].to_numpy(), predict_scores(model, rows[uc.feature_columns], uc))
    scores = predict_scores(model, frames[window][uc.feature_columns], uc)
    realised = roc_auc_score(frames[window][uc.target], scores)
    assert abs(estimate_roc_auc(scores, calibrator) - realised) < 0.01
    # calibrated on the ~5,000 held-out rows alone, the isotonic steps overfit where the shifted scores land
    holdout_only = Calibrator.fit(frames["holdout"][uc.target].to_numpy(), predict_scores(model, frames["holdout"][uc.feature_columns], uc))
    assert estimate_roc_auc(scores, holdout_only) - realised > 0.01
