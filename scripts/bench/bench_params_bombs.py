"""Benchmark how fast, and in how much memory, hostile params files are refused (issue 14).

Writes each file into a temporary folder and times ``load_use_case`` on it (best of
``--repeat``), with the Python heap's peak (tracemalloc) during the call: the demo
params (accepted), a 100 MB file (refused before it is read), a billion-laughs
alias bomb (refused at its first anchor), 10,000-deep nesting, 1 MiB of small
values (refused at the 10,001st), a 10,001-character description and a !!binary
payload. Every row but the demo's must say "refused".

Usage: PYTHONPATH=src python scripts/bench/bench_params_bombs.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from millpond.config.loader import MAX_PARAMS_BYTES
from millpond.config.params import load_use_case
from millpond.errors import ParamsError

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "params" / "churn.yaml").read_text(encoding="utf-8")
DESCRIPTION = "description: Monthly customer churn (embedded synthetic demo data)"


def _huge(path: Path) -> None:
    with open(path, "wb") as handle:
        handle.write(b"use_case: churn\ndescription: ")
        handle.truncate(100 * 2**20)


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    return "\n".join(lines) + "\n"


CASES: dict[str, Callable[[Path], object]] = {
    "demo params (accepted)": lambda p: p.write_text(DEMO),
    "100 MB file": _huge,
    "billion laughs": lambda p: p.write_text(_bomb()),
    "10,000-deep nesting": lambda p: p.write_text("x: " + "[" * 10_000 + "]" * 10_000),
    "1 MiB of small values": lambda p: p.write_text("x: [" + "1, " * (MAX_PARAMS_BYTES // 3 - 2) + "1]"),
    "10,001-char description": lambda p: p.write_text(DEMO.replace(DESCRIPTION, "description: " + "x" * 10_001)),
    "!!binary payload": lambda p: p.write_text(
        DEMO.replace(DESCRIPTION, "description: !!binary " + base64.b64encode(b'"+__import__("os")+"').decode())
    ),
}


def _measure(path: Path) -> tuple[str, float, int]:
    tracemalloc.start()
    clock = time.perf_counter()
    try:
        load_use_case(path)
        outcome = "accepted"
    except ParamsError:
        outcome = "refused"
    seconds = time.perf_counter() - clock
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':<26} {'file size':>12} {'outcome':>9} {'seconds':>8} {'peak heap':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in CASES.items():
            path = Path(tmp) / "params.yaml"
            make(path)
            runs = [_measure(path) for _ in range(args.repeat)]
            outcome, seconds, peak = min(runs, key=lambda r: r[1])
            size = path.stat().st_size
            print(f"{name:<26} {size:>12,} {outcome:>9} {seconds:>8.3f} {peak / 2**20:>8.2f} MB")


if __name__ == "__main__":
    main()
