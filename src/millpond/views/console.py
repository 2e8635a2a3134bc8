"""Plain-text output for the terminal and cron logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as an aligned text table (empty cells for missing values)."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def print_run_summary(ws: Any, results: list[Any], seconds: float) -> None:
    """The closing lines of a multi-window run: counts, the champion now, and where to read the reports."""
    records = [r for result in results for r in result.records]
    by_status = {s: sum(1 for r in records if r.status == s) for s in ("succeeded", "skipped", "failed")}
    failed = [r for r in records if r.status == "failed"]
    index = ws.runs / "index.html"
    print()
    print(
        f"{len(results)} window(s), {len(records)} runs: {by_status['succeeded']} succeeded, "
        f"{by_status['skipped']} skipped, {by_status['failed']} failed, in {seconds:.0f} s"
    )
    for record in failed[:3]:
        print(f"  failed: {record.run_id} -> {record.path / 'report.html'}")
    if index.is_file():
        print(f"runs index: {ws.relative(index)}  (millpond report index --open; millpond report RUN for one run)")
    site = ws.root / "site" / "index.html"
    if site.is_file():
        print(f"control room: {ws.relative(site)}  (millpond site --open rebuilds and opens it)")
