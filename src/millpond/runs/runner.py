"""Execute stage notebooks with papermill and keep each execution as a run record.

``execute_stage`` validates the parameter set, runs ``notebooks/<stage>.ipynb``
into the run folder, scrubs secrets papermill wrote into it, reads back what the
notebook glued (scrapbook), and records the run once. A failed notebook is
recorded too, with papermill's banner pointing at the failing cell.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.config.params import (
    STAGES,
    UseCase,
    check_window,
    is_use_case_name,
    params_file,
    read_yaml,
    validate_use_case,
)
from millpond.config.secrets import redact, redact_text, scrub_files, secrets_of
from millpond.errors import MillpondError, ParamsError, StageFailedError, did_you_mean
from millpond.marts.windows import check_use_case_window
from millpond.runs.comparison import CycleComparison
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunRecord, RunStore, new_cycle_id
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.runs.kernels import KernelPool

log = logging.getLogger(__name__)
KERNEL_NAME = "millpond"
CYCLE_COLUMNS = (
    "window",
    "champion",
    "kpi",
    "kpi_estimate",
    "data_drift",
    "model_drift",
    "retrained",
    "promoted",
    "status",
)


def kernel_name() -> str:
    """The project's kernel when installed (``make`` registers it in the venv), else the default Python kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def kernel_manager_logging_to(path: Path) -> type:
    """A kernel manager class whose kernel process writes its own log lines (not cell output) to ``path``.

    Cell output is captured in the notebook either way; this keeps IPKernelApp's
    start-up and shutdown messages out of the terminal and cron logs, and in the run record.
    """
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with open(path, "ab") as handle:  # the child keeps its own descriptor
                kw["stdout"] = kw["stderr"] = handle
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggedKernelManager


_URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@\s]+)@")


def _secret_strings(params: dict[str, Any]) -> set[str]:
    """Leaf strings that :func:`redact` hides (and the password inside a URL)."""
    found: set[str] = set()

    def walk(raw: Any, clean: Any) -> None:
        if isinstance(raw, dict):
            for key, value in raw.items():
                walk(value, clean.get(key) if isinstance(clean, dict) else None)
        elif isinstance(raw, list):
            for index, value in enumerate(raw):
                walk(value, clean[index] if isinstance(clean, list) and index < len(clean) else None)
        elif isinstance(raw, str) and raw != clean:
            match = _URL_PASSWORD.search(raw)
            found.add(match.group(1) if match else raw)

    walk(params, redact(params))
    return {s for s in found if len(s) >= 3}


def scrub_notebook(path: Path, params: dict[str, Any]) -> None:
    """Replace secret values papermill injected (source and metadata) and any credential printed, with '***'."""
    scrub_files([path], secrets_of(params) | _secret_strings(params))


def _cell_timings(notebook: Path) -> dict[str, float]:
    """Where a stage's time went: all cells, the stage cell (millpond imports + the work) and the glue cell
    (scrapbook's import + glue); the runner adds kernel start and papermill's overhead as the rest."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)

    def seconds(cell: Any) -> float:
        return float(cell.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)

    stage = [seconds(c) for c in nb.cells if c.cell_type == "code" and "stages.run(" in c.source]
    glue = [seconds(c) for c in nb.cells if "glue" in c.get("metadata", {}).get("tags", [])]
    return {
        "notebook_seconds": float(nb.metadata.get("papermill", {}).get("duration") or 0.0),
        "cells_seconds": sum(seconds(c) for c in nb.cells),
        "stage_cell_seconds": sum(stage),
        "glue_cell_seconds": sum(glue),
    }


def _read_scraps(notebook: Path) -> dict[str, Any]:
    import scrapbook as sb

    try:
        return {name: scrap.data for name, scrap in sb.read_notebook(str(notebook)).scraps.items()}
    except Exception as exc:  # noqa: BLE001 - a notebook that died early has no scraps
        log.debug("no scraps in %s: %s", notebook, exc)
        return {}


@dataclass
class CycleResult:
    """The runs of one cycle, in stage order."""

    cycle_id: str
    window: str
    records: list[RunRecord] = field(default_factory=list)
    error: str | None = None
    bad_input: bool = False  # the failure was a parameter problem, not a stage

    @property
    def ok(self) -> bool:
        return self.error is None


def _settled() -> None:
    """Nothing to finish: papermill's own kernel is shut down before execute_notebook returns."""


