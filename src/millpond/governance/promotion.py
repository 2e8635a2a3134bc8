"""Champion/candidate comparison and the promotion decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from millpond.config.params import UseCase
from millpond.models.training import evaluate


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


# --- governed comparison: candidate vs champion and the champions of T-1, T-2 ------------------------
@dataclass(frozen=True)
class Rival:
    """A model the candidate is compared with: the champion, or the champion of an earlier window."""

    role: str  # "champion", "champion of 2025-05"…
    version: str
    model: Any


def compare_paired(candidate: Any, rivals: list[Rival], labelled: pd.DataFrame, use_case: UseCase) -> pd.DataFrame:
    """Per rival: candidate − rival on the same labelled rows for the metric (and guard metric), paired bootstrap CI.

    Differences are oriented so that positive always means the candidate is better.
    """
    from millpond.drift.performance import HIGHER_IS_BETTER, paired_difference
    from millpond.models.training import predict_scores

    policy = use_case.promotion
    y = labelled[use_case.target].to_numpy()
    features = labelled[use_case.feature_columns]
    threshold = use_case.scoring.threshold
    cand = predict_scores(candidate, features, use_case)
    rows = []
    for index, rival in enumerate(rivals):
        other = predict_scores(rival.model, features, use_case)
        row: dict[str, Any] = {"rival": rival.role, "version": rival.version, "rows": len(y)}
        for label, metric in (("metric", policy.metric), ("guard", policy.guard_metric)):
            if metric is None:
                continue
            sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
            diff = paired_difference(
                metric,
                y,
                cand,
                other,
                resamples=policy.bootstrap_resamples,
                confidence=policy.confidence,
                seed=index,
                threshold=threshold,
            )
            low, high = sorted((sign * diff.low, sign * diff.high))
            row.update(
                {
                    f"{label}": metric,
                    f"{label}_gain": sign * diff.value,
                    f"{label}_gain_low": low,
                    f"{label}_gain_high": high,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def decide_governed(
    candidate: Any, rivals: list[Rival], labelled: pd.DataFrame, use_case: UseCase
) -> tuple[Decision, pd.DataFrame]:
    """The promotion decision from the paired comparison: beat the champion by ``min_improvement`` (and, with
    ``require_significant``, with the whole interval above it), not regress the guard metric by more than
    ``guard_max_regression``, and not be clearly worse (whole interval below 0) than an earlier champion."""
    policy = use_case.promotion
    metric = policy.metric
    from millpond.models.training import evaluate

    candidate_score = evaluate(candidate, labelled, use_case, threshold=use_case.scoring.threshold)[metric]
    if not rivals or rivals[0].role != "champion":
        table = compare_paired(candidate, rivals, labelled, use_case) if rivals else pd.DataFrame()
        return Decision(
            True, "no champion yet: the first candidate becomes champion", metric, candidate_score, None
        ), table
    table = compare_paired(candidate, rivals, labelled, use_case)
    champ = table.iloc[0]
    champion_score = candidate_score - (
        champ["metric_gain"] if use_case.metric_higher_is_better else -champ["metric_gain"]
    )
    needed = policy.min_improvement
    problems = []
    gain_ok = champ["metric_gain"] >= needed and (not policy.require_significant or champ["metric_gain_low"] >= needed)
    ci = f"[{champ['metric_gain_low']:+.4f}, {champ['metric_gain_high']:+.4f}]"
    parts = [
        f"candidate {metric} {candidate_score:.4f} vs champion {champion_score:.4f} on {len(labelled)} held-out rows: "
        f"gain {champ['metric_gain']:+.4f} {ci} {'meets' if gain_ok else 'does not meet'} the required {needed:+.4f}"
        + (" (whole interval)" if policy.require_significant else "")
    ]
    if not gain_ok:
        problems.append("gain")
    if policy.guard_metric is not None:
        regression = -champ["guard_gain"]
        guard_ok = regression <= policy.guard_max_regression
        parts.append(
            f"guard {policy.guard_metric}: change {champ['guard_gain']:+.4f} "
            f"({'within' if guard_ok else 'beyond'} the allowed regression {policy.guard_max_regression})"
        )
        if not guard_ok:
            problems.append("guard")
    for _, row in table.iloc[1:].iterrows():
        worse = row["metric_gain_high"] < 0
        parts.append(
            f"vs {row['rival']} ({row['version']}): gain {row['metric_gain']:+.4f} "
            f"[{row['metric_gain_low']:+.4f}, {row['metric_gain_high']:+.4f}]" + (" - clearly worse" if worse else "")
        )
        if worse:
            problems.append(f"worse than {row['rival']}")
    return Decision(not problems, "; ".join(parts), metric, float(candidate_score), float(champion_score)), table
