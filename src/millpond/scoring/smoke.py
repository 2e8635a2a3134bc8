"""Smoke test of a deployed model version: it must score good rows and refuse bad ones.

Positive case: a sample drawn from the model's input example goes through the
real scoring path and must give one valid prediction per row, in range, in the
expected dtype, within its latency budget. The budget does not flap with machine
load: it is the larger of ``scoring.smoke_latency_ms`` and the model's own profiled
latency (``profile.predict_ms_per_1000_rows``, measured when it was trained, scaled
to the smoke rows) times :data:`LATENCY_MARGIN`, and a sample over budget is timed
once more (warm) before the case fails; the case's detail says what was measured
and what the budget was. Negative cases: a missing
column, a wrong type, an unseen category and a missing value where the input
contract forbids one must each be refused by input validation, not scored.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from millpond.errors import InputContractError, SmokeTestError
from millpond.scoring.batch import ScoreOptions, Scorer, score_batches

UNSEEN = "__millpond_unseen_category__"
LATENCY_MARGIN = 10.0  # the smoke sample may take this many times the model's profiled latency
LATENCY_ATTEMPTS = 2  # a sample over budget is timed once more before the case fails
Clock = Callable[[], float]  # seconds, like time.perf_counter


@dataclass
class SmokeCheck:
    """One case of the smoke test."""

    name: str
    status: str  # passed, failed or skipped
    detail: str = ""


@dataclass
class SmokeReport:
    """Every case's outcome for one model version."""

    model: str
    version: str
    checks: list[SmokeCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.status != "failed" for c in self.checks)

    @property
    def reason(self) -> str:
        """'' when every case passed, else the failed cases and why."""
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if c.status == "failed")

    def rows(self) -> list[dict[str, str]]:
        return [{"check": c.name, "status": c.status, "detail": c.detail} for c in self.checks]

    def raise_for_failure(self) -> None:
        if not self.passed:
            raise SmokeTestError(f"Smoke test of {self.model}@{self.version} failed: {self.reason}")


def _batch(frame: pd.DataFrame, key: str) -> pa.RecordBatch:
    frame = frame.reset_index(drop=True)
    frame.insert(0, key, [f"smoke-{i}" for i in range(len(frame))])
    return pa.RecordBatch.from_pandas(frame, preserve_index=False)


def _example(scorer: Scorer) -> pd.DataFrame:
    example = pd.DataFrame(scorer.metadata.get("input_example") or [])
    if example.empty:
        raise SmokeTestError(
            f"Model {scorer.name}@{scorer.version} has no input_example in its metadata; retrain it with millpond."
        )
    return example


@dataclass(frozen=True)
class LatencyBudget:
    """How long the smoke sample may take: ``scoring.smoke_latency_ms``, or more for a model profiled as slower."""

    rows: int
    configured_ms: float
    profiled_ms: float | None = None  # the model's own profiled latency for ``rows`` rows (None: not profiled)
    margin: float = LATENCY_MARGIN

    @property
    def ms(self) -> float:
        return max(self.configured_ms, self.margin * self.profiled_ms) if self.profiled_ms else self.configured_ms

    def describe(self) -> str:
        configured = f"scoring.smoke_latency_ms {self.configured_ms:.0f} ms"
        if not self.profiled_ms:
            return f"budget {self.ms:.0f} ms ({configured}; the model has no profiled latency)"
        profiled = f"{self.margin:g} x the model's profiled {self.profiled_ms:.1f} ms for {self.rows} rows"
        if self.ms > self.configured_ms:
            return f"budget {self.ms:.0f} ms ({profiled}; above {configured})"
        return f"budget {self.ms:.0f} ms ({configured}; {profiled} is lower)"


def latency_budget(metadata: Any, rows: int, configured_ms: float) -> LatencyBudget:
    """The budget of ``rows`` smoke rows for a model whose metadata holds ``profile.predict_ms_per_1000_rows``."""
    profile = (metadata.get("profile") if hasattr(metadata, "get") else None) or {}
    per_1000 = profile.get("predict_ms_per_1000_rows") if isinstance(profile, dict) else None
    profiled = float(per_1000) * rows / 1000 if isinstance(per_1000, (int, float)) and per_1000 > 0 else None
    return LatencyBudget(rows, configured_ms, profiled)


def timed_attempts(measure: Callable[[], float], budget: LatencyBudget) -> tuple[list[float], bool]:
    """Call ``measure`` (it returns milliseconds) until one is within ``budget``, at most LATENCY_ATTEMPTS times."""
    timings: list[float] = []
    for _ in range(LATENCY_ATTEMPTS):
        timings.append(measure())
        if timings[-1] <= budget.ms:
            return timings, True
    return timings, False


def latency_detail(timings: list[float], budget: LatencyBudget) -> str:
    """What was measured and what the budget was, e.g. '100 rows in 2400 ms, then 35 ms (retried); budget …'."""
    measured = ", then ".join(f"{t:.0f} ms" for t in timings) + (" (retried)" if len(timings) > 1 else "")
    return f"{budget.rows} rows in {measured}; {budget.describe()}"


