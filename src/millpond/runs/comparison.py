"""The sweetviz comparison of a drift run, drawn off the critical path and recorded as a run of its own.

The drift stage's verdict never waits for sweetviz: the stage only records which mart versions it compared
(``summary.comparison_sides``: the champion's training versions and the window's version). The comparison step
then draws the report of those same versions in a child process (:class:`~millpond.drift.comparison_report.
BackgroundComparison`, which reads and samples the marts itself) and records it as run ``<NN>-compare`` (kind
``comparison``) with ``outputs/comparison.html``, the mart versions it read as its inputs and the drift run it
belongs to:

- ``millpond cycle``: started ahead once score is recorded, from the versions the drift stage will compare (kept
  only when the drift run compared exactly those), drawn on the other core beside drift, train and promote,
  recorded when the cycle's last stage is done, in the same cycle folder (``06-compare`` after five stages);
- ``millpond run … drift``: drawn once the drift run is recorded;
- on demand for any drift run (papermill, JupyterLab, an older cycle): ``millpond compare RUN_ID``.

A comparison that fails, dies or takes longer than ten minutes is recorded as a failed ``compare`` run with the
child's message; the cycle's stages, verdicts and exit code do not depend on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.params import validate_use_case
from millpond.errors import MillpondError, ReportError, RunError
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunRecord, RunStore
from millpond.workspace import Workspace

log = logging.getLogger(__name__)
STAGE = "compare"  # the run folder's name after its order: NN-compare (not a pipeline stage)
KIND = "comparison"
SIDES = "comparison_sides"  # the drift summary key naming the compared mart versions
# The stage after which a cycle starts drawing its drift run's comparison. After score rather than ingest: at
# the cycle's start the kernels' zygote is still importing, and the drawing would take its CPU.
AHEAD_AFTER = "score"


def sides_of(drift: RunRecord) -> dict[str, Any] | None:
    """The mart versions ``drift`` compared (None when it is not a succeeded drift run that names them)."""
    if drift.stage != "drift" or drift.status != "succeeded":
        return None
    sides = ((drift.scraps or {}).get("summary") or {}).get(SIDES)
    if not isinstance(sides, dict) or not sides.get("reference") or not sides.get("current"):
        return None
    return sides


def _mart_inputs(drift: RunRecord, sides: dict[str, Any]) -> dict[str, Any]:
    """The drift run's input entries (with their sha256) of the mart versions the comparison reads."""
    wanted = {f"{drift.use_case}@{version}" for version in (*sides["reference"], sides["current"])}
    inputs = (drift.manifest or {}).get("inputs") or {}
    return {
        key: entry
        for key, entry in inputs.items()
        if isinstance(entry, dict) and entry.get("kind") == "mart_version" and entry.get("ref") in wanted
    }


