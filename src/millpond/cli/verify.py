"""How every ``verify`` command reports: one function prints the stores' VerifyReports and gives exit 3 on problems."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from millpond.errors import EXIT_INTEGRITY, EXIT_OK
from millpond.store.verify import VerifyReport


def print_verify(reports: Iterable[VerifyReport], *, ok_line: str = "") -> int:
    """Print each report as it comes (on stderr when it found a mismatch, else stdout, then ``ok_line``).

    Exit 3 (integrity) when any report has a problem, else 0; notes (an unfinished run, a torn last log line)
    are printed but never fail the check.
    """
    failed = False
    for report in reports:
        print("\n".join(report.lines()), file=sys.stdout if report.ok else sys.stderr)
        failed = failed or not report.ok
        if report.ok and ok_line:
            print(ok_line)
    return EXIT_INTEGRITY if failed else EXIT_OK
