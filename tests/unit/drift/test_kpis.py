"""Bootstrap intervals, paired differences, model drift over T-1/T-2/benchmark and the CBPE estimate on the demo data."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_percentage_error,
    r2_score,
    roc_auc_score,
)

from millpond.config.params import CLASSIFICATION_METRICS, REGRESSION_METRICS, validate_use_case
from millpond.demo.data import generate_window
from millpond.drift.kpis import (
    BOOTSTRAP_METRICS,
    HIGHER_IS_BETTER,
    Calibrator,
    Interval,
    bootstrap_metric,
    compare_kpi,
    estimate_check,
    estimate_roc_auc,
    paired_difference,
    point_metric,
    resample_counts,
    resampled_metric,
    weighted_roc_auc,
)
from millpond.errors import DriftError
from millpond.governance.promotion import Rival, compare_paired, decide_governed
from millpond.models.training import fit, metrics_from_scores, predict_scores, split_training_data
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
    assert point_metric("log_loss", y, np.clip(s, 0.01, 0.99)) == pytest.approx(
        log_loss(y, np.clip(s, 0.01, 0.99)), abs=1e-12
    )
    with pytest.raises(
        DriftError,
        match=r"No bootstrap for metric 'prauc': it is not a metric millpond knows\. Did you mean 'pr_auc'\? "
        r"Classification metrics: roc_auc, pr_auc, .*; regression metrics: rmse, mae, mape, r2\.",
    ):
        point_metric("prauc", y, s)


def test_bootstrap_interval_brackets_the_value_and_a_paired_difference_of_a_model_with_itself_is_zero(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
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
    noisy = Interval(0.77, 0.74, 0.805, 0.95, 200)  # 0.03 lower, but the interval reaches the baseline: noise
    assert compare_kpi(noisy, history, None, tolerance=0.02, higher_is_better=True)["model_drift"] is False
    real = Interval(0.77, 0.76, 0.78, 0.95, 200)
    out = compare_kpi(real, history, None, tolerance=0.02, higher_is_better=True)
    assert out["model_drift"] is True and out["delta"] == pytest.approx(-0.03) and "drift" in out["reason"]
    bench = compare_kpi(Interval(0.80, 0.79, 0.81, 0.95, 200), history, 0.85, tolerance=0.02, higher_is_better=True)
    assert (
        bench["model_drift"] is True
        and bench["below_benchmark"] is True
        and "benchmark 0.8500: below" in bench["reason"]
    )
    loss = compare_kpi(
        Interval(0.30, 0.28, 0.32, 0.95, 200), [("a", 0.2)], None, tolerance=0.02, higher_is_better=False
    )
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
    assert estimate_check(estimate, None, 0.02)["estimate_note"].startswith(
        "labels not there yet: the KPI shown is an ESTIMATE"
    )


@pytest.fixture(scope="module")
def demo_first_champion() -> tuple[object, object, dict[str, object]]:
    """The demo's first champion: trained for 2025-01 alone (15,000 rows, 20,000-row windows), and windows 2025-01..08."""
    uc = validate_use_case(yaml.safe_load((REPO / "params" / "churn.yaml").read_text()))
    frames = {f"2025-{m:02d}": generate_window(f"2025-{m:02d}", 20_000) for m in range(1, 9)}
    train, holdout, windows = split_training_data([("2025-01", frames["2025-01"])], "2025-01", uc)
    return fit(train, holdout, uc, windows=windows).model, uc, {"holdout": holdout, **frames}


@pytest.mark.parametrize("window", ["2025-07", "2025-08"])
def test_cbpe_estimate_in_demo_conditions_calibrates_on_every_labelled_out_of_sample_row(
    demo_first_champion: tuple, window: str
) -> None:
    """As the drift stage does (stages.calibration_rows): holdout + the later labelled windows before ``window``."""
    import pandas as pd

    model, uc, frames = demo_first_champion
    rows = pd.concat([frames["holdout"]] + [frames[w] for w in frames if "2025-01" < w < window], ignore_index=True)
    calibrator = Calibrator.fit(rows[uc.target].to_numpy(), predict_scores(model, rows[uc.feature_columns], uc))
    scores = predict_scores(model, frames[window][uc.feature_columns], uc)
    realised = roc_auc_score(frames[window][uc.target], scores)
    assert abs(estimate_roc_auc(scores, calibrator) - realised) < 0.01
    # calibrated on the ~5,000 held-out rows alone, the isotonic steps overfit where the shifted scores land
    holdout_only = Calibrator.fit(
        frames["holdout"][uc.target].to_numpy(), predict_scores(model, frames["holdout"][uc.feature_columns], uc)
    )
    assert estimate_roc_auc(scores, holdout_only) - realised > 0.01