@dataclass
class ComparisonStep:
    """One comparison of mart versions ``sides`` being drawn by a child process for the drift run ``drift`` (None
    while it is drawn ahead of that run); :meth:`finish` records it as a run."""

    ws: Workspace
    sides: dict[str, Any]
    drawing: Any  # a BackgroundComparison, drawing into its own temporary folder until finish() collects it
    started: datetime
    drift: RunRecord | None = None
    clock: float = field(default_factory=time.perf_counter)

    def for_drift(self, drift: RunRecord) -> ComparisonStep | None:
        """This drawing for ``drift`` when it compared exactly these versions; else (the champion moved meanwhile, a
        skipped drift run) this one is dropped and ``drift``'s own is started."""
        if sides_of(drift) == self.sides:
            self.drift = drift
            return self
        self.drawing.close()
        return start_comparison(self.ws, drift)

    def finish(self) -> RunRecord:
        """Prepare the run folder (the next free ``NN-compare`` of the drift run's cycle), wait for the drawing, then
        record the run (failed, with the reason, when no report was drawn)."""
        from millpond.drift.comparison_report import COMPARISON
        from millpond.store.files import sha256_file

        assert self.drift is not None, "a comparison is recorded for its drift run"
        claim = {"use_case": self.drift.use_case, "window": self.drift.window, "kind": KIND}
        try:
            run_dir = RunStore(self.ws.runs).prepare(
                self.drift.cycle_id, _next_order(self.ws, self.drift.cycle_id), STAGE, claim=claim
            )
        except RunError:
            self.drawing.close()
            raise
        run_id = f"{run_dir.parent.name}/{run_dir.name}"
        (run_dir / "outputs").mkdir()
        self.drawing.out = run_dir / "outputs" / COMPARISON
        error, outputs = None, {}
        try:
            drawn = self.drawing.result()
            path = self.ws.relative(drawn)
            outputs = {f"report:{run_id}/outputs/{COMPARISON}": _report_entry(run_id, path, sha256_file(drawn))}
        except ReportError as exc:
            error = str(exc)
        status = "failed" if error else "succeeded"
        summary = {"drift_run": self.drift.run_id, **({} if error else {"comparison": f"outputs/{COMPARISON}"})}
        _report(self, run_dir, status, error, summary)
        manifest = RunManifest(
            use_case=self.drift.use_case,
            window=self.drift.window,
            stage=STAGE,
            status=status,
            timings=RunTimings.between(self.started, datetime.now(UTC)),
            params=(self.drift.manifest or {}).get("params") or {},
            error=error,
            inputs=_mart_inputs(self.drift, sides_of(self.drift) or {"reference": [], "current": ""}),
            outputs=outputs,
            scraps={"kind": KIND, "stage": STAGE, "status": status, "reason": "", "summary": summary},
            extra={"kind": KIND, "drift_run": self.drift.run_id, "timings": {"wall_seconds": self._wall()}},
        )
        return RunStore(self.ws.runs).record(run_dir, manifest, repo_dir=self.ws.root)

    def _wall(self) -> float:
        return time.perf_counter() - self.clock


def _report_entry(run_id: str, path: str, sha256: str) -> dict[str, Any]:
    """The manifest's output entry of the drawn report (an Artifact of kind ``report``)."""
    from millpond.store.artifacts import Artifact

    return Artifact("report", f"{run_id}/outputs/comparison.html", sha256, path).to_dict()


def start_comparison(ws: Workspace, drift: RunRecord) -> ComparisonStep | None:
    """Start drawing ``drift``'s comparison in a child process (which reads and samples the mart versions itself);
    None when there is nothing to compare (not a succeeded drift run, no comparison sides, ``drift.comparison_rows``
    0). Nothing is written to the runs store until :meth:`ComparisonStep.finish`."""
    sides = sides_of(drift)
    params = (drift.manifest or {}).get("params") or {}
    if sides is None or not params:
        return None
    step = _start(ws, validate_use_case(params, source=drift.run_id), sides)
    if step is not None:
        step.drift = drift
    return step


def start_ahead(ws: Workspace, ingest: RunRecord) -> ComparisonStep | None:
    """After a stage before drift (``ingest``: a run of the cycle's use case and window): start drawing the
    comparison its drift stage will ask for (the champion's training versions against the window's latest
    version), so that it is drawn while the drift stage runs. It is kept only when the drift run compares exactly
    those versions (:meth:`ComparisonStep.for_drift`). None without a champion."""
    from millpond.errors import ModelVersionNotFoundError
    from millpond.marts.store import MartStore
    from millpond.models.store import ModelStore

    params = (ingest.manifest or {}).get("params") or {}
    if ingest.stage not in ("ingest", "score") or ingest.status == "failed" or not params:
        return None
    use_case = validate_use_case(params, source=ingest.run_id)
    try:
        champion = ModelStore(ws.model_store).get(use_case.use_case, "champion")
    except ModelVersionNotFoundError:
        return None
    reference = [str(item["version"]) for item in champion.metadata.training_marts]
    current = MartStore(ws.feature_marts).latest(use_case.use_case, ingest.window).version
    return _start(ws, use_case, {"reference": reference, "current": current}) if reference else None


