"""Feature marts: validated, content-addressed, never-overwritten versions per window.

``feature_marts/<mart>/versions/<window>-<hash12>/`` holds ``data.parquet`` and
``manifest.json``. A version id is derived from its inputs (source bytes, window,
declared schema), so ingesting the same input twice is a no-op that says so.
A version is written into a hidden staging folder and published with one rename.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from millpond import mart_stream, sources
from millpond.contracts import Violation, check_contract, write_quarantine
from millpond.errors import ContractViolationError, MartError, MartVersionNotFoundError, SchemaError, did_you_mean
from millpond.params import MartSpec, UseCase, check_window
from millpond.sources import frame_sha256
from millpond.transforms import read_transform, run_transform, transform_path
from millpond.storage import atomic_write_json, make_read_only, publish_dir, read_json, sha256_bytes, sha256_file
from millpond.workspace import Workspace

MART_FORMAT = 1
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
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=folder))
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


# --- reading raw sources ---------------------------------------------------------
def source_file(ws: Workspace, use_case: UseCase, window: str) -> Path:
    """The raw file that holds ``window`` (pattern with ``{window}``, a glob, or one file)."""
    return sources.source_file(ws, use_case.source, window)


def read_raw(ws: Workspace, use_case: UseCase, window: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the raw rows of one window (``None``: every window) of the main source and describe them."""
    frame, provenance = sources.read_source(ws, use_case.source, window, columns=dict(use_case.columns))
    if window is not None and frame.empty:
        where = provenance.get("path") or f"the query of {provenance.get('url')}"
        raise MartError(f"Window {window!r} has no rows in {where}: nothing to ingest.")
    return frame, provenance


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(_MAX_EXAMPLES).tolist())


def _coerce_column(name: str, expected: str, column: pd.Series) -> tuple[pd.Series | None, str | None]:
    """Cast a column to the declared dtype, or return a message saying why not."""
    typed, problem, _ = _coerce_with_rows(name, expected, column)
    return typed, problem


