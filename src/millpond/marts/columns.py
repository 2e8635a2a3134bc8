"""One side of a comparison, read a column or a batch at a time: the rows of one or more mart versions in order.

The drift stage reads a window (and the champion's training marts) through :class:`MartColumns` instead of a
whole DataFrame, so its memory follows one column (the statistics) or one record batch (scoring), not the
window. What it returns equals the same selection of ``pd.concat([v.read() for v in versions], ignore_index=True)``:
a column is read with pandas' own Parquet conversion, the parts concatenated in version order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from millpond.errors import MartError
from millpond.marts.store import MartVersion

BATCH_ROWS = 262_144
"""Rows per record batch of :meth:`MartColumns.batches` (scoring's batch: one model call each)."""


class MartColumns:
    """The rows of ``versions`` (each noted as read in the open run's ledger), one column or batch at a time."""

    def __init__(self, versions: Sequence[MartVersion]) -> None:
        import pyarrow.parquet as pq

        if not versions:
            raise MartError("No mart versions to read: a comparison side needs at least one.")
        self.versions = list(versions)
        self._files = [pq.ParquetFile(v.data_path, pre_buffer=False) for v in self.versions]  # no cached row groups
        self._rows = [f.metadata.num_rows for f in self._files]
        names: list[str] = []
        for f in self._files:
            names += [n for n in f.schema_arrow.names if n not in names]
        self.columns = names
        for version in self.versions:
            version.note_read()

    def __len__(self) -> int:
        return sum(self._rows)

    def __getitem__(self, name: str) -> pd.Series:
        """One column over every version, as its pandas Series (index 0 .. len - 1)."""
        return self.frame([name])[name]

    def frame(self, columns: list[str]) -> pd.DataFrame:
        """These columns over every version (a column a version lacks is missing there, as ``pd.concat`` makes it)."""
        self._check(columns)
        parts = [self._part(i, columns) for i in range(len(self.versions))]
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def batches(self, columns: list[str], rows: int | None = None) -> Iterator[pd.DataFrame]:
        """These columns in consecutive batches of at most ``rows`` (:data:`BATCH_ROWS`) rows, in order (index: the
        global row numbers)."""
        self._check(columns)
        start = 0
        for i, f in enumerate(self._files):
            present = [c for c in columns if c in f.schema_arrow.names]
            for batch in f.iter_batches(batch_size=rows or BATCH_ROWS, columns=present):
                part = batch.to_pandas().reindex(columns=columns)
                part.index = pd.RangeIndex(start, start + len(part))
                start += len(part)
                yield part
            if not present:  # a version without any of the columns still has its rows
                start += self._rows[i]

    def sample(self, n: int, seed: int, columns: list[str]) -> pd.DataFrame:
        """``frame.sample(n, random_state=seed)[columns]`` of the concatenated rows (all of them when at most ``n``),
        read batch by batch: the same rows, in the same order, with the same index labels."""
        total = len(self)
        if total <= n:
            return self.frame(columns)
        picked = np.random.RandomState(seed).choice(total, size=n, replace=False)  # as pandas' sample draws them
        order = np.argsort(picked, kind="stable")
        wanted, found = picked[order], []
        for part in self.batches(columns):
            low, high = np.searchsorted(wanted, [part.index[0], part.index[-1] + 1])
            if high > low:
                found.append(part.loc[wanted[low:high]])
        rows = pd.concat(found)
        return rows.iloc[np.argsort(order, kind="stable")]

    def _part(self, i: int, columns: list[str]) -> pd.DataFrame:
        present = [c for c in columns if c in self._files[i].schema_arrow.names]
        frame = pd.read_parquet(self.versions[i].data_path, columns=present) if present else None
        if frame is None:
            frame = pd.DataFrame(index=pd.RangeIndex(self._rows[i]))
        return frame if present == columns else frame.reindex(columns=columns)

    def _check(self, columns: list[str]) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise MartError(
                f"Column(s) {missing} are in none of the mart versions "
                f"{', '.join(v.ref for v in self.versions)}, whose columns are {self.columns}."
            )
