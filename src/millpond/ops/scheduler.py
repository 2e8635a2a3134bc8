"""Unattended cycles: which windows are due, catch-up, the lock, retries and recovery.

``run_next`` is what cron runs (through ``scripts/cron_cycle.sh`` and
``millpond cycle --next``): under the use case's lock it records run folders a
killed cycle left half-written, derives the windows from the data (or a monthly
calendar), skips completed ones, and runs the due windows oldest first, retrying
stages that failed with a :class:`~millpond.errors.TransientError`.
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from millpond.config.params import STAGES, WINDOW_PATTERN, UseCase, params_file, read_yaml, validate_use_case
from millpond.errors import MillpondError, ParamsError, SourceNotFoundError, StageFailedError, TransientError
from millpond.governance.events import notify_event
from millpond.marts.windows import check_use_case_window, file_windows
from millpond.runs.comparison import CycleComparison
from millpond.runs.recovery import INTERRUPTED as INTERRUPTED  # re-exported: where callers look for it
from millpond.runs.recovery import seal_interrupted
from millpond.runs.runner import (
    CycleResult,
    check_inputs,
    cycle_kernels,
    cycle_params_change,
    execute_stage,
)
from millpond.runs.store import RunRecord, RunStore, new_cycle_id
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace

log = logging.getLogger(__name__)


# --- windows ---------------------------------------------------------------------
def available_windows(ws: Workspace, use_case: UseCase, today: date | None = None) -> list[str]:
    """The windows the use case has data for (or its monthly calendar lists), oldest first."""
    schedule = use_case.schedule
    if schedule.calendar == "monthly":
        assert schedule.start is not None
        year, month = (int(p) for p in schedule.start.split("-"))
        today = today or datetime.now(UTC).date()
        labels = []
        while (year, month) < (today.year, today.month):  # a month is due once it has ended
            labels.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return labels
    spec = use_case.source
    if not spec.path:
        raise ParamsError(
            f"Use case {use_case.use_case!r} reads a database, so its windows cannot be found from files: set "
            "schedule.calendar: monthly and schedule.start: 'YYYY-MM' in the params, or run one window with --window."
        )
    if spec.window_column:
        return _windows_in_column(ws, use_case)
    if "{window}" not in spec.path:
        raise ParamsError(
            f"source.path {spec.path!r} of use case {use_case.use_case!r} has no '{{window}}' and no "
            "source.window_column is set, so the windows cannot be derived: add one of them, or set "
            "schedule.calendar: monthly."
        )
    return file_windows(ws, spec)


def _windows_in_column(ws: Workspace, use_case: UseCase) -> list[str]:
    import pandas as pd  # only this reads data; `millpond status` imports the scheduler without pandas

    spec = use_case.source
    assert spec.path is not None and spec.window_column is not None
    paths = sorted(glob.glob(str(ws.resolve(spec.path))))
    if not paths:
        raise SourceNotFoundError(f"No raw file matches source.path {spec.path!r}: nothing to derive windows from.")
    found: set[str] = set()
    for path in paths:
        fmt = spec.format or ("parquet" if path.endswith((".parquet", ".pq")) else "csv")
        column = (
            pd.read_parquet(path, columns=[spec.window_column])
            if fmt == "parquet"
            else pd.read_csv(path, usecols=[spec.window_column], dtype=str)
        )[spec.window_column]
        found.update(str(v) for v in column.dropna().unique())
    return sorted(w for w in found if WINDOW_PATTERN.match(w))


# --- what is done, what is due ----------------------------------------------------
def completed_windows(runs: RunStore, use_case: str) -> dict[str, str]:
    """Window -> id of its newest cycle whose every stage's last attempt succeeded or skipped."""
    by_cycle: dict[str, list[RunRecord]] = {}
    for record in runs.list(use_case=use_case):
        by_cycle.setdefault(record.cycle_id, []).append(record)
    done: dict[str, str] = {}
    for cycle_id in sorted(by_cycle):  # cycle ids sort by start time
        last = {r.stage: r for r in sorted(by_cycle[cycle_id], key=lambda r: r.run_id)}
        if set(last) >= set(STAGES) and all(last[s].status != "failed" for s in STAGES):
            done[by_cycle[cycle_id][0].window] = cycle_id
    return done