# --- pr_auc, f1, mape, r2: every metric the params accept is bootstrapped --------------------------------
def _f1(y: np.ndarray, s: np.ndarray) -> float:
    return float(f1_score(y, s >= 0.5))


CLASSIFIERS = {"pr_auc": average_precision_score, "f1": _f1}
REGRESSORS = {"mape": mean_absolute_percentage_error, "r2": r2_score}


@pytest.fixture
def regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    y = np.round(rng.normal(3.0, 2.0, 1500), 1)
    y[rng.choice(len(y), 60, replace=False)] = 0.0  # zeros: sklearn's MAPE divides by eps there
    return y, y + np.round(rng.normal(0.0, 1.0, len(y)), 1)


def test_every_metric_the_params_accept_is_bootstrapped(
    data: tuple[np.ndarray, np.ndarray], regression: tuple[np.ndarray, np.ndarray]
) -> None:
    assert sorted(BOOTSTRAP_METRICS) == sorted(CLASSIFICATION_METRICS + REGRESSION_METRICS) == sorted(HIGHER_IS_BETTER)
    counts = resample_counts(len(data[0]), 20, seed=2)
    for metric in CLASSIFICATION_METRICS:
        assert np.isfinite(resampled_metric(metric, data[0], np.clip(data[1], 0.01, 0.99), counts)).all(), metric
    counts = resample_counts(len(regression[0]), 20, seed=2)
    for metric in REGRESSION_METRICS:
        assert np.isfinite(resampled_metric(metric, *regression, counts)).all(), metric


@pytest.mark.parametrize("metric", list(CLASSIFIERS))
def test_new_classification_metrics_equal_sklearn_with_ties_and_on_repeated_rows(
    data: tuple[np.ndarray, np.ndarray], metric: str
) -> None:
    y, s = data
    assert len(np.unique(s)) < 150  # rounded scores: heavy ties, also at the 0.5 threshold
    reference = CLASSIFIERS[metric]
    assert point_metric(metric, y, s) == pytest.approx(reference(y, s), abs=1e-12)
    counts = resample_counts(len(y), 6, seed=4)
    for row, value in zip(counts, resampled_metric(metric, y, s, counts)):
        idx = np.repeat(np.arange(len(y)), row)
        assert value == pytest.approx(reference(y[idx], s[idx]), abs=1e-12)


def test_average_precision_without_ties_equals_sklearn() -> None:
    rng = np.random.default_rng(8)
    y, s = rng.integers(0, 2, 800), rng.random(800)
    assert len(np.unique(s)) == len(s)  # the path that skips grouping
    assert point_metric("pr_auc", y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    counts = resample_counts(len(y), 4, seed=6)
    for row, value in zip(counts, resampled_metric("pr_auc", y, s, counts)):
        idx = np.repeat(np.arange(len(y)), row)
        assert value == pytest.approx(average_precision_score(y[idx], s[idx]), abs=1e-12)


def test_average_precision_with_tied_groups_spanning_both_classes() -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.9, 0.9, 0.7, 0.7, 0.4, 0.4, 0.4, 0.1, 0.1])
    assert point_metric("pr_auc", y, s) == pytest.approx(average_precision_score(y, s), abs=1e-15)
    # by hand: thresholds 0.9 (2 of 3 positive), 0.7 (3 of 5), 0.4 (4 of 8), 0.1 (5 of 10); recall steps 2,1,1,1 of 5
    assert point_metric("pr_auc", y, s) == pytest.approx((2 * 2 / 3 + 3 / 5 + 4 / 8 + 5 / 10) / 5, abs=1e-15)
    counts = np.array([[0, 0, 0, 2, 1, 0, 3, 1, 2, 1]])  # the top tie group drawn zero times
    idx = np.repeat(np.arange(len(y)), counts[0])
    assert resampled_metric("pr_auc", y, s, counts)[0] == pytest.approx(
        average_precision_score(y[idx], s[idx]), abs=1e-15
    )


