"""Drift statistics from partitions of the reference and current data, on a Dask cluster or in this process.

Each partition is summarised where it lives (on a worker): its row count and, per feature,

* numeric: the distinct non-null values, sorted, with their counts (``np.unique``);
* categorical: the count of each non-null category (compared as strings, as :mod:`millpond.drift.stats` does).

Summaries merge exactly and associatively (a pairwise tree on the workers): numeric value/count arrays are
merged by a sorted union summing the counts, categorical counts are summed per category, in first-seen order.
The merged summary of a side *is* its column as a multiset: expanding each numeric value by its count gives the
column's sorted non-null values, exactly those :func:`millpond.drift.stats.drift_table` sorts in process. The
client rebuilds that (already sorted, nulls as padding to the side's row count) and calls ``drift_table`` on it,
so every statistic, including the whole-column ones (KS statistic and exact p-value, Wasserstein distance,
quantile bins of PSI/Jensen-Shannon, median and IQR), is the in-process value: numeric statistics bit for bit,
categorical ones up to the order of summation over categories (to ~1e-15).

What the cluster takes off the client: reading or holding the partitions, dropping nulls, sorting and counting.
What stays on the client: one pass over the merged values per feature (the statistics). Data with repeated values
(codes, rounded amounts) merges into far fewer values than rows; continuous data does not shrink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from millpond.config.params import DriftThresholds, EngineSpec
from millpond.drift.stats import Columns, drift_table
from millpond.errors import DriftError
from millpond.models.engine import engine_client

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class Summary:
    """One side's data, or a part of it, as merged multisets: rows, numeric (values, counts), category counts."""

    rows: int
    numeric: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    categorical: dict[str, pd.Series] = field(default_factory=dict)


