"""What the control room shows, read from the stores through their public APIs into typed page data.

Nothing here writes: :func:`use_case_data`, :func:`model_data` and :func:`run_rows` read the monitoring log,
the audit log, the model store, the runs index and the drift tables the drift runs kept in their records.
Parameters and summaries pass through :func:`millpond.config.secrets.redact` before a page shows them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact
from millpond.errors import MillpondError
from millpond.governance.audit import AuditLog
from millpond.models.entities import AliasChange
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore, ModelVersion
from millpond.ops.status import workspace_status
from millpond.runs.report import REPORT, run_row
from millpond.runs.store import RunRecord, RunStore
from millpond.workspace import Workspace

DRIFT_TABLE = "drift_table.csv"
MARKED_ACTIONS = {"promotion": "promoted", "rollback": "rollback", "approval": "approved", "rejection": "rejected"}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys (lists stay values)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Sources:
    """Which records a build read, for every page's footer."""

    built_at: str
    runs: int
    model_versions: int
    audit_entries: int
    monitoring_entries: int
    use_cases: tuple[str, ...]

    def line(self) -> str:
        return (
            f"Built {self.built_at} from {self.runs} run records (runs/index.sqlite), {self.model_versions} model "
            f"versions (model_store/), {self.audit_entries} audit and {self.monitoring_entries} monitoring log entries."
        )


def sources(ws: Workspace, use_cases: list[str]) -> Sources:
    store = ModelStore(ws.model_store)
    names = store.names()
    return Sources(
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        runs=len(RunStore(ws.runs).list()),
        model_versions=sum(len(store.versions(n)) for n in names),
        audit_entries=sum(len(AuditLog(ws.model_store, n).entries()) for n in names),
        monitoring_entries=sum(len(MonitoringLog(ws.model_store, n).entries()) for n in names),
        use_cases=tuple(use_cases),
    )


# --- use cases -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KpiPoint:
    """The champion's KPI at one window: realised (with its bootstrap interval), estimated without labels."""

    window: str
    realised: float | None = None
    low: float | None = None
    high: float | None = None
    estimate: float | None = None
    estimate_low: float | None = None
    estimate_high: float | None = None
    benchmark: float | None = None
    champion: str | None = None
    data_drift: bool | None = None
    model_drift: bool | None = None


@dataclass(frozen=True)
class Decision:
    """One audit log entry: what was done, to which version, by whom and why."""

    time: str
    action: str
    actor: str
    reason: str
    version: str | None
    window: str | None
    seq: int | None = None


@dataclass(frozen=True)
class DriftCell:
    """One feature at one window: impact (drift score × importance), whether it drifted, its test values."""

    feature: str
    window: str
    impact: float | None
    drifted: bool
    psi: float | None = None
    drift_score: float | None = None
    importance: float | None = None


@dataclass
class UseCaseData:
    """Everything the home card and the use-case page show of one use case."""

    name: str
    params: str
    metric: str
    status: dict[str, Any]
    kpis: list[KpiPoint] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    drift: list[DriftCell] = field(default_factory=list)
    has_model: bool = False
    impact_threshold: float = 0.2  # drift.impact_threshold: the heatmap's full colour
    failing_reports: dict[str, Path] = field(default_factory=dict)  # failing stage of the last cycle -> its report

    @property
    def sparkline_values(self) -> list[float | None]:
        return [p.realised for p in self.kpis]

    @property
    def marks(self) -> list[tuple[str, str]]:
        """(window, label) of promotions, rollbacks, approvals and rejections, and of champion changes no decision
        explains (a version that became champion between windows without a logged promotion)."""
        out = [
            (d.window, f"{MARKED_ACTIONS[d.action]} {(d.version or '')[:8]}".strip())
            for d in self.decisions
            if d.action in MARKED_ACTIONS and d.window
        ]
        explained = {d.version for d in self.decisions if d.action in ("promotion", "rollback")}
        previous = None
        for point in self.kpis:
            if previous and point.champion and point.champion != previous and point.champion not in explained:
                out.append((point.window, f"champion {point.champion[:8]}"))
            previous = point.champion or previous
        return out


