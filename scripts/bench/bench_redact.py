"""How long sealing a record spends masking credentials: ``redact_text`` on notebook-like text of growing size.

A sealed stage record holds a notebook and its HTML report, whose embedded images are long base64 runs. Each size
is measured with the header pattern as it is, and with the same pattern allowed to start inside a word (the form
before 2026-12, whose rescans made it quadratic in a base64 run's length), so the ratio is measured in one run.

    PYTHONPATH=src python scripts/bench/bench_redact.py
    PYTHONPATH=src python scripts/bench/bench_redact.py --sizes 100000 400000
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import time

from millpond.config import secrets
from millpond.views.console import print_table

_WORD_START = "(?<![\\w-])"


def _text(size: int) -> str:
    """``size`` characters of base64 image data with a header, a URL and a query secret mixed in."""
    rng = random.Random(size)
    blob = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
    lines = [blob[i : i + 76 * 200] for i in range(0, len(blob), 76 * 200)]
    lines.insert(len(lines) // 2, '"Authorization": "Bearer s3cr3t-token", url: http://u:pw@127.0.0.1/x?password=p1')
    return "\n".join(lines)


def _seconds(pattern: re.Pattern[str], text: str) -> float:
    started = time.perf_counter()
    pattern.sub(secrets._header_value, text)  # the bench measures this module's own pattern
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    args = parser.parse_args()
    current = secrets._HEADER_VALUE
    anywhere = re.compile(current.pattern.replace(_WORD_START, "", 1), current.flags)
    rows = []
    for size in args.sizes:
        text = _text(size)
        started = time.perf_counter()
        masked = secrets.redact_text(text)
        total = time.perf_counter() - started
        now, before = _seconds(current, text), _seconds(anywhere, text)
        rows.append(
            {
                "chars": f"{len(text):,}",
                "redact_text s": f"{total:.3f}",
                "header s": f"{now:.3f}",
                "header s (in-word start)": f"{before:.3f}",
                "ratio": f"{before / max(now, 1e-9):.0f}x",
                "masked": "yes" if "s3cr3t" not in masked and "pw@" not in masked else "NO",
            }
        )
    print_table(rows, list(rows[0]))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
