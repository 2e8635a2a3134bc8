"""Profiles of a model: what its fit costs (wall, CPU, peak memory) and how fast it predicts.

Peak memory is the rise of the process's resident-set high-water mark during the
fit: on Linux the mark is reset first (``/proc/self/clear_refs``), which costs
nothing while the fit runs. Elsewhere tracemalloc measures the peak of Python and
numpy allocations instead. The method used is recorded with the number.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def profile_call(fn: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """Call ``fn`` and measure wall time, CPU time (every thread of the process) and peak memory."""
    use_rss = _reset_high_water_mark()
    baseline = _status_kib("VmRSS") if use_rss else None
    if not use_rss or baseline is None:
        use_rss = False
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        value = fn()
    finally:
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if use_rss:
            peak = max(0, ((_status_kib("VmHWM") or 0) - (baseline or 0)) * 1024)
            method = "rss high-water mark"
        else:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            method = "tracemalloc"
    return value, {
        "fit_wall_seconds": wall,
        "fit_cpu_seconds": cpu,
        "fit_peak_memory_bytes": int(peak),
        "memory_method": method,
    }


def prediction_latency(
    predict: Callable[[pd.DataFrame], Any], rows: pd.DataFrame, *, batch: int = 1000, singles: int = 3
) -> dict[str, float]:
    """Milliseconds to score one row at a time (median of ``singles`` calls) and ``batch`` rows at once (one call,
    after the single rows have warmed the pipeline up).

    Few calls on purpose: this runs in every training run and its cost counts against the store's < 5% budget.
    """
    if rows.empty:
        return {}
    sample = rows.sample(n=batch, replace=len(rows) < batch, random_state=0)
    single = []
    for i in range(min(singles, len(rows))):
        row = rows.iloc[[i]]
        started = time.perf_counter()
        predict(row)
        single.append(time.perf_counter() - started)
    started = time.perf_counter()
    predict(sample)
    batch_seconds = time.perf_counter() - started
    return {
        "predict_ms_per_1000_rows": float(batch_seconds * 1000 * 1000 / batch),
        "predict_ms_per_row": float(np.median(single) * 1000),
    }