@pytest.mark.parametrize("metric", list(REGRESSORS))
def test_new_regression_metrics_equal_sklearn_with_zeros_in_y_and_on_repeated_rows(
    regression: tuple[np.ndarray, np.ndarray], metric: str
) -> None:
    y, pred = regression
    reference = REGRESSORS[metric]
    nonzero = y != 0
    # without zeros in y every value is O(1): absolute 1e-12
    assert point_metric(metric, y[nonzero], pred[nonzero]) == pytest.approx(
        reference(y[nonzero], pred[nonzero]), abs=1e-12
    )
    # with zeros MAPE is ~1e13 (|error| / eps): the same 1e-12, relative
    assert point_metric(metric, y, pred) == pytest.approx(reference(y, pred), rel=1e-12, abs=1e-12)
    counts = resample_counts(len(y), 6, seed=4)
    for row, value in zip(counts, resampled_metric(metric, y, pred, counts)):
        idx = np.repeat(np.arange(len(y)), row)
        assert value == pytest.approx(reference(y[idx], pred[idx]), rel=1e-12, abs=1e-12)


def test_mape_is_sklearns_everywhere_so_the_promotion_score_and_the_paired_gain_agree(
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    y, pred = regression
    uc = validate_use_case(
        {
            **yaml.safe_load((REPO / "params" / "churn.yaml").read_text()),
            "task": "regression",
            "promotion": {"metric": "mape"},
        }
    )
    assert metrics_from_scores(y, pred, uc)["mape"] == pytest.approx(point_metric("mape", y, pred), rel=1e-12)
    assert point_metric("mape", y, pred) > 1e12  # the zeros dominate, as in sklearn (and in search scoring)


def test_one_class_resamples_give_nan_for_pr_auc_and_undefined_f1_and_the_interval_drops_them() -> None:
    """Documented choice: where sklearn warns and returns 0.0 (AP without positives; F1 with no true and no predicted
    positives) we return NaN, as ROC AUC does; well-defined one-class cases equal sklearn."""
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.2, 0.6, 0.7, 0.9, 0.3, 0.4])
    negatives_only = np.array([[2, 0, 0, 0, 1, 0]])  # no positives, nothing predicted positive
    negatives_flagged = np.array([[1, 2, 0, 0, 0, 0]])  # no positives, one negative predicted positive
    positives_only = np.array([[0, 0, 1, 2, 0, 3]])
    with pytest.warns(UserWarning, match="No positive class found"):
        assert average_precision_score([0, 0, 0], [0.2, 0.2, 0.3]) == 0.0  # sklearn's value we do not copy
    assert np.isnan(resampled_metric("pr_auc", y, s, negatives_only)[0])
    assert np.isnan(resampled_metric("pr_auc", y, s, negatives_flagged)[0])
    assert (
        resampled_metric("pr_auc", y, s, positives_only)[0]
        == average_precision_score([1] * 6, s[[2, 3, 3, 5, 5, 5]])
        == 1.0
    )
    assert np.isnan(resampled_metric("f1", y, s, negatives_only)[0])
    assert resampled_metric("f1", y, s, negatives_flagged)[0] == f1_score([0, 0, 0], [0, 1, 1]) == 0.0
    expected_f1 = f1_score([1] * 6, s[[2, 3, 3, 5, 5, 5]] >= 0.5)
    assert resampled_metric("f1", y, s, positives_only)[0] == pytest.approx(expected_f1, abs=1e-15)
    assert np.isnan(point_metric("pr_auc", np.zeros(4), s[:4])) and np.isnan(
        point_metric("f1", np.zeros(4), np.zeros(4))
    )
    # tiny data: some resamples have no positives; the interval is over the defined ones and says how many
    tiny_y, tiny_s = np.array([0, 0, 0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.35])
    counts = resample_counts(len(tiny_y), 200, seed=0)
    undefined = int(((counts[:, tiny_y == 1]).sum(axis=1) == 0).sum())
    assert undefined > 0
    for metric in ("pr_auc", "roc_auc"):
        ci = bootstrap_metric(metric, tiny_y, tiny_s, resamples=200)
        assert ci.resamples == 200 - undefined and np.isfinite([ci.low, ci.high]).all() and ci.low <= ci.high


def test_r2_on_zero_variance_resamples_is_sklearns_default() -> None:
    """force_finite=True (sklearn's default): constant y gives 1.0 for perfect predictions, else 0.0."""
    y = np.array([3.0, 3.0, 5.0, 1.0, 3.0])
    pred = np.array([3.0, 3.0, 4.0, 2.0, 2.5])
    perfect = np.array([[2, 3, 0, 0, 0]])  # only the rows with y == 3 predicted exactly
    imperfect = np.array([[1, 0, 0, 0, 4]])  # y == 3 everywhere, one prediction off
    for counts, expected in ((perfect, 1.0), (imperfect, 0.0)):
        idx = np.repeat(np.arange(len(y)), counts[0])
        assert resampled_metric("r2", y, pred, counts)[0] == r2_score(y[idx], pred[idx]) == expected
    assert (
        point_metric("r2", np.full(6, 0.1), np.full(6, 0.1)) == 1.0
    )  # 0.1 is inexact in binary; still exactly constant
    assert point_metric("r2", np.full(6, 0.1), np.full(6, 0.2)) == 0.0
    with np.errstate(invalid="ignore"):
        assert np.isnan(r2_score(y[:2], pred[:2], force_finite=False))  # what we do not return
    mixed = resampled_metric("r2", y, pred, np.vstack([perfect, imperfect, np.ones((1, 5), int)]))
    assert mixed.tolist()[:2] == [1.0, 0.0] and mixed[2] == pytest.approx(r2_score(y, pred), abs=1e-12)


