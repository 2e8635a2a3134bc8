"""Named crash points: the fault-injection hook every store write passes through.

Each step of a multi-step write calls ``checkpoint("<name>")``. It does nothing unless the environment variable
``MILLPOND_KILL_AT`` names that step, in which case the process kills itself with SIGKILL right there: no
``finally`` block, no lock release, no flush, exactly what a power cut or ``kill -9`` leaves behind. The test
harness (``tests/kill.py``) runs a snippet in a subprocess with the variable set, so every crash-recovery path
is proven against a real kill.

``MILLPOND_KILL_AT`` holds one name, or several separated by commas; ``name:N`` kills at the N-th time the step
is reached in the process (default: the first). The names in use are in :data:`CHECKPOINTS`.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "MILLPOND_KILL_AT"

CHECKPOINTS: tuple[str, ...] = (
    # model save (millpond.models.store.ModelStore.save)
    "model-staged",  # version folder written and sealed, its save entry not yet in history.jsonl
    "model-recorded",  # save entry appended, folder not yet published
    "model-published",  # version folder renamed into place
    # alias switch (millpond.models.store.ModelStore._switch, millpond.governance.deployment)
    "alias-before-intent",  # a promotion decided, nothing written yet
    "alias-intent-written",  # pending.json written, aliases.json unchanged
    "alias-switched",  # aliases.json replaced, no history entry yet
    "alias-history-written",  # history entries appended
    "promotion-audited",  # the promotion's audit entry appended
    "smoke-started",  # the post-promotion smoke test is running
    "smoke-passed",  # smoke test passed, pending.json not yet removed
    "rollback-audited",  # a failed smoke test's rollback switched and audited
    # capture parts (millpond.scoring.capture.CapturePartWriter.commit)
    "capture-staged",  # part written and flushed under its staging name, hash record not yet published
    "capture-recorded",  # hash record published, part not yet renamed into place
    "capture-published",  # part renamed into place
    # labels and monitoring
    "labels-stored",  # labels file stored, no KPI logged yet
    "monitoring-appended",  # a monitoring entry flushed to disk
    # manual decisions (millpond.governance.approvals)
    "approval-audited",  # `models approve`: the approval audited, the promotion not yet started
    "approval-promoted",  # `models approve`: promoted and smoke-tested, its decision entry not yet logged
    "rollback-moved",  # `models rollback`: aliases and history moved, the rollback not yet audited
    # run records (millpond.runs.store.RunStore.record)
    "record-started",  # the run's files written (notebook, outputs), no manifest yet
    "record-manifest-written",  # manifest sealed and files read-only, no index.sqlite row yet
    # scoring (millpond.scoring.batch)
    "score-batch-written",  # one more batch scored and handed to the writers (N-th with name:N)
    # retention (millpond.ops.retention, `millpond gc`)
    "gc-logged",  # a removal logged in retention.jsonl, still in place
    "gc-hidden",  # the removed folder moved out of its store (into .gc-trash), not deleted yet
    "gc-deleting",  # the first file of a hidden folder deleted, the rest not yet
)

_hits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Kill this process with SIGKILL when ``MILLPOND_KILL_AT`` names ``name`` (see the module docstring)."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    _hits[name] = _hits.get(name, 0) + 1
    for item in wanted.split(","):
        target, _, count = item.strip().partition(":")
        if target == name and _hits[name] == (int(count) if count else 1):
            os.kill(os.getpid(), signal.SIGKILL)
