"""Champion/candidate comparison and the promotion decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from millpond.params import UseCase
from millpond.training import evaluate


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing a candidate with the champion on the same labelled rows."""

    promote: bool
    reason: str
    metric: str
    candidate_score: float
    champion_score: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "metric": self.metric,
            "candidate_score": self.candidate_score,
            "champion_score": self.champion_score,
        }


def decide(candidate: Any, champion: Any | None, labelled: pd.DataFrame, use_case: UseCase) -> Decision:
    """Promote when there is no champion or the candidate beats it by ``promotion.min_improvement``."""
    metric = use_case.promotion.metric
    candidate_score = evaluate(candidate, labelled, use_case)[metric]
    if champion is None:
        return Decision(True, "no champion yet: the first candidate becomes champion", metric, candidate_score, None)
    champion_score = evaluate(champion, labelled, use_case)[metric]
    gain = candidate_score - champion_score if use_case.metric_higher_is_better else champion_score - candidate_score
    needed = use_case.promotion.min_improvement
    verdict = "beats" if gain >= needed else "does not beat"
    reason = (
        f"candidate {metric} {candidate_score:.4f} vs champion {champion_score:.4f} on {len(labelled)} held-out rows: "
        f"gain {gain:+.4f} {verdict} the required {needed:+.4f}"
    )
    return Decision(gain >= needed, reason, metric, candidate_score, champion_score)
