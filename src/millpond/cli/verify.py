"""How every ``verify`` command reports: one function prints the stores' VerifyReports and gives exit 3 on problems."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from millpond.errors import EXIT_INTEGRITY, EXIT_OK
from millpond.store.verify import VerifyReport


def print_verify(reports: Iterable[VerifyReport], *, ok_line: str = "", as_json: bool = False) -> int:
    """Print each report as it comes on stdout (then ``ok_line`` when it is intact).

    Exit 3 (integrity) when any report has a problem, with one ``error:`` line on stderr saying how many; notes
    (an unfinished run, a torn last log line) are printed but never fail the check. ``as_json``: one object
    ``{"reports": [...], "exit_code": …}`` (with ``error`` and ``hint`` when something does not match).
    """
    if as_json:
        return _dump_verify(list(reports))
    problems = 0
    for report in reports:
        print("\n".join(report.lines()))
        problems += len(report.problems)
        if report.ok and ok_line:
            print(ok_line)
    if problems:
        print(f"error: {problems} stored file(s) do not match their records (MISMATCH lines above)", file=sys.stderr)
        return EXIT_INTEGRITY
    return EXIT_OK


def _dump_verify(reports: list[VerifyReport]) -> int:
    problems = sum(len(r.problems) for r in reports)
    code = EXIT_INTEGRITY if problems else EXIT_OK
    data: dict[str, Any] = {"reports": [r.to_dict() for r in reports], "exit_code": code}
    if problems:
        data["error"] = f"{problems} stored file(s) do not match their records"
        data["hint"] = "each report's problems name the file; restore it from a backup (nothing is repaired)"
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
    return code
