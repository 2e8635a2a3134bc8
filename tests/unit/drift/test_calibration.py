"""The verdicts' false-alarm rates, measured by simulation: stationary windows rarely flag, material shifts are found.

Each stationary window draws reference (three windows, as a champion trained on ``training.windows: 3``) and current
rows from one distribution; a false alarm is a window whose verdict says drift. The documented level is
``significance`` (0.05); these bounds are that level, so a rule that ignored sample size or the number of features
(e.g. effect sizes alone on small windows, or each of six features tested at 0.05) fails them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from millpond.config.params import DriftThresholds
from millpond.drift.kpis import LossEstimator, bootstrap_metric, compare_kpi, estimate_loss_interval, point_metric
from millpond.drift.stats import dataset_verdict, drift_table

NUMERIC = ["normal", "lognormal", "count", "uniform"]
CATEGORICAL = ["plan", "region"]
IMPORTANCE = {"normal": 0.3, "lognormal": 0.14, "count": 0.14, "uniform": 0.14, "plan": 0.14, "region": 0.14}


def draw(rng: np.random.Generator, n: int, shift: float = 0.0, ignored_shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1.0, n),
            "lognormal": rng.lognormal(0.0, 0.8, n),
            "count": rng.poisson(3.0, n).astype("float64"),
            "uniform": rng.uniform(0.0, 10.0, n) + ignored_shift * 2.9,  # 2.9 = the uniform's sd
            "plan": rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.25, 0.15, 0.12, 0.08]),
            "region": rng.choice(["n", "s", "w"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def verdicts(n: int, reps: int, seed: int, importance: dict | None = IMPORTANCE, **shifts: float) -> tuple:
    """(share of windows whose verdict says drift, share with any significant feature) over ``reps`` windows."""
    rng = np.random.default_rng(seed)
    alarms = significant = 0
    for _ in range(reps):
        table = drift_table(
            draw(rng, 3 * n), draw(rng, n, **shifts), numeric=NUMERIC, categorical=CATEGORICAL, importance=importance
        )
        alarms += bool(dataset_verdict(table)["drift_detected"])
        significant += bool(table["significant"].any())
    return alarms / reps, significant / reps


@pytest.mark.parametrize("n, reps", [(500, 200)])  # 5,000 and 100,000 rows: the 200-window test below
def test_stationary_windows_rarely_say_drift(n: int, reps: int) -> None:
    false_alarms, any_significant = verdicts(n, reps, seed=n)
    assert false_alarms <= 0.05
    # the significance half alone: Benjamini-Hochberg over six features keeps "any feature rejects" near 5 %
    # (each feature at 0.05 alone would give about 1 - 0.95^6 = 26 %)
    assert any_significant <= 0.10


@pytest.mark.parametrize("n", [5_000, 100_000])
def test_200_stationary_windows_against_one_champion_rarely_say_drift(n: int) -> None:
    """As in production: one reference (the champion's training window) against 200 stationary windows, drawn at
    once (vectorised) and compared one by one. Two features, a numeric and a categorical one, keep it cheap while
    exercising both tests, the Benjamini-Hochberg step and both kinds of effect floor."""
    rng = np.random.default_rng(n + 11)
    reps, shares = 200, [0.4, 0.25, 0.15, 0.12, 0.08]

    def frames(rows: int) -> list[pd.DataFrame]:
        x = rng.lognormal(0.0, 0.8, (reps, rows))
        codes = np.searchsorted(np.cumsum(shares), rng.uniform(size=(reps, rows)), side="right").clip(0, 4)
        plan = [pd.Categorical.from_codes(c.astype(np.int8), categories=list("abcde")) for c in codes]
        return [pd.DataFrame({"x": x[i], "plan": plan[i]}) for i in range(reps)]

    reference = frames(n)[0]
    alarms = significant = 0
    for current in frames(n):
        table = drift_table(reference, current, numeric=["x"], categorical=["plan"], importance={"x": 0.6, "plan": 0.4})
        alarms += bool(dataset_verdict(table)["drift_detected"])
        significant += bool(table["significant"].any())
    assert alarms / reps <= 0.05
    assert significant / reps <= 0.10  # BH over two features: near 5 %, and no verdict without materiality


def test_a_shift_in_a_feature_the_model_ignores_triggers_no_retrain() -> None:
    """From the drift verdict to the retrain policy: an ignored feature moved a lot, nothing else did."""
    from types import SimpleNamespace

    from millpond.config.params import RetrainPolicy
    from millpond.models.monitoring import MonitoringEntry
    from millpond.runs.context import retrain_reasons

    rng = np.random.default_rng(9)
    table = drift_table(
        draw(rng, 3000), draw(rng, 1000, ignored_shift=1.0), numeric=NUMERIC, categorical=CATEGORICAL,
        importance={**IMPORTANCE, "uniform": 0.0},
    )  # fmt: skip
    verdict = dataset_verdict(table)
    assert verdict["n_drifted"] >= 1 and verdict["drift_detected"] is False
    fields = {"data_drift": verdict["drift_detected"], "model_drift": False}
    entry = MonitoringEntry("drift", "2025-02", fields=fields)
    ctx = SimpleNamespace(
        champion=lambda: SimpleNamespace(metadata=SimpleNamespace(trained_for_window="2025-01")),
        use_case=SimpleNamespace(retrain=RetrainPolicy()),
        log=SimpleNamespace(latest=lambda stage, window: entry),
        window="2025-02",
    )
    assert retrain_reasons(ctx) == []  # type: ignore[arg-type]
    fields["data_drift"] = True  # the same policy does retrain on a verdict that says drift
    assert retrain_reasons(ctx) == ["impactful data drift"]  # type: ignore[arg-type]


def test_a_huge_stationary_window_and_a_trivial_shift_do_not_say_drift() -> None:
    rng = np.random.default_rng(1)
    ref, cur = draw(rng, 300_000), draw(rng, 100_000, shift=0.03)
    table = drift_table(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, importance=IMPORTANCE).set_index("feature")
    assert bool(table.loc["normal", "significant"])  # 0.03 sd on 100,000 rows is real, and KS sees it
    assert not bool(table.loc["normal", "material"]) and not table["drifted"].any()
    assert dataset_verdict(table.reset_index())["drift_detected"] is False


@pytest.mark.parametrize("n", [500, 5_000])
def test_a_material_shift_in_an_important_feature_is_detected(n: int) -> None:
    detected, _ = verdicts(n, 25, seed=n + 7, shift=0.3)
    assert detected >= 0.9


def test_a_shift_in_a_feature_the_model_ignores_is_no_verdict() -> None:
    ignores_uniform = {**IMPORTANCE, "uniform": 0.0}
    rng = np.random.default_rng(5)
    table = drift_table(
        draw(rng, 3000), draw(rng, 1000, ignored_shift=0.5), numeric=NUMERIC, categorical=CATEGORICAL,
        importance=ignores_uniform,
    )  # fmt: skip
    row = table.set_index("feature").loc["uniform"]
    assert bool(row["drifted"]) and row["impact"] == 0.0  # it drifted, but carries no weight
    assert dataset_verdict(table)["drift_detected"] is False  # so the retrain policy is not triggered


# --- model drift --------------------------------------------------------------------------------------------------
def _window(rng: np.random.Generator, n: int, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(1.2 * x + rng.normal(0, noise, n))))).astype(int)
    return y, 1 / (1 + np.exp(-1.2 * x))


def test_model_drift_false_alarm_rate_on_stationary_windows() -> None:
    rng = np.random.default_rng(3)
    history: list[tuple[str, float]] = []
    alarms = checked = 0
    for index in range(200):
        y, scores = _window(rng, 500)
        interval = bootstrap_metric("roc_auc", y, scores, resamples=100, seed=index)
        if len(history) == 2:
            checked += 1
            alarms += compare_kpi(interval, history, None, tolerance=0.02, higher_is_better=True)["model_drift"]
        history = [*history, (f"w{index:03d}", interval.value)][-2:]
    assert checked == 198 and alarms / checked <= 0.05


def test_model_drift_is_found_when_the_kpi_really_drops() -> None:
    rng = np.random.default_rng(4)
    history = [(f"w{i}", point_metric("roc_auc", *_window(rng, 2000))) for i in range(2)]
    y, scores = _window(rng, 2000, noise=4.0)  # P(y | x) changed: the scores rank far worse
    interval = bootstrap_metric("roc_auc", y, scores, resamples=100)
    assert compare_kpi(interval, history, None, tolerance=0.02, higher_is_better=True)["model_drift"] is True


def test_relative_tolerance_makes_the_rmse_verdict_independent_of_the_target_units() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=600)
    y = 2 * x + rng.normal(0, 1.0, 600)
    worse = 2 * x + rng.normal(0, 0.3, 600)  # predictions 4 % worse than the baseline RMSE
    outcomes = []
    for scale in (1.0, 1000.0):
        interval = bootstrap_metric("rmse", y * scale, worse * scale, resamples=100)
        history = [("a", 1.0 * scale * 0.99), ("b", 1.0 * scale * 0.99)]
        out = compare_kpi(interval, history, None, tolerance=0.05, higher_is_better=False, relative=True)
        outcomes.append((out["model_drift"], round(out["delta"] / scale, 9), round(out["tolerance"] / scale, 9)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] == pytest.approx(0.05 * 0.99)


# --- direct loss estimation ---------------------------------------------------------------------------------------
def test_direct_loss_estimation_follows_the_rmse_under_covariate_shift() -> None:
    rng = np.random.default_rng(8)

    def rows(n: int, centre: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        x = rng.normal(centre, 1.0, n)
        group = np.where(rng.uniform(size=n) < 0.5, "a", "b")
        noise = 0.2 + 0.8 * np.abs(x)  # the model's error grows with |x|
        y = 3 * x + rng.normal(0, noise)
        return pd.DataFrame({"x": x, "group": group}), y, 3 * x

    features, y, predictions = rows(2000, 0.0)
    estimator = LossEstimator.fit("rmse", features, y, predictions)
    shifted, y_shifted, p_shifted = rows(1000, 1.5)  # covariate shift into the noisy region
    estimate = estimate_loss_interval(estimator, shifted, p_shifted, resamples=100)
    realised = point_metric("rmse", y_shifted, p_shifted)
    before = point_metric("rmse", y, predictions)
    assert realised > 1.5 * before  # the shift really changed the RMSE
    assert abs(estimate.value - realised) / realised < 0.1
    assert estimate.low <= estimate.value <= estimate.high


def test_thresholds_default_to_benjamini_hochberg_at_five_percent() -> None:
    t = DriftThresholds()
    assert (t.significance, t.multiple_testing) == (0.05, "bh")


def test_the_drift_report_says_what_drift_yes_means() -> None:
    from millpond.drift.analysis import DriftReport
    from millpond.drift.stats import verdict_meaning

    rng = np.random.default_rng(2)
    table = drift_table(draw(rng, 900), draw(rng, 300), numeric=NUMERIC, categorical=CATEGORICAL)
    verdict = dataset_verdict(table)
    performance = {
        "model": {"model_drift": False, "reason": "no earlier windows"},
        "kpi": None, "kpi_interval": None, "history": [], "basis": "none", "estimate": None,
        "estimate_interval": None, "check": {"estimate_trusted": None, "estimate_gap": None, "estimate_note": ""},
    }  # fmt: skip
    report = DriftReport("c1", table, verdict, performance, pd.DataFrame(), pd.DataFrame(), "v1", None)
    meaning = report.summary()["drift_meaning"]
    assert meaning == verdict_meaning(DriftThresholds(), 6)
    assert "over the 6 features" in meaning and "at most about 5% of the time" in meaning
