"""How every ``verify`` command reports: one function prints what was checked and gives exit 3 on problems.

The commands build :class:`Verified` results today; when ``millpond.store.verify.VerifyReport`` lands they can hand
that over instead, and only :func:`print_verify` changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from millpond.errors import EXIT_INTEGRITY, EXIT_OK
from millpond.store.verify import VerifyReport


@dataclass(frozen=True)
class Verified:
    """What one verification found: ``ok_line`` when nothing is wrong, else ``problems`` and a closing ``error``."""

    ok_line: str = ""
    problems: list[str] = field(default_factory=list)  # one line each, on stdout
    error: str = ""  # the summary, on stderr as ``error: ...``

    @property
    def ok(self) -> bool:
        return not (self.problems or self.error)


def print_verify(results: Iterable[Verified | VerifyReport], *, ok_line: str = "") -> int:
    """Print each result as it comes; exit 3 (integrity) when any has a problem, else 0.

    A :class:`VerifyReport` prints its lines (on stderr when it found a mismatch), then ``ok_line`` when intact.
    """
    failed = False
    for result in results:
        if isinstance(result, VerifyReport):
            print("\n".join(result.lines()), file=sys.stdout if result.ok else sys.stderr)
            failed = failed or not result.ok
            if result.ok and ok_line:
                print(ok_line)
            continue
        if result.ok:
            print(result.ok_line)
            continue
        failed = True
        for line in result.problems:
            print(line)
        if result.error:
            print(f"error: {result.error}", file=sys.stderr)
    return EXIT_INTEGRITY if failed else EXIT_OK
