"""A stage run read-only: computes and shows what the stage would do, writes nothing to any store.

A stage notebook run top to bottom in JupyterLab with the defaults (``commit=False``) gets a preview of its stage
(:func:`preview`): ingest reads and describes the raw rows it would ingest, score scores the mart with the champion
without capturing or logging, drift analyses the window without logging the verdict, train fits the candidate it
would fit (also when the retrain policy is not triggered, saying so) without saving it, promote applies the policy
to the window's candidate (or, when none is stored, to the one train would fit) and says what it would decide,
without recording a decision or moving an alias. Nothing is locked or recorded. In a workspace without the data a
stage needs (a fresh one), the preview says what to run first instead of failing.

The previews are written not to write; :func:`read_only` makes sure of it: while it is active, an audit hook
(``sys.addaudithook``) refuses every Python-level write, rename, removal, mkdir or SQLite connection under the
workspace's stores (marts, models and captures, runs, logs) with :class:`~millpond.errors.ReadOnlyRunError`,
so a write a preview missed fails loudly instead of landing silently.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from millpond.errors import ReadOnlyRunError
from millpond.runs.context import StageContext, StageResult, drift_plot_data, retrain_reasons
from millpond.runs.skips import NO_CANDIDATE, NO_CHAMPION, NOT_TRIGGERED

PREVIEW = "preview (commit=False): nothing was stored, locked or recorded; set commit = True to write"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {
    "os.rename": 2,  # os.rename and os.replace: source and target
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.truncate": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.utime": 1,
    "os.link": 2,
    "os.symlink": 2,
    "shutil.rmtree": 1,
    "shutil.move": 2,
    "shutil.copyfile": 2,
    "sqlite3.connect": 1,
}
_GUARDED: list[tuple[str, ...]] = []  # process-wide, not a ContextVar: stages run work in threads
_HOOKED: list[bool] = []


def _is_write(event: str, args: tuple[Any, ...]) -> list[Any]:
    """The paths an audit event writes (empty: it writes none)."""
    if event == "open":
        path, mode, flags = (list(args) + [None, None])[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        return [path] if writes else []
    count = _PATH_EVENTS.get(event)
    return list(args[:count]) if count else []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _GUARDED or (event != "open" and event not in _PATH_EVENTS):
        return
    for path in _is_write(event, args):
        if not isinstance(path, str | bytes | os.PathLike):
            continue
        text = os.path.abspath(os.fsdecode(path))
        if any(text == root or text.startswith(root + os.sep) for root in _GUARDED[-1]):
            raise ReadOnlyRunError(
                f"This stage runs read-only (an interactive kernel with commit=False) and tried to write {text} "
                f"({event}). Nothing was stored. Set `commit = True` in the parameters cell to run it as a recorded, "
                "locked run, or run it with `millpond run`."
            )


@contextmanager
def read_only(roots: list[Path]) -> Iterator[None]:
    """Refuse every write under ``roots`` while inside (see the module docstring)."""
    if not _HOOKED:
        sys.addaudithook(_audit)  # a hook cannot be removed: it does nothing while no guard is active
        _HOOKED.append(True)
    _GUARDED.append(tuple(os.path.abspath(r) for r in roots))
    try:
        yield
    finally:
        _GUARDED.pop()


def preview(stage: str, ctx: StageContext) -> StageResult:
    """Run ``stage``'s read-only preview under :func:`read_only` over the workspace's stores.

    An input the stage needs but the workspace lacks (no raw rows for the window, no mart version of it) gives a
    ``skipped`` result saying what to run first, not an exception: a fresh workspace's notebooks run to the end."""
    from millpond.errors import MartVersionNotFoundError, SourceNotFoundError

    ws = ctx.workspace
    with read_only([ws.feature_marts, ws.model_store, ws.runs, ws.logs]):
        try:
            result = PREVIEWS[stage](ctx)
        except SourceNotFoundError as exc:
            result = _nothing(stage, f"nothing to preview: {exc}", no_raw_data())
        except MartVersionNotFoundError as exc:
            result = _nothing(stage, f"nothing to preview: {exc}", first_steps(ctx))
    result.reason = f"{PREVIEW}. {result.reason}".rstrip(". ") if result.reason else PREVIEW
    result.summary["committed"] = False
    return result


def _nothing(stage: str, cause: str, todo: str) -> StageResult:
    """A preview with nothing to show: why (the status line) and what to do (the table under it)."""
    return StageResult(stage, "skipped", cause, {"what to do": todo})


def first_steps(ctx: StageContext) -> str:
    """What to run so that a stage has something to work on: the demo, or a cycle of the use case."""
    return (
        f"`millpond cycle --params params/{ctx.name}.yaml --window {ctx.window}` in a terminal at the "
        "workspace runs every stage of the window (ingest.ipynb with commit = True ingests it from here); "
        "`millpond demo` generates the demo's data and runs its whole cycle."
    )


def no_raw_data() -> str:
    """What to do when the window's raw rows are missing."""
    return (
        "For the demo's data, run `millpond demo` (or `make demo`) in a terminal at the workspace: it writes "
        "feature_marts/raw/churn/ and runs the cycle over every window. For your own data, point `source` in the "
        "parameters cell (or your params file) at it and set `window`."
    )


