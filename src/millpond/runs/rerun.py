"""Re-execute a recorded training run with its params and mart versions, and say whether it reproduces.

The rerun happens in-process and stores nothing: it rebuilds the training and
holdout rows from the exact mart versions in the model's lineage (after checking
their hashes), fits again with the same parameters and seed, and compares the
metrics and the model file's sha256 with what the store recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from millpond.config.params import validate_use_case
from millpond.errors import MartError, RunError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore, model_sha256
from millpond.models.training import fit, split_training_data
from millpond.runs.provenance import code_version
from millpond.runs.store import RunStore
from millpond.store.files import sha256_file
from millpond.workspace import Workspace

TOLERANCE = 1e-9


@dataclass
class RerunReport:
    """What the rerun found: each metric then and now, and whether everything matched."""

    run_id: str
    model: str
    version: str
    metrics: list[dict[str, Any]] = field(default_factory=list)
    model_identical: bool = False
    code_then: str | None = None
    code_now: str | None = None

    @property
    def metrics_match(self) -> bool:
        return all(row["match"] for row in self.metrics)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "metrics_match": self.metrics_match,
            "model_identical": self.model_identical,
            "code_then": self.code_then,
            "code_now": self.code_now,
            "metrics": self.metrics,
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOLERANCE * max(1.0, abs(a))
    return bool(a == b)


def rerun_training(ws: Workspace, run_ref: str) -> RerunReport:
    """Fit the model of train run ``run_ref`` again and compare it with the stored version."""
    record = RunStore(ws.runs).get(run_ref)
    if record.stage != "train":
        raise RunError(
            f"Run {record.run_id} is a '{record.stage}' run; `runs rerun` re-executes train runs. "
            "List them with `millpond runs list --stage train`."
        )
    candidate = ((record.scraps or {}).get("summary") or {}).get("candidate")
    if record.status != "succeeded" or not candidate:
        raise RunError(
            f"Run {record.run_id} {record.status} without storing a model ({record.skip_reason or record.error or 'no candidate'}); "
            "there is nothing to reproduce. Pick a succeeded train run."
        )
    store = ModelStore(ws.model_store)
    version = store.get(record.use_case, candidate)
    meta = version.metadata
    params = dict(meta.params)
    order = meta.column_order or list(params["columns"])
    params["columns"] = {name: params["columns"][name] for name in order}  # metadata.json sorted them
    use_case = validate_use_case(params, source=f"params stored with {record.use_case}@{version.version}")
    marts = MartStore(ws.feature_marts)
    frames = []
    for item in meta.training_marts:
        mart = marts.get(use_case.use_case, item["version"])
        if sha256_file(mart.data_path) != item["sha256"]:
            raise MartError(
                f"Mart version {use_case.use_case}@{item['version']} was altered since run {record.run_id} trained on it "
                f"(its sha256 differs from the model's lineage); the run cannot be reproduced from it."
            )
        frames.append((mart.window, mart.read()))
    train, holdout, windows = split_training_data(frames, meta.trained_for_window or "", use_case)
    result = fit(train, holdout, use_case, windows=windows)
    report = RerunReport(record.run_id, record.use_case, version.version)
    for metric, then in meta.metrics.items():
        now = result.metrics.get(metric)
        report.metrics.append({"metric": metric, "recorded": then, "rerun": now, "match": _same(then, now)})
    report.model_identical = model_sha256(result.model) == version.sha256
    report.code_then = (meta.code or {}).get("commit")
    report.code_now = code_version(ws.root).get("commit")
    return report
