"""Feature marts: validated, content-addressed, never-overwritten versions per window.

``feature_marts/<mart>/versions/<window>-<hash12>/`` holds ``data.parquet`` and
``manifest.json``. A version id is derived from its inputs (source bytes, window,
declared schema), so ingesting the same input twice is a no-op that says so.
A version is written into a hidden staging folder and published with one rename.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from millpond.config.params import MartSpec, UseCase, check_window
from millpond.errors import ContractViolationError, MartError, MartVersionNotFoundError, SchemaError, did_you_mean
from millpond.marts import inputs as mart_inputs
from millpond.marts import sources
from millpond.marts import stream as mart_stream
from millpond.marts.coercion import conform
from millpond.marts.contracts import Violation, check_contract, write_quarantine
from millpond.marts.sources import frame_sha256
from millpond.marts.transforms import read_transform, run_transform, transform_path
from millpond.store.files import atomic_write_json, make_read_only, read_json, sha256_bytes, sha256_file
from millpond.store.lock import process_alive
from millpond.store.staging import publish_dir
from millpond.workspace import Workspace

MART_FORMAT = 1
DESCRIBE_WHOLE_ROWS = 1_000_000  # above this, a version's summary is computed over the file, not in memory
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class MartVersion:
    """One stored version of a mart for one window."""

    mart: str
    version: str
    window: str
    path: Path
    manifest: dict[str, Any]

    @property
    def data_path(self) -> Path:
        return self.path / "data.parquet"

    @property
    def sha256(self) -> str:
        return str(self.manifest["sha256"])

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Load the version's rows."""
        return pd.read_parquet(self.data_path, columns=columns)

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` rows, without reading the rest."""
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(self.data_path).iter_batches(batch_size=n)
        first = next(batches, None)
        return first.to_pandas() if first is not None else self.read().head(0)

    def describe(self) -> pd.DataFrame:
        """``DataFrame.describe().T`` of the numeric columns; above ``DESCRIBE_WHOLE_ROWS`` rows DuckDB computes it
        over the file (quartiles then approximate), so a big version is never loaded whole."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(self.data_path)
        numeric = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        if self.rows <= DESCRIBE_WHOLE_ROWS or not numeric:
            return self.read(columns=numeric).describe().T
        from millpond.marts import duck

        stats = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
        parts = []
        for c in numeric:
            q = '"' + c.replace('"', '""') + '"'
            parts.append(
                f"count({q}), avg({q}), stddev_samp({q}), min({q}), approx_quantile({q}, 0.25), "
                f"approx_quantile({q}, 0.5), approx_quantile({q}, 0.75), max({q})"
            )
        con = duck.connect()
        try:
            row = con.execute(f"SELECT {', '.join(parts)} FROM read_parquet(?)", [str(self.data_path)]).fetchone()
        finally:
            con.close()
        assert row is not None
        values = [
            [float(v) if v is not None else float("nan") for v in row[i * 8 : (i + 1) * 8]] for i in range(len(numeric))
        ]
        return pd.DataFrame(values, index=numeric, columns=stats)


@dataclass
class IngestResult:
    version: MartVersion
    created: bool  # False when an identical version already existed
    warnings: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)  # every window a full load (re)built


class MartStore:
    """Read and write the versions of the workspace's feature marts."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self, mart: str) -> list[MartVersion]:
        """Every version of ``mart``, oldest first."""
        folder = self.root / mart / "versions"
        found = []
        for manifest_path in sorted(folder.glob("*/manifest.json")):
            if manifest_path.parent.name.startswith("."):
                continue
            manifest = read_json(manifest_path)
            found.append(MartVersion(mart, manifest["version"], manifest["window"], manifest_path.parent, manifest))
        return sorted(found, key=lambda v: (v.manifest["created_at"], v.version))

    def windows(self, mart: str) -> list[str]:
        """Windows that have at least one version, in order."""
        return sorted({v.window for v in self.versions(mart)})

    def latest(self, mart: str, window: str) -> MartVersion:
        """The newest version of ``mart`` for ``window``."""
        matches = [v for v in self.versions(mart) if v.window == window]
        if not matches:
            known = self.windows(mart)
            raise MartVersionNotFoundError(
                f"Mart {mart!r} has no version for window {window!r}.{did_you_mean(window, known)} "
                f"Windows stored: {', '.join(known) or 'none'}. Ingest it first: "
                f"millpond run ingest --params params/{mart}.yaml --window {window}"
            )
        return matches[-1]

    def get(self, mart: str, version: str) -> MartVersion:
        """A version by id."""
        for candidate in self.versions(mart):
            if candidate.version == version:
                return candidate
        known = [v.version for v in self.versions(mart)]
        raise MartVersionNotFoundError(f"Mart {mart!r} has no version {version!r}.{did_you_mean(version, known)}")

    def window_span(self, mart: str, window: str, count: int) -> list[MartVersion]:
        """Latest versions of the last ``count`` windows up to and including ``window``."""
        windows = [w for w in self.windows(mart) if w <= window][-count:]
        return [self.latest(mart, w) for w in windows]

    def publish(self, mart: str, version: str, frame: pd.DataFrame, manifest: dict[str, Any]) -> IngestResult:
        """Write ``frame`` as version ``version`` unless it exists (then a no-op)."""
        folder = self.root / mart / "versions"
        final = folder / version
        if (final / "manifest.json").exists():
            return IngestResult(self._load(final), created=False)
        folder.mkdir(parents=True, exist_ok=True)
        sweep_abandoned(folder)
        staging = _scratch(folder, f".staging-{version}")
        try:
            frame.to_parquet(staging / "data.parquet", index=False)
            created = self.seal(staging, final, manifest, rows=len(frame))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return IngestResult(self._load(final), created=created)

    @staticmethod
    def seal(staging: Path, final: Path, manifest: dict[str, Any], *, rows: int) -> bool:
        """Write the manifest beside a staged ``data.parquet``, make both read-only and publish with one rename."""
        manifest = {**manifest, "sha256": sha256_file(staging / "data.parquet"), "rows": rows}
        atomic_write_json(staging / "manifest.json", manifest)
        for file in staging.iterdir():
            make_read_only(file)
        return publish_dir(staging, final)

    def _load(self, folder: Path) -> MartVersion:
        manifest = read_json(folder / "manifest.json")
        return MartVersion(manifest["mart"], manifest["version"], manifest["window"], folder, manifest)


# --- scratch folders -----------------------------------------------------------------
def _scratch(folder: Path, prefix: str) -> Path:
    """A hidden folder beside the versions, named after this process so a sweep can tell when it was abandoned."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-p{os.getpid()}-", dir=folder))


def sweep_abandoned(folder: Path) -> list[str]:
    """Remove staging and work folders left by an ingest that was killed (its process is gone); return their names."""
    removed = []
    for entry in folder.glob(".*"):
        found = re.search(r"-p(\d+)-[a-z0-9_]+$", entry.name)  # mkdtemp's random suffix has no '-'; a window may
        if (
            entry.is_dir()
            and entry.name.startswith((".staging-", ".work-"))
            and found
            and not process_alive(int(found.group(1)))
        ):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


# --- reading raw sources ---------------------------------------------------------
def source_file(ws: Workspace, use_case: UseCase, window: str) -> Path:
    """The raw file that holds ``window`` (pattern with ``{window}``, a glob, or one file)."""
    return sources.source_file(ws, use_case.source, window)


def read_raw(ws: Workspace, use_case: UseCase, window: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the raw rows of one window (``None``: every window) of the main file source and describe them
    (database sources always stream: see ``_streams``)."""
    frame, provenance = sources.read_file(ws, use_case.source, window, columns=dict(use_case.columns))
    if window is not None and frame.empty:
        raise MartError(f"Window {window!r} has no rows in {provenance['path']}: nothing to ingest.")
    return frame, provenance


def version_id(
    window: str, provenance: dict[str, Any], use_case: UseCase, *, build: dict[str, Any] | None = None
) -> str:
    """Content address of a mart version: same sources, transform, window and schema give the same id."""
    content: dict[str, Any] = {
        "format": MART_FORMAT,
        "window": window,
        "source": provenance["sha256"],
        "columns": use_case.columns,
    }
    if build:
        content["build"] = build
    key = json.dumps(content, sort_keys=True, default=str)
    return f"{window}-{sha256_bytes(key.encode())[:12]}"


@dataclass
class _Window:
    """One window's typed rows, ready to publish."""

    window: str
    frame: pd.DataFrame
    warnings: list[str]


def _load_tables(
    ws: Workspace, use_case: UseCase, window: str | None
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """Every source of the mart read for ``window`` (``None``: all windows)."""
    frame, provenance = read_raw(ws, use_case, window)
    tables = {"source": frame}
    described = {"source": provenance}
    for name, spec in use_case.mart.sources.items() if use_case.mart else ():
        tables[name], described[name] = sources.read_file(ws, spec, window, name=name)
    return tables, described


def _checked(window: str, frame: pd.DataFrame, use_case: UseCase, origin: str, quarantine: Path | None) -> _Window:
    typed = conform(frame, use_case, origin=origin, quarantine=quarantine)
    report = check_contract(typed, use_case)
    if not report.ok:
        written = write_quarantine(quarantine, typed, report.violations) if quarantine is not None else 0
        raise _contract_error(origin, use_case, report.violations, written, quarantine)
    return _Window(window, typed, report.warnings)


def ingest(
    ws: Workspace,
    use_case: UseCase,
    window: str,
    *,
    run_id: str | None = None,
    quarantine: Path | None = None,
    batch_rows: int | None = None,
    on_progress: mart_stream.ProgressCallback | None = None,
) -> IngestResult:
    """Read, transform, validate and store the mart version(s) of ``window``.

    ``load: incremental`` (the default) stores this window only; ``load: full``
    rebuilds every window up to ``window`` from sources that hold them all
    (unchanged windows are no-ops). Every window is checked before any is stored;
    rows breaking the schema or the contract go to ``quarantine`` when given.
    Large inputs (a file of ``mart_stream.STREAM_MIN_BYTES`` or more, a Parquet
    file of more than one batch, any database query), or any input when
    ``batch_rows`` is given, stream in record batches of ``batch_rows`` rows;
    the result is the same as the one-shot path's.
    """
    check_window(window)
    if batch_rows is not None and batch_rows < 1:
        raise MartError(f"batch_rows must be a positive number of rows; got {batch_rows}.")
    if _streams(ws, use_case, window, batch_rows):
        return _ingest_streamed(
            ws,
            use_case,
            window,
            batch_rows or mart_stream.BATCH_ROWS,
            run_id=run_id,
            quarantine=quarantine,
            on_progress=on_progress,
        )
    spec = use_case.mart or MartSpec()
    full = spec.load == "full"
    tables, described = _load_tables(ws, use_case, None if full else window)
    build = _build(use_case, described)
    frame = tables["source"]
    origin = f"Raw data for window {window!r} ({described['source'].get('path') or described['source'].get('url')})"
    transform_info: dict[str, Any] | None = None
    if spec.transform:
        path = transform_path(ws.feature_marts, use_case.use_case, spec.transform)
        shown = ws.relative(path)
        sql, sql_sha = read_transform(path, shown=shown)
        frame = run_transform(sql, tables, shown=shown)
        transform_info = {"path": shown, "sha256": sql_sha}
        build["transform"] = sql_sha
        origin = f"Output of transform {shown} for window {window!r}"
    if full:
        column = str(use_case.source.window_column)
        if column not in frame.columns:
            raise SchemaError(
                f"{origin} has no window column {column!r}, which 'load: full' needs to split the mart into windows."
            )
        labels = frame[column].astype("str").where(frame[column].notna())
        windows = sorted(w for w in labels.dropna().unique() if w <= window)
        _check_window_found(window, windows)
        parts = [(w, frame[labels == w].reset_index(drop=True)) for w in windows]
    else:
        parts = [(window, frame)]
    checked = [_checked(w, part, use_case, origin.replace(repr(window), repr(w)), quarantine) for w, part in parts]
    store = MartStore(ws.feature_marts)
    result: IngestResult | None = None
    for item in checked:
        version, manifest = _describe_version(
            use_case,
            item.window,
            described,
            build,
            transform_info,
            item.warnings,
            dtypes={c: str(t) for c, t in item.frame.dtypes.items()},
            run_id=run_id,
            rows_sha256=frame_sha256(item.frame) if full else None,
        )
        published = store.publish(use_case.use_case, version, item.frame, manifest)
        if item.window == window:
            result = IngestResult(published.version, published.created, item.warnings)
    assert result is not None
    if full:
        result.windows = [item.window for item in checked]
    return result


def _build(use_case: UseCase, described: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What, besides the main source, a version id covers: load mode and every source's hash."""
    if use_case.mart is None:
        return {}
    return {"load": use_case.mart.load, "sources": {n: d["sha256"] for n, d in described.items()}}


def _check_window_found(window: str, windows: list[str]) -> None:
    if window not in windows:
        raise MartError(
            f"Window {window!r} has no rows in the sources: nothing to ingest (windows found: {', '.join(windows[-6:]) or 'none'})."
        )


def _describe_version(
    use_case: UseCase,
    window: str,
    described: dict[str, dict[str, Any]],
    build: dict[str, Any],
    transform_info: dict[str, Any] | None,
    warnings: list[str],
    *,
    dtypes: dict[str, str],
    run_id: str | None,
    rows_sha256: str | None,
) -> tuple[str, dict[str, Any]]:
    """The content-addressed id and the manifest of one window's version (one-shot and streamed paths alike)."""
    spec = use_case.mart or MartSpec()
    item_build = dict(build)
    provenance = described["source"]
    if rows_sha256 is not None:  # a full load: the window's own rows, not the whole source, address it
        item_build["rows_sha256"] = rows_sha256
        item_build.pop("sources", None)
    version = version_id(
        window, provenance if rows_sha256 is None else {"sha256": None}, use_case, build=item_build or None
    )
    manifest: dict[str, Any] = {
        "mart": use_case.use_case,
        "version": version,
        "window": window,
        "columns": dtypes,
        "declared_columns": dict(use_case.columns),
        "source": provenance,
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "run_id": run_id,
    }
    if use_case.mart is not None:
        manifest.update(
            {
                "sources": described,
                "transform": transform_info,
                "load": spec.load,
                "contract": spec.contract.model_dump(mode="json") if spec.contract else None,
                "warnings": warnings,
            }
        )
    return version, manifest


# --- streaming large inputs ------------------------------------------------------------
def _streams(ws: Workspace, use_case: UseCase, window: str, batch_rows: int | None) -> bool:
    """Whether this ingest streams: asked for, a database source, or a file big enough to."""
    spec = use_case.mart or MartSpec()
    specs = [use_case.source, *spec.sources.values()]
    if batch_rows is not None or any(s.url for s in specs):
        return True
    for source in specs:
        path = sources.source_file(ws, source, None if spec.load == "full" else window)
        if mart_stream.is_large(path, sources.file_format(source, path)):
            return True
    return False


@dataclass
class _StagedWindow:
    window: str
    staging: Path
    outcome: mart_stream.StreamOutcome
    origin: str


def _ingest_streamed(
    ws: Workspace,
    use_case: UseCase,
    window: str,
    batch_rows: int,
    *,
    run_id: str | None,
    quarantine: Path | None,
    on_progress: mart_stream.ProgressCallback | None,
) -> IngestResult:
    """Stream the sources into staged versions, check every window, then publish each with one rename."""
    spec = use_case.mart or MartSpec()
    full = spec.load == "full"
    store = MartStore(ws.feature_marts)
    folder = store.root / use_case.use_case / "versions"
    folder.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(folder)
    work = _scratch(folder, ".work")
    staged: list[_StagedWindow] = []

    def stage(w: str, origin: str, write: Callable[[Path], mart_stream.StreamOutcome]) -> None:
        """Stream window ``w`` into its own staging folder (registered first, so a failure removes it)."""
        item = _StagedWindow(w, _scratch(folder, f".staging-{w}"), mart_stream.StreamOutcome(), origin)
        staged.append(item)
        item.outcome = write(item.staging / "data.parquet")

    def batches_of(w: str, batches: Any, origin: str, **options: Any) -> None:
        stage(
            w,
            origin,
            lambda target: mart_stream.stream_to_parquet(
                batches, target, use_case, origin=origin, quarantine=quarantine, on_progress=on_progress, **options
            ),
        )

    try:
        transform_info: dict[str, Any] | None = None
        if not (use_case.source.url or spec.transform or spec.sources or full):
            path = sources.source_file(ws, use_case.source, window)
            described = {"source": sources.file_provenance(ws, use_case.source, path)}
            origin = f"Raw data for window {window!r} ({described['source']['path']})"
            stage(
                window,
                origin,
                lambda target: mart_stream.stream_file(
                    ws,
                    use_case.source,
                    path,
                    window,
                    target,
                    use_case,
                    batch_rows=batch_rows,
                    origin=origin,
                    quarantine=quarantine,
                    on_progress=on_progress,
                ),
            )
        else:
            con = mart_inputs.connect(work)
            try:
                described = {}
                described["source"], where = mart_inputs.stage_source(
                    ws,
                    con,
                    use_case.source,
                    "source",
                    None if full else window,
                    work,
                    columns=dict(use_case.columns),
                    batch_rows=batch_rows,
                )
                if not full and mart_inputs.count_rows(con, "source") == 0:
                    raise MartError(f"Window {window!r} has no rows in {where}: nothing to ingest.")
                for name, source in spec.sources.items():
                    described[name], _ = mart_inputs.stage_source(
                        ws, con, source, name, None if full else window, work, columns=None, batch_rows=batch_rows
                    )
                rows, transform_info = mart_inputs.build_rows(ws, con, use_case, work, list(described))
                origin = (
                    f"Output of transform {transform_info['path']} for window {window!r}"
                    if transform_info
                    else f"Raw data for window {window!r} ({described['source'].get('path') or described['source'].get('url')})"
                )
                if full:
                    windows, per_window = mart_inputs.split_windows(
                        con,
                        rows,
                        str(use_case.source.window_column),
                        window,
                        work,
                        origin=origin,
                        batch_rows=batch_rows,
                    )
                    _check_window_found(window, windows)
                    for w, batches in per_window:
                        batches_of(w, batches, origin.replace(repr(window), repr(w)), hash_rows=True)
                else:
                    batches, names, total = mart_inputs.file_rows(rows, batch_rows=batch_rows)
                    batches_of(window, batches, origin, names_if_empty=names, total_rows=total)
            finally:
                con.close()
        for item in staged:  # every window passes before any is stored
            report = item.outcome.report
            if not report.ok:
                offending = item.outcome.offending if item.outcome.offending is not None else pd.DataFrame()
                written = write_quarantine(quarantine, offending, report.violations) if quarantine is not None else 0
                raise _contract_error(item.origin, use_case, report.violations, written, quarantine)
        build = _build(use_case, described)
        if transform_info:
            build["transform"] = transform_info["sha256"]
        result: IngestResult | None = None
        for item in staged:
            version, manifest = _describe_version(
                use_case,
                item.window,
                described,
                build,
                transform_info,
                item.outcome.report.warnings,
                dtypes=item.outcome.dtypes,
                run_id=run_id,
                rows_sha256=item.outcome.rows_sha256 if full else None,
            )
            final = folder / version
            if (final / "manifest.json").exists():
                created = False
            else:
                created = store.seal(item.staging, final, manifest, rows=item.outcome.rows)
            if item.window == window:
                result = IngestResult(store._load(final), created, item.outcome.report.warnings)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for item in staged:
            shutil.rmtree(item.staging, ignore_errors=True)
    assert result is not None
    if full:
        result.windows = [item.window for item in staged]
    return result


def _contract_error(
    origin: str, use_case: UseCase, violations: list[Violation], written: int, quarantine: Path | None
) -> ContractViolationError:
    where = f"\n{written} offending row(s) written to {quarantine}." if written else ""
    return ContractViolationError(
        f"{origin} breaks the data contract of mart {use_case.use_case!r} ({len(violations)} violation(s)):\n"
        + "\n".join(f"  - {v.describe()}" for v in violations)
        + where
        + "\nFix the source data, or the contract ('key', 'mart.contract' in the params). Nothing was stored."
    )
