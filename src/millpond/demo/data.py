"""Seeded synthetic customer-churn data with a scripted drift story, for the demo.

Monthly windows "YYYY-MM" of customer snapshots. Windows before
``covariate_shift_from`` share one generating process; from it the inputs shift
(a price rise, more fiber, more month-to-month contracts, more support calls)
while P(churn | features) stays the same; from ``concept_drift_from`` a
competitor's offer changes P(churn | features) itself (price and the south region
matter much more, support calls and contract length less).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = (
    "customer_id",
    "tenure_months",
    "contract",
    "internet_service",
    "payment_method",
    "region",
    "senior_citizen",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "churned",
)
LAYOUTS = ("per_window_csv", "per_window_parquet", "single_parquet")
CONTRACTS = np.array(["month-to-month", "one-year", "two-year"])
INTERNET = np.array(["dsl", "fiber", "none"])
PAYMENTS = np.array(["electronic-check", "mailed-check", "bank-transfer", "credit-card"])
REGIONS = np.array(["north", "south", "east", "west", "central"])
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

# Input distributions: (stationary, after the covariate shift).
_P_CONTRACT = ([0.50, 0.25, 0.25], [0.60, 0.22, 0.18])
_P_INTERNET = ([0.40, 0.38, 0.22], [0.30, 0.52, 0.18])
_P_PAYMENT = [0.34, 0.20, 0.23, 0.23]
_P_REGION = [0.22, 0.22, 0.20, 0.20, 0.16]
_TENURE_MEAN = np.array([12.0, 30.0, 46.0])  # by contract
_CHARGE_MEAN = np.array([55.0, 85.0, 22.0])  # by internet service
_CHARGE_SD = np.array([9.0, 11.0, 3.0])
_PRICE_RISE = (1.0, 1.18)
_CALL_RATE = (1.1, 1.5)  # support-call Poisson mean (x1.3 on fiber)


def month_index(window: str) -> int:
    """Months since year 0 for a "YYYY-MM" label; raises ValueError on anything else."""
    match = _MONTH.match(str(window))
    if match is None:
        raise ValueError(f"A window must be a month label 'YYYY-MM'. Got {window!r} instead.")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def window_labels(start: str, windows: int) -> list[str]:
    """``windows`` consecutive month labels from ``start``."""
    first = month_index(start)
    return [f"{(first + k) // 12:04d}-{(first + k) % 12 + 1:02d}" for k in range(windows)]


def _churn_logit(df: pd.DataFrame, concept: bool) -> np.ndarray:
    """Log-odds of churn given the features; ``concept`` switches to the post-offer model."""
    mtm = (df["contract"] == "month-to-month").to_numpy()
    two = (df["contract"] == "two-year").to_numpy()
    fiber = (df["internet_service"] == "fiber").to_numpy()
    echeck = (df["payment_method"] == "electronic-check").to_numpy()
    south = (df["region"] == "south").to_numpy()
    tenure = df["tenure_months"].to_numpy(float)
    price = (df["monthly_charges"].to_numpy() - 65.0) / 20.0
    calls = df["support_calls"].to_numpy(float)
    senior = df["senior_citizen"].to_numpy(float)
    tenure_term = -0.55 * np.log1p(tenure / 3.0)
    if not concept:
        return (
            -1.95
            + 1.0 * mtm
            - 0.9 * two
            + 0.35 * fiber
            + 0.55 * echeck
            + 0.35 * price
            + 0.35 * calls
            + tenure_term
            + 0.3 * senior
        )
    # A competitor's cheaper offer launches in the south: price dominates, south customers leave,
    # support calls, contract length and tenure hardly matter any more.
    return (
        -3.5
        + 0.25 * mtm
        - 0.15 * two
        + 0.1 * echeck
        + 1.8 * np.maximum(price, -0.5)
        + 1.8 * south
        + 0.2 * tenure_term
        + 0.3 * senior
    )


def generate_window(
    window: str,
    rows: int,
    *,
    covariate_shift_from: str | None = "2025-07",
    concept_drift_from: str | None = "2025-09",
    seed: int = 7,
) -> pd.DataFrame:
    """One window's rows; depends only on its arguments (one random stream per window and seed)."""
    here = month_index(window)
    shifted = int(covariate_shift_from is not None and here >= month_index(covariate_shift_from))
    concept = concept_drift_from is not None and here >= month_index(concept_drift_from)
    rng = np.random.default_rng(np.random.SeedSequence([seed, here]))
    # A persistent customer base: each month the id pool slides by rows/5 (old ids leave, new ones join);
    # it cycles every 20 years so ids keep 7 digits at the default size.
    pool = np.arange(int(rows * 1.25)) + (here % 240) * max(1, rows // 5) + 1
    ids = np.sort(rng.choice(pool, size=rows, replace=False))
    contract = rng.choice(3, size=rows, p=_P_CONTRACT[shifted])
    internet = rng.choice(3, size=rows, p=_P_INTERNET[shifted])
    tenure = np.clip(np.round(rng.gamma(1.6, _TENURE_MEAN[contract] / 1.6)), 0, 72).astype(np.int64)
    charges = rng.normal(_CHARGE_MEAN[internet], _CHARGE_SD[internet]) * _PRICE_RISE[shifted]
    charges = np.round(np.clip(charges, 15.0, None), 2).astype(np.float64)  # float64 already; says so to mypy
    months = np.where(tenure == 0, rng.uniform(0.1, 1.0, rows), tenure)
    total = np.round(months * charges * rng.lognormal(0.0, 0.06, rows), 2)
    calls = rng.poisson(_CALL_RATE[shifted] * np.where(internet == 1, 1.3, 1.0)).astype(np.int64)
    df = pd.DataFrame(
        {  # numpy unicode arrays become pandas' str dtype
            "customer_id": np.char.add("C", np.char.zfill(ids.astype(str), 7)),
            "tenure_months": tenure,
            "contract": CONTRACTS[contract],
            "internet_service": INTERNET[internet],
            "payment_method": PAYMENTS[rng.choice(4, size=rows, p=_P_PAYMENT)],
            "region": REGIONS[rng.choice(5, size=rows, p=_P_REGION)],
            "senior_citizen": (rng.random(rows) < 0.16).astype(np.int64),
            "monthly_charges": charges,
            "total_charges": total,
            "support_calls": calls,
        }
    )
    prob = 1.0 / (1.0 + np.exp(-_churn_logit(df, concept)))
    df["churned"] = (rng.random(rows) < prob).astype(np.int64)
    return df


def _to_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then os.replace onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate_churn(
    out_dir: Path,
    *,
    start: str = "2025-01",
    windows: int = 12,
    rows_per_window: int = 20_000,
    covariate_shift_from: str | None = "2025-07",
    concept_drift_from: str | None = "2025-09",
    seed: int = 7,
    layout: str = "per_window_csv",
) -> list[Path]:
    """Write the demo churn windows into ``out_dir`` in ``layout``; return the paths written."""
    if layout not in LAYOUTS:
        raise ValueError(f"The 'layout' parameter must be one of {set(LAYOUTS)}. Got {layout!r} instead.")
    if windows < 1 or rows_per_window < 1:
        raise ValueError(f"'windows' and 'rows_per_window' must be >= 1. Got {windows} and {rows_per_window}.")
    for value in (covariate_shift_from, concept_drift_from):
        if value is not None:
            month_index(value)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = window_labels(start, windows)
    frames = [
        generate_window(
            w,
            rows_per_window,
            covariate_shift_from=covariate_shift_from,
            concept_drift_from=concept_drift_from,
            seed=seed,
        )
        for w in labels
    ]
    if layout == "single_parquet":
        both = pd.concat([f.assign(month=w) for w, f in zip(labels, frames)], ignore_index=True)
        path = out_dir / "churn.parquet"
        _write_atomic(path, lambda p: both.to_parquet(p, index=False))
        return [path]
    paths = []
    for window, frame in zip(labels, frames):
        if layout == "per_window_csv":
            path = out_dir / f"churn_{window}.csv"
            _write_atomic(path, partial(_to_csv, frame))
        else:
            path = out_dir / f"churn_{window}.parquet"
            _write_atomic(path, partial(_to_parquet, frame))
        paths.append(path)
    return paths
