"""Feature marts: validated, content-addressed, never-overwritten versions per window.

``feature_marts/<mart>/versions/<window>-<hash12>/`` holds ``data.parquet`` and
``manifest.json``. A version id is derived from its inputs (source bytes, window,
declared schema), so ingesting the same input twice is a no-op that says so.
A version is written into a hidden staging folder and published with one rename.
"""

from __future__ import annotations

import glob
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from millpond.errors import MartError, MartVersionNotFoundError, SchemaError, SourceNotFoundError, did_you_mean
from millpond.params import UseCase, check_window
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


@dataclass(frozen=True)
class IngestResult:
    version: MartVersion
    created: bool  # False when an identical version already existed


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
            manifest = {**manifest, "sha256": sha256_file(staging / "data.parquet"), "rows": len(frame)}
            atomic_write_json(staging / "manifest.json", manifest)
            for file in staging.iterdir():
                make_read_only(file)
            created = publish_dir(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return IngestResult(self._load(final), created=created)

    def _load(self, folder: Path) -> MartVersion:
        manifest = read_json(folder / "manifest.json")
        return MartVersion(manifest["mart"], manifest["version"], manifest["window"], folder, manifest)


# --- reading raw sources ---------------------------------------------------------
def source_file(ws: Workspace, use_case: UseCase, window: str) -> Path:
    """The raw file that holds ``window`` (pattern with ``{window}``, a glob, or one file)."""
    spec = use_case.source
    assert spec.path is not None
    pattern = str(ws.resolve(spec.path.replace("{window}", window)))
    matches = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
    existing = [Path(m) for m in matches if Path(m).is_file()]
    if len(existing) == 1:
        return existing[0]
    if len(existing) > 1:
        raise MartError(f"Source pattern {spec.path!r} matches {len(existing)} files for window {window!r}; it must match one.")
    available = sorted(glob.glob(str(ws.resolve(spec.path.replace("{window}", "*")))))
    listed = ", ".join(Path(p).name for p in available[:6]) or "none"
    raise SourceNotFoundError(
        f"No raw source for window {window!r}: {ws.relative(pattern)} does not exist "
        f"(files matching the pattern: {listed}). Check 'source.path' in the params or the --window value."
    )


def _source_format(use_case: UseCase, path: Path) -> str:
    if use_case.source.format:
        return use_case.source.format
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise MartError(f"Cannot tell the format of {path.name}: set source.format to 'csv' or 'parquet'.")


def read_raw(ws: Workspace, use_case: UseCase, window: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the raw rows of one window and describe where they came from."""
    path = source_file(ws, use_case, window)
    fmt = _source_format(use_case, path)
    text_columns = {c: "str" for c, t in use_case.columns.items() if t == "str"}
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=text_columns)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise MartError(f"Raw file {ws.relative(path)} is empty: it has no header and no rows.") from exc
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise MartError(f"Cannot read raw file {ws.relative(path)} as {fmt}: {exc}") from exc
    window_column = use_case.source.window_column
    if window_column:
        if window_column not in frame.columns:
            raise SchemaError(f"Window column {window_column!r} is missing from {ws.relative(path)}.")
        frame = frame[frame[window_column].astype("str") == window].reset_index(drop=True)
    if frame.empty:
        raise MartError(f"Window {window!r} has no rows in {ws.relative(path)}: nothing to ingest.")
    provenance = {"path": ws.relative(path), "format": fmt, "sha256": sha256_file(path)}
    return frame, provenance


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(_MAX_EXAMPLES).tolist())


def _coerce_column(name: str, expected: str, column: pd.Series) -> tuple[pd.Series | None, str | None]:
    """Cast a column to the declared dtype, or return a message saying why not."""
    if expected == "str":
        return column.astype("str").where(column.notna()), None
    if expected == "datetime":
        parsed = pd.to_datetime(column, errors="coerce")
        bad = column[parsed.isna() & column.notna()]
        return (parsed, None) if bad.empty else (None, f"column {name!r} should be datetime; {len(bad)} value(s) do not parse, e.g. {_examples(bad)}")
    if expected == "bool":
        if pd.api.types.is_bool_dtype(column):
            return column.astype("bool"), None
        mapped = column.astype("str").str.lower().map({"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False})
        bad = column[mapped.isna()]
        return (mapped.astype("bool"), None) if bad.empty else (None, f"column {name!r} should be bool; {len(bad)} value(s) are not, e.g. {_examples(bad)}")
    numeric = pd.to_numeric(column, errors="coerce")
    bad = column[numeric.isna() & column.notna()]
    if not bad.empty:
        return None, f"column {name!r} should be {expected} but holds text in {len(bad)} row(s), e.g. {_examples(bad)}"
    if expected == "int":
        if numeric.isna().any():
            return None, f"column {name!r} should be int but has {int(numeric.isna().sum())} missing value(s); declare it 'float' or fill them"
        if not (numeric == numeric.round()).all():
            frac = column[numeric != numeric.round()]
            return None, f"column {name!r} should be int but holds fractions in {len(frac)} row(s), e.g. {_examples(frac)}; declare it 'float'"
        return numeric.astype("int64"), None
    return numeric.astype("float64"), None


def conform(frame: pd.DataFrame, use_case: UseCase, *, origin: str) -> pd.DataFrame:
    """Check columns and dtypes against the use case and return a typed copy (declared column order)."""
    problems: list[str] = []
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
        column, problem = _coerce_column(name, use_case.columns[name], frame[name])
        if problem:
            problems.append(problem)
        elif column is not None:
            typed[name] = column
    if problems:
        raise SchemaError(
            f"{origin} does not match the use case's columns ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nFix the source data, or the 'columns' section of the params."
        )
    return pd.DataFrame(typed)[declared]


def version_id(window: str, provenance: dict[str, Any], use_case: UseCase) -> str:
    """Content address of a mart version: same source bytes, window and schema give the same id."""
    key = json.dumps(
        {"format": MART_FORMAT, "window": window, "source": provenance["sha256"], "columns": use_case.columns},
        sort_keys=True,
    )
    return f"{window}-{sha256_bytes(key.encode())[:12]}"


def ingest(ws: Workspace, use_case: UseCase, window: str, *, run_id: str | None = None) -> IngestResult:
    """Read, validate and store one window of raw data as a mart version."""
    check_window(window)
    frame, provenance = read_raw(ws, use_case, window)
    typed = conform(frame, use_case, origin=f"Raw data for window {window!r} ({provenance['path']})")
    version = version_id(window, provenance, use_case)
    manifest = {
        "mart": use_case.use_case,
        "version": version,
        "window": window,
        "columns": {c: str(t) for c, t in typed.dtypes.items()},
        "declared_columns": dict(use_case.columns),
        "source": provenance,
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "run_id": run_id,
    }
    return MartStore(ws.feature_marts).publish(use_case.use_case, version, typed, manifest)