@dataclass(frozen=True)
class _StageRun:
    """One stage execution: its prepared run folder, the parameters it runs with, and how it is recorded."""

    ws: Workspace
    runs: RunStore
    use_case: str
    stage: str
    window: str
    run_dir: Path
    params: dict[str, Any]
    started: datetime

    @property
    def run_id(self) -> str:
        return f"{self.run_dir.parent.name}/{self.run_dir.name}"

    @property
    def notebook(self) -> Path:
        return self.run_dir / "notebook.ipynb"

    def finish(
        self,
        status: str,
        *,
        error: str | None = None,
        skip_reason: str | None = None,
        scraps: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        settle: Callable[[], None] = _settled,
    ) -> RunRecord:
        """Write the run folder's report.html, then record the run once (inputs and outputs: what the stage glued
        as read and written, moved out of the scraps into the manifest's own keys). ``settle``: finish what must
        end before the record is sealed (the stage kernel's shutdown, which runs while the report renders)."""
        if self.notebook.exists() or status != "skipped":
            write_report(self.run_dir, self.use_case, self.stage, self.window, status, error or skip_reason)
        else:  # a skip decided before any kernel started (see skip_up_front): no notebook to render
            write_skip_report(self.run_dir, self.use_case, self.stage, self.window, skip_reason or "")
        settle()
        scraps = dict(scraps or {})
        summary = scraps.get("summary") or {}
        inputs = scraps.pop("inputs", None) or summary.get("inputs") or {}
        outputs = scraps.pop("outputs", None) or summary.get("outputs") or {}
        extra = with_audit_heads(self.ws, outputs, extra)
        manifest = RunManifest(
            use_case=self.use_case,
            window=self.window,
            stage=self.stage,
            status=status,
            timings=RunTimings.between(self.started, datetime.now(UTC)),
            params=self.params,
            error=error,
            skip_reason=skip_reason,
            inputs=inputs,
            outputs=outputs,
            scraps=scraps,
            extra=extra,
        )
        return self.runs.record(self.run_dir, manifest, repo_dir=self.ws.root)


