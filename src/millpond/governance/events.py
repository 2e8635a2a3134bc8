"""Operational events (a cycle failed, a stage is retried, a stale lock was taken over).

``notify_event`` appends one JSON line to ``logs/events.jsonl`` and logs it. It is the
one place unattended runs report to; a notification channel (e-mail, webhook) can be
added here without touching the callers. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from millpond.workspace import Workspace

log = logging.getLogger(__name__)
EVENTS_FILE = "events.jsonl"


def events_path(ws: Workspace) -> Path:
    return ws.logs / EVENTS_FILE


def notify_event(ws: Workspace, event: str, **fields: Any) -> dict[str, Any]:
    """Record an operational event (append-only, flushed to disk) and return the entry."""
    entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, "pid": os.getpid(), **fields}
    path = events_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, default=str) + "\n"
    with FileLock(str(path) + ".lock", timeout=30), open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    log.warning("event %s: %s", event, json.dumps(fields, sort_keys=True, default=str))
    return entry


def read_events(ws: Workspace, event: str | None = None) -> list[dict[str, Any]]:
    """Events in the order they were written, optionally only one kind."""
    path = events_path(ws)
    if not path.is_file():
        return []
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [e for e in entries if event is None or e.get("event") == event]
