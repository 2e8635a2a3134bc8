"""``millpond status``: per use case, what serves, how the last cycle went, what is due and what waits for a person."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from millpond.config.params import STAGES
from millpond.errors import MillpondError
from millpond.models.monitoring import MonitoringEntry, MonitoringLog
from millpond.models.store import ModelStore
from millpond.ops.scheduler import available_windows, completed_windows, load_params, plan_windows
from millpond.runs.store import RunRecord, RunStore, is_adhoc
from millpond.store.lock import read_holder
from millpond.workspace import Workspace

STATUS_COLUMNS = (
    "use_case",
    "champion",
    "champion_age",
    "last_cycle",
    "last_result",
    "next_due",
    "open_approvals",
    "failing_stages",
    "running",
)


def _age(created: str | None, now: datetime) -> str:
    if not created:
        return "-"
    moment = datetime.fromisoformat(created)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    seconds = max(0.0, (now - moment).total_seconds())
    return f"{seconds / 86400:.1f} d" if seconds >= 86400 else f"{seconds / 3600:.1f} h"


def open_approvals(ws: Workspace, name: str) -> list[MonitoringEntry]:
    """Decisions still 'awaiting_approval': no later decision about the same candidate."""
    latest: dict[str, MonitoringEntry] = {}
    for entry in MonitoringLog(ws.model_store, name).entries("decision"):
        if entry.candidate:
            latest[entry.candidate] = entry
    return [e for e in latest.values() if e.outcome == "awaiting_approval"]


def _last_cycle_run(runs: RunStore, name: str) -> RunRecord | None:
    """The newest run of a cycle of ``name`` (an ad-hoc score is no cycle); the newest 50 rows nearly always hold it."""
    for limit in (50, None):
        found = next((r for r in runs.list(use_case=name, limit=limit) if not is_adhoc(r)), None)
        if found is not None:
            return found
    return None


def use_case_status(ws: Workspace, params_path: str, now: datetime | None = None) -> dict[str, Any]:
    """The status of one use case (``error`` set when its params or stores cannot be read)."""
    now = now or datetime.now(UTC)
    row: dict[str, Any] = {"params": params_path, "use_case": params_path, "error": None}
    try:
        use_case = load_params(ws, params_path)
        name = use_case.use_case
        row["use_case"] = name
        store, runs = ModelStore(ws.model_store), RunStore(ws.runs)
        champion = None
        if (ws.model_store / name / "aliases.json").exists():
            version = store.aliases(name).get("champion")
            champion = store.get(name, version) if version else None
        row["champion"] = champion.version if champion else None
        row["champion_created_at"] = champion.created_at if champion else None
        row["champion_age"] = _age(champion.created_at if champion else None, now)
        last = _last_cycle_run(runs, name)
        if last:
            records = sorted(runs.cycle(last.cycle_id), key=lambda r: r.run_id)
            final = {r.stage: r for r in records}
            failing = [s for s in STAGES if s in final and final[s].status == "failed"]
            complete = set(final) >= set(STAGES)
            row["last_cycle"] = last.cycle_id
            row["last_window"] = last.window
            row["last_time"] = records[-1].finished_at
            row["last_result"] = (
                f"failed at {failing[0]}"
                if failing
                else "ok"
                if complete
                else f"incomplete (after {records[-1].stage})"
            )
            row["failing_stages"] = failing
            row["last_error"] = next((final[s].error for s in failing), None)
        else:
            row.update(
                last_cycle=None,
                last_window=None,
                last_time=None,
                last_result="never run",
                failing_stages=[],
                last_error=None,
            )
        plan = plan_windows(
            available_windows(ws, use_case),
            completed_windows(runs, name),
            catch_up=use_case.schedule.catch_up,
            max_windows=use_case.schedule.max_windows,
        )
        row["due_windows"] = plan.due + plan.deferred
        row["next_due"] = row["due_windows"][0] if row["due_windows"] else None
        row["approvals"] = [
            {"candidate": e.candidate, "window": e.window, "since": e.time} for e in open_approvals(ws, name)
        ]
        row["open_approvals"] = len(row["approvals"])
        row["running"] = read_holder(ws, name)
    except MillpondError as exc:
        row["error"] = str(exc).splitlines()[0]
    return row


def workspace_status(ws: Workspace) -> list[dict[str, Any]]:
    """Status of every use case in ``params/*.yaml``."""
    files = sorted(p for p in ws.params.glob("*.y*ml") if p.is_file())
    return [use_case_status(ws, ws.relative(p)) for p in files]


def status_row(row: dict[str, Any]) -> dict[str, str]:
    """One table line."""
    if row.get("error"):
        return {
            "use_case": row["use_case"],
            "champion": "-",
            "champion_age": "-",
            "last_cycle": "-",
            "last_result": f"error: {row['error'][:60]}",
            "next_due": "-",
            "open_approvals": "-",
            "failing_stages": "-",
            "running": "-",
        }
    running = row.get("running")
    return {
        "use_case": row["use_case"],
        "champion": row.get("champion") or "-",
        "champion_age": row.get("champion_age") or "-",
        "last_cycle": f"{row['last_window']} {str(row['last_time'])[:16]}" if row.get("last_cycle") else "-",
        "last_result": row.get("last_result") or "-",
        "next_due": row.get("next_due") or "-",
        "open_approvals": str(row.get("open_approvals", 0)),
        "failing_stages": ",".join(row.get("failing_stages") or []) or "-",
        "running": f"PID {running.get('pid')} since {running.get('started_at', '?')}" if running else "-",
    }
