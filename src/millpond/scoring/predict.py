"""The predict step of batch scoring, shared by in-process and Dask scoring.

:class:`Scorer` (a loaded model version and the role it plays), :class:`Prepared`
(one record batch cut into each model's feature rows) and :func:`predict_frame`
(the one predict step). ``scoring.batch`` and ``scoring.cluster`` both import this
module; it imports neither, so the two never import each other in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from millpond.config.params import UseCase, validate_use_case
from millpond.errors import ScoringError
from millpond.models.store import ModelStore
from millpond.scoring.input_contract import InputContract


@dataclass
class Scorer:
    """A loaded model version, its use case and input contract, and the role it plays in this run."""

    name: str
    version: str
    model: Any
    use_case: UseCase
    contract: InputContract
    role: str = "champion"
    metadata: dict[str, Any] = field(default_factory=dict)
    store_root: Path | None = None  # the model store it was loaded from (Dask workers load it from there too)

    @classmethod
    def load(
        cls, store: ModelStore, name: str, ref: str, *, role: str = "champion", use_case: UseCase | None = None
    ) -> Scorer:
        """Load through the store (sha256 checked before skops loads); the use case defaults to the one it was trained with."""
        model, version = store.load(name, ref)
        uc = use_case or validate_use_case(version.metadata.params, source=f"metadata of {name}@{version.version}")
        return cls(
            name,
            version.version,
            model,
            uc,
            InputContract.for_model(version.metadata.to_dict(), model),
            role,
            version.metadata.to_dict(),
            store.root,
        )

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def predict(self, features: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """(scores, predictions) of this model version on ``features``, in this process."""
        return predict_frame(self.model, self.use_case.task, features, threshold, label=self.label)


@dataclass
class Prepared:
    """One record batch checked against every input contract, with each model's share of its feature rows."""

    batch: pa.RecordBatch
    jobs: list[tuple[Scorer, np.ndarray | None, pd.DataFrame]]  # (scorer, its row mask or None, its feature rows)


def predict_frame(
    model: Any, task: str, features: pd.DataFrame, threshold: float, *, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, predictions) of ``model`` on ``features``: the one predict step, in this process or on a Dask worker.

    Classification: the probability of class 1 and the class at ``threshold``; regression: the prediction twice.
    """
    if task == "classification":
        scores = np.asarray(model.predict_proba(features)[:, 1], dtype="float64")
        predictions = (scores >= threshold).astype("int64")
    else:
        scores = np.asarray(model.predict(features), dtype="float64")
        predictions = scores
    if not np.isfinite(scores).all():
        raise ScoringError(f"Model {label} produced non-finite scores; check the input for infinities.")
    return scores, predictions