def _fixed_model(probabilities: np.ndarray) -> object:
    class Fixed:  # predict_scores calls predict_proba on the labelled rows, in order
        def predict_proba(self, features: object) -> np.ndarray:
            assert len(features) == len(probabilities)  # type: ignore[arg-type]
            return np.column_stack([1 - probabilities, probabilities])

    return Fixed()


@pytest.mark.parametrize("metric", ["pr_auc", "f1"])
def test_drift_kpi_interval_works_with_pr_auc_and_f1(data: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    """What stages.champion_performance calls: bootstrap_metric with the promotion metric, then compare_kpi."""
    y, s = data
    ci = bootstrap_metric(metric, y, s, resamples=200, confidence=0.95, threshold=0.5)
    assert ci.low < ci.value < ci.high and ci.resamples == 200 and ci.high - ci.low < 0.1
    assert ci.value == pytest.approx(CLASSIFIERS[metric](y, s), abs=1e-12)
    steady = compare_kpi(
        ci, [("2025-05", ci.value), ("2025-06", ci.value)], None, tolerance=0.02, higher_is_better=True
    )
    assert steady["model_drift"] is False and "within" in steady["reason"]
    dropped = compare_kpi(ci, [("2025-05", ci.high + 0.05)], None, tolerance=0.02, higher_is_better=True)
    assert dropped["model_drift"] is True


def test_promotion_paired_bootstrap_works_with_pr_auc_and_guard_f1() -> None:
    """What the promote stage calls: decide_governed -> compare_paired -> paired_difference for metric and guard."""
    import pandas as pd

    data = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    data["promotion"] = {
        **data["promotion"],
        "metric": "pr_auc",
        "guard_metric": "f1",
        "guard_max_regression": 0.05,
        "bootstrap_resamples": 150,
    }
    uc = validate_use_case(data)
    labelled = generate_window("2025-05", 600)
    y = labelled[uc.target].to_numpy()
    rng = np.random.default_rng(9)
    good = np.clip(0.55 * y + rng.normal(0.2, 0.15, len(y)), 0.001, 0.999)
    poor = np.clip(good + rng.normal(0.0, 0.35, len(y)), 0.001, 0.999)
    rivals = [
        Rival("champion", "c0ffee000001", _fixed_model(poor)),
        Rival("champion of 2025-04", "c0ffee000002", _fixed_model(poor)),
    ]
    table = compare_paired(_fixed_model(good), rivals, labelled, uc)
    assert list(table["metric"]) == ["pr_auc", "pr_auc"] and list(table["guard"]) == ["f1", "f1"]
    gain = average_precision_score(y, good) - average_precision_score(y, poor)
    assert table.loc[0, "metric_gain"] == pytest.approx(gain, abs=1e-12) and table.loc[0, "metric_gain_low"] > 0
    assert table.loc[0, "guard_gain"] == pytest.approx(f1_score(y, good >= 0.5) - f1_score(y, poor >= 0.5), abs=1e-12)
    decision, _ = decide_governed(_fixed_model(good), rivals, labelled, uc)
    assert decision.promote is True and "candidate pr_auc" in decision.reason and "guard f1" in decision.reason
    assert decision.champion_score == pytest.approx(average_precision_score(y, poor), abs=1e-12)
    worse, table = decide_governed(
        _fixed_model(poor), [Rival("champion", "c0ffee000001", _fixed_model(good))], labelled, uc
    )
    assert worse.promote is False and table.loc[0, "metric_gain_high"] < 0
    assert isinstance(table, pd.DataFrame)


def test_a_bootstrap_drawn_in_batches_is_the_one_drawn_at_once(
    data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.drift import kpis

    y, s = data
    whole = [bootstrap_metric(m, y, s, resamples=40, seed=5) for m in ("roc_auc", "brier")]
    paired = paired_difference("roc_auc", y, s, np.sqrt(s), resamples=40, seed=5)
    estimate = kpis.estimate_interval(s, Calibrator.fit(y, s), resamples=40, seed=5)
    batches = list(kpis.resample_batches(len(y), 40, seed=5, cells=7 * len(y) + 1))
    assert [len(b) for b in batches] == [7, 7, 7, 7, 7, 5]  # whole resamples per batch, the last one short
    assert np.array_equal(np.vstack(batches), resample_counts(len(y), 40, seed=5))
    monkeypatch.setattr(kpis, "RESAMPLE_CELLS", 3 * len(y))  # every interval now drawn in 14 batches
    batched = [
        *(bootstrap_metric(m, y, s, resamples=40, seed=5) for m in ("roc_auc", "brier")),
        paired_difference("roc_auc", y, s, np.sqrt(s), resamples=40, seed=5),
        kpis.estimate_interval(s, Calibrator.fit(y, s), resamples=40, seed=5),
    ]
    for got, expected in zip(batched, [*whole, paired, estimate], strict=True):  # the same resamples (BLAS sums
        assert got.as_dict() == pytest.approx(expected.as_dict(), rel=1e-12, abs=1e-15)  # may round differently)


def _binormal(rows: int, rng: np.random.Generator, gap: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels with 30 % positives and scores N(gap * y, 1): the population ROC AUC is Phi(gap / sqrt 2)."""
    y = (rng.random(rows) < 0.3).astype(int)
    return y, rng.normal(gap * y, 1.0)


def test_a_large_window_bootstraps_a_subsample_rescaled_to_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    from millpond.drift import kpis

    y, s = _binormal(40_000, np.random.default_rng(8))
    full = {m: bootstrap_metric(m, y, 1 / (1 + np.exp(-s)), resamples=300) for m in ("roc_auc", "brier")}
    monkeypatch.setattr(kpis, "BOOTSTRAP_ROWS", 2_000)  # 40,000 rows are now 20x the subsample
    monkeypatch.setattr(kpis, "MIN_CLASS_ROWS", 100)  # its ~600 positives are enough
    for metric, whole in full.items():
        sub = bootstrap_metric(metric, y, 1 / (1 + np.exp(-s)), resamples=300)
        width, whole_width = sub.high - sub.low, whole.high - whole.low
        assert sub.value == whole.value  # the point value always uses every row
        assert 0.8 < width / whole_width < 1.25  # unscaled, a 2,000-row interval would be sqrt(20) = 4.5x as wide
        assert abs((sub.low + sub.high) - (whole.low + whole.high)) / 2 < 0.2 * whole_width  # centred on the value


def test_subsampled_intervals_cover_the_population_auc_at_their_confidence(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.stats import norm

    from millpond.drift import kpis

    monkeypatch.setattr(kpis, "BOOTSTRAP_ROWS", 1_000)
    monkeypatch.setattr(kpis, "MIN_CLASS_ROWS", 100)
    truth, rng = float(norm.cdf(1 / np.sqrt(2))), np.random.default_rng(9)
    covered = []
    for seed in range(120):  # 120 stationary windows of 10,000 rows, each bootstrapped from 1,000 of them
        y, s = _binormal(10_000, rng)
        interval = bootstrap_metric("roc_auc", y, s, resamples=200, confidence=0.9, seed=seed)
        covered.append(interval.low <= truth <= interval.high)
    assert 0.82 <= np.mean(covered) <= 0.97  # 90 % nominal; binomial sd with 120 windows is 2.7 points


def test_the_subsample_keeps_each_class_share_and_a_rare_class_keeps_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from millpond.drift import kpis

    rng = np.random.default_rng(10)
    y, s = _binormal(30_000, rng)
    monkeypatch.setattr(kpis, "BOOTSTRAP_ROWS", 3_000)
    monkeypatch.setattr(kpis, "MIN_CLASS_ROWS", 100)
    subset = kpis._subsample(len(y), 3_000, 0, y)
    assert subset is not None and len(np.unique(subset)) == len(subset)
    assert np.sum(y[subset]) == round(3_000 * y.sum() / len(y))  # the positives' share, exactly
    rare = np.zeros(30_000, dtype=int)
    rare[rng.choice(30_000, 40, replace=False)] = 1  # 40 positives: 4 expected in a 3,000-row subsample
    assert kpis._subsample(len(rare), 3_000, 0, rare) is None
    sub = bootstrap_metric("roc_auc", rare, s, resamples=50)
    monkeypatch.setattr(kpis, "BOOTSTRAP_ROWS", 10**9)
    assert sub == bootstrap_metric("roc_auc", rare, s, resamples=50)  # the full bootstrap, not [nan, nan]
    assert np.isfinite([sub.low, sub.high]).all()
