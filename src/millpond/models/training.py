"""Fit scikit-learn pipelines for a use case and measure them.

The pipeline is a ``ColumnTransformer`` (imputation, one-hot for categoricals,
scaling for linear models) followed by the family named in the params.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from millpond.config.families import estimator_class
from millpond.config.params import UseCase
from millpond.errors import TrainingError
from millpond.models.engine import engine_client
from millpond.models.footprint import prediction_latency, profile_call
from millpond.models.metrics import LEAN_ROWS, binary_metrics
from millpond.models.tuning import SearchResult, tune

if TYPE_CHECKING:
    from distributed import Client

_IMPORTANCE_ROWS = 3000
_HOLDOUT_BUCKETS = 10_000


def build_pipeline(use_case: UseCase) -> Pipeline:
    """An unfitted pipeline for the use case's features, task and model family."""
    family, task = use_case.model.family, use_case.task
    linear = family == "logistic_regression"
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if linear:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), use_case.numeric_columns),
            ("categorical", categorical, use_case.categorical_columns),
        ],
        verbose_feature_names_out=False,
    )
    params = {"random_state": use_case.model.random_state, **use_case.model.params}
    estimator_cls = estimator_class(family, task)
    if estimator_cls is LogisticRegression:
        params.setdefault("max_iter", 1000)
    try:
        estimator = estimator_cls(**params)
    except TypeError as exc:
        raise TrainingError(f"model.params {use_case.model.params} do not fit {estimator_cls.__name__}: {exc}") from exc
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def holdout_mask(frame: pd.DataFrame, use_case: UseCase) -> np.ndarray:
    """Rows kept out of training, chosen by a stable hash of the key (same rows every run)."""
    hashed = pd.util.hash_pandas_object(frame[use_case.key].astype("str"), index=False).to_numpy()
    return (hashed % _HOLDOUT_BUCKETS) < int(use_case.training.holdout_fraction * _HOLDOUT_BUCKETS)


PREDICT_BATCH = 262_144
"""Rows scored per call: a pipeline's transformed copy of a big window (one-hot columns, float matrices) is held
for one batch at a time, so scoring millions of rows keeps its memory flat."""


def _predict(model: Any, rows: pd.DataFrame, use_case: UseCase) -> np.ndarray:
    if use_case.task == "classification":
        return np.asarray(model.predict_proba(rows)[:, 1], dtype="float64")
    return np.asarray(model.predict(rows), dtype="float64")


def predict_scores(model: Any, features: pd.DataFrame, use_case: UseCase) -> np.ndarray:
    """Positive-class probability (classification) or prediction (regression), :data:`PREDICT_BATCH` rows at a time."""
    with threadpool_limits(limits=use_case.model.threads):
        if len(features) <= PREDICT_BATCH:  # one call (zero rows: the model's own refusal)
            return _predict(model, features, use_case)
        batches = range(0, len(features), PREDICT_BATCH)
        return np.concatenate([_predict(model, features.iloc[i : i + PREDICT_BATCH], use_case) for i in batches])


def evaluate(model: Any, frame: pd.DataFrame, use_case: UseCase, *, threshold: float = 0.5) -> dict[str, float]:
    """Every metric of the task on labelled rows."""
    scores = predict_scores(model, frame[use_case.feature_columns], use_case)
    return metrics_from_scores(frame[use_case.target].to_numpy(), scores, use_case, threshold=threshold)


def metrics_from_scores(
    y_true: np.ndarray, scores: np.ndarray, use_case: UseCase, *, threshold: float = 0.5
) -> dict[str, float]:
    """Metrics from labels and scores (probabilities or predictions)."""
    if use_case.task == "regression":
        err = scores - y_true
        return {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(np.abs(err))),
            "mape": float(
                skm.mean_absolute_percentage_error(y_true, scores)
            ),  # as search scoring and the bootstrap: y == 0 counts as eps
            "r2": float(skm.r2_score(y_true, scores)),
            "n": int(len(y_true)),
        }
    if len(y_true) > LEAN_ROWS:  # scikit-learn's copies would grow with the window: the same metrics in blocks
        return binary_metrics(y_true, scores, threshold)
    y = y_true.astype(int)
    out = {"n": int(len(y)), "positive_rate": float(y.mean())}
    labels = (scores >= threshold).astype(int)
    out["accuracy"] = float(skm.accuracy_score(y, labels))
    out["f1"] = float(skm.f1_score(y, labels, zero_division=0))
    out["brier"] = float(skm.brier_score_loss(y, scores))
    if len(np.unique(y)) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y, scores))
        out["pr_auc"] = float(skm.average_precision_score(y, scores))
        out["log_loss"] = float(skm.log_loss(y, np.clip(scores, 1e-15, 1 - 1e-15)))
    return out