def _validity(result: Any, out: pd.DataFrame, rows: int, task: str) -> list[str]:
    problems = []
    if result.rows != rows:
        problems.append(f"{result.rows} predictions for {rows} rows")
    column = "probability" if task == "classification" else "prediction"
    values = out[column].to_numpy()
    if values.dtype != np.float64:
        problems.append(f"{column} dtype {values.dtype}, expected float64")
    if not np.isfinite(values).all():
        problems.append(f"non-finite {column}")
    if task == "classification" and not ((values >= 0) & (values <= 1)).all():
        problems.append("probabilities outside [0, 1]")
    if task == "classification" and not set(out["prediction"].tolist()) <= {0, 1}:
        problems.append(f"predicted classes {sorted(set(out['prediction'].tolist()))}, expected 0/1")
    return problems


def _positive(scorer: Scorer, example: pd.DataFrame, clock: Clock = time.perf_counter) -> SmokeCheck:
    spec, uc = scorer.use_case.scoring, scorer.use_case
    sample = example.sample(n=spec.smoke_rows, replace=True, random_state=0)
    budget = latency_budget(scorer.metadata, len(sample), spec.smoke_latency_ms)
    with tempfile.TemporaryDirectory(prefix="millpond-smoke-") as tmp:
        scored: list[tuple[Any, Path]] = []

        def measure() -> float:
            output = Path(tmp) / f"out-{len(scored)}.parquet"
            started = clock()
            result = score_batches(
                [_batch(sample, uc.key)],
                scorer,
                ScoreOptions(run_id="smoke", source="smoke sample", output=output),
            )
            elapsed_ms = (clock() - started) * 1000
            scored.append((result, output))
            return elapsed_ms

        try:
            timings, in_budget = timed_attempts(measure, budget)
        except Exception as exc:  # noqa: BLE001 - any failure fails the case
            return SmokeCheck("positive: input example scores", "failed", f"{type(exc).__name__}: {exc}")
        result, output = scored[0]
        problems = _validity(result, pd.read_parquet(output), len(sample), uc.task)
    latency = latency_detail(timings, budget)
    if not in_budget:
        problems.append(f"over the latency budget {len(timings)} times: {latency}")
    detail = "; ".join(problems) or latency
    return SmokeCheck("positive: input example scores", "failed" if problems else "passed", detail)


def _negative_cases(scorer: Scorer, row: pd.DataFrame) -> dict[str, pd.DataFrame | str]:
    """Bad one-row inputs by case name, or the reason a case does not apply to this model."""
    contract = scorer.contract.columns
    nullable = set(scorer.use_case.scoring.nullable)
    cases: dict[str, pd.DataFrame | str] = {}
    first = next(iter(contract))
    cases["missing column"] = row.drop(columns=[first])
    numeric = [c for c, col in contract.items() if col.dtype in ("int", "float")]
    text = [c for c, col in contract.items() if col.dtype == "str"]
    if numeric or text:
        bad = row.copy()
        if numeric:
            bad[numeric[0]] = pd.Series(["not-a-number"], dtype=object)
        else:
            bad[text[0]] = 12345
        cases["wrong type"] = bad
    else:
        cases["wrong type"] = "no numeric or text column"
    categorical = [c for c, col in contract.items() if col.categories and col.dtype == "str"]
    if categorical:
        bad = row.copy()
        bad[categorical[0]] = UNSEEN
        cases["unseen category"] = bad
    else:
        cases["unseen category"] = "no categorical column with known categories"
    strict = [c for c, col in contract.items() if not col.nullable and c not in nullable]
    if strict:
        bad = row.copy()
        bad[strict[0]] = pd.Series([None], dtype=object if contract[strict[0]].dtype == "str" else "float64")
        cases["NaN where forbidden"] = bad
    else:
        cases["NaN where forbidden"] = "every column may be missing under the contract"
    return cases


def run_smoke_test(scorer: Scorer, *, clock: Clock | None = None) -> SmokeReport:
    """Run the positive and negative cases against ``scorer`` (nothing is captured or written).

    ``clock`` (seconds, default :func:`time.perf_counter`) times the positive case; tests inject one.
    """
    report = SmokeReport(scorer.name, scorer.version)
    example = _example(scorer)
    report.checks.append(_positive(scorer, example) if clock is None else _positive(scorer, example, clock))
    row = example.head(1)
    for name, case in _negative_cases(scorer, row).items():
        label = f"negative: {name}"
        if isinstance(case, str):
            report.checks.append(SmokeCheck(label, "skipped", case))
            continue
        try:
            score_batches(
                [_batch(case, scorer.use_case.key)],
                scorer,
                ScoreOptions(run_id="smoke", source="smoke negative case"),
            )
        except InputContractError as exc:
            report.checks.append(SmokeCheck(label, "passed", "refused: " + str(exc).splitlines()[-1].strip(" -")))
        except Exception as exc:  # noqa: BLE001 - refused, but not by input validation
            report.checks.append(
                SmokeCheck(label, "failed", f"refused by {type(exc).__name__} instead of input validation: {exc}")
            )
        else:
            report.checks.append(SmokeCheck(label, "failed", "scored silently instead of being refused"))
    return report
