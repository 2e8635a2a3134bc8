"""How every ``verify`` command reports: one function prints the stores' VerifyReports and gives exit 3 on problems."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from millpond.errors import EXIT_INTEGRITY, EXIT_OK
from millpond.store.verify import VerifyReport


def print_verify(reports: Iterable[VerifyReport], *, ok_line: str = "") -> int:
    """Print each report as it comes on stdout (then ``ok_line`` when it is intact).

    Exit 3 (integrity) when any report has a problem, with one ``error:`` line on stderr saying how many; notes
    (an unfinished run, a torn last log line) are printed but never fail the check.
    """
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
