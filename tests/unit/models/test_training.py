from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millpond.errors import TrainingError
from millpond.models.training import build_pipeline, evaluate, fit, holdout_mask
from tests.conftest import MakeUseCase


def _frame(raw: Path, window: str) -> pd.DataFrame:
    return pd.read_csv(raw / f"churn_{window}.csv", dtype={"customer_id": "str"})


def test_holdout_is_stable_and_about_the_requested_share(small_demo_raw: Path, make_use_case: MakeUseCase) -> None:
    uc = make_use_case()
    frame = _frame(small_demo_raw, "2025-01")
    mask = holdout_mask(frame, uc)
    assert np.array_equal(mask, holdout_mask(frame.sample(frac=1, random_state=1).sort_index(), uc))
    assert abs(mask.mean() - uc.training.holdout_fraction) < 0.03
    shuffled = frame.sample(frac=1, random_state=3)
    assert set(shuffled[holdout_mask(shuffled, uc)]["customer_id"]) == set(frame[mask]["customer_id"])


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression", "random_forest"])
def test_each_family_learns_churn(small_demo_raw: Path, family: str, make_use_case: MakeUseCase) -> None:
    params = {"n_estimators": 50} if family == "random_forest" else {}
    uc = make_use_case(model={"family": family, "params": params})
    frame = pd.concat([_frame(small_demo_raw, "2025-01"), _frame(small_demo_raw, "2025-02")])
    mask = holdout_mask(frame, uc)
    result = fit(frame[~mask], frame[mask], uc)
    assert result.metrics["roc_auc"] > 0.7
    assert 0 <= result.metrics["brier"] < 0.25
    assert result.holdout_rows == int(mask.sum())
    assert sum(result.importance.values()) == pytest.approx(1.0)
    assert set(result.importance) == set(uc.feature_columns)
    assert max(result.importance, key=result.importance.get) != "region"  # region carries no signal before drift


def test_regression_task_reports_regression_metrics(small_demo_raw: Path, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(
        task="regression",
        target="monthly_charges",
        promotion={"metric": "rmse"},
        model={"family": "logistic_regression"},
    )
    assert "monthly_charges" not in uc.feature_columns
    frame = _frame(small_demo_raw, "2025-01")
    mask = holdout_mask(frame, uc)
    result = fit(frame[~mask], frame[mask], uc)
    assert set(result.metrics) >= {"rmse", "mae", "mape", "r2"}
    assert result.metrics["r2"] > 0.5  # charges depend strongly on internet service
    again = evaluate(result.model, frame[mask], uc)
    assert again["rmse"] == pytest.approx(result.metrics["rmse"])


def test_too_few_rows_and_one_class_are_refused(small_demo_raw: Path, make_use_case: MakeUseCase) -> None:
    uc = make_use_case()
    frame = _frame(small_demo_raw, "2025-01")
    with pytest.raises(TrainingError, match=r"Only 50 training rows .*training\.min_rows is 200"):
        fit(frame.head(50), frame, uc)
    one_class = frame[frame["churned"] == 0]
    with pytest.raises(TrainingError, match=r"one class only"):
        fit(one_class, frame, uc)


def test_bad_model_params_name_the_estimator(make_use_case: MakeUseCase) -> None:
    uc = make_use_case(model={"family": "hist_gradient_boosting", "params": {"max_iters": 10}})
    with pytest.raises(TrainingError, match="do not fit HistGradientBoostingClassifier"):
        build_pipeline(uc)


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression", "random_forest"])
def test_each_family_fits_the_regression_task(small_demo_raw: Path, family: str, make_use_case: MakeUseCase) -> None:
    params = {"n_estimators": 20, "max_depth": 8} if family == "random_forest" else {}
    uc = make_use_case(
        task="regression",
        target="monthly_charges",
        promotion={"metric": "rmse"},
        model={"family": family, "params": params},
    )
    frame = _frame(small_demo_raw, "2025-01")
    mask = holdout_mask(frame, uc)
    result = fit(frame[~mask], frame[mask], uc)
    assert result.metrics["r2"] > 0.5 and result.metrics["rmse"] > 0
    assert (
        type(result.model.named_steps["model"]).__name__
        == {
            "hist_gradient_boosting": "HistGradientBoostingRegressor",
            "logistic_regression": "Ridge",
            "random_forest": "RandomForestRegressor",
        }[family]
    )
    scores = result.holdout_scores
    assert len(scores) == mask.sum() and np.allclose(scores["label"], frame.loc[mask, "monthly_charges"])


def test_fit_is_profiled(small_demo_raw: Path, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(model={"family": "hist_gradient_boosting", "params": {"max_iter": 30}})
    frame = _frame(small_demo_raw, "2025-01")
    mask = holdout_mask(frame, uc)
    result = fit(frame[~mask], frame[mask], uc)
    profile = result.profile
    assert set(profile) == {
        "fit_wall_seconds",
        "fit_cpu_seconds",
        "fit_peak_memory_bytes",
        "memory_method",
        "predict_ms_per_1000_rows",
        "predict_ms_per_row",
    }
    assert profile["fit_wall_seconds"] == result.fit_seconds > 0 and profile["fit_cpu_seconds"] > 0
    assert profile["fit_peak_memory_bytes"] >= 0 and profile["memory_method"] in ("rss high-water mark", "tracemalloc")
    assert profile["predict_ms_per_1000_rows"] > 0 and profile["predict_ms_per_row"] > 0


def test_peak_memory_sees_a_large_allocation() -> None:
    from millpond.models.footprint import profile_call

    value, profile = profile_call(lambda: float(np.ones(20_000_000).sum()))  # 160 MB held during the call
    assert value == 20_000_000.0
    assert profile["fit_peak_memory_bytes"] > 120_000_000


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_scores_in_batches_are_the_scores_of_one_call(
    small_demo_raw: Path, task: str, make_use_case: MakeUseCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.models import training

    options = {"target": "monthly_charges", "promotion": {"metric": "rmse"}} if task == "regression" else {}
    uc = make_use_case(task=task, **options)
    frame = _frame(small_demo_raw, "2025-01")
    mask = holdout_mask(frame, uc)
    model = fit(frame[~mask], frame[mask], uc).model
    features = frame[uc.feature_columns]
    whole = model.predict_proba(features)[:, 1] if task == "classification" else model.predict(features)
    monkeypatch.setattr(training, "PREDICT_BATCH", 97)  # many batches and a short last one
    batched = training.predict_scores(model, features, uc)
    assert len(features) % 97 and len(batched) == len(features)
    np.testing.assert_allclose(batched, whole, rtol=1e-12, atol=1e-15)  # row by row, in order
