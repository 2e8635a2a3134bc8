"""What changed in a use case's parameters since its previous run (shown in the next run's manifest)."""

from __future__ import annotations

import json
from typing import Any

from millpond.config.secrets import redact
from millpond.runs.store import RunStore, is_adhoc

_ABSENT = "<absent>"


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def diff_params(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Changed dotted keys with their old and new values (``<absent>`` for added or removed keys)."""
    old, new = flatten(before), flatten(after)
    return {
        key: {"before": old.get(key, _ABSENT), "after": new.get(key, _ABSENT)}
        for key in sorted(set(old) | set(new))
        if old.get(key, _ABSENT) != new.get(key, _ABSENT)
    }


def params_change(runs: RunStore, use_case: str, params: dict[str, Any]) -> dict[str, Any]:
    """The diff of ``params`` (redacted) against the params of the use case's latest recorded run."""
    previous = next((r for r in runs.list(use_case=use_case) if not is_adhoc(r)), None)  # ad-hoc scores are no baseline
    if previous is None:
        return {"previous_run": None, "changed": {}}
    before = previous.params or {}
    return {
        "previous_run": previous.run_id,
        "changed": diff_params(before, json.loads(json.dumps(redact(params), default=str))),
    }
