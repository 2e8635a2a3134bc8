"""Operational events (a cycle failed, a stage is retried, a stale lock was taken over).

``notify_event`` appends one JSON line to ``logs/events.jsonl`` (a
:class:`~millpond.store.log.JsonLinesLog`: a line torn by a crash is skipped and
cut off by the next append) and logs it. It is the one place unattended runs
report to; a notification channel (e-mail, webhook) can be added here without
touching the callers. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact
from millpond.store.log import JsonLinesLog
from millpond.workspace import Workspace

log = logging.getLogger(__name__)
EVENTS_FILE = "events.jsonl"


def events_path(ws: Workspace) -> Path:
    return ws.logs / EVENTS_FILE


def events_log(ws: Workspace) -> JsonLinesLog:
    """The workspace's events log."""
    return JsonLinesLog(events_path(ws))


def notify_event(ws: Workspace, event: str, **fields: Any) -> dict[str, Any]:
    """Record an operational event (append-only, flushed to disk) and return the entry."""
    fields = redact(fields)  # no credential (known value or pattern) reaches the log or the terminal
    entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, "pid": os.getpid(), **fields}
    events_log(ws).append(entry)
    log.warning("event %s: %s", event, json.dumps(fields, sort_keys=True, default=str))
    return entry


def read_events(ws: Workspace, event: str | None = None) -> list[dict[str, Any]]:
    """Events in the order they were written, optionally only one kind."""
    return [e for e in events_log(ws) if event is None or e.get("event") == event]
