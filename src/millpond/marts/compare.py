"""Describe one mart version and compare two: schema, rows, hashes, lineage and per-column summaries."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from millpond.errors import MartVersionNotFoundError, did_you_mean
from millpond.marts.store import DESCRIBE_WHOLE_ROWS, MartStore, MartVersion

_NUMERIC_STATS = ("mean", "std", "min", "max")


def resolve_ref(store: MartStore, ref: str) -> MartVersion:
    """``MART`` (newest version), ``MART@VERSION`` or ``MART@WINDOW`` (newest of that window)."""
    mart, _, version = ref.partition("@")
    versions = store.versions(mart)
    if not versions:
        marts = [p.parent.name for p in store.root.glob("*/versions")]
        raise MartVersionNotFoundError(
            f"Mart {mart!r} has no versions.{did_you_mean(mart, marts)} Marts: {', '.join(sorted(marts)) or 'none'}."
        )
    if not version:
        return versions[-1]
    if version in {v.window for v in versions}:
        return store.latest(mart, version)
    return store.get(mart, version)


def _summary(column: pd.Series) -> dict[str, Any]:
    stats: dict[str, Any] = {"dtype": str(column.dtype), "nulls": int(column.isna().sum())}
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        described = column.astype("float64").agg(list(_NUMERIC_STATS))
        stats.update({k: _num(described[k]) for k in _NUMERIC_STATS})
    else:
        counts = column.astype("str").where(column.notna()).value_counts()
        stats.update({"distinct": int(counts.size), "top": None if counts.empty else str(counts.index[0])})
    return stats


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def describe_version(version: MartVersion, *, with_summary: bool = True) -> dict[str, Any]:
    """What ``marts show`` prints: schema, rows, hashes, source(s), window, load, the run that made it."""
    manifest = version.manifest
    data: dict[str, Any] = {
        "mart": version.mart,
        "version": version.version,
        "window": version.window,
        "rows": version.rows,
        "sha256": version.sha256,
        "schema": manifest.columns if manifest.columns is not None else {},
        "source": manifest.source,
        "sources": manifest.sources,
        "transform": manifest.transform,
        "load": manifest.load if manifest.load is not None else "incremental",
        "contract": manifest.contract,
        "warnings": manifest.warnings if manifest.warnings is not None else [],
        "run_id": manifest.run_id,
        "created_at": manifest.created_at,
        "path": str(version.path),
    }
    if with_summary:
        import pyarrow.parquet as pq

        names = pq.read_schema(version.data_path).names
        if version.rows <= DESCRIBE_WHOLE_ROWS:
            frame = version.read()
            data["summary"] = {str(name): _summary(frame[name]) for name in names}
        else:  # a big version: one column in memory at a time
            data["summary"] = {str(name): _summary(version.read(columns=[name])[name]) for name in names}
    return data


def diff_versions(old: MartVersion, new: MartVersion) -> dict[str, Any]:
    """Schema changes, row counts and per-column summary deltas from ``old`` to ``new``."""
    a, b = describe_version(old), describe_version(new)
    schema_a, schema_b = a["schema"], b["schema"]
    changes = {
        "added": {c: t for c, t in schema_b.items() if c not in schema_a},
        "removed": {c: t for c, t in schema_a.items() if c not in schema_b},
        "retyped": {
            c: {"from": schema_a[c], "to": schema_b[c]}
            for c in schema_a
            if c in schema_b and schema_a[c] != schema_b[c]
        },
    }
    columns: dict[str, Any] = {}
    for name in [c for c in schema_a if c in schema_b]:
        sa, sb = a["summary"][name], b["summary"][name]
        entry: dict[str, Any] = {"nulls": {"old": sa["nulls"], "new": sb["nulls"], "delta": sb["nulls"] - sa["nulls"]}}
        for key in (*_NUMERIC_STATS, "distinct", "top"):
            if key in sa and key in sb:
                old_value, new_value = sa[key], sb[key]
                item: dict[str, Any] = {"old": old_value, "new": new_value}
                if isinstance(old_value, int | float) and isinstance(new_value, int | float):
                    item["delta"] = round(new_value - old_value, 6)
                entry[key] = item
        columns[name] = entry
    return {
        "old": {"version": old.version, "window": old.window, "sha256": old.sha256},
        "new": {"version": new.version, "window": new.window, "sha256": new.sha256},
        "same_content": old.sha256 == new.sha256,
        "rows": {"old": old.rows, "new": new.rows, "delta": new.rows - old.rows},
        "schema": changes,
        "columns": columns,
    }


def diff_table(diff: dict[str, Any]) -> list[dict[str, str]]:
    """One printable row per common column: nulls and the main statistic, old → new (delta)."""
    rows = []
    for name, entry in diff["columns"].items():
        stat = "mean" if "mean" in entry else "distinct"
        value = entry.get(stat, {})

        def fmt(v: Any) -> str:
            return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))

        rows.append(
            {
                "column": name,
                "nulls": f"{entry['nulls']['old']} → {entry['nulls']['new']}",
                "stat": stat,
                "old": fmt(value.get("old")),
                "new": fmt(value.get("new")),
                "delta": fmt(value.get("delta")) if "delta" in value else "",
            }
        )
    return rows