def normalised_importance(model: Any, frame: pd.DataFrame, use_case: UseCase, *, seed: int = 0) -> dict[str, float]:
    """Permutation importance per raw feature on held-out rows, clipped at 0 and normalised to sum to 1."""
    sample = frame.sample(n=min(len(frame), _IMPORTANCE_ROWS), random_state=seed)
    scoring = "roc_auc" if use_case.task == "classification" else "r2"
    result = permutation_importance(
        model,
        sample[use_case.feature_columns],
        sample[use_case.target],
        scoring=scoring,
        n_repeats=3,
        random_state=seed,
        n_jobs=1,
    )
    raw = np.clip(result.importances_mean, 0, None)
    total = raw.sum()
    weights = raw / total if total > 0 else np.full(len(raw), 1 / len(raw))
    return {name: float(w) for name, w in zip(use_case.feature_columns, weights, strict=True)}


@dataclass
class FitResult:
    model: Pipeline
    metrics: dict[str, float]
    importance: dict[str, float]
    train_rows: int
    holdout_rows: int
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    search: SearchResult | None = None
    holdout_scores: pd.DataFrame | None = None  # label and score of each held-out row (for the notebook's plots)
    best_params: dict[str, Any] = field(default_factory=dict)
    holdout_slices: pd.DataFrame | None = None  # the ``slices`` columns of the held-out rows (None: no slices set)


def fit(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    use_case: UseCase,
    *,
    windows: np.ndarray | None = None,
    client: Client | None = None,
) -> FitResult:
    """Fit on ``train`` (after a search when ``model.search`` is set), then measure and profile it on ``holdout``.

    ``windows`` gives each training row's window, for time-ordered search folds. The search runs on ``client``'s
    Dask cluster when one is given, else on the use case's ``engine`` (see :func:`run_search`); the final fit,
    the metrics and the profile always run in this process.
    """
    if len(train) < use_case.training.min_rows:
        raise TrainingError(
            f"Only {len(train)} training rows for {use_case.use_case!r}; training.min_rows is {use_case.training.min_rows}. "
            f"Ingest more windows or lower training.min_rows."
        )
    y = train[use_case.target]
    if use_case.task == "classification" and y.nunique() < 2:
        raise TrainingError(
            f"Target {use_case.target!r} has one class only ({y.iloc[0]!r}) in the training rows; a classifier needs two."
        )
    features = train[use_case.feature_columns]
    search = None
    if use_case.model.search is not None:
        search = run_search(features, y, windows, use_case, client=client)
    model = build_pipeline(use_case)
    best_params = dict(search.best_params) if search else {}
    model.set_params(**{f"model__{name}": value for name, value in best_params.items()})
    with threadpool_limits(limits=use_case.model.threads):
        try:
            _, profile = profile_call(lambda: model.fit(features, y))
        except ValueError as exc:
            raise TrainingError(f"Fitting {use_case.model.family} for {use_case.use_case!r} failed: {exc}") from exc
        scores = predict_scores(model, holdout[use_case.feature_columns], use_case)
        metrics = metrics_from_scores(holdout[use_case.target].to_numpy(), scores, use_case)
        profile.update(
            prediction_latency(lambda rows: predict_scores(model, rows, use_case), holdout[use_case.feature_columns])
        )
        return FitResult(
            model=model,
            metrics=metrics,
            importance=normalised_importance(model, holdout, use_case),
            train_rows=len(train),
            holdout_rows=len(holdout),
            fit_seconds=float(profile["fit_wall_seconds"]),
            profile=profile,
            search=search,
            holdout_scores=pd.DataFrame({"label": holdout[use_case.target].to_numpy(), "score": scores}),
            best_params=best_params,
            holdout_slices=holdout[use_case.slices.columns].reset_index(drop=True) if use_case.slices.columns else None,
        )


def run_search(
    features: pd.DataFrame, y: pd.Series, windows: np.ndarray | None, use_case: UseCase, *, client: Client | None
) -> SearchResult:
    """The search of ``model.search``: on ``client``, else on the engine of the params (a LocalCluster or a
    scheduler for the search's duration when ``engine.kind`` is dask), else in this process."""
    if client is not None:
        return tune(build_pipeline(use_case), features, y, windows, use_case, client=client)
    with engine_client(use_case.engine) as engine:
        return tune(build_pipeline(use_case), features, y, windows, use_case, client=engine)


def split_training_data(
    frames: list[tuple[str, pd.DataFrame]], window: str, use_case: UseCase
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Training rows (every window, minus the key-hashed holdout of ``window``), holdout rows, and each training row's window."""
    parts = []
    for label, frame in frames:
        frame = frame.copy()
        frame["__window"] = label
        frame["__holdout"] = holdout_mask(frame, use_case) if label == window else False
        parts.append(frame)
    data = pd.concat(parts, ignore_index=True)
    holdout = data[data["__holdout"]].drop(columns=["__holdout", "__window"])
    train_part = data[~data["__holdout"]]
    windows = train_part["__window"].to_numpy()
    return (
        train_part.drop(columns=["__holdout", "__window"]).reset_index(drop=True),
        holdout.reset_index(drop=True),
        windows,
    )


def input_schema(use_case: UseCase) -> dict[str, str]:
    """Declared dtype of each model input column."""
    return {c: use_case.columns[c] for c in use_case.feature_columns}