@dataclass
class Plan:
    """The windows of one scheduled run."""

    available: list[str]
    completed: dict[str, str]
    due: list[str] = field(default_factory=list)  # to run now, oldest first
    deferred: list[str] = field(default_factory=list)  # due but beyond max_windows: the next run takes them
    skipped: list[str] = field(default_factory=list)  # missed, not run because catch-up is off
    gaps: list[str] = field(default_factory=list)  # older than the newest completed window, never completed

    def messages(self) -> list[str]:
        lines = []
        if not self.available:
            lines.append("no window has data yet: no raw file matches source.path (or the calendar lists none)")
        if self.completed:
            done = [w for w in self.available if w in self.completed]
            if done:
                newest = done[-1]
                lines.append(
                    f"{len(done)} window(s) already completed, skipped ({done[0]} … {newest}; "
                    f"{newest} in cycle {self.completed[newest]})"
                )
        if self.gaps:
            lines.append(
                f"not completed but older than the newest completed window, left alone: {', '.join(self.gaps)} "
                "(run one by hand with `millpond cycle --window W`)"
            )
        if self.skipped:
            lines.append(f"catch-up is off: skipping missed window(s) {', '.join(self.skipped)}")
        if self.deferred:
            lines.append(f"more windows are due than max_windows allows; the next run takes {', '.join(self.deferred)}")
        return lines


def plan_windows(available: list[str], completed: dict[str, str], *, catch_up: bool, max_windows: int) -> Plan:
    """Due windows: those after the newest completed one, oldest first (or only the newest without catch-up)."""
    plan = Plan(available=list(available), completed=dict(completed))
    done = [w for w in available if w in completed]
    newest_done = done[-1] if done else None
    pending = [w for w in available if w not in completed and (newest_done is None or w > newest_done)]
    plan.gaps = [w for w in available if w not in completed and newest_done is not None and w < newest_done]
    if not catch_up and pending:
        plan.skipped, pending = pending[:-1], pending[-1:]
    plan.due, plan.deferred = pending[:max_windows], pending[max_windows:]
    return plan


# --- recovering what a killed cycle left -----------------------------------------
def recover_interrupted(ws: Workspace, use_case: str) -> list[RunRecord]:
    """Record the unfinished run folders of ``use_case`` whose process died as failed ("interrupted"); return them.

    Call it only while holding the use case's lock. Whose a folder is comes from its claim (or its notebook's
    parameters), never from splitting its run id, and a live run (its process running, or its use case's lock
    held by another process) is left alone: :func:`millpond.runs.recovery.seal_interrupted`.
    """
    return seal_interrupted(ws, use_case, holding_lock=True, by="scheduler")


# --- running -----------------------------------------------------------------------
def is_transient(error: str | None) -> bool:
    """Whether a recorded stage error (``"ExceptionName: message"``) is worth retrying."""
    if not error:
        return False
    name = error.split(":", 1)[0].strip().rsplit(".", 1)[-1]
    families = (TransientError, ConnectionError, TimeoutError)
    names: set[str] = set()
    stack: list[type] = list(families)
    while stack:
        cls = stack.pop()
        names.add(cls.__name__)
        stack.extend(cls.__subclasses__())
    return name in names


Executor = Callable[..., RunRecord]


def run_window(
    ws: Workspace,
    params_path: str | Path,
    window: str,
    use_case: UseCase,
    *,
    execute: Executor = execute_stage,
    sleep: Callable[[float], None] = time.sleep,
    progress: bool = False,
) -> CycleResult:
    """Run the stages of one window in order; retry transient failures with back-off; stop at the first failure."""
    name = use_case.use_case
    run = _WindowRun(
        ws, params_path, use_case, CycleResult(cycle_id=new_cycle_id(name, window), window=window), execute, sleep
    )
    run.extra = {"params_change": cycle_params_change(ws, params_path, name)}
    run.progress = progress
    # each stage's kernel started ahead while the stage before computes; the comparison drawn beside the stages
    with cycle_kernels(ws) as pool, closing(run.comparison):
        for index, stage in enumerate(STAGES):
            if pool is not None:
                pool.next_stage = STAGES[index + 1] if index + 1 < len(STAGES) else None
            if not run.stage(stage):
                break
        run.comparison.finish()
    result = run.result
    result.records = run.runs.cycle(result.cycle_id)
    if result.error and not result.bad_input:  # bad params are the caller's to fix, not a cycle failure to page about
        failed_stage = next((r.stage for r in reversed(result.records) if r.status == "failed"), None)
        notify_event(
            ws,
            "cycle_failed",
            use_case=name,
            window=window,
            cycle_id=result.cycle_id,
            stage=failed_stage,
            error=result.error.splitlines()[0],
        )
    return result