def _start(ws: Workspace, use_case: Any, sides: dict[str, Any]) -> ComparisonStep | None:
    from millpond.drift.comparison_report import COMPARISON, BackgroundComparison

    if use_case.drift.comparison_rows <= 0:
        return None
    drawing = BackgroundComparison(
        ws.runs / COMPARISON,  # a placeholder: finish() points it into the run folder it prepares
        features=use_case.feature_columns,
        target=use_case.target,
        max_rows=use_case.drift.comparison_rows,
    )
    drawing.start_marts(ws.feature_marts, use_case.use_case, list(sides["reference"]), str(sides["current"]))
    return ComparisonStep(ws, sides, drawing, datetime.now(UTC))


class CycleComparison:
    """The comparison step of one cycle (or one ``millpond run``): :meth:`after` sees each stage's record in
    order (:data:`AHEAD_AFTER` starts the drawing ahead, drift keeps it or starts its own), :meth:`finish` records
    it. Never
    raises: a comparison that cannot start or be recorded is a warning, the cycle goes on."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.step: ComparisonStep | None = None

    def after(self, record: Any) -> None:
        """Take note of a stage's record (anything else, a test double's, is ignored)."""
        if not isinstance(record, RunRecord) or record.stage not in (AHEAD_AFTER, "drift"):
            return
        try:
            if record.stage == AHEAD_AFTER:
                self.close()
                self.step = start_ahead(self.ws, record)
            else:
                self.step = self.step.for_drift(record) if self.step is not None else start_comparison(self.ws, record)
        except (MillpondError, OSError, KeyError, TypeError) as exc:
            log.warning("the sweetviz comparison after %s was not started: %s", record.run_id, exc)
            self.close()

    def finish(self) -> RunRecord | None:
        """Record the comparison of the drift run, if one ran; a drawing started ahead of a drift run that never
        came (a failed or shortened cycle) is dropped."""
        step, self.step = self.step, None
        if step is None:
            return None
        if step.drift is None:
            step.drawing.close()
            return None
        try:
            return step.finish()
        except (MillpondError, OSError) as exc:
            log.warning("the sweetviz comparison of %s was not recorded: %s", step.drift.run_id, exc)
            return None

    def close(self) -> None:
        """Stop a drawing that will not be recorded (idempotent)."""
        step, self.step = self.step, None
        if step is not None:
            step.drawing.close()


def _next_order(ws: Workspace, cycle_id: str) -> int:
    """The first NN after every run folder of the cycle (at most 99)."""
    folder = ws.runs / cycle_id
    taken = (
        [int(p.name[:2]) for p in folder.iterdir() if p.is_dir() and p.name[:2].isdigit()] if folder.is_dir() else []
    )
    order = max(taken, default=0) + 1
    if order > 99:
        raise RunError(f"Cycle {cycle_id} has no free run number left for another comparison.")
    return order


def compare(ws: Workspace, drift: RunRecord) -> RunRecord:
    """Draw and record ``drift``'s comparison now (``millpond compare RUN_ID``); raises RunError when it has none."""
    step = start_comparison(ws, drift)
    if step is None:
        raise RunError(
            f"Run {drift.run_id} has no comparison to draw: it is a {drift.status} {drift.stage} run, or names no "
            "compared mart versions (drift runs of millpond before this step), or drift.comparison_rows is 0. "
            "Give the id of a succeeded drift run (millpond runs list --stage drift)."
        )
    return step.finish()


def _report(step: ComparisonStep, run_dir: Path, status: str, error: str | None, summary: dict[str, Any]) -> None:
    """The run's report.html: what was compared, and a link to the sweetviz report; a failure only warns."""
    from millpond.runs.report import write_summary_report

    drift = step.drift
    assert drift is not None
    facts = {
        "kind": "sweetviz comparison of the drift run's mart versions, drawn beside the stages (no notebook ran)",
        "drift run": drift.run_id,
        **{
            f"{side} mart versions": ", ".join(map(str, value)) if isinstance(value, list) else value
            for side, value in (sides_of(drift) or {}).items()
        },
    }
    write_summary_report(
        run_dir,
        title=f"{drift.use_case} · compare · {drift.window}",
        status=status,
        meta=f"run {run_dir.parent.name}/{run_dir.name}",
        error=error,
        facts=facts,
        links={"open the sweetviz comparison": summary["comparison"]} if "comparison" in summary else None,
    )