def kpi_points(log: MonitoringLog, metric: str) -> list[KpiPoint]:
    """Per window: the latest drift entry's KPI, interval, estimate and verdicts; a later labelled KPI fills a gap."""
    drift = {e.window: e.fields for e in log.entries("drift")}
    kpi = {e.window: e for e in log.entries("kpi")}
    points = []
    for window in sorted(set(drift) | set(kpi)):
        d, k = drift.get(window, {}), kpi.get(window)
        interval, estimate = d.get("kpi_interval") or {}, d.get("kpi_estimate_interval") or {}
        realised = _float(d.get("kpi"))
        if realised is None:
            realised = _float(k.metrics.get(metric)) if k else None
        points.append(
            KpiPoint(
                window=window,
                realised=realised,
                low=_float(interval.get("low")),
                high=_float(interval.get("high")),
                estimate=_float(d.get("kpi_estimate")),
                estimate_low=_float(estimate.get("low")),
                estimate_high=_float(estimate.get("high")),
                benchmark=_float(d.get("kpi_benchmark")),
                champion=d.get("champion") or (k.model_version if k else None),
                data_drift=d.get("data_drift"),
                model_drift=d.get("model_drift"),
            )
        )
    return points


def decisions(ws: Workspace, name: str) -> list[Decision]:
    """Every audit entry of ``name`` (oldest first), as decisions."""
    return [
        Decision(
            time=e.time,
            action=e.action,
            actor=e.actor,
            reason=e.reason,
            version=e.version,
            window=e.window,
            seq=e.seq,
        )
        for e in AuditLog(ws.model_store, name).entries()
    ]


def drift_table_of(record: RunRecord) -> Path | None:
    """The drift table a drift run kept in its record (outputs/drift_table.csv), if it is there."""
    path = Path(record.path) / "outputs" / DRIFT_TABLE
    return path if path.is_file() else None


def drift_cells(runs: RunStore, name: str) -> list[DriftCell]:
    """Feature × window cells from the newest succeeded drift run of each window."""
    newest: dict[str, Path] = {}
    for record in runs.list(use_case=name, stage="drift", status="succeeded"):
        table = drift_table_of(record)
        if table is not None and record.window not in newest:
            newest[record.window] = table
    cells = []
    for window, table in sorted(newest.items()):
        with table.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                cells.append(
                    DriftCell(
                        feature=row["feature"],
                        window=window,
                        impact=_float(row.get("impact")),
                        drifted=str(row.get("drifted")).lower() == "true",
                        psi=_float(row.get("psi")),
                        drift_score=_float(row.get("drift_score")),
                        importance=_float(row.get("importance")),
                    )
                )
    return cells


def failing_reports(runs: RunStore, status: dict[str, Any]) -> dict[str, Path]:
    """The report of each failing stage of the last cycle (``millpond status``'s ``failing_stages``)."""
    failing = set(status.get("failing_stages") or [])
    if not failing or not status.get("last_cycle"):
        return {}
    found = {}
    for record in runs.cycle(str(status["last_cycle"])):
        report = Path(record.path) / REPORT
        if record.stage in failing and record.status == "failed" and report.is_file():
            found[record.stage] = report
    return found


def _policy_of(ws: Workspace, params: str) -> tuple[str, float]:
    """The promotion metric and the drift impact threshold of a params file (defaults when it does not load)."""
    from millpond.ops.scheduler import load_params

    try:
        use_case = load_params(ws, params)
    except MillpondError:
        return "roc_auc", 0.2
    return use_case.promotion.metric, float(use_case.drift.impact_threshold)


def use_case_data(ws: Workspace) -> list[UseCaseData]:
    """One entry per params file: its status (``millpond status``), KPIs, drift cells and decisions."""
    store, runs = ModelStore(ws.model_store), RunStore(ws.runs)
    names = set(store.names())
    out = []
    for status in workspace_status(ws):
        name = str(status["use_case"])
        metric, threshold = _policy_of(ws, str(status["params"]))
        data = UseCaseData(name=name, params=str(status["params"]), metric=metric, status=status)
        data.impact_threshold = threshold
        if status.get("error") is None:
            data.kpis = kpi_points(MonitoringLog(ws.model_store, name), data.metric)
            data.decisions = decisions(ws, name) if name in names else []
            data.drift = drift_cells(runs, name)
            data.has_model = name in names
            data.failing_reports = failing_reports(runs, status)
        out.append(data)
    return out