def with_audit_heads(ws: Workspace, outputs: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """``extra`` plus ``audit_heads``: the head each audit log the run appended to has now (its anchor outside the log)."""
    from millpond.runs.anchors import audit_heads

    heads = audit_heads(ws, outputs)
    return {**(extra or {}), **({"audit_heads": heads} if heads else {})}


def _use_case_name(raw: dict[str, Any], params_path: str | Path) -> str:
    """The use case a run is filed under: the params' ``use_case`` when it is a valid name (short, no newline or
    path separator: it names folders), else the params file's stem."""
    name = raw.get("use_case")
    return str(name) if is_use_case_name(name) else Path(params_path).stem


def _load_params(ws: Workspace, params_path: str | Path) -> tuple[dict[str, Any], str, ParamsError | None]:
    """The raw parameters (empty when unreadable), the use case name, and the problem when they do not validate.

    A params path that does not exist is refused (raised), not returned: it names no use case to file a run under.
    """
    path = params_file(ws, params_path)
    raw: dict[str, Any] = {}
    try:
        raw = read_yaml(path)
        return raw, validate_use_case(raw, source=str(params_path)).use_case, None
    except ParamsError as exc:
        return raw, _use_case_name(raw, params_path), exc


def check_stage(stage: str) -> str:
    """Refuse a stage name that is not one of :data:`~millpond.config.params.STAGES`, suggesting the closest."""
    if stage not in STAGES:
        raise ParamsError(f"Unknown stage {stage!r}.{did_you_mean(stage, STAGES)} Stages: {', '.join(STAGES)}.")
    return stage


def check_inputs(
    ws: Workspace, params_path: str | Path, window: str | None = None, *, stage: str | None = None
) -> UseCase | None:
    """Refuse input that cannot belong to a use case, before anything is recorded, locked or notified.

    Raises :class:`~millpond.errors.ParamsError` (exit 2) for an unknown ``stage``, a params path that does not
    exist (suggesting the closest file in params/) and a malformed ``window`` (one that does not look like the use
    case's windows, suggesting the closest window with data). Returns the validated use case, or None when the
    params file exists but does not validate: that failure belongs to the file's use case, and the stage records
    it as a failed run under that name (marked ``bad_params``).
    """
    if stage is not None:
        check_stage(stage)
    path = params_file(ws, params_path)
    if window is not None:
        check_window(window)
    try:
        use_case = validate_use_case(read_yaml(path), source=str(params_path))
    except ParamsError:
        return None
    if window is not None:
        check_use_case_window(ws, use_case, window)
    return use_case


def _run_notebook(run: _StageRun, progress: bool) -> tuple[str, str | None, float, Callable[[], None]]:
    """Execute ``notebooks/<stage>.ipynb`` into the run folder: status, error ("Name: message"), wall seconds, and
    what finishes the shutdown of a pooled kernel (asked to shut down here; call it before the run is recorded)."""
    ws = run.ws
    from millpond.config.injection import register_translator

    register_translator()  # papermill writes each parameter as an exact literal, never str(value)
    # Re-serialised from the validated schema (plain data, every field), never the raw YAML.
    parameters = {
        **validate_use_case(run.params, source=run.use_case).notebook_parameters(),
        "window": run.window,
        "run_id": run.run_id,
        "run_dir": str(run.run_dir),
        "workspace": str(ws.root),
    }
    # Kernels inherit this: OpenMP threads that spin while waiting make a busy 2-core machine crawl.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    clock = time.perf_counter()
    pool, kernel, settle = CYCLE_KERNELS.get(), None, _settled
    status, error = "succeeded", None
    try:
        import papermill as pm

        # A kernel started ahead (runs/kernels.py) is handed to nbclient as its kernel manager; else papermill starts one.
        kernel = pool.take(ahead=pool.next_stage is not None) if pool is not None else None
        engine = (
            {"km": kernel.km}
            if kernel
            else {"kernel_manager_class": kernel_manager_logging_to(run.run_dir / "kernel.log")}
        )
        pm.execute_notebook(
            str(ws.notebooks / f"{run.stage}.ipynb"),
            str(run.notebook),
            parameters=parameters,
            kernel_name=kernel_name(),
            cwd=str(ws.root),
            progress_bar=progress,
            log_output=False,
            **engine,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then re-raised as StageFailedError
        ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
        status, error = "failed", f"{ename}: {evalue}"
    finally:
        if pool is not None and kernel is not None:  # used once: its exit is awaited before the run is recorded
            settle = pool.release(kernel, run.run_dir / "kernel.log")
    return status, error, time.perf_counter() - clock, settle


def _read_back(run: _StageRun, wall: float) -> tuple[dict[str, Any], dict[str, float]]:
    """Scrub secrets from the executed notebook, then read what it glued and where its time went."""
    notebook = run.notebook
    scrub_notebook(notebook, run.params)
    scraps = _read_scraps(notebook) if notebook.exists() else {}
    timings = {"wall_seconds": wall}
    if notebook.exists():
        timings.update(_cell_timings(notebook))
        timings["kernel_and_overhead_seconds"] = max(0.0, wall - timings["cells_seconds"])
    return scraps, timings


def execute_stage(
    ws: Workspace,
    params_path: str | Path,
    stage: str,
    window: str,
    *,
    cycle_id: str | None = None,
    order: int | None = None,
    progress: bool = False,
    extra: dict[str, Any] | None = None,
) -> RunRecord:
    """Run one stage notebook for one window and record it. Raises after recording when the stage fails.

    Bad input that names no use case (see :func:`check_inputs`) is refused before anything is recorded; a params
    file that exists but does not validate is recorded as a failed run marked ``extra.bad_params``, then raised.
    """
    check_stage(stage)
    started = datetime.now(UTC)
    check_inputs(ws, params_path, window)
    runs = RunStore(ws.runs)
    raw, name, problem = _load_params(ws, params_path)
    claim = {"use_case": name, "window": window, "kind": "millpond"}
    run_dir = runs.prepare(cycle_id or new_cycle_id(name, window), order or STAGES.index(stage) + 1, stage, claim=claim)
    run = _StageRun(ws, runs, name, stage, window, run_dir, raw, started)
    if problem is not None:
        run.finish("failed", error=str(problem), extra={**(extra or {}), "bad_params": True})
        raise problem
    skipped = skip_up_front(run, extra)
    if skipped is not None:
        return skipped
    status, error, wall, settle = _run_notebook(run, progress)
    try:
        error = redact_text(error, secrets_of(raw)) if error else error  # it is raised, printed and notified below
        scraps, timings = _read_back(run, wall)
        if status == "succeeded":
            status = str(scraps.get("status", "succeeded"))
        record = run.finish(
            status,
            error=error,
            skip_reason=str(scraps.get("reason") or "") if status == "skipped" else None,
            scraps=scraps,
            extra={**(extra or {}), "timings": timings, "reason": scraps.get("reason", "")},
            settle=settle,
        )
    finally:
        settle()  # once: a no-op when finish() already did
    if status == "failed":
        raise StageFailedError(
            f"Stage {stage!r} failed for window {window!r}: {error}\n"
            f"The executed notebook shows the failing cell: {ws.relative(run.notebook)} "
            f"(millpond runs show {record.run_id})."
        )
    return record


CYCLE_KERNELS: ContextVar[KernelPool | None] = ContextVar("millpond_cycle_kernels", default=None)


@contextmanager
def cycle_kernels(ws: Workspace) -> Iterator[KernelPool | None]:
    """The cycle's kernel pool while its stages run (None when ``MILLPOND_PRESTART`` is off): every stage still gets a
    new kernel of its own, started ahead while the stage before computes; all shut down at the end, on failure, and on
    SIGTERM/SIGINT (:mod:`millpond.runs.kernels`)."""
    from millpond.runs.kernels import KernelPool, fork_enabled, prestart_enabled

    if not prestart_enabled():
        yield None
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as _run_notebook sets it, before any kernel starts
    pool = KernelPool(kernel_name(), ws.root, fork=fork_enabled())
    token = CYCLE_KERNELS.set(pool)
    try:
        with pool.handling_signals():
            yield pool
    finally:
        CYCLE_KERNELS.reset(token)


def cycle_params_change(ws: Workspace, params_path: str | Path, use_case: str) -> dict[str, Any]:
    """The params diff against the use case's previous run, for the manifests of a new cycle."""
    from millpond.runs.params_diff import params_change

    try:
        return params_change(RunStore(ws.runs), use_case, read_yaml(ws.resolve(params_path)))
    except MillpondError as exc:  # bad YAML is reported by the stage itself; a damaged record by `runs verify`
        return {"unavailable": str(exc)}


def _new_cycle(ws: Workspace, params_path: str | Path, window: str, stages: tuple[str, ...]) -> tuple[str, CycleResult]:
    """The use case's name and the new cycle's empty result, once the input is known to belong to a use case."""
    for stage in stages:
        check_stage(stage)
    check_inputs(ws, params_path, window)
    try:
        raw = read_yaml(ws.resolve(params_path))
    except ParamsError:
        raw = {}
    name = _use_case_name(raw, params_path)
    return name, CycleResult(cycle_id=new_cycle_id(name, window), window=window)


def run_cycle(
    ws: Workspace,
    params_path: str | Path,
    window: str,
    *,
    stages: tuple[str, ...] = STAGES,
    progress: bool = False,
    on_stage: Any = None,
) -> CycleResult:
    """Run the stages of one window in order, stopping at the first failure.

    Bad input that names no use case (an unknown stage, a params path that does not exist, a malformed window) is
    refused before anything is recorded (:func:`check_inputs`). A params file that exists but does not validate
    stops the cycle at its first stage, recorded as failed (``bad_params``) and not notified as a cycle failure:
    ``result.bad_input`` says so (exit 2).
    """
    name, result = _new_cycle(ws, params_path, window, stages)
    runs = RunStore(ws.runs)
    extra = {"params_change": cycle_params_change(ws, params_path, name)}
    comparison = CycleComparison(ws)  # the drift run's sweetviz comparison, drawn in a child beside the stages
    with cycle_kernels(ws) as pool, closing(comparison):
        for order, stage in enumerate(stages, start=1):
            if on_stage is not None:  # a live status line: on_stage(stage, index, total)
                on_stage(stage, order, len(stages))
            if pool is not None:
                # a later stage needs a kernel: it is started (and imports what it needs) while this one runs
                pool.next_stage = stages[order] if order < len(stages) else None
            try:
                record = execute_stage(
                    ws,
                    params_path,
                    stage,
                    window,
                    cycle_id=result.cycle_id,
                    order=order,
                    progress=progress,
                    extra=extra,
                )
            except MillpondError as exc:
                result.error = str(exc)
                result.bad_input = isinstance(exc, ParamsError)
                if not result.bad_input:  # bad params are the caller's to fix: recorded, not notified
                    from millpond.governance.notifications import notify_failure

                    notify_failure(ws, params_path, name, window, f"stage {stage}: {exc}")
                break
            comparison.after(record)
        if comparison.step is not None and on_stage is not None:
            on_stage("compare", len(stages) + 1, len(stages) + 1)  # waiting for what is left of the drawing
        comparison.finish()
    result.records = runs.cycle(result.cycle_id)
    refresh_runs_index(ws)
    return result


SKIP_KIND = "runner"  # scraps["kind"] of a skip the runner decided without a kernel (no notebook.ipynb in the run)


def skip_up_front(run: _StageRun, extra: dict[str, Any] | None = None) -> RunRecord | None:
    """Record ``run`` as skipped without starting a kernel when the stage would only say so; None: run the notebook.

    The decision is the stage's own (:func:`millpond.runs.skips.skip_reason`, from the stores' metadata): score and
    drift without a champion, train when the retrain policy is not triggered, promote without a candidate. It is
    not taken when a crash left an alias move unfinished (the stage's kernel completes it first); a finished one
    (phase ``done``, which a promotion leaves for the next stage to tidy) does not stand in the way. The record is the one
    a skipped notebook leaves (status ``skipped``, the reason, what was read), with a small report.html and
    ``scraps.kind`` / ``extra.kernel`` saying no notebook ran.
    """
    if (run.ws.model_store / run.use_case / "pending.json").exists() and not _only_done_pending(run):
        return None
    from millpond.runs.context import StageContext
    from millpond.runs.skips import skip_reason
    from millpond.store.artifacts import as_manifest, recording

    started = time.perf_counter()
    ctx = StageContext(run.ws, validate_use_case(run.params, source=run.use_case), run.window, run.run_id, run.run_dir)
    try:
        with recording(run.ws.root) as ledger:
            reason = skip_reason(run.stage, ctx)
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read: the notebook runs, fails and is recorded
        log.debug("skip of %s not decided up front: %s", run.stage, exc)
        return None
    if reason is None:
        return None
    scraps = {"kind": SKIP_KIND, "stage": run.stage, "status": "skipped", "reason": reason, "summary": {}}
    scraps.update(inputs=as_manifest(ledger.inputs), outputs=as_manifest(ledger.outputs))
    timings = {"wall_seconds": time.perf_counter() - started, "cells_seconds": 0.0}
    return run.finish(
        "skipped",
        skip_reason=reason,
        scraps=scraps,
        extra={**(extra or {}), "timings": timings, "reason": reason, "kernel": False},
    )


def _only_done_pending(run: _StageRun) -> bool:
    """Whether the use case's pending alias move is a finished one (phase ``done``: moved, audited and smoke-tested;
    the next stage's kernel only checks its decision entry and removes it): a skip can be decided beside it."""
    from millpond.models.entities import PendingSwitch
    from millpond.store.files import read_json

    try:
        return PendingSwitch.from_dict(read_json(run.ws.model_store / run.use_case / "pending.json")).phase == "done"
    except (MillpondError, OSError, ValueError, TypeError, KeyError):  # unreadable: the kernel's stage deals with it
        return False


def write_skip_report(run_dir: Path, use_case: str, stage: str, window: str, reason: str) -> None:
    """The report.html of a skip decided without a kernel: the banner and the reason (a failure only warns)."""
    from millpond.runs.report import write_summary_report

    write_summary_report(
        run_dir,
        title=f"{use_case} · {stage} · {window}",
        status="skipped",
        meta=f"run {run_dir.parent.name}/{run_dir.name}",
        facts={"kind": "skipped before any kernel started (no notebook ran)", "reason": reason},
    )


def write_report(run_dir: Path, use_case: str, stage: str, window: str, status: str, error: str | None) -> None:
    """Render the run folder's notebook as report.html before it is recorded (a report failure only warns)."""
    from millpond.errors import ReportError
    from millpond.runs.report import render_report

    run_id = f"{run_dir.parent.name}/{run_dir.name}"
    try:
        render_report(
            run_dir,
            title=f"{use_case} · {stage} · {window}",
            status=status,
            meta=f"run {run_id}",
            error=error if status == "failed" else None,
        )
    except ReportError as exc:
        log.warning("%s", exc)


def refresh_runs_index(ws: Workspace) -> Path | None:
    """Rewrite runs/index.html (the cycle calls it at its end); a failure only warns."""
    from millpond.runs.report import write_runs_index

    try:
        return write_runs_index(ws)
    except (MillpondError, OSError) as exc:
        log.warning("runs/index.html not refreshed: %s", exc)
        return None


def cycle_row(result: CycleResult) -> dict[str, Any]:
    """One line of the cycle table, read from the run records' glued summaries."""
    by_stage = {r.stage: r for r in result.records}

    def summary(stage: str) -> dict[str, Any]:
        record = by_stage.get(stage)
        return (record.scraps or {}).get("summary") or {} if record and record.status == "succeeded" else {}

    score, drift, train, promote = summary("score"), summary("drift"), summary("train"), summary("promote")
    promoted = bool(promote.get("promoted"))
    champion = promote.get("candidate") if promoted else (score.get("champion") or promote.get("champion_before"))
    kpi = next(iter((score.get("kpi") or {}).values()), None)
    failed = [r.stage for r in result.records if r.status == "failed"]

    def flag(stage_summary: dict[str, Any], key: str) -> str:
        return "-" if key not in stage_summary else ("yes" if stage_summary[key] else "no")

    return {
        "window": result.window,
        "champion": champion or "-",
        "kpi": f"{kpi:.4f}" if isinstance(kpi, float) else "-",
        "kpi_estimate": _estimate_cell(drift),
        "data_drift": flag(drift, "data_drift"),
        "model_drift": flag(drift, "model_drift"),
        "retrained": "yes" if train else "no",
        "promoted": "yes" if promoted else ("awaiting approval" if promote.get("awaiting_approval") else "no"),
        "status": f"failed at {failed[0]}" if failed else ("ok" if result.ok else "failed"),
    }


def _estimate_cell(drift: dict[str, Any]) -> str:
    """The label-free KPI estimate, marked '!' when the realised KPI diverges from it (concept-like drift)."""
    estimate = drift.get("kpi_estimate")
    if not isinstance(estimate, float):
        return "-"
    return f"{estimate:.4f}" + ("!" if drift.get("estimate_trusted") is False else "")


def completed_cycle(ws: Workspace, use_case: str, window: str) -> CycleResult | None:
    """The latest cycle of ``window`` whose every stage succeeded or skipped, if any."""
    runs = RunStore(ws.runs)
    for record in runs.list(use_case=use_case, window=window, stage="promote"):
        if record.status in ("succeeded", "skipped"):
            records = [r for r in runs.cycle(record.cycle_id) if r.stage in STAGES]  # not its comparison step
            if len(records) == len(STAGES) and all(r.status != "failed" for r in records):
                return CycleResult(cycle_id=record.cycle_id, window=window, records=records)
    return None
