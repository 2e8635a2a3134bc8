"""A stage notebook executed outside millpond's runner: recorded and locked, or read-only.

Every stage notebook calls :func:`millpond.runs.stages.run`. Executed by ``millpond run``/``millpond cycle``, the
runner injects ``run_id``/``run_dir`` and holds the use case's lock in its own process; the kernel only does the
work. Executed any other way, the kernel knows no run, so :func:`execution` decides:

* **non-interactive kernel** (plain ``papermill nb.ipynb out.ipynb -f params/x.yaml``, nbclient, ``jupyter
  nbconvert --execute``): kind ``papermill``. :func:`run_recorded` takes the use case's lock in the kernel (a second
  writer gets :class:`~millpond.errors.CycleLockedError`), seals the use case's interrupted runs, opens a run record
  ``runs/<cycle_id>/<NN>-<stage>/`` and seals it at the end, failed or not: same manifest as the runner's (params,
  inputs and outputs with sha256, status, error, timings, ``extra.kind``), in ``runs list``, ``runs verify`` and the
  index. The executed notebook is where its user asked papermill to write it, a path the kernel cannot see: the
  manifest says so (``extra.notebook``).
* **interactive kernel** (JupyterLab or Notebook: ``JPY_SESSION_NAME`` set by jupyter_server; an IPython terminal):
  read-only unless the notebook's ``commit`` parameter is True, then recorded like the above with kind
  ``interactive``. ``MILLPOND_EXECUTION=interactive|papermill`` overrides the detection (tests, other front ends).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from millpond.config.params import STAGES
from millpond.config.secrets import redact, redact_url
from millpond.runs.context import StageContext, StageResult, jsonable
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunRecord, RunStore, new_cycle_id
from millpond.store.artifacts import Ledger, as_manifest, recording
from millpond.store.lock import CycleLock

NOTEBOOK_NOTE = (
    "not in this record: the stage ran in a kernel started by papermill, nbclient or Jupyter, which writes the "
    "executed notebook where its user asked (a path the kernel cannot see); keep it beside this run id, or run the "
    "stage with `millpond run` to have the notebook in the record"
)
INTERACTIVE_ENV = "JPY_SESSION_NAME"  # set by jupyter_server in the kernels it starts (JupyterLab, Notebook 7)
OVERRIDE_ENV = "MILLPOND_EXECUTION"


@dataclass(frozen=True)
class Execution:
    """How a stage notebook is executed: ``kind`` (runner, papermill, interactive) and whether it may write."""

    kind: str
    writes: bool


def interactive_kernel() -> bool:
    """Whether a person runs this kernel (a Jupyter front end or an IPython terminal), not papermill or nbclient."""
    override = os.environ.get(OVERRIDE_ENV, "").strip().lower()
    if override in ("interactive", "papermill"):
        return override == "interactive"
    if os.environ.get(INTERACTIVE_ENV):
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "TerminalInteractiveShell"


def execution(namespace: dict[str, Any]) -> Execution:
    """The :class:`Execution` of a stage notebook from its parameters and the kernel it runs in."""
    if namespace.get("run_id"):
        _check_runner_folder(namespace)
        return Execution("runner", True)
    if not interactive_kernel():
        return Execution("papermill", True)
    return Execution("interactive", namespace.get("commit") is True)


def _check_runner_folder(namespace: dict[str, Any]) -> None:
    """A ``run_id`` comes with the run folder millpond's runner prepared (its claim there, no manifest yet); refuse one
    given by hand (``papermill -p run_id …``), which would write outside any recorded, locked run."""
    from pathlib import Path

    from millpond.errors import RunError
    from millpond.runs.store import CLAIM, MANIFEST

    run_dir = Path(str(namespace.get("run_dir") or ""))
    if not namespace.get("run_dir") or not (run_dir / CLAIM).is_file() or (run_dir / MANIFEST).exists():
        raise RunError(
            f"run_id {namespace.get('run_id')!r} is set, but {str(run_dir) or 'no run_dir'} is not a run folder "
            "millpond's runner prepared for it: run_id and run_dir are set by `millpond run`/`millpond cycle` only. "
            "Leave them empty: plain papermill then records its own locked run."
        )


def notebook_params(namespace: dict[str, Any]) -> dict[str, Any]:
    """The use-case parameters as the notebook got them (``${ENV}`` references unexpanded), for the manifest."""
    from millpond.config.params import UseCase

    return {name: namespace[name] for name in UseCase.model_fields if name in namespace}


def run_recorded(
    stage: str,
    ctx: StageContext,
    kind: str,
    work: Callable[[StageContext], StageResult],
    params: dict[str, Any] | None = None,
) -> StageResult:
    """Run ``work`` as its own locked, recorded run of kind ``kind``; the record is sealed even when it fails.

    ``params``: what the manifest records as the run's parameters (default: the validated use case)."""
    from millpond.runs.recovery import seal_interrupted

    ws, name = ctx.workspace, ctx.name
    command = f"{kind} kernel (PID {os.getpid()}): notebooks/{stage}.ipynb, window {ctx.window}"
    with CycleLock(ws, name, command=command):
        seal_interrupted(ws, name, holding_lock=True, by=kind)
        cycle_id = new_cycle_id(name, ctx.window)
        claim = {"use_case": name, "window": ctx.window, "kind": kind}
        order = STAGES.index(stage) + 1 if stage in STAGES else 1  # a command's run (labels) is its own cycle
        run_dir = RunStore(ws.runs).prepare(cycle_id, order, stage, claim=claim)
        run_ctx = replace(ctx, run_id=f"{cycle_id}/{run_dir.name}", run_dir=run_dir)
        started, clock = datetime.now(UTC), time.perf_counter()
        with recording(ws.root) as ledger:
            try:
                result = work(run_ctx)
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                record = _seal(run_ctx, stage, kind, (started, clock), ledger, params=params, error=error)
                exc.add_note(f"Recorded as failed run {record.run_id} (millpond runs show {record.run_id}).")
                raise
        record = _seal(run_ctx, stage, kind, (started, clock), ledger, params=params, result=result)
    result.summary["run_id"] = record.run_id
    return result


