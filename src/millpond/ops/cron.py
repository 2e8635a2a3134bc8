"""``millpond schedule``: the crontab line that runs ``scripts/cron_cycle.sh``, installed idempotently.

Entries are found again by their comment ``millpond:<workspace>:<params>``, so installing
twice keeps one line and ``--remove`` takes out only ours. The user's crontab is read and
written with python-crontab (``crontab -l`` / ``crontab -``); tests pass a tab file instead.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millpond.config.params import params_file
from millpond.errors import ScheduleError
from millpond.workspace import Workspace

SCRIPT = "scripts/cron_cycle.sh"


@dataclass(frozen=True)
class CronEntry:
    """One crontab line of a use case."""

    schedule: str
    command: str
    comment: str

    @property
    def line(self) -> str:
        return f"{self.schedule} {self.command} # {self.comment}"


def check_cron(expression: str) -> str:
    """Validate a 5-field cron expression with croniter; return it normalised."""
    from croniter import croniter

    text = " ".join(str(expression).split())
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ScheduleError(
            f"{expression!r} is not a valid cron expression: give 5 fields (minute hour day-of-month month "
            'day-of-week), e.g. "0 2 * * *" for every night at 02:00.'
        )
    return text


def cron_entry(ws: Workspace, params: str, expression: str) -> CronEntry:
    """The crontab entry that runs the next due window(s) of ``params`` on ``expression``."""
    schedule = check_cron(expression)
    params_file(ws, params)  # a misspelt path is refused, suggesting the closest file in params/
    script = ws.root / SCRIPT
    if not script.is_file():
        raise ScheduleError(f"{script} is missing: the crontab line runs it; copy scripts/cron_cycle.sh from millpond.")
    relative = ws.relative(ws.resolve(params))
    command = f"{shlex.quote(str(script))} {shlex.quote(relative)}"
    return CronEntry(schedule, command, f"millpond:{ws.root}:{relative}")


def _crontab(tabfile: str | Path | None) -> Any:
    from crontab import CronTab

    if tabfile is not None:
        path = Path(tabfile)
        if not path.exists():
            path.write_text("", encoding="utf-8")
        return CronTab(tabfile=str(path))
    try:
        return CronTab(user=True)
    except (OSError, ValueError) as exc:  # no crontab binary or no permission
        raise ScheduleError(
            f"Cannot read the user's crontab ({exc}): is cron installed (the `crontab` command)?"
        ) from exc


def install(entry: CronEntry, tabfile: str | Path | None = None) -> bool:
    """Add (or replace) our line; return False when the same line was already there."""
    tab = _crontab(tabfile)
    existing = list(tab.find_comment(entry.comment))
    if len(existing) == 1 and existing[0].slices.render() == entry.schedule and existing[0].command == entry.command:
        return False
    for job in existing:
        tab.remove(job)
    job = tab.new(command=entry.command, comment=entry.comment)
    job.setall(entry.schedule)
    tab.write()
    return True


def remove(entry_comment: str, tabfile: str | Path | None = None) -> int:
    """Take our line(s) out; return how many were removed."""
    tab = _crontab(tabfile)
    jobs = list(tab.find_comment(entry_comment))
    for job in jobs:
        tab.remove(job)
    if jobs:
        tab.write()
    return len(jobs)
