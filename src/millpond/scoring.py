"""Batch scoring: predictions for a window with the model version that made them."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from millpond.errors import ScoringError, did_you_mean
from millpond.params import UseCase
from millpond.storage import atomic_write_bytes
from millpond.training import predict_scores


def check_inputs(frame: pd.DataFrame, schema: dict[str, str]) -> None:
    """Refuse input that lacks a column of the model's input schema."""
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        hints = "".join(did_you_mean(c, [str(x) for x in frame.columns]) for c in missing)
        raise ScoringError(
            f"Scoring input lacks column(s) {missing} that the model was trained on.{hints} "
            f"Expected columns: {list(schema)}."
        )
    if frame.empty:
        raise ScoringError("Scoring input has no rows.")


def score_frame(model: object, frame: pd.DataFrame, use_case: UseCase, *, model_name: str, model_version: str, run_id: str | None) -> pd.DataFrame:
    """Predictions with key, score, model version, run id and time."""
    features = frame[use_case.feature_columns]
    scores = predict_scores(model, features, use_case)
    out = pd.DataFrame({use_case.key: frame[use_case.key].to_numpy()})
    if use_case.task == "classification":
        out["probability"] = scores
        out["prediction"] = (scores >= 0.5).astype("int64")
    else:
        out["prediction"] = scores
    out["model"] = model_name
    out["model_version"] = model_version
    out["run_id"] = run_id or ""
    out["scored_at"] = pd.Timestamp(datetime.now(UTC))
    if not np.isfinite(scores).all():
        raise ScoringError(f"Model {model_name}@{model_version} produced non-finite scores; check the input for infinities.")
    return out


def write_predictions(predictions: pd.DataFrame, folder: Path, name: str) -> Path:
    """Write predictions once (atomic) as Parquet; an existing file is never replaced."""
    target = Path(folder) / f"{name}.parquet"
    if target.exists():
        raise ScoringError(f"Predictions {target} already exist; captures are never rewritten.")
    buffer = io.BytesIO()
    predictions.to_parquet(buffer, index=False)
    return atomic_write_bytes(target, buffer.getvalue(), read_only=True)