def _numeric_values(values: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DriftError(
            f"Numeric column {name!r} must hold numbers; got {values.dtype} values ({exc}). "
            "Compare it as categorical instead."
        ) from exc
    distinct, counts = np.unique(array[~np.isnan(array)], return_counts=True)
    return distinct, counts.astype(np.int64)


def _category_counts(values: pd.Series) -> pd.Series:
    counts = values.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    if pd.api.types.is_float_dtype(counts.index.dtype):
        counts.index = pd.Index([str(int(v)) if float(v).is_integer() else str(v) for v in counts.index], dtype=object)
    else:
        counts.index = counts.index.astype(str).astype(object)
    return counts.groupby(level=0, sort=False).sum().astype(np.int64)


def summarise(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> Summary:
    """The summary of one partition (any length, 0 included); a missing column raises DriftError naming it."""
    if not isinstance(frame, pd.DataFrame):
        raise DriftError(f"A partition must be a pandas DataFrame; got {type(frame).__name__}.")
    for name in [*numeric, *categorical]:
        if name not in frame.columns:
            raise DriftError(f"Column {name!r} is missing from a partition, whose columns are {list(frame.columns)}.")
    return Summary(
        rows=len(frame),
        numeric={name: _numeric_values(frame[name], name) for name in numeric},
        categorical={name: _category_counts(frame[name]) for name in categorical},
    )


def _merge_numeric(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate((a[0], b[0]))
    counts = np.concatenate((a[1], b[1]))
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, np.bincount(inverse, weights=counts, minlength=distinct.size).astype(np.int64)


def merge(a: Summary, b: Summary) -> Summary:
    """The summary of two parts together (exact; ``a``'s categories first)."""
    categorical = {}
    for name, counts in a.categorical.items():
        both = pd.concat([counts, b.categorical[name]])
        categorical[name] = both.groupby(level=0, sort=False).sum().astype(np.int64)
    return Summary(
        rows=a.rows + b.rows,
        numeric={name: _merge_numeric(pair, b.numeric[name]) for name, pair in a.numeric.items()},
        categorical=categorical,
    )


def merge_all(summaries: Sequence[Summary]) -> Summary:
    """All summaries merged in order (in this process)."""
    if not summaries:
        raise DriftError("No partitions: drift needs at least one partition on each side.")
    out = summaries[0]
    for part in summaries[1:]:
        out = merge(out, part)
    return out


def rebuild(summary: Summary) -> pd.DataFrame:
    """A frame with the summary's multisets: each column's non-null values (numeric ones sorted), nulls after them."""
    columns: dict[str, Any] = {}
    for name, (values, counts) in summary.numeric.items():
        column = np.full(summary.rows, np.nan)
        column[: int(counts.sum())] = np.repeat(values, counts)
        columns[name] = column
    for name, counts in summary.categorical.items():
        column = np.full(summary.rows, None, dtype=object)
        column[: int(counts.sum())] = np.repeat(counts.index.to_numpy(dtype=object), counts.to_numpy())
        columns[name] = column
    return pd.DataFrame(columns, index=pd.RangeIndex(summary.rows))


def _tree(client: Client, futures: list[Any]) -> Any:
    """Merge futures pairwise on the workers, keeping their order; one future left."""
    while len(futures) > 1:
        paired = [client.submit(merge, a, b, pure=False) for a, b in zip(futures[::2], futures[1::2], strict=False)]
        futures = paired + ([futures[-1]] if len(futures) % 2 else [])
    return futures[0]


def side_summaries(
    sides: Sequence[Sequence[Any]], numeric: Sequence[str], categorical: Sequence[str], client: Client | None = None
) -> list[Summary]:
    """One merged summary per side; each side is a dask DataFrame or a list of pandas frames or dask Delayed frames.

    With ``client`` the partitions are summarised and merged on its workers (a lost worker's tasks are rerun:
    every task's inputs are in the graph), else in this process.
    """
    if client is None:
        return [merge_all([summarise(p, numeric, categorical) for p in _pandas_parts(side)]) for side in sides]
    roots = []
    for side in sides:
        parts = _cluster_parts(client, side)
        if not parts:
            raise DriftError("No partitions: drift needs at least one partition on each side.")
        roots.append(_tree(client, [client.submit(summarise, p, list(numeric), list(categorical)) for p in parts]))
    return list(client.gather(roots))


def _pandas_parts(side: Sequence[Any]) -> list[pd.DataFrame]:
    """The partitions as pandas frames; dask collections (a dask DataFrame, Delayed parts) computed here."""
    parts = list(side.to_delayed()) if hasattr(side, "to_delayed") else list(side)
    if any(hasattr(p, "__dask_graph__") for p in parts):
        import dask

        return [dask.compute(p, scheduler="sync")[0] if hasattr(p, "__dask_graph__") else p for p in parts]
    return parts


def _cluster_parts(client: Client, side: Sequence[Any]) -> list[Any]:
    """The partitions as task inputs; dask collections become futures computed on the workers."""
    parts = list(side.to_delayed()) if hasattr(side, "to_delayed") else list(side)
    return [client.compute(p) if hasattr(p, "__dask_graph__") else p for p in parts]


def drift_table_partitioned(
    reference: Sequence[Any],
    current: Sequence[Any],
    *,
    numeric: list[str],
    categorical: list[str],
    thresholds: DriftThresholds | None = None,
    importance: dict[str, float] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """:func:`millpond.drift.stats.drift_table` of the concatenated partitions, computed from their summaries.

    ``reference`` and ``current`` are lists of pandas DataFrames (any lengths, empty ones included) or of dask
    Delayed frames, or dask DataFrames. The result equals ``drift_table(pd.concat(reference), pd.concat(current), ...)`` (see the module
    docstring for how each statistic is obtained).
    """
    ref, cur = side_summaries([reference, current], numeric, categorical, client)
    return drift_table(
        rebuild(ref),
        rebuild(cur),
        numeric=numeric,
        categorical=categorical,
        thresholds=thresholds,
        importance=importance,
    )


def split(frame: pd.DataFrame, partitions: int) -> list[pd.DataFrame]:
    """``frame`` in ``partitions`` contiguous parts of (nearly) equal length."""
    if partitions < 1:
        raise DriftError(f"partitions must be at least 1; got {partitions}.")
    bounds = np.linspace(0, len(frame), partitions + 1).round().astype(int)
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def drift_table_on_engine(
    reference: pd.DataFrame | Columns,
    current: pd.DataFrame | Columns,
    engine: EngineSpec,
    *,
    numeric: list[str],
    categorical: list[str],
    thresholds: DriftThresholds | None = None,
    importance: dict[str, float] | None = None,
) -> pd.DataFrame:
    """``drift_table`` in this process (``engine.kind: local``), or from partitions on the engine's Dask cluster:
    each side is cut into two parts per worker thread, summarised and merged on the workers. A :class:`Columns`
    source is computed a column at a time in this process, and read whole (its features) for a cluster."""
    if engine.kind == "local":
        return drift_table(
            reference, current, numeric=numeric, categorical=categorical, thresholds=thresholds, importance=importance
        )
    features = [*numeric, *categorical]
    reference, current = (
        side if isinstance(side, pd.DataFrame) else pd.DataFrame({c: side[c] for c in features})
        for side in (reference, current)
    )
    with engine_client(engine) as client:
        assert client is not None
        parts = max(2, 2 * sum(client.nthreads().values()))
        return drift_table_partitioned(
            split(reference, parts),
            split(current, parts),
            numeric=numeric,
            categorical=categorical,
            thresholds=thresholds,
            importance=importance,
            client=client,
        )
