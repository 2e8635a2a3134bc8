"""Promotion governance: which candidate a window decides on, what it is compared with, the decision, and its record.

:func:`govern_promotion` is the promote stage's work: the candidate is compared with the champion and the champions
of T-1 and T-2 on the same held-out labelled rows (paired bootstrap, :func:`decide_governed`), then the decision is
recorded (:mod:`millpond.governance.decisions`) and, when it promotes without a person's approval, carried out
(promote, smoke-test, roll back on failure).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from millpond.config.params import UseCase
from millpond.errors import ModelVersionNotFoundError
from millpond.governance.decisions import Decider, record_decision
from millpond.governance.deployment import promote_and_smoke_test
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore, ModelVersion
from millpond.workspace import Workspace


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing a candidate with the champion on the same labelled rows."""

    promote: bool
    reason: str
    metric: str
    candidate_score: float
    champion_score: float | None
    rule: str = ""  # which rule decided: see RULES
    slices: tuple[dict[str, Any], ...] = ()  # the gain over the champion per slice (only with `slices:` set)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "promote": self.promote,
            "reason": self.reason,
            "metric": self.metric,
            "candidate_score": self.candidate_score,
            "champion_score": self.champion_score,
            "rule": self.rule,
        }
        if self.slices:
            out["slices"] = [dict(s) for s in self.slices]
        return out


RULES = {
    "first_candidate": "no champion yet: the first candidate becomes champion",
    "evidence": "the paired gain's whole interval lies above min_improvement (or, rejecting, it does not)",
    "model_drift": "the champion has model drift at this window and the candidate is not worse (point gain >= 0)",
    "point": "policy 'point': the point gain meets min_improvement (or, rejecting, it does not)",
    "guard": "the guard metric regressed by more than guard_max_regression",
    "earlier_champion": "the candidate is clearly worse (whole interval below 0) than an earlier champion",
    "slice_drop": "on some slice the candidate is worse than the champion by more than promotion.max_slice_drop",
}
"""The rules a promotion decision names in :attr:`Decision.rule`."""


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
    from millpond.drift.kpis import HIGHER_IS_BETTER, paired_difference
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
    candidate: Any, rivals: list[Rival], labelled: pd.DataFrame, use_case: UseCase, *, champion_drifted: bool = False
) -> tuple[Decision, pd.DataFrame]:
    """The promotion decision from the paired comparison on the same held-out rows, naming the rule that decided.

    With ``promotion.policy: evidence`` (the default) the candidate must beat the champion with the whole paired
    bootstrap interval of the gain above ``min_improvement`` (rule ``evidence``), unless the champion has model drift
    at this window (``champion_drifted``) and the candidate is not worse (point gain >= 0, rule ``model_drift``).
    With ``policy: point`` the point gain meeting ``min_improvement`` is enough (``require_significant`` adds the
    interval's lower end). Either way the guard metric may not regress by more than ``guard_max_regression``
    (rule ``guard``) and the candidate may not be clearly worse than an earlier champion (``earlier_champion``).
    """
    policy = use_case.promotion
    metric = policy.metric
    from millpond.models.training import evaluate

    candidate_score = evaluate(candidate, labelled, use_case, threshold=use_case.scoring.threshold)[metric]
    if not rivals or rivals[0].role != "champion":
        table = compare_paired(candidate, rivals, labelled, use_case) if rivals else pd.DataFrame()
        return Decision(True, RULES["first_candidate"], metric, candidate_score, None, "first_candidate"), table
    table = compare_paired(candidate, rivals, labelled, use_case)
    champ = table.iloc[0]
    champion_score = candidate_score - (
        champ["metric_gain"] if use_case.metric_higher_is_better else -champ["metric_gain"]
    )
    rule, gain_ok, claim = _gain_rule(champ, policy, champion_drifted)
    ci = f"[{champ['metric_gain_low']:+.4f}, {champ['metric_gain_high']:+.4f}]"
    parts = [
        f"candidate {metric} {candidate_score:.4f} vs champion {champion_score:.4f} on {len(labelled)} held-out rows: "
        f"gain {champ['metric_gain']:+.4f} {ci} {claim}"
    ]
    problems = [] if gain_ok else [rule]
    if policy.guard_metric is not None:
        regression = -champ["guard_gain"]
        guard_ok = regression <= policy.guard_max_regression
        parts.append(
            f"guard {policy.guard_metric}: change {champ['guard_gain']:+.4f} "
            f"({'within' if guard_ok else 'beyond'} the allowed regression {policy.guard_max_regression})"
        )
        if not guard_ok:
            problems.append("guard")
    gains, slice_part, slice_ok = slice_guard(candidate, rivals[0].model, labelled, use_case)
    if slice_part:
        parts.append(slice_part)
    if not slice_ok:
        problems.append("slice_drop")
    for _, row in table.iloc[1:].iterrows():
        worse = row["metric_gain_high"] < 0
        parts.append(
            f"vs {row['rival']} ({row['version']}): gain {row['metric_gain']:+.4f} "
            f"[{row['metric_gain_low']:+.4f}, {row['metric_gain_high']:+.4f}]" + (" - clearly worse" if worse else "")
        )
        if worse:
            problems.append("earlier_champion")
    decided = problems[0] if problems else rule
    reason = f"rule {decided}: " + "; ".join(parts)
    slices = tuple(g.as_dict() for g in gains)
    decision = Decision(not problems, reason, metric, float(candidate_score), float(champion_score), decided, slices)
    return decision, table


