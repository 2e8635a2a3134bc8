"""Late labels: ground truth that arrives after scoring, joined to the captured predictions by key.

``add_labels`` checks the whole labels file first (key and target columns, no
duplicate or missing values, every key captured for the window), computes the
KPIs of each captured model version on the labelled rows, then stores the labels
once (content-addressed, read-only) and logs the KPIs: ``kpi`` for the champion
that served the window (what model drift compares) and ``model_kpi`` per version.
Each entry names its run: the ``run_id`` given, else the scoring run whose captured
predictions the labels were joined to (a KPI baseline is only built from entries
that name their run).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millpond.config.params import UseCase, check_window
from millpond.errors import CaptureError, LabelsError, did_you_mean
from millpond.marts.windows import check_use_case_window
from millpond.models.monitoring import MonitoringLog
from millpond.models.training import metrics_from_scores
from millpond.scoring.capture import CaptureStore
from millpond.store.checkpoint import checkpoint
from millpond.store.files import atomic_write_bytes, sha256_bytes, sha256_file
from millpond.store.verify import VerifyReport
from millpond.workspace import Workspace

_MAX_EXAMPLES = 5


@dataclass
class LabelsResult:
    """What a labels file added: where it is stored and the KPIs per model version."""

    window: str
    rows: int
    path: Path
    created: bool
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model version -> KPIs
    roles: dict[str, str] = field(default_factory=dict)  # model version -> champion/challenger
    coverage: dict[str, float] = field(default_factory=dict)  # model version -> share of its captured rows labelled
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)  # model version -> KPI per slice (slices set)


# The KPI per slice of one version's labelled rows: (captured rows, labels, scores) -> a mapping to log. The caller
# passes millpond.drift.slices.labelled_slices (scoring does not import drift: they are sibling layers).
SliceFunction = Callable[[pd.DataFrame, np.ndarray, np.ndarray], dict[str, Any]]


def labels_file(ws: Workspace, use_case: UseCase, window: str, path: str | Path | None) -> Path:
    """The file given, or ``scoring.labels.path`` of the use case with ``{window}`` filled in."""
    if path is not None:
        return ws.resolve(str(path)) if not Path(path).is_absolute() else Path(path)
    if use_case.scoring.labels is None:
        raise LabelsError(
            f"No labels file given and use case '{use_case.use_case}' has no scoring.labels.path; "
            "pass FILE or add `scoring: {labels: {path: ...{window}...}}` to the params."
        )
    return ws.resolve(use_case.scoring.labels.path.replace("{window}", window))


def read_labels(path: Path, use_case: UseCase) -> pd.DataFrame:
    """Key and target of a labels file, checked: both columns present, no missing values, no duplicate keys."""
    if not path.is_file():
        hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*")]) if path.parent.is_dir() else ""
        raise LabelsError(f"Labels file {path} does not exist.{hint}")
    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise LabelsError(
            f"Labels file {path} is empty; it needs columns '{use_case.key}' and '{use_case.target}'."
        ) from exc
    except (OSError, ValueError) as exc:
        raise LabelsError(f"Cannot read labels file {path}: {exc}") from exc
    columns = [str(c) for c in frame.columns]
    missing = [c for c in (use_case.key, use_case.target) if c not in columns]
    if missing:
        hints = "".join(did_you_mean(c, columns) for c in missing)
        raise LabelsError(f"Labels file {path} lacks column(s) {missing}.{hints} It has: {columns}.")
    frame = frame[[use_case.key, use_case.target]].copy()
    if frame.empty:
        raise LabelsError(f"Labels file {path} has no rows.")
    frame[use_case.key] = frame[use_case.key].astype("str")
    dupes = frame[use_case.key][frame[use_case.key].duplicated()].unique()
    if len(dupes):
        raise LabelsError(
            f"Labels file {path} has {len(dupes)} duplicate key(s) in '{use_case.key}', e.g. {dupes[:_MAX_EXAMPLES].tolist()}; "
            "keep one label per key."
        )
    n_missing = int(frame[use_case.target].isna().sum())
    if n_missing:
        raise LabelsError(
            f"Labels file {path} has {n_missing} missing value(s) in '{use_case.target}'; drop those rows or fill them."
        )
    return frame


def latest_captures(captures: CaptureStore, window: str) -> pd.DataFrame:
    """Per model version, the rows of its latest scoring run of ``window``."""
    frame = captures.read(window)  # one run per model version already (superseded parts are left out)
    last = frame.groupby("model_version")["scored_at"].transform("max")
    return frame[frame["scored_at"] == last].reset_index(drop=True)


def add_labels(
    ws: Workspace,
    use_case: UseCase,
    window: str,
    path: str | Path | None = None,
    *,
    run_id: str | None = None,
    slices: SliceFunction | None = None,
) -> LabelsResult:
    """Join late labels to the captured predictions of ``window`` and log KPIs per model version (see module doc);
    with ``slices`` (and ``slices:`` in the params) each KPI entry also holds the KPI per slice it computes.

    A malformed ``window`` (one that is neither captured nor shaped like the use case's windows) is refused first,
    naming the closest window ('2025-5' -> '2025-05').
    """
    uc = use_case
    captures = CaptureStore(ws.model_store, uc.use_case)
    window = check_use_case_window(ws, uc, check_window(window), also=captures.windows())
    file = labels_file(ws, uc, window, path)
    labels = read_labels(file, uc)
    try:
        captured = latest_captures(captures, window)
    except CaptureError as exc:
        raise LabelsError(f"Cannot add labels for window '{window}': {exc}") from exc
    captured[uc.key] = captured[uc.key].astype("str")
    unknown = labels[uc.key][~labels[uc.key].isin(captured[uc.key])]
    if len(unknown):
        raise LabelsError(
            f"{len(unknown)} of {len(labels)} key(s) in {file} match no captured prediction of window '{window}', "
            f"e.g. {unknown.head(_MAX_EXAMPLES).tolist()}; check the window and the '{uc.key}' column."
        )
    result = LabelsResult(window=window, rows=len(labels), path=file, created=False)
    scoring_runs = _kpis_per_version(captured, labels, uc, result, slices)
    # every check passed: store the labels once, then log
    buffer = io.BytesIO()
    labels.sort_values(uc.key).to_parquet(buffer, index=False)
    data = buffer.getvalue()
    stored = ws.model_store / uc.use_case / "labels" / f"window={window}" / f"labels-{sha256_bytes(data)[:12]}.parquet"
    result.created = not stored.exists()
    if result.created:
        atomic_write_bytes(stored, data, read_only=True)
    checkpoint("labels-stored")  # a kill here: the same file added again logs the KPIs (stored once)
    result.path = stored
    log = MonitoringLog(ws.model_store, uc.use_case)
    source = ws.relative(stored)
    for version, metrics in result.metrics.items():
        common: dict[str, Any] = {
            "model_version": version,
            "metrics": metrics,
            "run_id": run_id or scoring_runs[version],
            "scoring_run_id": scoring_runs[version],
            "source": source,
            **({"slices": result.slices[version]} if version in result.slices else {}),
        }
        log.append("model_kpi", window, role=result.roles[version], coverage=result.coverage[version], **common)
        if result.roles[version] == "champion":
            log.append("kpi", window, **common)
    return result


def _kpis_per_version(
    captured: pd.DataFrame, labels: pd.DataFrame, uc: UseCase, result: LabelsResult, slices: SliceFunction | None
) -> dict[str, str]:
    """Fill ``result``'s KPIs, roles, coverage (and KPI per slice) per model version from the captured rows joined
    to the labels; return the scoring run of each version."""
    score_column = "probability" if uc.task == "classification" else "prediction"
    joined = captured.merge(labels, on=uc.key, how="inner", validate="many_to_one")
    scoring_runs: dict[str, str] = {}
    for version, rows in joined.groupby("model_version", sort=False):
        scores = rows[score_column].to_numpy(dtype="float64")
        scoring_runs[str(version)] = str(rows["run_id"].iloc[-1])
        result.metrics[str(version)] = metrics_from_scores(
            rows[uc.target].to_numpy(), scores, uc, threshold=uc.scoring.threshold
        )
        result.roles[str(version)] = str(rows["role"].iloc[0])
        if slices is not None and uc.slices.columns:
            result.slices[str(version)] = slices(rows.reset_index(drop=True), rows[uc.target].to_numpy(), scores)
        result.coverage[str(version)] = len(rows) / int((captured["model_version"] == version).sum())
    return scoring_runs


def verify_labels(model_store: Path) -> VerifyReport:
    """Every stored labels file against the hash its name carries (``labels-<first 12 hex of sha256>.parquet``, the
    content address ``add_labels`` gave it); the run that stored it also lists its whole sha256 among its outputs."""
    report = VerifyReport("labels")
    for path in sorted(Path(model_store).glob("*/labels/window=*/labels-*.parquet")):
        report.checked += 1
        named = path.stem.removeprefix("labels-")
        actual = sha256_file(path)
        if not actual.startswith(named):
            report.add(path, f"has sha256 {actual[:12]}…, but its name records {named}: changed after it was stored")
    return report


def kpi_table(model_store: Path, name: str, metric: str) -> pd.DataFrame:
    """The latest ``metric`` per window and model version from the monitoring log (rows: windows, columns: versions)."""
    rows = [
        {"window": e.window, "model_version": e.model_version, metric: e.metrics.get(metric)}
        for e in MonitoringLog(model_store, name).entries("model_kpi")
    ]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby(["window", "model_version"])[metric].last().unstack("model_version")
