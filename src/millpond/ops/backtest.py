"""``millpond backtest``: replay the cycle over the windows a use case's data already has, in a scratch workspace.

The scratch workspace (a temporary folder) links the real workspace's params, notebooks and raw data read-only and
starts with empty run, mart and model stores, so the real stores are never touched. Each window runs the same stage
functions the notebooks call (ingest, score, drift, train, promote), in this process, with notifications off.

A policy is the use case's own (``usecase``) or one of the alternatives replayed on the same windows:

* ``evidence`` / ``point``: the use case with ``promotion.policy`` set to that;
* ``static``: the first model, never retrained (a baseline);
* ``always``: retrain and promote at every window (a baseline).

Per window the result says the serving model's realised KPI, the data-drift and model-drift verdicts, whether a
candidate was trained and promoted (and by which rule); the totals count alarms, retrains and swaps, split at the
change point when one is declared (``drift.change_point`` in the YAML or ``--change-point``): alarms in windows before
it are false alarms, and the first alarm at or after it says when the change was detected.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from millpond.config.params import NotifySpec, UseCase
from millpond.errors import ParamsError, did_you_mean
from millpond.workspace import Workspace

POLICIES = ("usecase", "evidence", "point", "static", "always")
"""The policies ``millpond backtest --policy`` replays (see the module docstring)."""
STAGE_ORDER = ("ingest", "score", "drift", "train", "promote")
_SKIP_AT_ROOT = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "pyproject.toml"}


@dataclass(frozen=True)
class WindowOutcome:
    """What the replayed cycle did at one window."""

    window: str
    champion: str | None  # the model serving the window (None before the first promotion)
    kpi: float | None  # the serving model's realised KPI on the window (None: no labels or no champion)
    data_drift: bool
    model_drift: bool
    retrained: bool
    promoted: bool
    rule: str  # the promotion rule that decided ('' without a candidate)
    before_change: bool | None  # None: no change point declared
    note: str = ""


@dataclass(frozen=True)
class BacktestTotals:
    """Counts over the replayed windows (``*_before`` only for windows before the change point)."""

    windows: int
    data_drift: int
    model_drift: int
    retrains: int
    swaps: int  # promotions that replaced a champion (the first model is not counted)
    mean_kpi: float | None
    worst_kpi: float | None
    windows_before: int | None = None
    data_drift_before: int | None = None
    model_drift_before: int | None = None
    swaps_before: int | None = None
    detected_at: str | None = None  # first window at or after the change point with a data- or model-drift alarm


@dataclass(frozen=True)
class BacktestResult:
    """One policy replayed over the windows."""

    use_case: str
    policy: str
    metric: str
    change_point: str | None
    windows: list[WindowOutcome] = field(default_factory=list)

    @property
    def totals(self) -> BacktestTotals:
        return totals_of(self.windows, self.change_point, higher_is_better=self.metric not in _LOWER_IS_BETTER)

    def as_dict(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case,
            "policy": self.policy,
            "metric": self.metric,
            "change_point": self.change_point,
            "windows": [asdict(w) for w in self.windows],
            "totals": asdict(self.totals),
        }


_LOWER_IS_BETTER = ("log_loss", "brier", "rmse", "mae", "mape")


def _swapped(outcome: WindowOutcome) -> bool:
    """A promotion that replaced a champion (the first model is no swap)."""
    return outcome.promoted and outcome.rule != "first_candidate"


def totals_of(windows: list[WindowOutcome], change_point: str | None, *, higher_is_better: bool) -> BacktestTotals:
    """The counts of :class:`BacktestTotals` over ``windows``."""
    kpis = [w.kpi for w in windows if w.kpi is not None]
    worst = (min(kpis) if higher_is_better else max(kpis)) if kpis else None
    base = BacktestTotals(
        windows=len(windows),
        data_drift=sum(w.data_drift for w in windows),
        model_drift=sum(w.model_drift for w in windows),
        retrains=sum(w.retrained for w in windows),
        swaps=sum(_swapped(w) for w in windows),
        mean_kpi=sum(kpis) / len(kpis) if kpis else None,
        worst_kpi=worst,
    )
    if change_point is None:
        return base
    before = [w for w in windows if w.window < change_point]
    after = [w for w in windows if w.window >= change_point and (w.data_drift or w.model_drift)]
    return BacktestTotals(
        **{
            **asdict(base),
            "windows_before": len(before),
            "data_drift_before": sum(w.data_drift for w in before),
            "model_drift_before": sum(w.model_drift for w in before),
            "swaps_before": sum(_swapped(w) for w in before),
            "detected_at": after[0].window if after else None,
        }
    )


# --- the scratch workspace ------------------------------------------------------------------------------------------
def _link(source: Path, target: Path) -> None:
    target.symlink_to(source, target_is_directory=source.is_dir())


def _scratch_marts(real: Path, scratch: Path, mart: str) -> None:
    """Fresh mart folders (their .sql transforms copied) for the use case's mart and every folder holding versions or
    a transform; every other entry (raw data) linked read-only."""
    scratch.mkdir(parents=True, exist_ok=True)
    if not real.is_dir():
        return
    for entry in sorted(real.iterdir()):
        if entry.name.startswith("."):
            continue
        is_store = entry.is_dir() and (entry.name == mart or (entry / "versions").exists() or any(entry.glob("*.sql")))
        if not is_store:
            _link(entry, scratch / entry.name)
            continue
        (scratch / entry.name).mkdir()
        for sql in entry.glob("*.sql"):
            shutil.copy2(sql, scratch / entry.name / sql.name)


def scratch_workspace(ws: Workspace, folder: Path, mart: str) -> Workspace:
    """A workspace in ``folder`` whose runs, model and mart stores are new and empty; everything else (params,
    notebooks, raw data) is linked to the real workspace, which nothing here writes to."""
    folder.mkdir(parents=True, exist_ok=True)
    stores = {ws.runs.resolve(), ws.model_store.resolve(), ws.feature_marts.resolve()}
    lines = ["[tool.millpond]", *(f'{key} = "{value}"' for key, value in sorted(ws.folders.items()))]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for entry in sorted(ws.root.iterdir()):
        if entry.name in _SKIP_AT_ROOT or entry.resolve() in stores:
            continue
        if any(store.is_relative_to(entry.resolve()) for store in stores):
            continue  # a folder holding a store (a custom layout): not linked
        _link(entry, folder / entry.name)
    scratch = Workspace(root=folder.resolve(), folders=dict(ws.folders))
    scratch.runs.mkdir(parents=True, exist_ok=True)
    scratch.model_store.mkdir(parents=True, exist_ok=True)
    _scratch_marts(ws.feature_marts, scratch.feature_marts, mart)
    return scratch


@contextmanager
def scratch_folder(keep: Path | None) -> Iterator[Path]:
    """``keep`` (left in place), else a temporary folder removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    folder = Path(tempfile.mkdtemp(prefix="millpond-backtest-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- policies -------------------------------------------------------------------------------------------------------
def policy_use_case(use_case: UseCase, policy: str) -> UseCase:
    """The use case as ``policy`` runs it, with notifications off (a backtest tells nobody)."""
    if policy not in POLICIES:
        raise ParamsError(
            f"--policy must be one of {', '.join(POLICIES)}; got {policy!r}.{did_you_mean(policy, POLICIES)}"
        )
    data = use_case.model_dump()
    data["notify"] = NotifySpec().model_dump()
    if policy in ("evidence", "point"):
        data["promotion"]["policy"] = policy
    if policy == "always":
        data["retrain"]["every_n_windows"] = 1
        data["promotion"].update(policy="point", min_improvement=-1e300, guard_metric=None, compare_previous=False)
        data["promotion"]["require_significant"] = False
    return UseCase.model_validate(data)


# --- the replay -----------------------------------------------------------------------------------------------------
def _outcome(window: str, results: dict[str, Any], champion: str | None, change_point: str | None) -> WindowOutcome:
    score, drift, train, promote = (results.get(s) for s in ("score", "drift", "train", "promote"))
    metric_kpi = (score.summary.get("kpi") or {}) if score is not None else {}
    kpi = next(iter(metric_kpi.values()), None) if metric_kpi else None
    drift_summary = drift.summary if drift is not None and drift.status == "succeeded" else {}
    promoted = bool(promote is not None and promote.summary.get("promoted"))
    return WindowOutcome(
        window=window,
        champion=champion,
        kpi=float(kpi) if kpi is not None else None,
        data_drift=bool(drift_summary.get("data_drift")),
        model_drift=bool(drift_summary.get("model_drift")),
        retrained=bool(train is not None and train.status == "succeeded"),
        promoted=promoted,
        rule=str(promote.summary.get("rule", "")) if promote is not None and promote.status == "succeeded" else "",
        before_change=None if change_point is None else window < change_point,
        note=drift.reason if drift is not None else "",
    )


def replay(
    ws: Workspace,
    use_case: UseCase,
    windows: list[str],
    *,
    policy: str,
    change_point: str | None,
    on_window: Callable[[WindowOutcome], None] | None = None,
) -> BacktestResult:
    """Run the stages of each window in order in ``ws`` (a scratch workspace) under ``policy``."""
    from millpond.runs.stages import RUNNERS, StageContext

    uc = policy_use_case(use_case, policy)
    result = BacktestResult(uc.use_case, policy, uc.promotion.metric, change_point)
    for window in windows:
        results: dict[str, Any] = {}
        serving = None
        for stage in STAGE_ORDER:
            ctx = StageContext(workspace=ws, use_case=uc, window=window, run_id=f"backtest-{window}/{stage}")
            if stage == "score":
                champion = ctx.champion()
                serving = champion.version if champion is not None else None
            if policy == "static" and stage in ("train", "promote") and serving is not None:
                continue
            results[stage] = RUNNERS[stage](ctx)
        outcome = _outcome(window, results, serving, change_point)
        result.windows.append(outcome)
        if on_window is not None:
            on_window(outcome)
    return result


def select_windows(available: list[str], spec: str | None) -> list[str]:
    """The windows ``A..B`` (either end may be left out) of ``available``, in order; all of them without ``spec``."""
    if not available:
        raise ParamsError("The use case's source has no windows to replay: check source.path and its {window}.")
    if not spec:
        return available
    if ".." not in spec:
        raise ParamsError(f"--windows takes A..B (either end may be left out, e.g. 2025-03..); got {spec!r}.")
    low, high = (part.strip() or None for part in spec.split("..", 1))
    chosen = [w for w in available if (low is None or w >= low) and (high is None or w <= high)]
    if not chosen:
        raise ParamsError(
            f"No window of the source lies in {spec!r}; the source has {available[0]} .. {available[-1]}."
        )
    return chosen


def run_backtest(
    ws: Workspace,
    use_case: UseCase,
    *,
    windows: str | None = None,
    policies: list[str] | None = None,
    change_point: str | None = None,
    keep: Path | None = None,
    on_window: Callable[[str, WindowOutcome], None] | None = None,
) -> list[BacktestResult]:
    """Replay each policy (default: the use case's own) over the selected windows, each in its own scratch workspace."""
    from millpond.ops.scheduler import available_windows

    chosen = select_windows(available_windows(ws, use_case), windows)
    point = change_point if change_point is not None else use_case.drift.change_point
    results = []
    for policy in policies or ["usecase"]:
        policy_use_case(use_case, policy)  # a bad name fails before any work
    for policy in policies or ["usecase"]:
        with scratch_folder(keep / policy if keep is not None else None) as folder:
            scratch = scratch_workspace(ws, folder, use_case.use_case)
            previous = os.environ.get("MILLPOND_WORKSPACE")
            os.environ["MILLPOND_WORKSPACE"] = str(scratch.root)
            try:
                callback = (lambda o, p=policy: on_window(p, o)) if on_window is not None else None
                results.append(replay(scratch, use_case, chosen, policy=policy, change_point=point, on_window=callback))
            finally:
                if previous is None:
                    os.environ.pop("MILLPOND_WORKSPACE", None)
                else:
                    os.environ["MILLPOND_WORKSPACE"] = previous
    return results
