"""The data-capture store: every scoring run's inputs and predictions, append-only.

Layout: ``model_store/<name>/captures/window=<W>/model_version=<v>/part-<run>.parquet``.
Each part is written batch by batch into a hidden staging file in the same
folder (``store.staging``: ``.staging-part-<run>-p<pid>-<random>.parquet``),
flushed to disk, made read-only and published with one no-clobber rename:
readers never see a half-written part and a part is never rewritten. Staging
files of scoring runs that were killed are swept when the next part is opened
in that folder (:meth:`CaptureStore.sweep` sweeps every folder).

The hash record: right after a part is published, its sha256 and row count are
written beside it as ``_part-<run>.json`` (``{"part", "rows", "sha256"}``; the
leading ``_`` keeps Parquet dataset readers from taking it for data), itself
staged, flushed, read-only and published in one rename. :meth:`CaptureStore.verify`
checks every part against its record. A part without a record — written by a
millpond from before records, or by a run killed between the two renames —
is reported as a note ("no recorded hash"), not a problem; it is still checked
to read as Parquet from end to end.

Exactly once per (window, model version): a scoring run of a window supersedes
the earlier runs' parts of the same window and model version. The new part's
record, written (and published) *before* the part, lists the parts it supersedes
(``"supersedes": [...]``); the part's own rename is the one atomic step that
switches which run's rows the window holds. Superseded parts stay on disk (the
run records that wrote them list their sha256, and ``verify`` still checks them)
but :meth:`CaptureStore.parts` and :meth:`CaptureStore.read` leave them out. So a
window re-run after a kill (score had published its part, the process died in a
later stage) holds the rows of the re-run once, never twice; the superseding is
recorded. Ad-hoc scores filed under the ``adhoc`` window are independent batches
and never supersede each other.

Staging files a killed scoring run left anywhere in the store are swept when the
next part is opened (only those whose writing process is gone).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from millpond.errors import CaptureError, did_you_mean
from millpond.store import staging
from millpond.store.artifacts import note_written
from millpond.store.checkpoint import checkpoint
from millpond.store.files import fsync_file, make_read_only, read_json, sha256_file, writes_to
from millpond.store.lock import process_alive
from millpond.store.verify import VerifyReport

_TAG = re.compile(r"[^A-Za-z0-9_.-]+")
RECORD_PREFIX = "_"  # the hash record of part-<run>.parquet is _part-<run>.json
_OLD_STAGING_AGE = 3600.0  # seconds before an old-style (pid-less) staging file counts as abandoned
ADHOC_WINDOW = "adhoc"  # the window ad-hoc scores are filed under by default: its parts never supersede each other


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
        self.staging = staging.scratch_file(self.target.parent, self.target.stem, suffix=f".{self.format}")
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (every call must have the same schema)."""
        with writes_to(self.staging, "write the capture part"):
            self._write(table)

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            if self.format == "csv":
                self._writer = pacsv.CSVWriter(str(self.staging), table.schema)
            else:
                self._writer = pq.ParquetWriter(str(self.staging), table.schema, compression="snappy")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> Path:
        """Close, flush to disk and publish the file under its final name."""
        self._seal()
        return self._publish()

    def _seal(self) -> None:
        """Close the staging file, flush it to disk and make it read-only (it is complete, not yet visible)."""
        if self._writer is None:
            raise CaptureError(f"Nothing was written for {self.target}; an empty part is never published.")
        self._writer.close()
        self._writer = None
        fsync_file(self.staging)
        if self.read_only:
            make_read_only(self.staging)

    def _publish(self) -> Path:
        if not staging.publish_file(self.staging, self.target, replace=self.replace):
            self.abort()
            raise CaptureError(f"{self.target} appeared while scoring; captures are never rewritten.")
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


def record_path(part: Path) -> Path:
    """Where the hash record of a capture part lives (``_part-<run>.json`` beside ``part-<run>.parquet``)."""
    return part.with_name(f"{RECORD_PREFIX}{part.stem}.json")


def write_record(part: Path, rows: int, *, source: Path | None = None, supersedes: list[str] | None = None) -> Path:
    """Record a part's sha256 and row count beside it (staged, flushed, read-only, one rename).

    ``source`` is the file holding the part's bytes (its staging file, when the record is written before the part is
    published; default: the part itself); ``supersedes`` names the earlier parts of the folder it replaces.
    """
    record: dict[str, Any] = {"part": part.name, "rows": rows, "sha256": sha256_file(source or part)}
    if supersedes:
        record["supersedes"] = sorted(supersedes)
    target = record_path(part)
    scratch = staging.scratch_file(part.parent, target.stem, suffix=".json")
    try:
        scratch.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        fsync_file(scratch)
        make_read_only(scratch)
        # The part was just published under a new name, so a record already there is stale (its part was removed).
        staging.publish_file(scratch, target, replace=True)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    return target


