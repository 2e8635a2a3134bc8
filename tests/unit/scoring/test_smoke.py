"""Input contract and smoke test: good rows score, bad rows are refused by input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from millpond.config.params import load_use_case
from millpond.errors import InputContractError
from millpond.governance import deployment, promotion
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.scoring import smoke
from millpond.scoring.batch import Scorer
from millpond.scoring.input_contract import ColumnContract, InputContract
from millpond.workspace import Workspace

CONTRACT = InputContract(
    {
        "tenure": ColumnContract("int", nullable=False),
        "charges": ColumnContract("float", nullable=True),
        "plan": ColumnContract("str", nullable=False, categories=("basic", "pro")),
    }
)


def _rows(**changes: object) -> pd.DataFrame:
    frame = pd.DataFrame({"tenure": [1, 2], "charges": [9.5, np.nan], "plan": ["basic", "pro"]})
    return frame.assign(**changes)


def test_contract_accepts_good_rows_and_object_columns_of_the_right_kind() -> None:
    CONTRACT.validate(_rows())
    CONTRACT.validate(_rows(tenure=pd.Series([1, 2], dtype=object), plan=pd.Series(["pro", "basic"], dtype=object)))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_rows().drop(columns="tenure"), r"column 'tenure' is missing"),
        (_rows(tenure=["one", "two"]), r"column 'tenure' must hold int values; got dtype .* \(e.g. \['one', 'two'\]\)"),
        (_rows(plan=[1, 2]), r"column 'plan' must hold str values"),
        (
            _rows(plan=["basic", "gold"]),
            r"column 'plan' has 1 value\(s\) the model never saw, e.g. \['gold'\]; known categories: \['basic', 'pro'\]",
        ),
        (_rows(tenure=[1.0, np.nan]), r"column 'tenure' has 1 missing value\(s\), but the model saw none in training"),
    ],
    ids=["missing", "text-in-int", "int-in-str", "unseen", "nan"],
)
def test_contract_refuses_bad_rows(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(InputContractError, match=message):
        CONTRACT.validate(frame)


def test_contract_lists_every_problem_and_honours_nullable() -> None:
    with pytest.raises(InputContractError, match=r"(?s)'tenure' is missing.*'plan' has 1 value"):
        CONTRACT.validate(_rows(plan=["x", "pro"]).drop(columns="tenure"))
    CONTRACT.validate(_rows(tenure=[1.0, np.nan]), nullable=["tenure"])
    assert InputContract.from_dict(CONTRACT.as_dict()) == CONTRACT


def test_champion_passes_every_case(scoring_workspace: Workspace) -> None:
    uc = load_use_case(scoring_workspace.params / "churn.yaml")
    scorer = Scorer.load(ModelStore(scoring_workspace.model_store), "churn", "champion", use_case=uc)
    report = smoke.run_smoke_test(scorer)
    assert [(c.name, c.status) for c in report.checks] == [
        ("positive: input example scores", "passed"),
        ("negative: missing column", "passed"),
        ("negative: wrong type", "passed"),
        ("negative: unseen category", "passed"),
        ("negative: NaN where forbidden", "passed"),
    ], report.rows()
    assert report.passed and report.reason == ""
    assert deployment.smoke_champion(stages.StageContext(scoring_workspace, uc, "2025-02").models, uc) == ""


def test_latency_budget_and_a_lax_contract_fail_the_smoke_test(scoring_workspace: Workspace) -> None:
    uc = load_use_case(scoring_workspace.params / "churn.yaml")
    slow = uc.model_copy(update={"scoring": uc.scoring.model_copy(update={"smoke_latency_ms": 1.0})})
    scorer = Scorer.load(ModelStore(scoring_workspace.model_store), "churn", "champion", use_case=slow)
    report = smoke.run_smoke_test(scorer, clock=_Clock(30.0, 30.0))  # 30 s, twice: over any profiled budget
    assert not report.passed and "over the latency budget 2 times" in report.reason
    assert "(retried); budget" in report.reason and "the model's profiled" in report.reason
    lax = Scorer.load(ModelStore(scoring_workspace.model_store), "churn", "champion", use_case=uc)
    lax.contract = InputContract(
        {k: ColumnContract(c.dtype, c.nullable, None) for k, c in lax.contract.columns.items()}
    )
    unknown = {c.name: c.status for c in smoke.run_smoke_test(lax).checks}
    assert unknown["negative: unseen category"] == "skipped"


def test_a_scorer_without_validation_fails_the_negative_cases(
    scoring_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    uc = load_use_case(scoring_workspace.params / "churn.yaml")
    scorer = Scorer.load(ModelStore(scoring_workspace.model_store), "churn", "champion", use_case=uc)
    monkeypatch.setattr(InputContract, "validate", lambda self, *a, **k: None)
    report = smoke.run_smoke_test(scorer)
    status = {c.name: (c.status, c.detail) for c in report.checks}
    assert status["positive: input example scores"][0] == "passed"
    assert status["negative: unseen category"] == ("failed", "scored silently instead of being refused")
    assert (
        status["negative: missing column"][0] == "failed"
        and "instead of input validation" in status["negative: missing column"][1]
    )
    assert "negative: NaN where forbidden: scored silently" in report.reason


def test_smoke_failure_after_promotion_rolls_back(
    scoring_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = scoring_workspace
    store = ModelStore(ws.model_store)
    first = store.aliases("churn")["champion"]
    uc = load_use_case(ws.params / "churn.yaml")
    forced = __import__("millpond.governance.promotion", fromlist=["Decision"]).Decision(
        True, "forced", "roc_auc", 0.9, 0.8
    )
    monkeypatch.setattr(promotion, "decide_governed", lambda *a, **k: (forced, __import__("pandas").DataFrame()))
    monkeypatch.setattr(
        smoke,
        "_positive",
        lambda scorer, example, *args: smoke.SmokeCheck("positive: input example scores", "failed", "forced"),
    )
    result = stages.run_promote(stages.StageContext(ws, uc, "2025-02", run_id="p"))
    assert (
        result.summary["promoted"] is False
        and "rolled back: smoke test failed (positive: input example scores: forced)" in result.reason
    )
    assert store.aliases("churn")["champion"] == first


class _Clock:
    """A fake perf_counter: each scoring of the smoke sample takes the next of ``durations`` (seconds)."""

    def __init__(self, *durations: float) -> None:
        self.durations, self.now, self.calls = list(durations), 0.0, 0

    def __call__(self) -> float:
        self.calls += 1
        if self.calls % 2 == 0:  # the second read of a pair ends one timing
            self.now += self.durations.pop(0)
        return self.now


@pytest.mark.parametrize(
    ("durations", "passed", "detail"),
    [
        ((0.030,), True, "100 rows in 30 ms; budget 2000 ms"),
        ((2.5, 0.040), True, "100 rows in 2500 ms, then 40 ms (retried); budget 2000 ms"),  # a load spike, retried
        ((2.5, 2.6), False, "over the latency budget 2 times: 100 rows in 2500 ms, then 2600 ms (retried)"),
    ],
    ids=["fast", "spike-then-fast", "slow-twice"],
)
def test_latency_is_retried_once_and_the_result_says_what_was_measured(
    scoring_workspace: Workspace, durations: tuple[float, ...], passed: bool, detail: str
) -> None:
    uc = load_use_case(scoring_workspace.params / "churn.yaml")
    scorer = Scorer.load(ModelStore(scoring_workspace.model_store), "churn", "champion", use_case=uc)
    clock = _Clock(*durations)
    (positive, *_) = smoke.run_smoke_test(scorer, clock=clock).checks
    assert (positive.status == "passed") is passed and detail in positive.detail, positive.detail
    assert clock.durations == []  # timed exactly len(durations) times: no retry after a pass, one at most


@pytest.mark.parametrize(
    ("profile", "budget_ms", "says"),
    [
        ({}, 2000.0, "the model has no profiled latency"),
        ({"predict_ms_per_1000_rows": 5.0}, 2000.0, "10 x the model's profiled 0.5 ms for 100 rows is lower"),
        ({"predict_ms_per_1000_rows": 4000.0}, 4000.0, "10 x the model's profiled 400.0 ms for 100 rows; above"),
        ({"predict_ms_per_1000_rows": "n/a"}, 2000.0, "no profiled latency"),
    ],
)
def test_the_budget_follows_the_models_own_profiled_latency(profile: dict, budget_ms: float, says: str) -> None:
    budget = smoke.latency_budget({"profile": profile}, 100, 2000.0)
    assert budget.ms == pytest.approx(budget_ms) and says in budget.describe()
    timings, ok = smoke.timed_attempts(iter([budget_ms + 1, budget_ms - 1]).__next__, budget)
    assert (timings, ok) == ([budget_ms + 1, budget_ms - 1], True)