@dataclass
class _WindowRun:
    """One window's cycle in progress: which stage runs next (``order`` counts retries too) and how it went."""

    ws: Workspace
    params_path: str | Path
    use_case: UseCase
    result: CycleResult
    execute: Executor
    sleep: Callable[[float], None]
    extra: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    order: int = 0
    comparison: CycleComparison = field(init=False)

    def __post_init__(self) -> None:
        self.comparison = CycleComparison(self.ws)  # the drift run's sweetviz comparison step

    @property
    def runs(self) -> RunStore:
        return RunStore(self.ws.runs)

    def stage(self, stage: str) -> bool:
        """Run ``stage`` (retrying transient failures); False when the cycle stops here."""
        attempt = 0
        while True:
            self.order += 1
            try:
                record = self.execute(
                    self.ws,
                    self.params_path,
                    stage,
                    self.result.window,
                    cycle_id=self.result.cycle_id,
                    order=self.order,
                    extra=self.extra,
                    progress=self.progress,
                )
                self.comparison.after(record)
                return True
            except StageFailedError as exc:
                failed = self.runs.cycle(self.result.cycle_id)
                error = failed[-1].error if failed else str(exc)
                if not (is_transient(error) and attempt < self.use_case.schedule.retries):
                    self.result.error = str(exc)
                    return False
                attempt += 1
                self._wait_to_retry(stage, attempt, error)
            except MillpondError as exc:
                self.result.error = str(exc)
                self.result.bad_input = isinstance(exc, ParamsError)
                return False

    def _wait_to_retry(self, stage: str, attempt: int, error: str | None) -> None:
        retries = self.use_case.schedule.retries
        delay = self.use_case.schedule.backoff_seconds * (2 ** (attempt - 1))
        notify_event(
            self.ws,
            "stage_retry",
            use_case=self.use_case.use_case,
            window=self.result.window,
            stage=stage,
            attempt=attempt,
            of=retries,
            delay_seconds=delay,
            error=error,
        )
        print(f"  {stage:<8} transient failure ({error}); retry {attempt}/{retries} in {delay:g} s", flush=True)
        self.sleep(delay)


@dataclass
class NextResult:
    """What one scheduled run did."""

    plan: Plan | None = None
    results: list[CycleResult] = field(default_factory=list)
    recovered: list[RunRecord] = field(default_factory=list)
    lock_taken_over: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def load_params(ws: Workspace, params_path: str | Path) -> UseCase:
    """The validated use case of ``params_path``; a path that does not exist is refused suggesting the closest."""
    return validate_use_case(read_yaml(params_file(ws, params_path)), source=str(params_path))


@dataclass(frozen=True)
class Hooks:
    """How a scheduled run executes stages, waits between retries and reports (tests swap them)."""

    execute: Executor = execute_stage
    sleep: Callable[[float], None] = time.sleep
    echo: Callable[[str], None] = print


def run_next(
    ws: Workspace,
    params_path: str | Path,
    *,
    catch_up: bool | None = None,
    max_windows: int | None = None,
    window: str | None = None,
    on_result: Callable[[CycleResult], None] | None = None,
    progress: bool = False,
    hooks: Hooks = Hooks(),
) -> NextResult:
    """Under the use case's lock: recover interrupted runs, then run ``window`` or the due windows oldest first.

    Raises :class:`~millpond.errors.CycleLockedError` at once when another cycle holds the lock.
    """
    use_case = load_params(ws, params_path)
    name = use_case.use_case
    if window is not None:  # a malformed window is refused before the lock is taken or anything recorded
        check_use_case_window(ws, use_case, window)
    if max_windows is not None and max_windows < 1:
        raise ParamsError(f"--max-windows must be at least 1. Got {max_windows} instead.")
    outcome = NextResult()
    echo = hooks.echo
    with CycleLock(ws, name) as lock:
        if lock.stale_holder:
            outcome.lock_taken_over = lock.stale_holder
            _report_takeover(ws, name, lock.stale_holder, echo)
        outcome.recovered = recover_interrupted(ws, name)
        for record in outcome.recovered:
            echo(f"recorded interrupted run {record.run_id} as failed")
        if window is not None:
            windows = [window]
            _warn_if_completed(RunStore(ws.runs), name, window, echo)
        else:
            outcome.plan = _plan(ws, use_case, catch_up, max_windows, echo)
            windows = outcome.plan.due
        _run_windows(ws, params_path, use_case, windows, outcome, on_result, progress, hooks)
    return outcome