class CapturePartWriter(StagedWriter):
    """The staged writer of one capture part: its hash record (and what it supersedes) is published first, then the
    part itself in one rename (see the module docstring)."""

    def __init__(self, target: Path, *, supersede: bool = True) -> None:
        super().__init__(target)
        self.supersede = supersede

    def commit(self) -> Path:
        self._seal()
        checkpoint("capture-staged")
        earlier = [p.name for p in _current_parts(self.target.parent)] if self.supersede else []
        record = write_record(self.target, self.rows, source=self.staging, supersedes=earlier)
        checkpoint("capture-recorded")
        part = self._publish()
        checkpoint("capture-published")
        note_written("capture_part", part, read_json(record)["sha256"])  # into the open run's outputs
        return part


def _superseded(folder: Path) -> set[str]:
    """Names of the parts in ``folder`` a later part's record (whose part is published) supersedes."""
    names: set[str] = set()
    for record in folder.glob(f"{RECORD_PREFIX}part-*.json"):
        part = folder / f"{record.stem.removeprefix(RECORD_PREFIX)}.parquet"
        if not part.exists():  # the record of a part never published (a kill in between) supersedes nothing
            continue
        try:
            names.update(str(name) for name in read_json(record).get("supersedes") or [])
        except (OSError, ValueError, AttributeError):
            continue  # an unreadable record is verify's to report
    return names


def _current_parts(folder: Path) -> list[Path]:
    """The published parts of one window/model-version folder that no later part supersedes."""
    dropped = _superseded(folder)
    return sorted(p for p in folder.glob("part-*.parquet") if p.name not in dropped)


@dataclass(frozen=True)
class CapturePart:
    """One published capture file: a window, a model version and a scoring run."""

    window: str
    model_version: str
    path: Path

    @property
    def record(self) -> Path:
        """The part's hash record (absent for parts written before captures recorded one)."""
        return record_path(self.path)


