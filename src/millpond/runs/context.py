"""What a stage works with and returns: :class:`StageContext` (workspace, use case, window, where to record) and
:class:`StageResult` (status, summary, tables, what it read and wrote), shared by the stages
(:mod:`millpond.runs.stages`), their read-only previews (:mod:`millpond.runs.preview`) and the runs a stage
notebook records itself (:mod:`millpond.runs.standalone`); and :func:`retrain_reasons`, the policy both train and
its preview ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from millpond.config.params import UseCase, check_window
from millpond.errors import ModelVersionNotFoundError
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore, ModelVersion
from millpond.store.artifacts import Artifact, as_manifest
from millpond.workspace import Workspace


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars made Python values and keys made text (what a manifest or scrap holds)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


@dataclass
class StageResult:
    """What a stage did, for the run record and the reader."""

    stage: str
    status: str = "succeeded"
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # for the notebook's plots only: neither displayed nor glued
    inputs: list[Artifact] = field(default_factory=list)  # what the stage read (mart and model versions, raw files)
    outputs: list[Artifact] = field(default_factory=list)  # what it wrote (versions, capture parts, log lines)

    def display(self) -> None:
        """Show the status line and the tables in the notebook."""
        from IPython.display import Markdown, display

        line = f"**{self.stage}: {self.status}**" + (f" — {self.reason}" if self.reason else "")
        display(Markdown(line))
        if self.summary:
            from millpond.runs.report import summary_table

            display(summary_table(self.summary))
        for title, table in self.tables.items():
            display(Markdown(f"#### {title}"))
            display(table)

    def glue(self) -> None:
        """Record status, reason, summary, inputs and outputs in the notebook with scrapbook (never datasets)."""
        from millpond.runs.kernel_imports import skip_unused_format_checkers

        skip_unused_format_checkers()  # the kernel's first import of jsonschema comes through scrapbook
        import scrapbook as sb

        sb.glue("stage", self.stage)
        sb.glue("status", self.status)
        sb.glue("reason", self.reason)
        sb.glue("summary", jsonable(self.summary))
        glue_artifacts(self.inputs, self.outputs)


def glue_artifacts(inputs: list[Artifact], outputs: list[Artifact]) -> None:
    """Glue what a stage read and wrote as the manifest holds it (the runner moves them to inputs/outputs)."""
    from millpond.runs.kernel_imports import skip_unused_format_checkers

    skip_unused_format_checkers()
    import scrapbook as sb

    sb.glue("inputs", as_manifest(inputs))
    sb.glue("outputs", as_manifest(outputs))


@dataclass
class StageContext:
    """Everything a stage needs: the workspace, the validated use case, the window and where to record."""

    workspace: Workspace
    use_case: UseCase
    window: str
    run_id: str | None = None
    run_dir: Path | None = None

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> StageContext:
        """Build the context from a notebook's parameters (papermill injects them as globals)."""
        ws = Workspace.find(namespace.get("workspace") or None)
        run_dir = namespace.get("run_dir") or None
        return cls(
            workspace=ws,
            use_case=UseCase.from_namespace(namespace),
            window=check_window(str(namespace["window"])),
            run_id=namespace.get("run_id") or None,
            run_dir=Path(run_dir) if run_dir else None,
        )

    @property
    def name(self) -> str:
        return self.use_case.use_case

    @property
    def marts(self) -> MartStore:
        return MartStore(self.workspace.feature_marts)

    @property
    def models(self) -> ModelStore:
        return ModelStore(self.workspace.model_store)

    @property
    def log(self) -> MonitoringLog:
        return MonitoringLog(self.workspace.model_store, self.name)

    def champion(self) -> ModelVersion | None:
        try:
            return self.models.get(self.name, "champion")
        except ModelVersionNotFoundError:
            return None

    def output(self, name: str) -> Path | None:
        """A path under the run record's outputs/ folder (None outside a recorded run)."""
        if self.run_dir is None:
            return None
        folder = self.run_dir / "outputs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name


def drift_plot_data(report: Any, use_case: UseCase) -> dict[str, Any]:
    """What the drift notebook's plots read from a drift analysis (``report``: a :class:`DriftReport`)."""
    return {
        "table": report.table,
        "reference": report.reference,
        "current": report.current,
        "numeric": use_case.numeric_columns,
        "categorical": use_case.categorical_columns,
    }


def retrain_reasons(ctx: StageContext) -> list[str]:
    """Why the policy asks for a new candidate at this window (empty: it does not)."""
    champion = ctx.champion()
    if champion is None:
        return ["no champion yet"]
    policy = ctx.use_case.retrain
    reasons = []
    drift = ctx.log.latest("drift", ctx.window)
    if drift is not None and policy.on_data_drift and drift.data_drift:
        reasons.append("impactful data drift")
    if drift is not None and policy.on_model_drift and drift.model_drift:
        reasons.append("model drift")
    if policy.every_n_windows:
        trained_for = champion.metadata.trained_for_window or ""
        age = len([w for w in ctx.marts.windows(ctx.name) if trained_for < w <= ctx.window])
        if age >= policy.every_n_windows:
            reasons.append(f"schedule: champion is {age} windows old")
    return reasons
