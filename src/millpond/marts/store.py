"""Feature marts: validated, content-addressed, never-overwritten versions per window.

``feature_marts/<mart>/versions/<window>-<hash12>/`` holds ``data.parquet`` and
``manifest.json`` (:class:`~millpond.marts.entities.MartManifest`). A version id
is derived from its inputs (source bytes, window, declared schema), so ingesting
the same input twice is a no-op that says so. A version is written into a hidden
staging folder (``store.staging``: ``.staging-<version>-p<pid>-<random>``; a
streamed ingest's DuckDB work folder is ``.work-p<pid>-<random>``), its files are
flushed to disk and made read-only, and it is published with one no-clobber
rename; scratch folders of killed ingests are swept by the next ingest.
:meth:`MartStore.verify` checks every stored version against its manifest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from millpond.config.params import MartSpec, UseCase, check_window
from millpond.errors import (
    ContractViolationError,
    MartError,
    MartIntegrityError,
    MartVersionNotFoundError,
    SchemaError,
    did_you_mean,
)
from millpond.marts import inputs as mart_inputs
from millpond.marts import sources
from millpond.marts import stream as mart_stream
from millpond.marts.coercion import conform
from millpond.marts.contracts import Violation, check_contract, write_quarantine
from millpond.marts.entities import SPEC_KEYS, MartManifest
from millpond.marts.sources import frame_sha256
from millpond.marts.transforms import read_transform, run_transform, transform_path
from millpond.store import artifacts
from millpond.store.files import sha256_bytes, sha256_file, writes_to
from millpond.store.lock import process_alive
from millpond.store.log import JsonLinesLog
from millpond.store.refs import matching_ids, shown_ids
from millpond.store.staging import owner_pid, publish_dir, scratch_dir, seal_tree, staged_dir
from millpond.store.staging import sweep as sweep_scratch
from millpond.store.verify import VerifyReport
from millpond.workspace import Workspace

MART_FORMAT = 1
DESCRIBE_WHOLE_ROWS = 1_000_000  # above this, a version's summary is computed over the file, not in memory
_MAX_EXAMPLES = 3
_DESCRIBE_STATS = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]


@dataclass(frozen=True)
class MartVersion:
    """One stored version of a mart for one window."""

    mart: str
    version: str
    window: str
    path: Path
    manifest: MartManifest

    @property
    def data_path(self) -> Path:
        return self.path / "data.parquet"

    @property
    def sha256(self) -> str:
        return str(self.manifest.sha256)

    @property
    def rows(self) -> int:
        return int(self.manifest.rows or 0)

    @property
    def ref(self) -> str:
        """``mart@version``, as run manifests name it."""
        return f"{self.mart}@{self.version}"

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Load the version's rows (noted as read in the open run's ledger)."""
        self.note_read()
        return pd.read_parquet(self.data_path, columns=columns)

    def note_read(self) -> None:
        """Note in the open run's ledger that this version's rows were read (its manifest's sha256)."""
        artifacts.note_read("mart_version", self.data_path, self.sha256, ref=self.ref)

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
        return _describe_on_disk(self.data_path, numeric)


def _describe_on_disk(path: Path, numeric: list[str]) -> pd.DataFrame:
    """The ``describe()`` statistics of ``numeric`` columns, computed by DuckDB over the file."""
    from millpond.marts import duck

    parts = []
    for c in numeric:
        q = '"' + c.replace('"', '""') + '"'
        parts.append(
            f"count({q}), avg({q}), stddev_samp({q}), min({q}), approx_quantile({q}, 0.25), "
            f"approx_quantile({q}, 0.5), approx_quantile({q}, 0.75), max({q})"
        )
    con = duck.connect()
    try:
        row = con.execute(f"SELECT {', '.join(parts)} FROM read_parquet(?)", [str(path)]).fetchone()
    finally:
        con.close()
    assert row is not None
    values = [
        [float(v) if v is not None else float("nan") for v in row[i * 8 : (i + 1) * 8]] for i in range(len(numeric))
    ]
    return pd.DataFrame(values, index=numeric, columns=_DESCRIBE_STATS)


@dataclass
class IngestResult:
    version: MartVersion
    created: bool  # False when an identical version already existed
    warnings: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)  # every window a full load (re)built