def _seal(
    ctx: StageContext,
    stage: str,
    kind: str,
    start: tuple[datetime, float],
    ledger: Ledger,
    *,
    params: dict[str, Any] | None = None,
    result: StageResult | None = None,
    error: str | None = None,
) -> RunRecord:
    """Write the run folder's report.html, then record the run once (secrets hidden by the store)."""
    from millpond.runs.runner import with_audit_heads

    assert ctx.run_dir is not None
    error = redact_url(error) if error else error
    status = "failed" if result is None else result.status
    reason = "" if result is None else result.reason
    summary = redact(jsonable(result.summary)) if result is not None else {}
    outputs = as_manifest(ledger.outputs)
    _report(ctx, stage, kind, status, error, summary)
    manifest = RunManifest(
        use_case=ctx.name,
        window=ctx.window,
        stage=stage,
        status=status,
        timings=RunTimings.between(start[0], datetime.now(UTC)),
        params=params if params is not None else ctx.use_case.model_dump(mode="json"),
        error=error,
        skip_reason=reason if status == "skipped" else None,
        inputs=as_manifest(ledger.inputs),
        outputs=outputs,
        scraps={"kind": kind, "stage": stage, "status": status, "reason": reason, "summary": summary},
        extra=with_audit_heads(
            ctx.workspace,
            outputs,
            {
                "kind": kind,
                "reason": reason,
                "notebook": NOTEBOOK_NOTE,
                "kernel": {"pid": os.getpid(), "cwd": os.getcwd()},
                "timings": {"wall_seconds": time.perf_counter() - start[1]},
            },
        ),
    )
    return RunStore(ctx.workspace.runs).record(ctx.run_dir, manifest, repo_dir=ctx.workspace.root)


def _report(ctx: StageContext, stage: str, kind: str, status: str, error: str | None, summary: Any) -> None:
    """The run's report.html (no notebook in the record: the facts of the stage); a failure only warns."""
    from millpond.runs.report import write_summary_report

    assert ctx.run_dir is not None
    write_summary_report(
        ctx.run_dir,
        title=f"{ctx.name} · {stage} · {ctx.window}",
        status=status,
        meta=f"run {ctx.run_id}",
        error=error,
        facts={"kind": f"{kind} (the executed notebook is not in this record)", **dict(summary or {})},
    )
