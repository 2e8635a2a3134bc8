"""Two model versions side by side: metrics, parameters that differ, and the data each trained on."""

from __future__ import annotations

from typing import Any

from millpond.models.store import ModelStore


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def compare_versions(store: ModelStore, name: str, first: str, second: str) -> dict[str, Any]:
    """Metrics of both (with the difference), every parameter that differs, and the training data each used."""
    a, b = store.get(name, first), store.get(name, second)
    ma, mb = a.metadata.metrics, b.metadata.metrics
    metrics = []
    for metric in [*ma, *(k for k in mb if k not in ma)]:
        va, vb = ma.get(metric), mb.get(metric)
        diff = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        metrics.append({"metric": metric, a.version: va, b.version: vb, "difference": diff})
    pa = _flatten({"params": a.metadata.params, "model_params": a.metadata.model_params})
    pb = _flatten({"params": b.metadata.params, "model_params": b.metadata.model_params})
    params = [
        {"parameter": key, a.version: pa.get(key), b.version: pb.get(key)}
        for key in sorted(set(pa) | set(pb))
        if pa.get(key) != pb.get(key)
    ]
    da = {m["version"]: m for m in a.metadata.training_marts}
    db = {m["version"]: m for m in b.metadata.training_marts}
    data = {
        "both": sorted(set(da) & set(db)),
        f"only_{a.version}": sorted(set(da) - set(db)),
        f"only_{b.version}": sorted(set(db) - set(da)),
        "train_rows": {a.version: a.metadata.train_rows, b.version: b.metadata.train_rows},
        "windows": {
            a.version: [m.get("window") for m in da.values()],
            b.version: [m.get("window") for m in db.values()],
        },
    }
    return {
        "name": name,
        "versions": [a.version, b.version],
        "metrics": metrics,
        "params": params,
        "training_data": data,
    }
