"""Smoke test of a deployed model version: it must score good rows and refuse bad ones.

Positive case: a sample drawn from the model's input example goes through the
real scoring path and must give one valid prediction per row, in range, in the
expected dtype, within ``scoring.smoke_latency_ms``. Negative cases: a missing
column, a wrong type, an unseen category and a missing value where the input
contract forbids one must each be refused by input validation, not scored.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from millpond.errors import InputContractError, SmokeTestError
from millpond.scoring.batch import ScoreOptions, Scorer, score_batches

UNSEEN = "__millpond_unseen_category__"


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


def _positive(scorer: Scorer, example: pd.DataFrame) -> SmokeCheck:
    spec, uc = scorer.use_case.scoring, scorer.use_case
    sample = example.sample(n=spec.smoke_rows, replace=True, random_state=0)
    with tempfile.TemporaryDirectory(prefix="millpond-smoke-") as tmp:
        started = time.perf_counter()
        try:
            result = score_batches(
                [_batch(sample, uc.key)],
                scorer,
                ScoreOptions(run_id="smoke", source="smoke sample", output=Path(tmp) / "out.parquet"),
            )
        except Exception as exc:  # noqa: BLE001 - any failure fails the case
            return SmokeCheck("positive: input example scores", "failed", f"{type(exc).__name__}: {exc}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        out = pd.read_parquet(Path(tmp) / "out.parquet")
    problems = []
    if result.rows != len(sample):
        problems.append(f"{result.rows} predictions for {len(sample)} rows")
    column = "probability" if uc.task == "classification" else "prediction"
    values = out[column].to_numpy()
    if values.dtype != np.float64:
        problems.append(f"{column} dtype {values.dtype}, expected float64")
    if not np.isfinite(values).all():
        problems.append(f"non-finite {column}")
    if uc.task == "classification" and not ((values >= 0) & (values <= 1)).all():
        problems.append("probabilities outside [0, 1]")
    if uc.task == "classification" and not set(out["prediction"].tolist()) <= {0, 1}:
        problems.append(f"predicted classes {sorted(set(out['prediction'].tolist()))}, expected 0/1")
    if elapsed_ms > spec.smoke_latency_ms:
        problems.append(
            f"{len(sample)} rows took {elapsed_ms:.0f} ms, budget scoring.smoke_latency_ms is {spec.smoke_latency_ms:.0f} ms"
        )
    detail = "; ".join(problems) or f"{len(sample)} rows in {elapsed_ms:.0f} ms"
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


def run_smoke_test(scorer: Scorer) -> SmokeReport:
    """Run the positive and negative cases against ``scorer`` (nothing is captured or written)."""
    report = SmokeReport(scorer.name, scorer.version)
    example = _example(scorer)
    report.checks.append(_positive(scorer, example))
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
