"""Cross-validated hyperparameter search from the ``model.search`` section of a use case.

Every candidate of the search (its parameters, the score of each fold and the fit
time) becomes one row of the iterations table, which the train stage records.
Scores are reported in the metric's own orientation (an RMSE is positive, lower
is better), whatever sign scikit-learn's scorer uses internally.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid, RandomizedSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from millpond.config.params import SearchSpec, UseCase
from millpond.errors import TrainingError

if TYPE_CHECKING:
    from distributed import Client

# our metric name -> (scikit-learn scorer, sign that turns the scorer's value back into the metric)
SCORERS: dict[str, tuple[str, float]] = {
    "roc_auc": ("roc_auc", 1.0),
    "pr_auc": ("average_precision", 1.0),
    "log_loss": ("neg_log_loss", -1.0),
    "brier": ("neg_brier_score", -1.0),
    "f1": ("f1", 1.0),
    "accuracy": ("accuracy", 1.0),
    "rmse": ("neg_root_mean_squared_error", -1.0),
    "mae": ("neg_mean_absolute_error", -1.0),
    "mape": ("neg_mean_absolute_percentage_error", -1.0),
    "r2": ("r2", 1.0),
}
_PREFIX = "model__"


@dataclass
class SearchResult:
    """The outcome of a search: the best parameters and one row per candidate."""

    best_params: dict[str, Any]
    best_score: float
    iterations: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def cv_splits(
    y: pd.Series, windows: np.ndarray | None, use_case: UseCase
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Folds for the search and their kind.

    With three or more windows the folds are time-ordered: each of the last
    ``cv_folds`` windows is validated on a model trained on the windows before it.
    Otherwise stratified (classification) or plain k-fold, shuffled with the model's seed.
    """
    spec = use_case.model.search
    assert spec is not None
    folds = spec.cv_folds
    if windows is not None:
        labels = np.asarray(windows).astype(str)
        ordered = sorted(set(labels))
        if len(ordered) >= 3:
            splits = []
            for window in ordered[-min(folds, len(ordered) - 1) :]:
                splits.append((np.flatnonzero(labels < window), np.flatnonzero(labels == window)))
            return splits, "time-ordered by window"
    seed = use_case.model.random_state
    if use_case.task == "classification":
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        kind = "stratified k-fold"
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
        kind = "k-fold"
    return list(splitter.split(np.zeros(len(y)), y)), kind


def _distributions(spec: SearchSpec) -> dict[str, Any]:
    """The search space with the estimator prefix; ranges become scipy distributions (random search)."""
    space: dict[str, Any] = {}
    for name, values in spec.space.items():
        if isinstance(values, dict):
            low, high = values["low"], values["high"]
            if values.get("int"):
                space[_PREFIX + name] = stats.randint(int(low), int(high) + 1)
            elif values.get("log"):
                space[_PREFIX + name] = stats.loguniform(float(low), float(high))
            else:
                space[_PREFIX + name] = stats.uniform(float(low), float(high) - float(low))
        else:
            space[_PREFIX + name] = list(values)
    return space


def scoring_metric(use_case: UseCase) -> str:
    """The metric the search maximises: model.search.scoring, else promotion.metric."""
    spec = use_case.model.search
    return (spec.scoring if spec and spec.scoring else None) or use_case.promotion.metric


@contextmanager
def search_backend(client: Client | None, data: list[Any]) -> Iterator[int]:
    """The ``n_jobs`` of the search, inside joblib's Dask backend when ``client`` is given (one task per candidate
    and fold, on the cluster's workers), else 1 (in this process).

    ``data`` (the rows, the target and every fold's index arrays) goes to the cluster first as tasks that return
    it: joblib would otherwise ``scatter`` each large argument to one worker, and scattered data that dies with its
    worker cannot be recomputed, so the fits needing it are cancelled. A task's result can: the scheduler reruns
    it (and the lost worker's fits) elsewhere. (A broadcast scatter does not help: Dask's active memory manager
    drops the extra replicas.)
    """
    if client is None:
        yield 1
        return
    import copy

    import joblib
    from joblib.parallel import get_active_backend

    with joblib.parallel_backend("dask", client=client):
        held = [client.submit(copy.copy, item, pure=False) for item in data]
        backend = get_active_backend()[0]
        backend.data_futures.update({id(item): future for item, future in zip(data, held, strict=True)})
        yield -1