def _report_takeover(ws: Workspace, name: str, holder: dict[str, Any], echo: Callable[[str], None]) -> None:
    echo(
        f"taking over the lock left by PID {holder.get('pid')} on host "
        f"{holder.get('host')} since {holder.get('started_at')} (that process is gone)"
    )
    notify_event(ws, "lock_taken_over", use_case=name, previous=holder)


def _warn_if_completed(runs: RunStore, name: str, window: str, echo: Callable[[str], None]) -> None:
    done = completed_windows(runs, name)
    if window in done:
        echo(f"window {window} already completed in cycle {done[window]}; running it again as --window asks")


def _plan(
    ws: Workspace, use_case: UseCase, catch_up: bool | None, max_windows: int | None, echo: Callable[[str], None]
) -> Plan:
    """The due windows from the data and the completed cycles (catch-up and max_windows from the params unless given)."""
    plan = plan_windows(
        available_windows(ws, use_case),
        completed_windows(RunStore(ws.runs), use_case.use_case),
        catch_up=use_case.schedule.catch_up if catch_up is None else catch_up,
        max_windows=max_windows or use_case.schedule.max_windows,
    )
    for line in plan.messages():
        echo(line)
    return plan


def _run_windows(
    ws: Workspace,
    params_path: str | Path,
    use_case: UseCase,
    windows: list[str],
    outcome: NextResult,
    on_result: Callable[[CycleResult], None] | None,
    progress: bool,
    hooks: Hooks,
) -> None:
    """Run the windows oldest first into ``outcome``; a failed window stops the ones after it."""
    for label in windows:
        hooks.echo(f"window {label}: running cycle")
        result = run_window(
            ws, params_path, label, use_case, execute=hooks.execute, sleep=hooks.sleep, progress=progress
        )
        outcome.results.append(result)
        if on_result is not None:
            on_result(result)
        if not result.ok:
            if outcome.plan and label != windows[-1]:
                later = ", ".join(windows[windows.index(label) + 1 :])
                hooks.echo(f"stopping: later windows ({later}) wait until {label} completes")
            break


def run_stage_locked(
    ws: Workspace,
    params_path: str | Path,
    stage: str,
    window: str,
    *,
    execute: Executor = execute_stage,
    echo: Callable[[str], None] = print,
    progress: bool = False,
) -> RunRecord:
    """``millpond run STAGE``: one stage of one window under the use case's lock (the one cycles take).

    Raises :class:`~millpond.errors.CycleLockedError` at once, before anything is recorded or stored, when a
    cycle or another stage run of the use case holds the lock. An unknown stage, a params path that does not exist
    and a malformed window are refused before that too (:func:`~millpond.runs.runner.check_inputs`). Parameters that
    exist but do not validate are left to ``execute``, which records the failed run and raises
    :class:`~millpond.errors.ParamsError`: without a valid use case there is no lock to name.
    """
    use_case = check_inputs(ws, params_path, window, stage=stage)
    if use_case is None:
        return execute(ws, params_path, stage, window, progress=progress)
    name = use_case.use_case
    command = f"millpond run {stage} --params {params_path} --window {window}"
    with CycleLock(ws, name, command=command) as lock:
        if lock.stale_holder:
            echo(
                f"taking over the lock left by PID {lock.stale_holder.get('pid')} on host "
                f"{lock.stale_holder.get('host')} since {lock.stale_holder.get('started_at')} (that process is gone)"
            )
            notify_event(ws, "lock_taken_over", use_case=name, previous=lock.stale_holder)
        for record in recover_interrupted(ws, name):
            echo(f"recorded interrupted run {record.run_id} as failed")
        ran = execute(ws, params_path, stage, window, progress=progress)
        comparison = CycleComparison(ws)  # a drift run's sweetviz comparison, drawn once its verdict is sealed
        comparison.after(ran)
        comparison.finish()
        return ran