def slice_guard(
    candidate: Any, champion: Any, labelled: pd.DataFrame, use_case: UseCase
) -> tuple[list[Any], str, bool]:
    """The candidate's gain over the champion per slice value (``slices``), what the reason says about it, and
    whether it passes ``promotion.max_slice_drop`` (always, when unset: the gains are then only reported).

    A slice with fewer than ``slices.min_rows`` held-out rows, or where the metric is undefined, is not judged.
    """
    from millpond.drift.slices import OK, slice_gains
    from millpond.models.training import predict_scores

    if not use_case.slices.columns:
        return [], "", True
    features = labelled[use_case.feature_columns]
    gains = slice_gains(
        labelled[use_case.slices.columns].reset_index(drop=True),
        labelled[use_case.target].to_numpy(),
        predict_scores(candidate, features, use_case),
        predict_scores(champion, features, use_case),
        use_case,
    )
    judged = [g for g in gains if g.status == OK and g.gain is not None]
    skipped = len(gains) - len(judged)
    limit = use_case.promotion.max_slice_drop
    note = f", {skipped} slice(s) too small or undefined, not judged" if skipped else ""
    if not judged:
        return gains, f"slices: none with {use_case.slices.min_rows}+ rows to compare{note}", True
    worst = min(judged, key=lambda g: g.gain.value if g.gain else 0.0)
    worst_gain = worst.gain.value if worst.gain else 0.0
    if limit is None:
        return gains, f"slices: worst {worst.label} gain {worst_gain:+.4f} (no max_slice_drop set){note}", True
    failing = [g for g in judged if g.gain is not None and -g.gain.value > limit]
    if not failing:
        return gains, f"slices: worst {worst.label} gain {worst_gain:+.4f}, within max_slice_drop {limit}{note}", True
    named = ", ".join(
        f"{g.label} ({g.rows} rows): gain {g.gain.value:+.4f} [{g.gain.low:+.4f}, {g.gain.high:+.4f}]"
        for g in failing
        if g.gain is not None
    )
    return gains, f"worse than the champion by more than max_slice_drop {limit} on slice {named}{note}", False


def _gain_rule(champ: pd.Series, policy: Any, champion_drifted: bool) -> tuple[str, bool, str]:
    """(rule, whether the gain passes it, what the reason says about the gain) for the policy."""
    needed = policy.min_improvement
    gain, low = float(champ["metric_gain"]), float(champ["metric_gain_low"])
    if policy.policy == "point":
        ok = gain >= needed and (not policy.require_significant or low >= needed)
        whole = " (whole interval)" if policy.require_significant else ""
        return "point", ok, f"{'meets' if ok else 'does not meet'} the required {needed:+.4f}{whole} (policy point)"
    if low > needed:
        return "evidence", True, f"lies wholly above the required {needed:+.4f}"
    if champion_drifted and gain >= 0:
        return "model_drift", True, "is not worse, and the champion has model drift at this window"
    drifted = " (the champion has model drift, but the candidate is worse)" if champion_drifted else ""
    return "evidence", False, f"does not lie wholly above the required {needed:+.4f}{drifted}"


# --- the window's candidate, its rivals, and the recorded decision -------------------------------------
def find_candidate(models: ModelStore, log: MonitoringLog, name: str, window: str) -> ModelVersion | None:
    """The newest model version trained for ``window`` that has no decision yet."""
    decided = {e.candidate for e in log.entries("decision")}
    try:
        versions = models.versions(name)
    except ModelVersionNotFoundError:
        return None
    pending = [v for v in versions if v.metadata.trained_for_window == window and v.version not in decided]
    return pending[-1] if pending else None


def _champion(models: ModelStore, name: str) -> ModelVersion | None:
    try:
        return models.get(name, "champion")
    except ModelVersionNotFoundError:
        return None