# --- the registry --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionRow:
    """One model version as the registry lists it."""

    version: str
    created_at: str
    family: str | None
    task: str | None
    trained_for_window: str | None
    train_windows: list[str]
    train_rows: int | None
    holdout_rows: int | None
    size_bytes: int | None
    predict_ms_per_1000_rows: float | None
    fit_seconds: float | None
    metrics: dict[str, float]
    importance: dict[str, float]
    aliases: list[str]
    run_id: str | None
    params: dict[str, Any]
    training_marts: list[dict[str, Any]]
    retrain_reasons: list[str]
    code: dict[str, Any]
    categories: dict[str, list[str]] = field(default_factory=dict)  # categorical inputs -> categories seen
    slice_metrics: dict[str, Any] = field(default_factory=dict)  # the KPI per slice on the holdout (slices set)


@dataclass
class ModelData:
    """A model's versions, aliases now and over time, and its decisions."""

    name: str
    versions: list[VersionRow]
    aliases: dict[str, str]
    moves: list[AliasChange]  # the alias history, oldest first
    decisions: list[Decision]


def version_row(version: ModelVersion, aliases: dict[str, str]) -> VersionRow:
    meta = version.metadata
    profile = meta.profile or {}
    return VersionRow(
        version=version.version,
        created_at=version.created_at,
        family=meta.family,
        task=meta.task,
        trained_for_window=meta.trained_for_window,
        train_windows=[str(m.get("window")) for m in meta.training_marts],
        train_rows=meta.train_rows,
        holdout_rows=meta.holdout_rows,
        size_bytes=meta.size_bytes,
        predict_ms_per_1000_rows=_float(profile.get("predict_ms_per_1000_rows")),
        fit_seconds=meta.fit_seconds,
        metrics={k: float(v) for k, v in (meta.metrics or {}).items() if isinstance(v, int | float)},
        importance=dict(meta.importance or {}),
        aliases=sorted(a for a, v in aliases.items() if v == version.version),
        run_id=meta.run_id,
        params=flatten(redact({"params": meta.params, "model_params": meta.model_params})),
        training_marts=list(meta.training_marts),
        retrain_reasons=list(meta.retrain_reasons),
        code=dict(meta.code or {}),
        categories={
            column: list(spec["categories"])
            for column, spec in (meta.input_contract or {}).items()
            if isinstance(spec, dict) and spec.get("categories")
        },
        slice_metrics=dict(meta.extra.get("slice_metrics") or {}),  # kept in the metadata's extra keys
    )


def model_data(ws: Workspace, name: str) -> ModelData:
    store = ModelStore(ws.model_store)
    aliases = store.aliases(name)
    moves = store.history(name)
    return ModelData(
        name=name,
        versions=[version_row(v, aliases) for v in store.versions(name)],
        aliases=aliases,
        moves=moves,
        decisions=decisions(ws, name),
    )


# --- runs ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRow:
    """One run as the runs page lists it: the index row, where its report is, and what to compare."""

    row: dict[str, Any]
    report: Path | None
    summary: dict[str, Any]
    params: dict[str, Any]


def run_rows(ws: Workspace) -> list[RunRow]:
    out = []
    for record in RunStore(ws.runs).list():
        report = Path(record.path) / REPORT
        try:
            params = flatten(redact(record.params))
        except (MillpondError, OSError, ValueError):
            params = {}
        summary = (record.scraps or {}).get("summary") or {}
        out.append(
            RunRow(
                row=run_row(record),
                report=report if report.is_file() else None,
                summary=flatten(redact(summary)) if isinstance(summary, dict) else {"summary": redact(summary)},
                params=params,
            )
        )
    return out


def to_json(value: Any) -> str:
    """JSON safe to put inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, default=str, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
