"""Which skips are decided before a kernel starts: the stage's own first checks, from the stores' metadata.

:func:`skip_reason` is what the stages (:mod:`millpond.runs.stages`) check first and what the runner asks before
it starts a stage's kernel (:func:`millpond.runs.runner.skip_up_front`): score and drift without a champion, train
when the retrain policy is not triggered, promote without an undecided candidate for the window.
"""

from __future__ import annotations

from millpond.runs import context
from millpond.runs.context import StageContext

NO_CHAMPION = {
    "score": "no champion yet: nothing to score with",
    "drift": "no champion yet: no reference data to compare with",
}
NOT_TRIGGERED = "retrain policy not triggered: no impactful drift, no model drift, not due"
NO_CANDIDATE = "no undecided candidate trained for this window"


def skip_reason(stage: str, ctx: StageContext) -> str | None:
    """Why ``stage`` would skip at ``ctx``'s window, decided from the stores' metadata alone (None: it would run).

    The same checks the stages make first, so the runner can record a skip without starting a kernel: score and
    drift without a champion, train when :func:`~millpond.runs.context.retrain_reasons` is empty, promote without an undecided candidate
    for the window. A stage that has work does it in its notebook; only these cheap skips are decided up front.
    """
    if stage in NO_CHAMPION:
        return NO_CHAMPION[stage] if ctx.champion() is None else None
    if stage == "train":
        return None if context.retrain_reasons(ctx) else NOT_TRIGGERED
    if stage == "promote":
        from millpond.governance.promotion import find_candidate

        return NO_CANDIDATE if find_candidate(ctx.models, ctx.log, ctx.name, ctx.window) is None else None
    return None