def _earlier_champions(models: ModelStore, log: MonitoringLog, name: str, window: str) -> list[tuple[str, str]]:
    """(role, version) of the champions before ``window``, newest first: the models whose KPI the score stage logged
    for T-1 and T-2, then (when fewer than two) the alias history's earlier champions."""
    per_window: dict[str, str] = {}
    for entry in log.run_entries("kpi"):  # only entries that name their run
        if entry.window < window and entry.model_version:
            per_window[entry.window] = entry.model_version
    earlier = [(f"champion of {w}", v) for w, v in sorted(per_window.items())[-2:][::-1]]
    if len(earlier) < 2:
        seen = [e.target for e in models.history(name) if e.alias == "champion" and e.target]
        earlier += [("earlier champion", str(v)) for v in reversed(seen)]
    return earlier


def rivals_for(models: ModelStore, log: MonitoringLog, use_case: UseCase, window: str, candidate: str) -> list[Rival]:
    """The champion, then (with ``promotion.compare_previous``) the models that were champion at T-1 and T-2.

    The champion of an earlier window is the model whose KPI the score stage logged for it, else the alias history's
    earlier champions; versions equal to the champion or the candidate are skipped.
    """
    name = use_case.use_case
    champion = _champion(models, name)
    if champion is None:
        return []
    rivals = [Rival("champion", champion.version, models.load(name, champion.version)[0])]
    if not use_case.promotion.compare_previous:
        return rivals
    taken = {champion.version, candidate}
    for role, version in _earlier_champions(models, log, name, window):
        if version in taken or len(rivals) >= 3:
            continue
        try:
            rivals.append(Rival(role, version, models.load(name, version)[0]))
            taken.add(version)
        except ModelVersionNotFoundError:  # removed by gc: compare with what is left
            continue
    return rivals


@dataclass(frozen=True)
class Promotion:
    """What governing a window's candidate did: the decision, the paired comparison, and where it ended."""

    candidate: str
    champion_before: str | None
    decision: Decision
    comparison: pd.DataFrame  # one row per rival (gain = candidate better)
    outcome: str = ""  # 'awaiting_approval' | 'rejected' | 'promoted' | 'rolled_back'
    smoke: str = ""  # why the smoke test failed after promotion ('' when it passed or did not run)

    @property
    def comparison_records(self) -> list[dict[str, Any]]:
        """The comparison as logged and glued: rounded to 5 decimals, one dict per rival."""
        records: list[dict[str, Any]] = self.comparison.round(5).to_dict(orient="records")
        return records


def govern_promotion(
    ws: Workspace,
    use_case: UseCase,
    window: str,
    candidate: str,
    labelled: pd.DataFrame,
    *,
    actor: str,
    run_id: str | None,
) -> Promotion:
    """Decide on ``candidate`` from the paired comparison on ``labelled`` (the window's held-out labelled rows), record
    the decision, and promote and smoke-test it when the policy promotes without a person's approval."""
    name = use_case.use_case
    models, log = ModelStore(ws.model_store), MonitoringLog(ws.model_store, name)
    candidate_model, version = models.load(name, candidate)
    champion = _champion(models, name)
    drift = log.latest("drift", window)
    decision, comparison = decide_governed(
        candidate_model,
        rivals_for(models, log, use_case, window, version.version),
        labelled,
        use_case,
        champion_drifted=drift is not None and drift.model_drift,
    )
    promotion = Promotion(version.version, champion.version if champion else None, decision, comparison)
    decider = Decider(ws, name, use_case.notify, actor, {"window": window, "run_id": run_id}, "candidate", quiet=True)
    entry = {
        "candidate": version.version,
        "run_id": run_id,
        "comparison": promotion.comparison_records,
        **decision.as_dict(),
    }
    if decision.promote and use_case.promotion.approval == "manual":
        approve = f"millpond models approve {name} {version.version} --by NAME --reason TEXT"
        record_decision(
            decider,
            "awaiting_approval",
            version=version.version,
            reason=decision.reason,
            entry=entry,
            notice={"approve": approve},
        )
        return replace(promotion, outcome="awaiting_approval")
    if not decision.promote:
        record_decision(decider, "rejected", version=version.version, reason=decision.reason, entry=entry)
        return replace(promotion, outcome="rejected")
    done = promote_and_smoke_test(
        ws, use_case, version.version, actor=actor, reason=decision.reason, window=window, run_id=run_id
    )
    entry["smoke"] = done["smoke"] or None
    record_decision(decider, done["outcome"], version=version.version, reason=decision.reason, entry=entry)
    return replace(promotion, outcome=done["outcome"], smoke=done["smoke"])
