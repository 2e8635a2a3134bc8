"""Cross-validated hyperparameter search: every iteration recorded, time-ordered folds, validated search spaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millpond.errors import ParamsError
from millpond.models.training import fit, split_training_data
from millpond.models.tuning import cv_splits
from tests.conftest import MakeUseCase

WINDOWS = ("2025-01", "2025-02", "2025-03")


SMALL_MODEL = {"family": "hist_gradient_boosting", "params": {"max_iter": 20}}


@pytest.fixture(scope="module")
def frames(small_demo_raw: Path) -> list[tuple[str, pd.DataFrame]]:
    return [(w, pd.read_csv(small_demo_raw / f"churn_{w}.csv", dtype={"customer_id": "str"})) for w in WINDOWS]


def test_grid_search_records_every_candidate_with_time_ordered_folds(frames, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(
        model=SMALL_MODEL,
        search={"method": "grid", "space": {"max_iter": [10, 30], "learning_rate": [0.05, 0.2]}, "cv_folds": 2},
    )
    train, holdout, windows = split_training_data(frames, "2025-03", uc)
    result = fit(train, holdout, uc, windows=windows)
    table = result.search.iterations
    assert len(table) == 4
    assert sorted(zip(table["max_iter"], table["learning_rate"])) == [(10, 0.05), (10, 0.2), (30, 0.05), (30, 0.2)]
    assert {"fold_1", "fold_2", "mean", "std", "fit_seconds", "rank"} <= set(table.columns)
    assert np.allclose(table["mean"], table[["fold_1", "fold_2"]].mean(axis=1))
    assert (table["fit_seconds"] > 0).all() and sorted(table["rank"]) == [1, 2, 3, 4]
    summary = result.search.summary
    assert summary["cv"] == "time-ordered by window" and summary["folds"] == 2 and summary["scoring"] == "roc_auc"
    best = table.loc[table["rank"] == 1].iloc[0]
    assert summary["best_params"] == {"max_iter": int(best["max_iter"]), "learning_rate": float(best["learning_rate"])}
    assert result.best_params == summary["best_params"]
    refit = result.model.named_steps["model"]  # the best candidate, refit on every training row
    assert (refit.max_iter, refit.learning_rate) == (best["max_iter"], best["learning_rate"])
    assert 0.5 < summary["best_score"] <= 1


def test_time_ordered_folds_validate_each_window_on_the_windows_before(frames, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(model=SMALL_MODEL, search={"space": {"max_iter": [10]}, "cv_folds": 2})
    train, _, windows = split_training_data(frames, "2025-03", uc)
    splits, kind = cv_splits(train["churned"], windows, uc)
    assert kind == "time-ordered by window"
    for (fit_rows, val_rows), window in zip(splits, ("2025-02", "2025-03"), strict=True):
        assert set(windows[val_rows]) == {window}
        assert set(windows[fit_rows]) == {w for w in WINDOWS if w < window}
    splits, kind = cv_splits(train["churned"], np.array(["2025-01"] * len(train)), uc)
    assert kind == "stratified k-fold" and len(splits) == 2


def test_random_search_draws_n_iter_candidates_from_ranges_and_is_deterministic(
    frames, make_use_case: MakeUseCase
) -> None:
    space = {"max_iter": {"low": 5, "high": 30, "int": True}, "learning_rate": {"low": 0.01, "high": 0.3, "log": True}}
    uc = make_use_case(
        model=SMALL_MODEL,
        search={"method": "random", "space": space, "n_iter": 3, "cv_folds": 2, "scoring": "log_loss"},
    )
    train, holdout, windows = split_training_data(frames[:1], "2025-01", uc)
    first = fit(train, holdout, uc, windows=windows)
    table = first.search.iterations
    assert (
        len(table) == 3 and table["max_iter"].between(5, 30).all() and table["learning_rate"].between(0.01, 0.3).all()
    )
    assert (table["mean"] > 0).all()  # log loss reported as itself, not negated
    assert table.loc[table["rank"] == 1, "mean"].iloc[0] == table["mean"].min()  # lower log loss is better
    again = fit(train, holdout, uc, windows=windows)
    pd.testing.assert_frame_equal(
        table.drop(columns=["fit_seconds", "score_seconds"]),
        again.search.iterations.drop(columns=["fit_seconds", "score_seconds"]),
    )


def test_search_space_problems_are_listed_with_suggestions(make_use_case: MakeUseCase) -> None:
    with pytest.raises(ParamsError) as info:
        make_use_case(
            model=SMALL_MODEL,
            search={
                "method": "grid",
                "space": {"max_iters": [10], "learning_rate": {"low": 0.1, "high": 0.2}},
                "scoring": "roc_uac",
            },
        )
    message = str(info.value)
    assert (
        "model.search.space names 'max_iters', which HistGradientBoostingClassifier does not take. Did you mean 'max_iter'?"
        in message
    )
    assert "a grid search needs a list of values" in message
    assert "model.search.scoring must be one of roc_auc" in message and "Did you mean 'roc_auc'?" in message
    with pytest.raises(ParamsError, match=r"unknown key 'model\.search\.methd'\. Did you mean 'method'\?"):
        make_use_case(model=SMALL_MODEL, search={"methd": "grid", "space": {"max_iter": [10]}})
    with pytest.raises(ParamsError, match=r"'model\.search\.method' must be one of 'grid' or 'random'"):
        make_use_case(model=SMALL_MODEL, search={"method": "bayes", "space": {"max_iter": [10]}})
    with pytest.raises(ParamsError, match=r"values for 'max_iter' must be a non-empty list"):
        make_use_case(model=SMALL_MODEL, search={"space": {"max_iter": 10}})
    with pytest.raises(
        ParamsError, match=r"model\.search\.scoring must be one of rmse, mae, mape, r2 for task 'regression'"
    ):
        make_use_case(
            model=SMALL_MODEL,
            search={"space": {"max_iter": [10]}, "scoring": "roc_auc"},
            task="regression",
            target="monthly_charges",
            promotion={"metric": "rmse"},
        )