def tune(
    pipeline: Any,
    features: pd.DataFrame,
    y: pd.Series,
    windows: np.ndarray | None,
    use_case: UseCase,
    *,
    client: Client | None = None,
) -> SearchResult:
    """Run the grid or random search of ``use_case.model.search`` on the training rows (no refit).

    With a Dask ``client`` the candidates' fits run on its workers through joblib's Dask backend; the candidates,
    folds and seeds are the same, so best parameters and fold scores equal the in-process search's (only the
    timings differ).
    """
    spec = use_case.model.search
    if spec is None:
        raise TrainingError(f"Use case {use_case.use_case!r} has no model.search section: nothing to tune.")
    metric = scoring_metric(use_case)
    scorer, sign = SCORERS[metric]
    splits, kind = cv_splits(y, windows, use_case)
    space = _distributions(spec)
    common: dict[str, Any] = {"scoring": scorer, "cv": splits, "refit": False, "error_score": "raise"}
    if spec.method == "grid":
        search: Any = GridSearchCV(pipeline, space, **common)
    else:
        n_iter = spec.n_iter
        if all(isinstance(v, list) for v in space.values()):
            n_iter = min(n_iter, len(ParameterGrid(space)))
        search = RandomizedSearchCV(pipeline, space, n_iter=n_iter, random_state=use_case.model.random_state, **common)
    try:
        data = [features, y, *(indices for fold in splits for indices in fold)]
        with threadpool_limits(limits=use_case.model.threads), search_backend(client, data) as n_jobs:
            search.set_params(n_jobs=n_jobs)
            search.fit(features, y)
    except (ValueError, TypeError) as exc:
        raise TrainingError(
            f"Hyperparameter search for {use_case.use_case!r} ({use_case.model.family}) failed: {exc}. "
            "Check the values in model.search.space."
        ) from exc
    table = iterations_table(search.cv_results_, len(splits), sign)
    best = table.loc[table["rank"].idxmin()]
    best_params = {
        name: _plain(search.cv_results_["params"][int(best["iteration"]) - 1][_PREFIX + name]) for name in spec.space
    }
    summary = {
        "method": spec.method,
        "scoring": metric,
        "cv": kind,
        "folds": len(splits),
        "candidates": len(table),
        "best_params": best_params,
        "best_score": float(best["mean"]),
        "search_seconds": float(table["fit_seconds"].sum() + table["score_seconds"].sum()),
    }
    return SearchResult(best_params, float(best["mean"]), table, summary)


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones (metadata is JSON)."""
    return value.item() if hasattr(value, "item") and callable(value.item) else value


def iterations_table(cv_results: dict[str, Any], folds: int, sign: float) -> pd.DataFrame:
    """One row per candidate: its parameters, the score of each fold (metric orientation), mean, std, times and rank."""
    rows = []
    for i, params in enumerate(cv_results["params"]):
        row: dict[str, Any] = {"iteration": i + 1}
        row.update({name.removeprefix(_PREFIX): _plain(value) for name, value in params.items()})
        scores = [sign * float(cv_results[f"split{k}_test_score"][i]) for k in range(folds)]
        row.update({f"fold_{k + 1}": s for k, s in enumerate(scores)})
        row["mean"] = float(np.mean(scores))
        row["std"] = float(np.std(scores))
        row["fit_seconds"] = float(cv_results["mean_fit_time"][i]) * folds
        row["score_seconds"] = float(cv_results["mean_score_time"][i]) * folds
        row["rank"] = int(cv_results["rank_test_score"][i])
        rows.append(row)
    return pd.DataFrame(rows)