def read_manifest(path: Path) -> MartManifest:
    """The manifest stored at ``path``; a :class:`MartIntegrityError` naming the file when it is not one."""
    try:
        return MartManifest.from_json(path.read_bytes())
    except ValueError as exc:  # not JSON, not UTF-8, or not a manifest
        raise MartIntegrityError(
            f"{path} is not a readable mart manifest ({exc}): it was edited or the disk lost data. "
            "Restore the version from a backup, or remove its folder and ingest the window again."
        ) from exc


class MartStore:
    """Read and write the versions of the workspace's feature marts."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def marts(self) -> list[str]:
        """Every mart that has a versions folder."""
        return sorted(p.parent.name for p in self.root.glob("*/versions") if p.is_dir())

    def versions(self, mart: str) -> list[MartVersion]:
        """Every version of ``mart``, oldest first."""
        folder = self.root / mart / "versions"
        found = []
        for manifest_path in sorted(folder.glob("*/manifest.json")):
            if manifest_path.parent.name.startswith("."):
                continue
            manifest = read_manifest(manifest_path)
            found.append(MartVersion(mart, manifest.version, manifest.window, manifest_path.parent, manifest))
        return sorted(found, key=lambda v: (v.manifest.created_at, v.version))

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
        """A version by id, or by a piece of one (:func:`millpond.store.refs.matching_ids`)."""
        stored = {v.version: v for v in self.versions(mart)}
        matches = matching_ids(version, stored)
        if len(matches) == 1:
            return stored[matches[0]]
        if matches:
            raise MartVersionNotFoundError(
                f"Mart {mart!r} version {version!r} is ambiguous: it matches {shown_ids(matches)}; give more characters."
            )
        raise MartVersionNotFoundError(f"Mart {mart!r} has no version {version!r}.{did_you_mean(version, stored)}")

    def window_span(self, mart: str, window: str, count: int) -> list[MartVersion]:
        """Latest versions of the last ``count`` windows up to and including ``window``."""
        windows = [w for w in self.windows(mart) if w <= window][-count:]
        return [self.latest(mart, w) for w in windows]

    def publish(
        self, mart: str, version: str, frame: pd.DataFrame, manifest: MartManifest | Mapping[str, Any]
    ) -> IngestResult:
        """Write ``frame`` as version ``version`` unless it exists (then a no-op)."""
        folder = self.root / mart / "versions"
        final = folder / version
        sweep_scratch(folder)
        if (final / "manifest.json").exists():
            return IngestResult(self._load(final), created=False)
        entity = manifest if isinstance(manifest, MartManifest) else MartManifest.from_dict(dict(manifest))
        with writes_to(folder, f"mart version {version}"), staged_dir(folder, version) as staging:
            frame.to_parquet(staging / "data.parquet", index=False)
            created = self.seal(staging, final, entity, rows=len(frame))
        return IngestResult(self._load(final), created=created)

    def sweep(self) -> list[str]:
        """Remove the staging and work folders of ingests whose process is gone, in every mart; return their paths."""
        removed = []
        for mart in self.marts():
            folder = self.root / mart / "versions"
            removed += [str(folder / name) for name in sweep_scratch(folder)]
        return removed

    @staticmethod
    def seal(staging: Path, final: Path, manifest: MartManifest, *, rows: int) -> bool:
        """Write the manifest beside a staged ``data.parquet``, flush both to disk, make them read-only and
        publish the folder with one rename (``False``: the version already existed)."""
        sealed = replace(
            manifest,
            sha256=sha256_file(staging / "data.parquet"),
            rows=rows,
            omitted=manifest.omitted - {"sha256", "rows"},
        )
        (staging / "manifest.json").write_text(sealed.to_json(), encoding="utf-8")
        seal_tree(staging)
        created = publish_dir(staging, final)
        if created:
            ref = f"{sealed.mart}@{sealed.version}"
            artifacts.note_written("mart_version", final / "data.parquet", str(sealed.sha256), ref=ref)
            version_log(final.parent.parent).append(
                {
                    "version": sealed.version,
                    "window": sealed.window,
                    "data_sha256": sealed.sha256,
                    "manifest_sha256": sha256_file(final / "manifest.json"),
                }
            )
        return created

    def _load(self, folder: Path) -> MartVersion:
        manifest = read_manifest(folder / "manifest.json")
        return MartVersion(manifest.mart, manifest.version, manifest.window, folder, manifest)

    # --- verifying -------------------------------------------------------------------------------------------
    def verify(self, mart: str | None = None) -> VerifyReport:
        """Check every stored version (of ``mart``, or of every mart): its manifest parses and names its own
        mart, version and window, and its ``data.parquet`` has the sha256 and row count the manifest records."""
        if mart is not None and not (self.root / mart / "versions").is_dir():
            known = self.marts()
            raise MartVersionNotFoundError(
                f"Mart {mart!r} has no stored versions in {self.root}.{did_you_mean(mart, known)} "
                f"Marts stored: {', '.join(known) or 'none'}."
            )
        report = VerifyReport(f"mart {mart}" if mart is not None else "feature marts")
        for name in [mart] if mart is not None else self.marts():
            recorded = _recorded_manifests(report, self.root / name)
            for entry in sorted((self.root / name / "versions").iterdir()):
                if entry.name.startswith("."):
                    _note_scratch(report, entry)
                elif entry.is_dir():
                    report.checked += 1
                    _verify_version(report, name, entry)
                    _check_manifest_hash(report, entry / "manifest.json", recorded.get(entry.name))
                else:
                    report.note(f"{entry}: a file among the versions, not a version (left alone)")
        return report


def version_log(mart_folder: Path) -> JsonLinesLog:
    """``<mart>/versions.jsonl``: one hash-chained line per published version with the sha256 of its data and its
    manifest, the record outside the version that a hand-edited ``manifest.json`` no longer matches."""
    return JsonLinesLog(mart_folder / "versions.jsonl", chain=True, head=mart_folder / "versions.head", legacy=True)


def _recorded_manifests(report: VerifyReport, mart_folder: Path) -> dict[str, str]:
    """The manifest sha256 per version that ``versions.jsonl`` records (its own chain checked into ``report``)."""
    log = version_log(mart_folder)
    if not log.path.exists():
        return {}
    chain = log.verify()  # its problems and notes; its lines are not versions, so they do not count as checked
    report.problems.extend(chain.problems)
    report.notes.extend(chain.notes)
    return {str(e.get("version")): str(e.get("manifest_sha256")) for e in log if isinstance(e, dict)}


def _check_manifest_hash(report: VerifyReport, manifest_path: Path, recorded: str | None) -> None:
    if not manifest_path.is_file():
        return
    if recorded is None:
        report.note(f"{manifest_path}: no manifest hash in versions.jsonl (stored before marts recorded one)")
    elif (actual := sha256_file(manifest_path)) != recorded:
        report.add(
            manifest_path,
            f"has sha256 {actual}, but versions.jsonl records {recorded}: the manifest was changed after it was stored",
        )


def _note_scratch(report: VerifyReport, entry: Path) -> None:
    pid = owner_pid(entry)
    if pid is not None and process_alive(pid):
        report.note(f"{entry}: an ingest in progress (process {pid}) is writing it; not a version yet")
    else:
        report.note(f"{entry}: left by an ingest that stopped half way; never published, the next ingest removes it")


def _verify_version(report: VerifyReport, mart: str, folder: Path) -> None:
    """Add every mismatch of one stored version to ``report``."""
    manifest_path, data_path = folder / "manifest.json", folder / "data.parquet"
    if not manifest_path.is_file():
        report.add(manifest_path, "is missing: the version has no manifest")
        return
    try:
        manifest = MartManifest.from_json(manifest_path.read_bytes())
    except (OSError, ValueError) as exc:
        report.add(manifest_path, f"is not a readable mart manifest: {exc}")
        return
    for problem in _naming_problems(manifest, mart, folder.name):
        report.add(manifest_path, problem)
    if not data_path.is_file():
        report.add(data_path, "is missing: the version's rows are gone")
    elif manifest.sha256 is None:
        report.add(manifest_path, "records no sha256 for data.parquet")
    else:
        _check_data(report, data_path, manifest, manifest_path)


def _naming_problems(manifest: MartManifest, mart: str, folder: str) -> list[str]:
    problems = []
    if manifest.version != folder:
        problems.append(f"names version {manifest.version!r}, but it is stored as {folder!r}")
    if manifest.mart != mart:
        problems.append(f"names mart {manifest.mart!r}, but it is stored under mart {mart!r}")
    if not folder.startswith(f"{manifest.window}-"):
        problems.append(f"names window {manifest.window!r}, but version {folder!r} is of another window")
    return problems


def _check_data(report: VerifyReport, data_path: Path, manifest: MartManifest, manifest_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    actual = sha256_file(data_path)
    if actual != manifest.sha256:
        report.add(
            data_path,
            f"has sha256 {actual}, but {manifest_path.name} records {manifest.sha256}: "
            "the data was changed after it was stored (or the disk lost data)",
        )
        return
    try:
        rows = pq.ParquetFile(data_path).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        report.add(data_path, f"is not a readable Parquet file: {exc}")
        return
    if manifest.rows is not None and rows != manifest.rows:
        report.add(manifest_path, f"records {manifest.rows} rows, but data.parquet holds {rows}")


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


@dataclass(frozen=True)
class _Build:
    """What every window of one ingest shares: the use case, the sources read, what the id covers, the run."""

    use_case: UseCase
    described: dict[str, dict[str, Any]]  # provenance of every source, by name ("source": the main one)
    build: dict[str, Any]  # what, besides the main source, the version id covers
    transform: dict[str, Any] | None  # path and sha256 of the transform, when there is one
    run_id: str | None


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
        rows = batch_rows or mart_stream.BATCH_ROWS
        return _StreamedIngest(
            ws, use_case, window, rows, run_id=run_id, quarantine=quarantine, on_progress=on_progress
        ).run()
    return _ingest_in_memory(ws, use_case, window, run_id=run_id, quarantine=quarantine)


def _ingest_in_memory(
    ws: Workspace, use_case: UseCase, window: str, *, run_id: str | None, quarantine: Path | None
) -> IngestResult:
    """Read the sources whole, transform, split (a full load) and check in memory, then publish every window."""
    full = (use_case.mart or MartSpec()).load == "full"
    tables, described = _load_tables(ws, use_case, None if full else window)
    build = _build(use_case, described)
    origin = f"Raw data for window {window!r} ({described['source'].get('path') or described['source'].get('url')})"
    frame, transform_info, origin = _transformed(ws, use_case, tables, window, origin)
    if transform_info:
        build["transform"] = transform_info["sha256"]
    parts = _split_full(frame, use_case, window, origin) if full else [(window, frame)]
    checked = [_checked(w, part, use_case, origin.replace(repr(window), repr(w)), quarantine) for w, part in parts]
    shared = _Build(use_case, described, build, transform_info, run_id)
    store = MartStore(ws.feature_marts)
    result: IngestResult | None = None
    for item in checked:
        version, manifest = _describe_version(
            shared,
            item.window,
            item.warnings,
            dtypes={c: str(t) for c, t in item.frame.dtypes.items()},
            rows_sha256=frame_sha256(item.frame) if full else None,
        )
        published = store.publish(use_case.use_case, version, item.frame, manifest)
        if item.window == window:
            result = IngestResult(published.version, published.created, item.warnings)
    assert result is not None
    if full:
        result.windows = [item.window for item in checked]
    return result


def _transformed(
    ws: Workspace, use_case: UseCase, tables: dict[str, pd.DataFrame], window: str, origin: str
) -> tuple[pd.DataFrame, dict[str, Any] | None, str]:
    """The mart's rows (the transform's output, or the main source), what the transform was, and how to name them."""
    spec = use_case.mart or MartSpec()
    if not spec.transform:
        return tables["source"], None, origin
    path = transform_path(ws.feature_marts, use_case.use_case, spec.transform)
    shown = ws.relative(path)
    sql, sql_sha = read_transform(path, shown=shown)
    frame = run_transform(sql, tables, shown=shown)
    return frame, {"path": shown, "sha256": sql_sha}, f"Output of transform {shown} for window {window!r}"


def _split_full(frame: pd.DataFrame, use_case: UseCase, window: str, origin: str) -> list[tuple[str, pd.DataFrame]]:
    """A full load's rows, window by window, for every window up to ``window``."""
    column = str(use_case.source.window_column)
    if column not in frame.columns:
        raise SchemaError(
            f"{origin} has no window column {column!r}, which 'load: full' needs to split the mart into windows."
        )
    labels = frame[column].astype("str").where(frame[column].notna())
    windows = sorted(w for w in labels.dropna().unique() if w <= window)
    _check_window_found(window, windows)
    return [(w, frame[labels == w].reset_index(drop=True)) for w in windows]


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
    shared: _Build, window: str, warnings: list[str], *, dtypes: dict[str, str], rows_sha256: str | None
) -> tuple[str, MartManifest]:
    """The content-addressed id and the manifest of one window's version (one-shot and streamed paths alike)."""
    use_case = shared.use_case
    item_build = dict(shared.build)
    provenance = shared.described["source"]
    if rows_sha256 is not None:  # a full load: the window's own rows, not the whole source, address it
        item_build["rows_sha256"] = rows_sha256
        item_build.pop("sources", None)
    version = version_id(
        window, provenance if rows_sha256 is None else {"sha256": None}, use_case, build=item_build or None
    )
    spec = use_case.mart
    manifest = MartManifest(
        mart=use_case.use_case,
        version=version,
        window=window,
        columns=dtypes,
        declared_columns=dict(use_case.columns),
        source=provenance,
        created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        run_id=shared.run_id,
        sources=shared.described if spec is not None else None,
        transform=shared.transform,
        load=spec.load if spec is not None else None,
        contract=spec.contract.model_dump(mode="json") if spec is not None and spec.contract else None,
        warnings=warnings if spec is not None else None,
        omitted=frozenset({"sha256", "rows"} | (set() if spec is not None else SPEC_KEYS)),  # sealing adds those two
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


class _StreamedIngest:
    """Stream the sources into staged versions, check every window, then publish each with one rename."""

    def __init__(
        self,
        ws: Workspace,
        use_case: UseCase,
        window: str,
        batch_rows: int,
        *,
        run_id: str | None,
        quarantine: Path | None,
        on_progress: mart_stream.ProgressCallback | None,
    ) -> None:
        self.ws, self.use_case, self.window, self.batch_rows, self.run_id = ws, use_case, window, batch_rows, run_id
        self.quarantine, self.on_progress = quarantine, on_progress
        self.spec = use_case.mart or MartSpec()
        self.full = self.spec.load == "full"
        self.store = MartStore(ws.feature_marts)
        self.folder = self.store.root / use_case.use_case / "versions"
        self.staged: list[_StagedWindow] = []
        self.described: dict[str, dict[str, Any]] = {}
        self.transform_info: dict[str, Any] | None = None

    def run(self) -> IngestResult:
        sweep_scratch(self.folder)
        with writes_to(self.folder, f"mart {self.use_case.use_case} window {self.window}"):
            return self._run()

    def _run(self) -> IngestResult:
        work = scratch_dir(self.folder, "work", prefix=".")  # .work-p<pid>-<random>
        try:
            if not (self.use_case.source.url or self.spec.transform or self.spec.sources or self.full):
                self._stage_file()
            else:
                self._stage_through_duckdb(work)
            self._check_staged()
            result = self._publish_staged()
        finally:
            shutil.rmtree(work, ignore_errors=True)
            for item in self.staged:
                shutil.rmtree(item.staging, ignore_errors=True)
        if self.full:
            result.windows = [item.window for item in self.staged]
        return result

    # --- staging ---------------------------------------------------------------------------------------------
    def _stage(self, window: str, origin: str, write: Callable[[Path], mart_stream.StreamOutcome]) -> None:
        """Stream ``window`` into its own staging folder (registered first, so a failure removes it)."""
        item = _StagedWindow(window, scratch_dir(self.folder, window), mart_stream.StreamOutcome(), origin)
        self.staged.append(item)
        item.outcome = write(item.staging / "data.parquet")

    def _options(self, origin: str, **settings: Any) -> mart_stream.StreamOptions:
        return mart_stream.StreamOptions(
            origin=origin, quarantine=self.quarantine, on_progress=self.on_progress, **settings
        )

    def _stage_batches(self, window: str, batches: Iterator[Any], origin: str, **settings: Any) -> None:
        options = self._options(origin, **settings)
        self._stage(
            window, origin, lambda target: mart_stream.stream_to_parquet(batches, target, self.use_case, options)
        )

    def _stage_file(self) -> None:
        """One file source without transform: streamed straight from the file."""
        ws, source, window = self.ws, self.use_case.source, self.window
        path = sources.source_file(ws, source, window)
        self.described = {"source": sources.file_provenance(ws, source, path)}
        origin = f"Raw data for window {window!r} ({self.described['source']['path']})"
        options = self._options(origin)
        self._stage(
            window,
            origin,
            lambda target: mart_stream.stream_file(
                ws, source, path, window, target, self.use_case, batch_rows=self.batch_rows, options=options
            ),
        )

    def _stage_through_duckdb(self, work: Path) -> None:
        """Sources, transform and window split in DuckDB on disk, then each window streamed from its rows."""
        con = mart_inputs.connect(work)
        try:
            rows = self._build_rows(con, work)
            origin = self._origin()
            if self.full:
                windows, per_window = mart_inputs.split_windows(
                    con,
                    rows,
                    str(self.use_case.source.window_column),
                    self.window,
                    work,
                    origin=origin,
                    batch_rows=self.batch_rows,
                )
                _check_window_found(self.window, windows)
                for w, batches in per_window:
                    self._stage_batches(w, batches, origin.replace(repr(self.window), repr(w)), hash_rows=True)
            else:
                batches, names, total = mart_inputs.file_rows(rows, batch_rows=self.batch_rows)
                self._stage_batches(self.window, batches, origin, names_if_empty=names, total_rows=total)
        finally:
            con.close()

    def _build_rows(self, con: Any, work: Path) -> Path:
        """Stage every source as a DuckDB view and write the mart's rows to one Parquet file."""
        ws, use_case = self.ws, self.use_case
        scope = None if self.full else self.window
        self.described["source"], where = mart_inputs.stage_source(
            ws, con, use_case.source, "source", scope, work, columns=dict(use_case.columns), batch_rows=self.batch_rows
        )
        if not self.full and mart_inputs.count_rows(con, "source") == 0:
            raise MartError(f"Window {self.window!r} has no rows in {where}: nothing to ingest.")
        for name, source in self.spec.sources.items():
            self.described[name], _ = mart_inputs.stage_source(
                ws, con, source, name, scope, work, columns=None, batch_rows=self.batch_rows
            )
        rows, self.transform_info = mart_inputs.build_rows(ws, con, use_case, work, list(self.described))
        return rows

    def _origin(self) -> str:
        if self.transform_info:
            return f"Output of transform {self.transform_info['path']} for window {self.window!r}"
        source = self.described["source"]
        return f"Raw data for window {self.window!r} ({source.get('path') or source.get('url')})"

    # --- checking and publishing -----------------------------------------------------------------------------
    def _check_staged(self) -> None:
        """Every window passes its contract before any is stored."""
        for item in self.staged:
            report = item.outcome.report
            if not report.ok:
                offending = item.outcome.offending if item.outcome.offending is not None else pd.DataFrame()
                quarantine = self.quarantine
                written = write_quarantine(quarantine, offending, report.violations) if quarantine is not None else 0
                raise _contract_error(item.origin, self.use_case, report.violations, written, quarantine)

    def _publish_staged(self) -> IngestResult:
        build = _build(self.use_case, self.described)
        if self.transform_info:
            build["transform"] = self.transform_info["sha256"]
        shared = _Build(self.use_case, self.described, build, self.transform_info, self.run_id)
        result: IngestResult | None = None
        for item in self.staged:
            version, manifest = _describe_version(
                shared,
                item.window,
                item.outcome.report.warnings,
                dtypes=item.outcome.dtypes,
                rows_sha256=item.outcome.rows_sha256 if self.full else None,
            )
            final = self.folder / version
            if (final / "manifest.json").exists():
                created = False
            else:
                created = self.store.seal(item.staging, final, manifest, rows=item.outcome.rows)
            if item.window == self.window:
                result = IngestResult(self.store._load(final), created, item.outcome.report.warnings)
        assert result is not None
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
