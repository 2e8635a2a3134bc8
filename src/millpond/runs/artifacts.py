"""What the run records say they wrote, checked against the workspace as it is now (``millpond verify``).

Every stage manifest lists its ``outputs``: sha256-pinned :class:`~millpond.store.artifacts.Artifact` s (mart and
model versions, capture parts, quarantine files, lines appended to logs). :func:`verify_outputs` checks each one is
still byte-identical: a file by its sha256, a log line by the sha256 of the line at its byte offset. A file that is
gone is a problem unless ``millpond gc`` removed it (retention removes whole mart versions, model versions, capture
windows and run cycles, and logs every removal in ``logs/retention.jsonl``): then it is a note. A predictions file
``millpond score`` wrote where its user asked lies outside the stores and may be replaced by the next score into the
same path: a change there is a note too. Database queries have no file and are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from millpond.errors import MillpondError
from millpond.runs.store import INDEX, RunStore
from millpond.store.artifacts import Artifact, from_manifest
from millpond.store.files import sha256_file
from millpond.store.log import JsonLinesLog, line_sha256
from millpond.store.verify import VerifyReport
from millpond.workspace import Workspace

USER_KINDS = ("predictions",)  # written where a person asked, outside the stores: a change is a note


@dataclass
class _Checker:
    """One pass over the run records: the workspace, what gc removed (path -> when), and files already read."""

    ws: Workspace
    report: VerifyReport
    removed: dict[str, str]
    digests: dict[Path, str | None] = field(default_factory=dict)
    logs: dict[Path, bytes | None] = field(default_factory=dict)

    def check(self, run_id: str, artifact: Artifact) -> None:
        if artifact.path is None:  # a database query: nothing on disk to compare
            return
        self.report.checked += 1
        path = self.ws.resolve(artifact.path)
        if artifact.kind == "log_entry" and artifact.offset is not None:
            self._check_line(run_id, artifact, path, artifact.offset)
            return
        digest = self._digest(path)
        if digest == artifact.sha256:
            return
        if digest is None:
            self._missing(run_id, artifact)
        elif artifact.kind in USER_KINDS:
            self.report.note(f"{artifact.path}: {artifact.kind} of run {run_id}, replaced since (outside the stores)")
        else:
            self.report.add(
                artifact.path,
                f"has sha256 {digest}, but run {run_id} recorded {artifact.sha256} when it wrote it "
                f"({artifact.kind} {artifact.ref}): it was changed afterwards (or the disk lost data); "
                "restore it from a backup",
            )

    def _digest(self, path: Path) -> str | None:
        if path not in self.digests:
            self.digests[path] = sha256_file(path) if path.is_file() else None
        return self.digests[path]

    def _missing(self, run_id: str, artifact: Artifact) -> None:
        assert artifact.path is not None
        when = next((t for p, t in self.removed.items() if _under(artifact.path, p)), None)
        if when is not None:
            self.report.note(f"{artifact.path}: written by run {run_id}, removed by millpond gc at {when}")
        elif artifact.kind in USER_KINDS:
            self.report.note(f"{artifact.path}: {artifact.kind} of run {run_id}, removed since (outside the stores)")
        else:
            self.report.add(
                artifact.path,
                f"is missing, but run {run_id} lists it as written ({artifact.kind} {artifact.ref}) and "
                "logs/retention.jsonl has no gc removal of it: restore it from a backup",
            )

    def _check_line(self, run_id: str, artifact: Artifact, path: Path, offset: int) -> None:
        if path not in self.logs:
            self.logs[path] = path.read_bytes() if path.is_file() else None
        data = self.logs[path]
        if data is None:
            self._missing(run_id, artifact)
            return
        end = data.find(b"\n", offset)
        line = data[offset : end + 1] if end >= 0 else data[offset:]
        if line and line_sha256(line) == artifact.sha256:
            return
        number = data.count(b"\n", 0, offset) + 1
        what = (
            "ends before the line" if offset >= len(data) else "holds another line than the one"
        ) + f" run {run_id} appended at byte {offset} (sha256 {artifact.sha256})"
        self.report.add(
            artifact.path, f"{what}: the log was edited or truncated; restore it from a backup", line=number
        )


def _under(path: str, folder: str) -> bool:
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def removed_by_gc(log: JsonLinesLog | None) -> dict[str, str]:
    """Every path ``millpond gc`` removed (relative to the workspace) and when, from its retention log."""
    removed: dict[str, str] = {}
    for line in log.lines() if log is not None else []:
        try:
            entry = json.loads(line)
        except ValueError:  # a damaged line is the retention log's own verify problem
            continue
        if isinstance(entry, dict) and entry.get("action") == "removed" and entry.get("path"):
            removed[str(entry["path"])] = str(entry.get("time") or "an unknown time")
    return removed


def verify_outputs(ws: Workspace, retention: JsonLinesLog | None = None) -> VerifyReport:
    """Check every output every indexed run record lists (``retention``: gc's log, whose removals are notes)."""
    report = VerifyReport("run outputs (what the run records list as written)")
    if not (ws.runs / INDEX).is_file():
        return report
    checker = _Checker(ws, report, removed_by_gc(retention))
    for run_id, outputs in _listed_outputs(RunStore(ws.runs)):
        for artifact in outputs:
            checker.check(run_id, artifact)
    return report


def _listed_outputs(runs: RunStore) -> Iterable[tuple[str, list[Artifact]]]:
    """(run id, its outputs) of every indexed run, in run id order; unreadable manifests are left to ``runs verify``."""
    for record in sorted(runs.list(), key=lambda r: r.run_id):
        try:
            outputs = from_manifest(record.run_manifest.outputs)
        except (MillpondError, ValueError, KeyError, TypeError):
            continue
        yield record.run_id, outputs