def _ingest(ctx: StageContext) -> StageResult:
    import pandas as pd

    from millpond.marts.store import read_raw

    frame, provenance = read_raw(ctx.workspace, ctx.use_case, ctx.window)
    declared = ctx.use_case.columns
    missing = sorted(set(declared) - set(frame.columns))
    columns = pd.DataFrame(
        {
            "declared": [declared.get(c, "(not declared)") for c in frame.columns],
            "read as": [str(frame[c].dtype) for c in frame.columns],
            "nulls": [int(frame[c].isna().sum()) for c in frame.columns],
        },
        index=pd.Index(frame.columns, name="column"),
    )
    summary = {"rows": len(frame), "source": provenance.get("path") or provenance.get("url"), "missing": missing}
    tables = {"first rows": frame.head(5), "columns": columns, "numeric summary": frame.describe().round(3)}
    reason = "the raw rows the window would ingest, as read (validated and stored only with commit = True)"
    return StageResult("ingest", "succeeded", reason, summary, tables)


def _no_champion(stage: str, ctx: StageContext) -> StageResult:
    return _nothing(stage, NO_CHAMPION[stage], first_steps(ctx))


def _score(ctx: StageContext) -> StageResult:
    from millpond.scoring.batch import Scorer, score_file

    champion = ctx.champion()
    if champion is None:
        return _no_champion("score", ctx)
    mart = ctx.marts.latest(ctx.name, ctx.window)
    scorer = Scorer.load(ctx.models, ctx.name, champion.version, role="champion", use_case=ctx.use_case)
    run_id = "preview (not recorded)"
    result = score_file(mart.data_path, scorer, window=ctx.window, run_id=run_id)  # no captures, output or KPI
    metric = ctx.use_case.promotion.metric
    summary: dict[str, Any] = {"champion": scorer.version, "mart_version": mart.version, "rows": result.rows}
    if scorer.version in result.metrics:
        summary["kpi"] = {metric: result.metrics[scorer.version].get(metric)}
    reason = "the champion's predictions for the window (neither captured nor logged)"
    return StageResult("score", "succeeded", reason, summary, {"prediction sample": result.sample})


def _drift(ctx: StageContext) -> StageResult:
    from millpond.drift.analysis import analyse_drift

    champion = ctx.champion()
    if champion is None:
        return _no_champion("drift", ctx)
    ctx.marts.latest(ctx.name, ctx.window)  # no mart of the window: say what to run (see preview)
    report = analyse_drift(ctx, champion)
    data = drift_plot_data(report, ctx.use_case)
    tables = {"drift per feature (by impact)": report.table.round(4)}
    return StageResult("drift", "succeeded", report.reason, report.summary(), tables, data)


def fit_candidate(ctx: StageContext) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fit the candidate the train stage would fit at this window, in memory: (model, summary, plot data)."""
    import pandas as pd

    from millpond.models.training import fit, split_training_data

    uc = ctx.use_case
    ctx.marts.latest(ctx.name, ctx.window)  # the window itself must be ingested (its holdout measures the fit)
    versions = ctx.marts.window_span(ctx.name, ctx.window, uc.training.windows)
    train, holdout, windows = split_training_data([(v.window, v.read()) for v in versions], ctx.window, uc)
    result = fit(train, holdout, uc, windows=windows)
    importance = pd.Series(result.importance).sort_values(ascending=False).to_frame("importance")
    summary = {
        "train_rows": result.train_rows,
        "holdout_rows": result.holdout_rows,
        "windows": [v.window for v in versions],
        "metrics": {k: round(v, 4) for k, v in result.metrics.items()},
    }
    data = {"task": uc.task, "holdout_scores": result.holdout_scores, "importance": importance}
    return result.model, summary, data


def _train(ctx: StageContext) -> StageResult:
    reasons = retrain_reasons(ctx)
    _, summary, data = fit_candidate(ctx)
    if reasons:
        why = "; ".join(reasons) + ": the candidate it would fit and store (not saved)"
    else:
        why = f"{NOT_TRIGGERED}, so a cycle would fit none here; the candidate it would fit (not saved)"
    summary = {"reasons": reasons or ["none (not triggered)"], **summary}
    tables = {"feature importance (normalised)": data["importance"].round(4)}
    return StageResult("train", "succeeded", why, summary, tables, data)


def _promote(ctx: StageContext) -> StageResult:
    from millpond.governance.promotion import decide_governed, find_candidate, rivals_for
    from millpond.models.training import holdout_mask

    current = ctx.marts.latest(ctx.name, ctx.window).read()
    labelled = current[holdout_mask(current, ctx.use_case)]
    stored = find_candidate(ctx.models, ctx.log, ctx.name, ctx.window)
    if stored is not None:
        model, version = ctx.models.load(ctx.name, stored.version)[0], stored.version
        which = f"candidate {version}"
    else:
        model, version = fit_candidate(ctx)[0], ""
        which = f"{NO_CANDIDATE}: the candidate train would fit (not saved)"
    rivals = rivals_for(ctx.models, ctx.log, ctx.use_case, ctx.window, version)
    drift = ctx.log.latest("drift", ctx.window)
    drifted = drift is not None and drift.model_drift
    decision, comparison = decide_governed(model, rivals, labelled, ctx.use_case, champion_drifted=drifted)
    manual = decision.promote and ctx.use_case.promotion.approval == "manual"
    verdict = (
        "would wait for a person's approval" if manual else "would promote" if decision.promote else "would reject"
    )
    summary = {"candidate": version or "(fitted here)", "rivals": [r.version for r in rivals], "promoted": False}
    summary.update(decision.as_dict())
    tables = {"paired comparison on the held-out rows (gain = candidate better)": comparison.round(4)}
    reason = f"{which}; the policy {verdict} ({decision.reason}); no decision recorded, no alias moved"
    return StageResult("promote", "succeeded", reason, summary, tables)


PREVIEWS = {"ingest": _ingest, "score": _score, "drift": _drift, "train": _train, "promote": _promote}
