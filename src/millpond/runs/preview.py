"""A stage run read-only: computes and shows what the stage would do, writes nothing to any store.

A stage notebook run top to bottom in JupyterLab with the defaults (``commit=False``) gets a preview of its stage
(:func:`preview`): ingest reads and describes the raw rows, score scores the mart without capturing or logging,
drift analyses the window without logging the verdict, train fits a candidate without saving it, promote compares
the candidate with its rivals without deciding or moving an alias. Nothing is locked or recorded.

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
    """Run ``stage``'s read-only preview under :func:`read_only` over the workspace's stores."""
    ws = ctx.workspace
    with read_only([ws.feature_marts, ws.model_store, ws.runs, ws.logs]):
        result = PREVIEWS[stage](ctx)
    result.reason = f"{PREVIEW}. {result.reason}".rstrip(". ") if result.reason else PREVIEW
    result.summary["committed"] = False
    return result


def _ingest(ctx: StageContext) -> StageResult:
    from millpond.marts.store import read_raw

    frame, provenance = read_raw(ctx.workspace, ctx.use_case, ctx.window)
    missing = sorted(set(ctx.use_case.columns) - set(frame.columns))
    summary = {"rows": len(frame), "source": provenance.get("path") or provenance.get("url"), "missing": missing}
    tables = {"first rows": frame.head(5), "numeric summary": frame.describe().round(3)}
    return StageResult(
        "ingest", "succeeded", "the raw rows, as read (not validated into a mart version)", summary, tables
    )


def _score(ctx: StageContext) -> StageResult:
    from millpond.scoring.batch import Scorer, score_file

    champion = ctx.champion()
    if champion is None:
        return StageResult("score", "skipped", NO_CHAMPION["score"])
    scorer = Scorer.load(ctx.models, ctx.name, champion.version, role="champion", use_case=ctx.use_case)
    mart = ctx.marts.latest(ctx.name, ctx.window)
    result = score_file(mart.data_path, scorer, window=ctx.window)  # no captures, no output, no KPI logged
    metric = ctx.use_case.promotion.metric
    summary: dict[str, Any] = {"champion": scorer.version, "mart_version": mart.version, "rows": result.rows}
    if scorer.version in result.metrics:
        summary["kpi"] = {metric: result.metrics[scorer.version].get(metric)}
    return StageResult("score", "succeeded", "", summary, {"prediction sample": result.sample})


def _drift(ctx: StageContext) -> StageResult:
    from millpond.drift.analysis import analyse_drift

    champion = ctx.champion()
    if champion is None:
        return StageResult("drift", "skipped", NO_CHAMPION["drift"])
    report = analyse_drift(ctx, champion)
    data = drift_plot_data(report, ctx.use_case)
    tables = {"drift per feature (by impact)": report.table.round(4)}
    return StageResult("drift", "succeeded", report.reason, report.summary(), tables, data)


def _train(ctx: StageContext) -> StageResult:
    import pandas as pd

    from millpond.models.training import fit, split_training_data

    reasons = retrain_reasons(ctx)
    if not reasons:
        return StageResult("train", "skipped", NOT_TRIGGERED)
    uc = ctx.use_case
    versions = ctx.marts.window_span(ctx.name, ctx.window, uc.training.windows)
    train, holdout, windows = split_training_data([(v.window, v.read()) for v in versions], ctx.window, uc)
    result = fit(train, holdout, uc, windows=windows)
    importance = pd.Series(result.importance).sort_values(ascending=False).to_frame("importance")
    summary = {"reasons": reasons, "metrics": {k: round(v, 4) for k, v in result.metrics.items()}}
    data = {"task": uc.task, "holdout_scores": result.holdout_scores, "importance": importance}
    tables = {"feature importance (normalised)": importance.round(4)}
    return StageResult("train", "succeeded", "; ".join(reasons) + " (candidate not saved)", summary, tables, data)


def _promote(ctx: StageContext) -> StageResult:
    from millpond.governance.promotion import compare_paired, find_candidate, rivals_for
    from millpond.models.training import holdout_mask

    candidate = find_candidate(ctx.models, ctx.log, ctx.name, ctx.window)
    if candidate is None:
        return StageResult("promote", "skipped", NO_CANDIDATE)
    current = ctx.marts.latest(ctx.name, ctx.window).read()
    labelled = current[holdout_mask(current, ctx.use_case)]
    rivals = rivals_for(ctx.models, ctx.log, ctx.use_case, ctx.window, candidate.version)
    model = ctx.models.load(ctx.name, candidate.version)[0]
    comparison = compare_paired(model, rivals, labelled, ctx.use_case)
    summary = {"candidate": candidate.version, "rivals": [r.version for r in rivals], "promoted": False}
    tables = {"paired comparison on the held-out rows (gain = candidate better)": comparison.round(4)}
    return StageResult("promote", "succeeded", "compared only: no decision, no alias moved", summary, tables)


PREVIEWS = {"ingest": _ingest, "score": _score, "drift": _drift, "train": _train, "promote": _promote}
