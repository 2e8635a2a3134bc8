"""The sweetviz comparison of a drift run, drawn off the critical path and recorded as a run of its own.

The drift stage's verdict never waits for sweetviz: the stage only records which mart versions it compared
(``summary.comparison_sides``: the champion's training versions and the window's version). The comparison step
then draws the report of those same versions in a child process (:class:`~millpond.drift.comparison_report.
BackgroundComparison`, which reads and samples the marts itself) and records it as run ``<NN>-compare`` (kind
``comparison``) with ``outputs/comparison.html``, the mart versions it read as its inputs and the drift run it
belongs to:

- ``millpond cycle`` / ``millpond run … drift``: started as soon as the drift stage is recorded, drawn on the
  other core while train and promote run, collected (recorded) when the cycle's last stage is done, in the same
  cycle folder (``06-compare`` after a full cycle's five stages);
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
from millpond.errors import ReportError, RunError
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunRecord, RunStore
from millpond.workspace import Workspace

log = logging.getLogger(__name__)
STAGE = "compare"  # the run folder's name after its order: NN-compare (not a pipeline stage)
KIND = "comparison"
SIDES = "comparison_sides"  # the drift summary key naming the compared mart versions


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
    """One comparison being drawn for ``drift`` by a child process; :meth:`finish` records it as a run."""

    ws: Workspace
    drift: RunRecord
    drawing: Any  # a BackgroundComparison, drawing into its own temporary folder until finish() collects it
    started: datetime
    clock: float = field(default_factory=time.perf_counter)

    def finish(self) -> RunRecord:
        """Prepare the run folder (the next free ``NN-compare`` of the drift run's cycle), wait for the drawing, then
        record the run (failed, with the reason, when no report was drawn)."""
        from millpond.drift.comparison_report import COMPARISON
        from millpond.store.files import sha256_file

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
    from millpond.drift.comparison_report import COMPARISON, BackgroundComparison

    sides = sides_of(drift)
    params = (drift.manifest or {}).get("params") or {}
    if sides is None or not params:
        return None
    use_case = validate_use_case(params, source=drift.run_id)
    if use_case.drift.comparison_rows <= 0:
        return None
    drawing = BackgroundComparison(
        ws.runs / drift.cycle_id / COMPARISON,  # a placeholder: finish() points it into the run folder it prepares
        features=use_case.feature_columns,
        target=use_case.target,
        max_rows=use_case.drift.comparison_rows,
    )
    drawing.start_marts(ws.feature_marts, use_case.use_case, list(sides["reference"]), str(sides["current"]))
    return ComparisonStep(ws, drift, drawing, datetime.now(UTC))


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
    from millpond.runs.report import render_summary_report

    drift = step.drift
    facts = {
        "kind": "sweetviz comparison, drawn after the drift stage (no notebook ran)",
        "drift run": drift.run_id,
        **{f"{side} mart versions": value for side, value in (sides_of(drift) or {}).items()},
    }
    try:
        render_summary_report(
            run_dir,
            title=f"{drift.use_case} · compare · {drift.window}",
            status=status,
            meta=f"run {run_dir.parent.name}/{run_dir.name}",
            error=error,
            facts=facts,
            links={"open the sweetviz comparison": summary["comparison"]} if "comparison" in summary else None,
        )
    except (ReportError, OSError) as exc:
        log.warning("report.html of %s not written: %s", run_dir, exc)