class CaptureStore:
    """Read and append the captures of one model."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.name = name
        self.root = Path(model_store) / name / "captures"

    def part_path(self, window: str, model_version: str, tag: str) -> Path:
        return self.root / f"window={window}" / f"model_version={model_version}" / f"part-{tag}.parquet"

    def open(self, window: str, model_version: str, tag: str, *, supersede: bool | None = None) -> StagedWriter:
        """A staged writer for a new part (refused when the part exists); dead runs' staging files are swept first.

        The part supersedes the earlier parts of ``window`` and ``model_version`` (``supersede``; default: unless
        the window is ``adhoc``).
        """
        path = self.part_path(window, model_version, tag)
        self.sweep()
        return CapturePartWriter(path, supersede=window != ADHOC_WINDOW if supersede is None else supersede)

    def sweep(self) -> list[str]:
        """Remove the staging files of scoring runs that were killed (their process is gone); return their names.

        Older millpond named them ``.part-<run>.parquet.<random>.staging``, without the writer's pid: those are
        removed once they are an hour old (no current millpond writes that name, so no live run owns one).
        """
        removed: list[str] = []
        for folder in sorted(self.root.glob("window=*/model_version=*")):
            removed += staging.sweep(folder)
            for old in sorted(folder.glob(".part-*.staging")):
                with suppress(OSError):
                    if time.time() - old.stat().st_mtime > _OLD_STAGING_AGE:
                        old.unlink()
                        removed.append(old.name)
        return removed

    def windows(self) -> list[str]:
        """Windows that have at least one capture."""
        return sorted(
            p.name.removeprefix("window=")
            for p in self.root.glob("window=*")
            if any(p.glob("model_version=*/part-*.parquet"))
        )

    def parts(
        self, window: str | None = None, model_version: str | None = None, *, superseded: bool = False
    ) -> list[CapturePart]:
        """Published parts, oldest first (hidden staging files are never listed); parts a later run of the same
        window and model version superseded only with ``superseded``."""
        found = []
        for folder in self.root.glob(f"window={window or '*'}/model_version={model_version or '*'}"):
            paths = sorted(folder.glob("part-*.parquet")) if superseded else _current_parts(folder)
            found += self._described(paths)
        return sorted(found, key=lambda p: (p.path.stat().st_mtime_ns, str(p.path)))

    @staticmethod
    def _described(paths: list[Path]) -> list[CapturePart]:
        found = []
        for path in paths:
            found.append(
                CapturePart(
                    path.parent.parent.name.removeprefix("window="),
                    path.parent.name.removeprefix("model_version="),
                    path,
                )
            )
        return found

    def read(
        self,
        window: str,
        model_version: str | None = None,
        *,
        run_id: str | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Captured rows of ``window`` (optionally one model version and/or one run), oldest part first.

        Without ``run_id``: the rows of the run that holds each model version of the window (superseded parts left
        out). With it: that run's rows, superseded or not.
        """
        parts = self.parts(window, model_version, superseded=run_id is not None)
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

    # --- verifying -------------------------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Check every part: it reads as Parquet and has the sha256 and row count its record holds.

        Parts without a record (older workspaces, or a run killed between publishing the part and its record)
        are notes; so are records without their part and staging files of runs that stopped half way.
        """
        report = VerifyReport(f"captures of model {self.name}")
        for part in self.parts(superseded=True):
            report.checked += 1
            _verify_part(report, part)
        for folder in sorted(self.root.glob("window=*/model_version=*")):
            _note_leftovers(report, folder)
            for name in sorted(_superseded(folder) & {p.name for p in folder.glob("part-*.parquet")}):
                report.note(f"{folder / name}: superseded by a later scoring run of the same window (kept, not read)")
        return report

    @classmethod
    def verify_all(cls, model_store: Path) -> VerifyReport:
        """:meth:`verify` of every model that has captures in ``model_store``, as one report."""
        report = VerifyReport("captures")
        for folder in sorted(Path(model_store).glob("*/captures")):
            if folder.is_dir():
                report.extend(cls(model_store, folder.parent.name).verify())
        return report


def _verify_part(report: VerifyReport, part: CapturePart) -> None:
    """Add every mismatch of one capture part to ``report``."""
    recorded = _read_record(report, part)
    if recorded is not None:
        actual = sha256_file(part.path)
        if actual != recorded["sha256"]:
            report.add(
                part.path,
                f"has sha256 {actual}, but {part.record.name} records {recorded['sha256']}: "
                "the part was changed after it was written (or the disk lost data)",
            )
            return
    try:
        rows = _readable_rows(part.path, whole=recorded is None)
    except (pa.ArrowException, OSError) as exc:
        report.add(part.path, f"is not a readable Parquet file: {exc}")
        return
    if recorded is None:
        report.note(f"{part.path}: no recorded hash (written before captures recorded one); it reads as {rows} rows")
    elif rows != recorded["rows"]:
        report.add(part.path, f"holds {rows} rows, but {part.record.name} records {recorded['rows']}")


def _read_record(report: VerifyReport, part: CapturePart) -> dict[str, Any] | None:
    """The part's hash record, or ``None`` when it has none (a problem is added when the record is unreadable)."""
    if not part.record.is_file():
        return None
    try:
        record = read_json(part.record)
        if not (isinstance(record, dict) and isinstance(record.get("sha256"), str) and isinstance(record["rows"], int)):
            raise ValueError("it needs a text 'sha256' and a whole number of 'rows'")
    except (OSError, ValueError, KeyError) as exc:
        report.add(part.record, f"is not a readable capture record: {exc}")
        return None
    if record.get("part") != part.path.name:
        report.add(part.record, f"records part {record.get('part')!r}, but it lies beside {part.path.name!r}")
    return record


def _readable_rows(path: Path, *, whole: bool) -> int:
    """The row count of a Parquet file from its footer; with ``whole``, every row group is decoded too."""
    parquet = pq.ParquetFile(path)
    if whole:  # no hash to compare with: decoding every page is the best check there is
        for group in range(parquet.num_row_groups):
            parquet.read_row_group(group)
    return int(parquet.metadata.num_rows)


def _note_leftovers(report: VerifyReport, folder: Path) -> None:
    """Notes for records without their part and for staging files left in a part folder."""
    for record in sorted(folder.glob(f"{RECORD_PREFIX}part-*.json")):
        part = folder / f"{record.stem.removeprefix(RECORD_PREFIX)}.parquet"
        if not part.exists():
            report.note(f"{record}: a hash record without its part {part.name} (the part was removed)")
    for entry in sorted(folder.glob(".*")):
        pid = staging.owner_pid(entry)
        if pid is not None and process_alive(pid):
            report.note(f"{entry}: a scoring run in progress (process {pid}) is writing it")
        else:
            report.note(f"{entry}: left by a scoring run that stopped half way; never published")
