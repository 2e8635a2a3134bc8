"""The data-capture store: every scoring run's inputs and predictions, append-only.

Layout: ``model_store/<name>/captures/window=<W>/model_version=<v>/part-<run>.parquet``.
Each part is written batch by batch into a hidden staging file in the same
folder and published with one no-clobber rename, then made read-only: readers
never see a half-written part and a part is never rewritten.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from millpond.errors import CaptureError, did_you_mean
from millpond.store.files import fsync_dir, make_read_only

_TAG = re.compile(r"[^A-Za-z0-9_.-]+")


def run_tag(run_id: str | None) -> str:
    """A file-name-safe tag for a scoring run (a fresh UTC timestamp + random suffix without a run id)."""
    if run_id:
        return _TAG.sub("_", run_id)
    return f"adhoc-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:6]}"


class StagedWriter:
    """Write Parquet (or CSV) batch by batch into a hidden staging file; :meth:`commit` publishes it in one rename.

    ``replace=False`` (captures) refuses to publish over an existing file; ``replace=True`` (a user's
    ``--output``) swaps the whole file atomically. :meth:`abort` removes the staging file.
    """

    def __init__(self, target: Path, *, replace: bool = False, read_only: bool = True) -> None:
        self.target = Path(target)
        self.replace, self.read_only = replace, read_only
        self.format = "csv" if self.target.suffix.lower() == ".csv" else "parquet"
        if not replace and self.target.exists():
            raise CaptureError(
                f"{self.target} already exists; captures are append-only and never rewritten. Use a new run id."
            )
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".staging", dir=self.target.parent)
        os.close(fd)
        self.staging = Path(name)
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (every call must have the same schema)."""
        if self._writer is None:
            if self.format == "csv":
                self._writer = pacsv.CSVWriter(str(self.staging), table.schema)
            else:
                self._writer = pq.ParquetWriter(str(self.staging), table.schema, compression="snappy")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> Path:
        """Close, flush to disk and publish the file under its final name."""
        if self._writer is None:
            raise CaptureError(f"Nothing was written for {self.target}; an empty part is never published.")
        self._writer.close()
        with open(self.staging, "rb") as handle:
            os.fsync(handle.fileno())
        if self.read_only:
            make_read_only(self.staging)
        if self.replace:
            os.replace(self.staging, self.target)
        else:
            try:
                os.link(self.staging, self.target)  # fails instead of clobbering
            except FileExistsError as exc:
                self.abort()
                raise CaptureError(f"{self.target} appeared while scoring; captures are never rewritten.") from exc
            self.staging.unlink()
        fsync_dir(self.target.parent)
        return self.target

    def abort(self) -> None:
        """Drop the staging file (nothing becomes visible)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file is discarded anyway
                pass
            self._writer = None
        self.staging.unlink(missing_ok=True)


@dataclass(frozen=True)
class CapturePart:
    """One published capture file: a window, a model version and a scoring run."""

    window: str
    model_version: str
    path: Path


class CaptureStore:
    """Read and append the captures of one model."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.name = name
        self.root = Path(model_store) / name / "captures"

    def part_path(self, window: str, model_version: str, tag: str) -> Path:
        return self.root / f"window={window}" / f"model_version={model_version}" / f"part-{tag}.parquet"

    def open(self, window: str, model_version: str, tag: str) -> StagedWriter:
        """A staged writer for a new part (refused when the part exists)."""
        return StagedWriter(self.part_path(window, model_version, tag))

    def windows(self) -> list[str]:
        """Windows that have at least one capture."""
        return sorted(
            p.name.removeprefix("window=")
            for p in self.root.glob("window=*")
            if any(p.glob("model_version=*/part-*.parquet"))
        )

    def parts(self, window: str | None = None, model_version: str | None = None) -> list[CapturePart]:
        """Published parts, oldest first (hidden staging files are never listed)."""
        found = []
        for path in self.root.glob(f"window={window or '*'}/model_version={model_version or '*'}/part-*.parquet"):
            found.append(
                CapturePart(
                    path.parent.parent.name.removeprefix("window="),
                    path.parent.name.removeprefix("model_version="),
                    path,
                )
            )
        return sorted(found, key=lambda p: (p.path.stat().st_mtime_ns, str(p.path)))

    def read(
        self,
        window: str,
        model_version: str | None = None,
        *,
        run_id: str | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Captured rows of ``window`` (optionally one model version and/or one run), oldest part first."""
        parts = self.parts(window, model_version)
        if not parts:
            known = self.windows()
            what = f"window '{window}'" + (f", model version '{model_version}'" if model_version else "")
            hint = did_you_mean(window, known) if window not in known else ""
            raise CaptureError(
                f"No captures of model '{self.name}' for {what}.{hint} Windows captured: {', '.join(known) or 'none'}. "
                "Score the window first (millpond run score …)."
            )
        tables = [pq.read_table(p.path, columns=columns) for p in parts]
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        if run_id is not None:
            frame = frame[frame["run_id"] == run_id].reset_index(drop=True)
        return frame
