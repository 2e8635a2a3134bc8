"""One verify contract for every store: a :class:`VerifyReport` naming each bad file.

Run records, mart versions, model versions, captures and logs all answer
``verify()`` with this report; the command line prints it and exits 3 when it
holds a problem (:data:`millpond.errors.EXIT_INTEGRITY`). An unfinished item (a
run killed half way) is a *note*, not a problem: a crash is not tampering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing that does not match what was recorded: which file, what is wrong, where in it."""

    path: str
    problem: str
    line: int | None = None

    def __str__(self) -> str:  # problems are predicates: "runs/x/manifest.json was altered …"
        where = f"{self.path} line {self.line}" if self.line is not None else self.path
        return f"{where} {self.problem}"


@dataclass
class VerifyReport:
    """What a verify checked and every mismatch it found (empty ``problems``: intact)."""

    subject: str
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: object, problem: str, *, line: int | None = None) -> None:
        """Record one mismatch."""
        self.problems.append(Problem(str(path), problem, line))

    def note(self, text: str) -> None:
        """Record something worth saying that is not a mismatch (an unfinished run, a skipped item)."""
        self.notes.append(text)

    def extend(self, other: VerifyReport) -> VerifyReport:
        """Fold another report into this one (``millpond verify`` runs every store's)."""
        self.checked += other.checked
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)
        return self

    def lines(self) -> list[str]:
        """Human-readable lines: one per problem and note, then a closing count."""
        out = [f"MISMATCH {problem}" for problem in self.problems]
        out += [f"note: {text}" for text in self.notes]
        verdict = "all verified" if self.ok else f"{len(self.problems)} problem(s)"
        out.append(f"{self.subject}: {self.checked} checked, {verdict}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "checked": self.checked,
            "ok": self.ok,
            "problems": [{"path": p.path, "problem": p.problem, "line": p.line} for p in self.problems],
            "notes": list(self.notes),
        }