def _coerce_with_rows(name: str, expected: str, column: pd.Series) -> tuple[pd.Series | None, str | None, pd.Index | None]:
    """Cast a column to the declared dtype, or say why not and which rows are at fault."""
    if expected == "str":
        return column.astype("str").where(column.notna()), None, None
    if expected == "datetime":
        parsed = pd.to_datetime(column, errors="coerce")
        bad = column[parsed.isna() & column.notna()]
        if bad.empty:
            return parsed, None, None
        return None, f"column {name!r} should be datetime; {len(bad)} value(s) do not parse, e.g. {_examples(bad)}", bad.index
    if expected == "bool":
        if pd.api.types.is_bool_dtype(column):
            return column.astype("bool"), None, None
        mapped = column.astype("str").str.lower().map({"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False})
        bad = column[mapped.isna()]
        if bad.empty:
            return mapped.astype("bool"), None, None
        return None, f"column {name!r} should be bool; {len(bad)} value(s) are not, e.g. {_examples(bad)}", bad.index
    numeric = pd.to_numeric(column, errors="coerce")
    bad = column[numeric.isna() & column.notna()]
    if not bad.empty:
        return None, f"column {name!r} should be {expected} but holds text in {len(bad)} row(s), e.g. {_examples(bad)}", bad.index
    if expected == "int":
        if numeric.isna().all():
            return None, f"column {name!r}, rule not all null: all {len(column)} row(s) are null: the column is empty", None
        if numeric.isna().any():
            missing = column[numeric.isna()]
            return None, f"column {name!r} should be int but has {len(missing)} missing value(s); declare it 'float' or fill them", missing.index
        if not (numeric == numeric.round()).all():
            frac = column[numeric != numeric.round()]
            return None, f"column {name!r} should be int but holds fractions in {len(frac)} row(s), e.g. {_examples(frac)}; declare it 'float'", frac.index
        return numeric.astype("int64"), None, None
    return numeric.astype("float64"), None, None


def conform(frame: pd.DataFrame, use_case: UseCase, *, origin: str, quarantine: Path | None = None) -> pd.DataFrame:
    """Check columns and dtypes against the use case and return a typed copy (declared column order).

    Rows holding values of the wrong type are written to ``quarantine`` (CSV) when given.
    """
    problems: list[str] = []
    bad_rows: list[Violation] = []
    declared = list(use_case.columns)
    present = [str(c) for c in frame.columns]
    missing = [c for c in declared if c not in present]
    extra = [c for c in present if c not in declared]
    for name in missing:
        problems.append(f"column {name!r} is missing.{did_you_mean(name, extra)}")
    for name in extra:
        if not any(did_you_mean(m, [name]) for m in missing):
            problems.append(f"column {name!r} is not declared in 'columns'; add it to the params or drop it from the source")
    typed: dict[str, pd.Series] = {}
    for name in declared:
        if name in missing:
            continue
        column, problem, rows = _coerce_with_rows(name, use_case.columns[name], frame[name])
        if problem:
            problems.append(problem)
            if rows is not None:
                bad_rows.append(Violation(name, f"type {use_case.columns[name]}", len(rows), index=rows))
        elif column is not None:
            typed[name] = column
    if problems:
        written = write_quarantine(quarantine, frame, bad_rows) if quarantine is not None else 0
        raise SchemaError(
            f"{origin} does not match the use case's columns ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nFix the source data, or the 'columns' section of the params."
            + (f"\n{written} offending row(s) written to {quarantine}." if written else "")
        )
    return pd.DataFrame(typed)[declared]


def version_id(window: str, provenance: dict[str, Any], use_case: UseCase, *, build: dict[str, Any] | None = None) -> str:
    """Content address of a mart version: same sources, transform, window and schema give the same id."""
    content: dict[str, Any] = {"format": MART_FORMAT, "window": window, "source": provenance["sha256"], "columns": use_case.columns}
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


def _load_tables(ws: Workspace, use_case: UseCase, window: str | None) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """Every source of the mart read for ``window`` (``None``: all windows)."""
    frame, provenance = read_raw(ws, use_case, window)
    tables = {"source": frame}
    described = {"source": provenance}
    for name, spec in (use_case.mart.sources.items() if use_case.mart else ()):
        tables[name], described[name] = sources.read_source(ws, spec, window, name=name)
    return tables, described


def _checked(window: str, frame: pd.DataFrame, use_case: UseCase, origin: str, quarantine: Path | None) -> _Window:
    typed = conform(frame, use_case, origin=origin, quarantine=quarantine)
    report = check_contract(typed, use_case)
    if not report.ok:
        written = write_quarantine(quarantine, typed, report.violations) if quarantine is not None else 0
        where = f"\n{written} offending row(s) written to {quarantine}." if written else ""
        raise ContractViolationError(
            f"{origin} breaks the data contract of mart {use_case.use_case!r} ({len(report.violations)} violation(s)):\n"
            + "\n".join(f"  - {v.describe()}" for v in report.violations)
            + where
            + "\nFix the source data, or the contract ('key', 'mart.contract' in the params). Nothing was stored."
        )
    return _Window(window, typed, report.warnings)


def ingest(
    ws: Workspace, use_case: UseCase, window: str, *, run_id: str | None = None, quarantine: Path | None = None,
    batch_rows: int | None = None,
) -> IngestResult:
    """Read, transform, validate and store the mart version(s) of ``window``.

    ``load: incremental`` (the default) stores this window only; ``load: full``
    rebuilds every window up to ``window`` from sources that hold them all
    (unchanged windows are no-ops). Every window is checked before any is stored;
    rows breaking the schema or the contract go to ``quarantine`` when given.
    A plain file source of at least ``mart_stream.STREAM_MIN_BYTES`` (or any size
    when ``batch_rows`` is given) streams in record batches of ``batch_rows`` rows.
    """
    check_window(window)
    spec = use_case.mart or MartSpec()
    streamed = _streamed_source(ws, use_case, window, batch_rows)
    if streamed is not None:
        return _ingest_streamed(ws, use_case, window, streamed, batch_rows or mart_stream.BATCH_ROWS, run_id=run_id, quarantine=quarantine)
    full = spec.load == "full"
    tables, described = _load_tables(ws, use_case, None if full else window)
    build: dict[str, Any] = {}
    if use_case.mart is not None:
        build = {"load": spec.load, "sources": {n: d["sha256"] for n, d in described.items()}}
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
            raise SchemaError(f"{origin} has no window column {column!r}, which 'load: full' needs to split the mart into windows.")
        labels = frame[column].astype("str")
        windows = sorted(w for w in labels.dropna().unique() if w <= window)
        if window not in windows:
            raise MartError(f"Window {window!r} has no rows in the sources: nothing to ingest (windows found: {', '.join(windows[-6:]) or 'none'}).")
        parts = [(w, frame[labels == w].reset_index(drop=True)) for w in windows]
    else:
        parts = [(window, frame)]
    checked = [_checked(w, part, use_case, origin.replace(repr(window), repr(w)), quarantine) for w, part in parts]
    store = MartStore(ws.feature_marts)
    result: IngestResult | None = None
    for item in checked:
        item_build = dict(build)
        provenance = described["source"]
        if full:
            item_build["rows_sha256"] = frame_sha256(item.frame)
            item_build.pop("sources", None)
        version = version_id(item.window, provenance if not full else {"sha256": None}, use_case, build=item_build or None)
        manifest: dict[str, Any] = {
            "mart": use_case.use_case,
            "version": version,
            "window": item.window,
            "columns": {c: str(t) for c, t in item.frame.dtypes.items()},
            "declared_columns": dict(use_case.columns),
            "source": provenance,
            "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "run_id": run_id,
        }
        if use_case.mart is not None:
            manifest.update({
                "sources": described, "transform": transform_info, "load": spec.load,
                "contract": spec.contract.model_dump(mode="json") if spec.contract else None,
                "warnings": item.warnings,
            })
        published = store.publish(use_case.use_case, version, item.frame, manifest)
        if item.window == window:
            result = IngestResult(published.version, published.created, item.warnings)
    assert result is not None
    if full:
        result.windows = [item.window for item in checked]
    return result


# --- streaming large file sources ------------------------------------------------
def _streamed_source(ws: Workspace, use_case: UseCase, window: str, batch_rows: int | None) -> Path | None:
    """The source file when this ingest streams: one file, no transform, incremental, big enough (or forced)."""
    spec = use_case.mart or MartSpec()
    source = use_case.source
    if source.url or source.window_column or spec.transform or spec.sources or spec.load != "incremental":
        return None
    path = sources.source_file(ws, source, window)
    if batch_rows is None and not mart_stream.is_large(path, sources._file_format(source, path)):
        return None
    return path


def _ingest_streamed(
    ws: Workspace, use_case: UseCase, window: str, path: Path, batch_rows: int, *, run_id: str | None, quarantine: Path | None,
) -> IngestResult:
    """Stream one file source into a staged version, check it, and publish it with one rename."""
    spec = use_case.mart or MartSpec()
    fmt = sources._file_format(use_case.source, path)
    provenance = {"kind": "file", "path": ws.relative(path), "format": fmt, "sha256": sha256_file(path)}
    build: dict[str, Any] = {}
    if use_case.mart is not None:
        build = {"load": spec.load, "sources": {"source": provenance["sha256"]}}
    version = version_id(window, provenance, use_case, build=build or None)
    origin = f"Raw data for window {window!r} ({provenance['path']})"
    store = MartStore(ws.feature_marts)
    folder = store.root / use_case.use_case / "versions"
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=folder))
    try:
        outcome = mart_stream.stream_file(path, fmt, staging / "data.parquet", use_case, delimiter=use_case.source.delimiter or ",",
                                          batch_rows=batch_rows, origin=origin, quarantine=quarantine)
        report = outcome.report
        if not report.ok:
            offending = outcome.offending if outcome.offending is not None else pd.DataFrame()
            written = write_quarantine(quarantine, offending, report.violations) if quarantine is not None else 0
            raise _contract_error(origin, use_case, report.violations, written, quarantine)
        final = folder / version
        if (final / "manifest.json").exists():
            shutil.rmtree(staging, ignore_errors=True)
            return IngestResult(store._load(final), created=False, warnings=report.warnings)
        manifest: dict[str, Any] = {
            "mart": use_case.use_case, "version": version, "window": window, "columns": outcome.dtypes,
            "declared_columns": dict(use_case.columns), "source": provenance,
            "created_at": datetime.now(UTC).isoformat(timespec="microseconds"), "run_id": run_id,
        }
        if use_case.mart is not None:
            manifest.update({
                "sources": {"source": provenance}, "transform": None, "load": spec.load,
                "contract": spec.contract.model_dump(mode="json") if spec.contract else None, "warnings": report.warnings,
            })
        created = store.seal(staging, final, manifest, rows=outcome.rows)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return IngestResult(store._load(final), created=created, warnings=report.warnings)


def _contract_error(origin: str, use_case: UseCase, violations: list[Violation], written: int, quarantine: Path | None) -> ContractViolationError:
    where = f"\n{written} offending row(s) written to {quarantine}." if written else ""
    return ContractViolationError(
        f"{origin} breaks the data contract of mart {use_case.use_case!r} ({len(violations)} violation(s)):\n"
        + "\n".join(f"  - {v.describe()}" for v in violations)
        + where
        + "\nFix the source data, or the contract ('key', 'mart.contract' in the params). Nothing was stored."
    )
