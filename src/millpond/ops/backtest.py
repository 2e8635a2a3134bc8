"""``millpond backtest``: replay the cycle over the windows a use case's data already has, in a scratch workspace.

The scratch workspace (a temporary folder) links the real workspace's params, notebooks and raw data read-only and
starts with empty run, mart and model stores, so the real stores are never touched. Each window runs the same stage
functions the notebooks call (ingest, score, drift, train, promote), in this process, with notifications off.

A policy is the use case's own (``usecase``) or one of the alternatives replayed on the same windows, always beside
the two baselines (unless asked not to):

* ``evidence`` / ``point``: the use case with ``promotion.policy`` set to that;
* ``static``: the first model, never retrained (a baseline);
* ``always``: retrain and promote at every window (a baseline).

Per window the result says the serving model's realised KPI, the data-drift and model-drift verdicts, whether a
candidate was trained and promoted (and by which rule); the totals count alarms, retrains and swaps, split at the
change point when one is declared (``drift.change_point`` in the YAML or ``--change-point``): alarms in windows before
it are false alarms, and the first alarm at or after it says when the change was detected.

:func:`compare_policies` sets the policies side by side (:class:`PolicySummary`): mean and worst KPI, regret against
the best policy at each window and against ``always``, retrains and promotions, and the alarms raised in *quiet*
windows, where the baselines show nothing changed (see :func:`quiet_windows`), which need no declared change point.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from millpond.config.params import NotifySpec, UseCase
from millpond.drift.kpis import HIGHER_IS_BETTER, kpi_tolerance
from millpond.errors import ParamsError, did_you_mean
from millpond.workspace import Workspace

POLICIES = ("usecase", "evidence", "point", "static", "always")
"""The policies ``millpond backtest --policy`` replays (see the module docstring)."""
BASELINES = ("static", "always")
"""Replayed beside the chosen policies unless ``baselines=False``."""
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
    promotions: int  # every promotion, the first model's included
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
        return totals_of(self.windows, self.change_point, higher_is_better=HIGHER_IS_BETTER[self.metric])

    def as_dict(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case,
            "policy": self.policy,
            "metric": self.metric,
            "change_point": self.change_point,
            "windows": [asdict(w) for w in self.windows],
            "totals": asdict(self.totals),
        }


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
        promotions=sum(w.promoted for w in windows),
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


# --- policies side by side -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicySummary:
    """One policy's line of the comparison (KPI regrets are in the metric's units; positive is worse)."""

    policy: str
    windows: int
    mean_kpi: float | None
    worst_kpi: float | None
    regret_best: float | None  # mean shortfall against the best replayed policy at each window
    regret_always: float | None  # mean shortfall against the always baseline (negative: better than always)
    retrains: int
    promotions: int
    swaps: int
    data_drift: int
    model_drift: int
    quiet_alarms: int  # windows the baselines call quiet in which this policy raised a data- or model-drift alarm
    false_alarms: int | None  # windows before the change point with an alarm (None: no change point)
    false_swaps: int | None
    detected_at: str | None


@dataclass(frozen=True)
class BacktestReport:
    """The replayed policies of one backtest and their comparison."""

    use_case: str
    metric: str
    change_point: str | None
    tolerance: float  # the KPI change quiet_windows tolerates
    quiet: list[str]
    results: list[BacktestResult]
    summaries: list[PolicySummary]

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    def as_dict(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "change_point": self.change_point,
            "quiet_tolerance": self.tolerance,
            "quiet_windows": self.quiet,
            "summary": [asdict(s) for s in self.summaries],
            "results": [r.as_dict() for r in self.results],
        }


def _kpis(result: BacktestResult) -> dict[str, float]:
    return {w.window: w.kpi for w in result.windows if w.kpi is not None}


def quiet_windows(results: list[BacktestResult], tolerance: float) -> list[str]:
    """Windows where the baselines show nothing changed: the static model's KPI is within ``tolerance`` of its
    first scored window's, and retraining every window (always) did not beat it by more than ``tolerance``.
    Empty unless both baselines were replayed."""
    by_policy = {r.policy: r for r in results}
    if not all(name in by_policy for name in BASELINES):
        return []
    sign = 1.0 if HIGHER_IS_BETTER[by_policy["static"].metric] else -1.0
    static, always = _kpis(by_policy["static"]), _kpis(by_policy["always"])
    if not static:
        return []
    first = static[min(static)]
    return [
        window
        for window, kpi in sorted(static.items())
        if sign * (first - kpi) <= tolerance and window in always and sign * (always[window] - kpi) <= tolerance
    ]


def _mean_shortfall(own: dict[str, float], best: dict[str, float], sign: float) -> float | None:
    gaps = [sign * (best[w] - own[w]) for w in best if w in own]
    return sum(gaps) / len(gaps) if gaps else None


def _summary(
    result: BacktestResult, best: dict[str, float], always: dict[str, float], quiet: set[str]
) -> PolicySummary:
    t = result.totals
    sign = 1.0 if HIGHER_IS_BETTER[result.metric] else -1.0
    own = _kpis(result)
    before = [w for w in result.windows if w.before_change]
    return PolicySummary(
        policy=result.policy,
        windows=t.windows,
        mean_kpi=t.mean_kpi,
        worst_kpi=t.worst_kpi,
        regret_best=_mean_shortfall(own, best, sign),
        regret_always=_mean_shortfall(own, always, sign) if always else None,
        retrains=t.retrains,
        promotions=t.promotions,
        swaps=t.swaps,
        data_drift=t.data_drift,
        model_drift=t.model_drift,
        quiet_alarms=sum((w.data_drift or w.model_drift) for w in result.windows if w.window in quiet),
        false_alarms=sum((w.data_drift or w.model_drift) for w in before) if result.change_point else None,
        false_swaps=t.swaps_before,
        detected_at=t.detected_at,
    )


def compare_policies(results: list[BacktestResult], use_case: UseCase) -> BacktestReport:
    """The policies side by side. Regrets count the windows where every replayed policy has a KPI; the tolerance of
    the quiet windows is the use case's model-drift tolerance (relative to static's first KPI for RMSE/MAE/MAPE)."""
    metric = use_case.promotion.metric
    pick = max if HIGHER_IS_BETTER[metric] else min
    kpis = [_kpis(r) for r in results]
    common = set.intersection(*(set(k) for k in kpis)) if kpis else set()
    best = {w: pick(k[w] for k in kpis) for w in sorted(common)}
    by_policy = {r.policy: k for r, k in zip(results, kpis, strict=True)}
    static = by_policy.get("static") or {}
    tolerance = kpi_tolerance(
        metric,
        static[min(static)] if static else None,
        absolute=use_case.drift.kpi_tolerance,
        relative=use_case.drift.kpi_tolerance_relative,
    )
    quiet = quiet_windows(results, tolerance)
    always = {w: v for w, v in (by_policy.get("always") or {}).items() if w in common}
    summaries = [_summary(r, best, always, set(quiet)) for r in results]
    change_point = results[0].change_point if results else None
    return BacktestReport(use_case.use_case, metric, change_point, tolerance, quiet, results, summaries)


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
def check_policy(policy: str) -> None:
    """ParamsError unless ``policy`` is one of :data:`POLICIES` (suggesting the closest)."""
    if policy not in POLICIES:
        raise ParamsError(
            f"--policy must be one of {', '.join(POLICIES)}; got {policy!r}.{did_you_mean(policy, POLICIES)}"
        )


def policy_use_case(use_case: UseCase, policy: str) -> UseCase:
    """The use case as ``policy`` runs it, with notifications off (a backtest tells nobody)."""
    check_policy(policy)
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


def policies_to_run(policies: list[str] | None, baselines: bool) -> list[str]:
    """The chosen policies (default: the use case's own), then the baselines not already chosen."""
    chosen = list(dict.fromkeys(policies or ["usecase"]))
    for policy in chosen:
        check_policy(policy)
    return chosen + [b for b in BASELINES if baselines and b not in chosen]


QUIET_LOGGERS = ("millpond.governance.events", "millpond.models.store")
"""Loggers whose warnings are the replay's own business (events into the scratch log, a promotion's smoke test due
at the next window): only their errors reach the terminal during a backtest."""


@contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _workspace_env(root: Path) -> Iterator[None]:
    """``MILLPOND_WORKSPACE`` set to ``root`` while the stages run (they resolve the workspace from it)."""
    previous = os.environ.get("MILLPOND_WORKSPACE")
    os.environ["MILLPOND_WORKSPACE"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MILLPOND_WORKSPACE", None)
        else:
            os.environ["MILLPOND_WORKSPACE"] = previous


def run_backtest(
    ws: Workspace,
    use_case: UseCase,
    *,
    windows: str | None = None,
    policies: list[str] | None = None,
    change_point: str | None = None,
    keep: Path | None = None,
    on_window: Callable[[str, WindowOutcome], None] | None = None,
    baselines: bool = True,
) -> BacktestReport:
    """Replay each policy (default: the use case's own) and the baselines static and always over the selected
    windows, each in its own scratch workspace, and compare them."""
    from millpond.ops.scheduler import available_windows

    chosen = select_windows(available_windows(ws, use_case), windows)
    point = change_point if change_point is not None else use_case.drift.change_point
    results = []
    for policy in policies_to_run(policies, baselines):  # a bad name fails before any work
        with scratch_folder(keep / policy if keep is not None else None) as folder:
            scratch = scratch_workspace(ws, folder, use_case.use_case)
            callback = (lambda o, p=policy: on_window(p, o)) if on_window is not None else None
            with _workspace_env(scratch.root), _quiet():
                results.append(replay(scratch, use_case, chosen, policy=policy, change_point=point, on_window=callback))
    return compare_policies(results, use_case)
