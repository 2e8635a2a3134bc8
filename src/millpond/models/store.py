"""The model store: content-addressed versions, safe model files, aliases and their history.

Layout per model: ``<name>/versions/<version>/{model.skops,metadata.json}`` (read-only),
``<name>/aliases.json`` (what scoring serves, replaced atomically),
``<name>/history.jsonl`` (append-only log of alias changes and saves, a :class:`~millpond.store.log.JsonLinesLog`)
and ``<name>/.lock`` (a :class:`~millpond.store.lock.HolderLock` naming the process holding it).
A version is written to a staging folder, sealed read-only and published with one
no-clobber rename (:mod:`millpond.store.staging`); ``metadata.json`` is a
:class:`~millpond.models.entities.ModelMetadata`. Models are skops files (no pickle)
and load only when their sha256 matches the store's (:meth:`ModelStore.verify` reports
every mismatch without raising).

What :meth:`ModelStore.verify` holds each file against, outside the file itself:

- ``model.skops``: the sha256 in ``metadata.json``, whose first 12 characters are the version id.
- ``metadata.json``: the sha256 the save entry in ``history.jsonl`` recorded (``action: save``), appended
  before the version is published, so no published version lacks it. Versions saved by earlier millpond have
  no such entry: a note, not a problem.
- ``aliases.json``: each alias must point where the last recorded move of it in ``history.jsonl`` put it.
- ``history.jsonl`` itself: hash-chained like the audit log (``seq``, ``prev``, ``history.head``), so an edited,
  removed or reordered line is found. Entries an older millpond wrote without hashes are accepted up to the first
  chained one (a note says how many).

An alias move is write-ahead (one recoverable step): ``pending.json`` (a
:class:`~millpond.models.entities.PendingSwitch`: aliases before and after) is written first, then
``aliases.json`` is replaced, then the history lines are appended (each naming the move's ``intent`` id), then
``pending.json`` is removed. A crash anywhere in between leaves ``pending.json``; the next write to the model
completes the move (the aliases had changed: the missing history lines are appended, once) or undoes it (they had
not: nothing moved, the record is dropped). While it is there, :meth:`ModelStore.verify` notes the interrupted move
instead of reporting the aliases. A *governed* move (a promotion, :mod:`millpond.governance.deployment`) keeps
``pending.json`` until its audit entry and smoke test are done too; the governance layer recovers it.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.errors import (
    ModelIntegrityError,
    ModelStoreError,
    ModelStoreLockedError,
    ModelVersionNotFoundError,
    did_you_mean,
)
from millpond.models.entities import AliasChange, ModelMetadata, PendingSwitch
from millpond.store.artifacts import note_read, note_written
from millpond.store.checkpoint import checkpoint
from millpond.store.files import atomic_write_json, fsync_dir, read_json, sha256_bytes, sha256_file
from millpond.store.lock import HolderLock
from millpond.store.log import JsonLinesLog
from millpond.store.refs import matching_ids, shown_ids
from millpond.store.staging import publish_dir, seal_tree, staged_dir
from millpond.store.verify import VerifyReport

# Every type a millpond pipeline holds (Pipeline + ColumnTransformer + SimpleImputer/StandardScaler/OneHotEncoder
# + one of LogisticRegression, Ridge, LinearRegression, HistGradientBoosting*, RandomForest*, DecisionTree*),
# collected by dumping each supported pipeline (binary, multiclass, string/bool/int targets, regression) and
# reading every type in the skops schema plus skops.io.get_untrusted_types. An explicit allow-list: a model
# holding any other type is refused at save. skops warns that a crafted file can read out of bounds once
# TreePredictor (and Tree) are trusted, so the sha256 check before loading is the real guard.
TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "numpy.bool",
    "numpy.dtype",
    "numpy.float32",
    "numpy.float64",
    "numpy.int32",
    "numpy.int64",
    "numpy.uint64",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.pipeline.Pipeline",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

ALIASES: tuple[str, ...] = ("champion", "challenger", "previous")
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
HISTORY_FILE = "history.jsonl"
ALIASES_FILE = "aliases.json"
HISTORY_HEAD = "history.head"
PENDING_FILE = "pending.json"  # the write-ahead record of an alias move (see the module docstring)
SAVE_ACTION = "save"  # a history entry recording a saved version's metadata.json sha256 (not an alias move)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_EPOCH = (1980, 1, 1, 0, 0, 0)
log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a skops schema, parents first, in file order."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))


# "__id__": 123 or "file": "<name>" as skops' json.dumps(indent=2) writes them
_ID_OR_FILE = re.compile(r'"(__id__|file)": (-?\d+|"(?:[^"\\]|\\.)*")')


@dataclass(frozen=True)
class _Dump:
    """A canonical skops dump and every type its schema names (one parse serves both)."""

    data: bytes
    types: frozenset[str]


def _canonical(model: object) -> _Dump:
    """skops bytes that depend only on the model (object ids and zip timestamps renumbered and fixed), and its types.

    The schema is parsed once; the renumbering is applied to skops' own schema text and checked against the
    renumbered schema, so the bytes equal ``json.dumps(renumbered, indent=2)`` without re-encoding in Python.
    """
    from millpond.models.skops_import import skops_io  # imported by what saves or loads a model, never by listing

    sio = skops_io()

    raw = sio.dumps(model)
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        text = src.read("schema.json").decode()
        schema = json.loads(text)
        ids: dict[Any, int] = {}
        files: dict[str, str] = {}
        types: set[str] = set()
        for node in _nodes(schema):
            if "__module__" in node and "__class__" in node:
                types.add(f"{node['__module__']}.{node['__class__']}")
            if "__loader__" not in node:
                continue
            if "__id__" in node:
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            if isinstance(node.get("file"), str):
                node["file"] = files.setdefault(node["file"], f"{len(files) + 1}{Path(node['file']).suffix}")
        if set(src.namelist()) != {"schema.json", *files}:  # unknown layout: keep skops' own bytes
            return _Dump(raw, frozenset(types))
        entries = [("schema.json", _renumbered_text(text, schema, ids, files))]
        entries += sorted(((new, src.read(old)) for old, new in files.items()), key=lambda item: item[0])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for entry_name, data in entries:
            info = zipfile.ZipInfo(entry_name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    return _Dump(out.getvalue(), frozenset(types))


def _renumbered_text(text: str, renumbered: Any, ids: dict[Any, int], files: dict[str, str]) -> bytes:
    """``text`` with ids and file names replaced; falls back to re-encoding when the result is not ``renumbered``."""

    def replace(match: re.Match[str]) -> str:
        key, value = match.group(1), json.loads(match.group(2))
        new = (
            ids.get(value)
            if key == "__id__" and type(value) is int
            else files.get(value)
            if key == "file" and isinstance(value, str)
            else None
        )
        return match.group(0) if new is None else f'"{key}": {json.dumps(new)}'

    fast = _ID_OR_FILE.sub(replace, text)
    if json.loads(fast) == renumbered:
        return fast.encode()
    return json.dumps(renumbered, indent=2).encode()


def _canonical_dump(model: object) -> bytes:
    """skops bytes that depend only on the model: object ids and zip timestamps renumbered and fixed."""
    return _canonical(model).data


def model_sha256(model: object) -> str:
    """The sha256 a model's file would have in the store (its version id is the first 12 characters)."""
    return sha256_bytes(_canonical_dump(model))


def _types_outside_allow_list(data: bytes, schema_types: Iterable[str] | None = None) -> list[str]:
    """Every type named in a skops dump (schema and skops' own audit) that is not in TRUSTED_TYPES.

    ``schema_types`` are the types already read from the dump's schema (see :func:`_canonical`); without them
    the schema is read here.
    """
    if schema_types is None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
        schema_types = {
            f"{n['__module__']}.{n['__class__']}" for n in _nodes(schema) if "__module__" in n and "__class__" in n
        }
    from millpond.models.skops_import import skops_io

    return sorted((set(schema_types) | set(skops_io().get_untrusted_types(data=data))) - set(TRUSTED_TYPES))


@dataclass(frozen=True)
class ModelVersion:
    """One stored, immutable model version."""

    name: str
    version: str
    path: Path
    sha256: str
    created_at: str
    metadata: ModelMetadata = field(repr=False, hash=False)

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE


@dataclass(frozen=True)
class _Recorded:
    """What a model's history.jsonl recorded: the last move of each alias, the metadata.json sha256s of each save."""

    moves: dict[str, dict[str, Any]]
    metadata: dict[str, set[str]]


class ModelStore:
    """Versions, aliases and alias history of every model under one root folder."""

    def __init__(self, root: Path, *, lock_timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self._locks: dict[str, HolderLock] = {}

    # --- reading ---------------------------------------------------------------
    def names(self) -> list[str]:
        """Model names that have a versions folder."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".") and (p / "versions").is_dir())

    def versions(self, name: str) -> list[ModelVersion]:
        """Published versions of ``name``, oldest first (staging folders are ignored)."""
        found = [self._read(name, folder) for folder in self._version_folders(name)]
        return sorted(found, key=lambda v: (v.created_at, v.version))

    def get(self, name: str, ref: str) -> ModelVersion:
        """Resolve a version id or a piece of one (:func:`millpond.store.refs.matching_ids`), an alias or 'latest'."""
        folder = self._require(name) / "versions"
        if ref == "latest":
            versions = self.versions(name)
            if not versions:
                raise ModelVersionNotFoundError(f"Model '{name}' has no versions yet; train one first.")
            return versions[-1]
        if ref in ALIASES:
            aliases = self.aliases(name)
            self._warn_pending(name, ref)
            if ref not in aliases:
                raise ModelVersionNotFoundError(
                    f"Model '{name}' has no '{ref}' alias; set aliases: {aliases or 'none'}. "
                    "Promote a version first (ModelStore.promote or set_alias)."
                )
            ref = aliases[ref]
        ids = sorted(p.name for p in self._version_folders(name))
        matches = matching_ids(ref, ids)
        if len(matches) == 1:
            return self._read(name, folder / matches[0])
        if len(matches) > 1:
            raise ModelVersionNotFoundError(
                f"Version '{ref}' of '{name}' is ambiguous: it matches {shown_ids(matches)}; give more characters."
            )
        hint = did_you_mean(ref, [*ids, *ALIASES, "latest"])
        raise ModelVersionNotFoundError(
            f"Model '{name}' has no version or alias '{ref}'.{hint} Versions: {', '.join(ids) or 'none'}; "
            f"aliases: {', '.join(ALIASES)}, or 'latest'."
        )

    def load(self, name: str, ref: str) -> tuple[object, ModelVersion]:
        """Load a model after checking its file against the sha256 the store recorded."""
        from millpond.models.skops_import import skops_io

        sio = skops_io()
        from skops.io.exceptions import UntrustedTypesFoundException

        version = self.verified(name, ref)
        try:
            model = sio.load(version.model_file, trusted=list(TRUSTED_TYPES))
        except UntrustedTypesFoundException as exc:
            raise ModelIntegrityError(f"Model file {version.model_file} holds untrusted types: {exc}") from exc
        note_read("model_version", version.model_file, version.sha256, ref=f"{name}@{version.version}")
        return model, version

    def verify(self, name: str | None = None, ref: str | None = None) -> VerifyReport:
        """Check model files, metadata and aliases against what the store recorded: ``name@ref``, ``name``, or all.

        Never raises for a mismatch: each altered or missing model file, each metadata.json that does not read or
        differs from the sha256 its save recorded, and each alias that does not point where its last recorded move
        put it is a problem in the report. ``name@alias`` checks that alias and the version it points to.
        """
        if name is not None and ref:
            report = VerifyReport(f"{name}@{ref}")
            recorded = self._recorded(name)
            if ref in ALIASES:
                self._check_aliases(name, recorded, report, only=ref)
            self._check(self.get(name, ref), report, recorded)
            return report
        report = VerifyReport(name if name is not None else f"model store {self.root}")
        for model in [name] if name is not None else self.names():
            recorded = self._recorded(model)
            self._check_history(model, report)
            self._check_aliases(model, recorded, report)
            for folder in self._version_folders(model):
                try:
                    version = self._read(model, folder)
                except ModelIntegrityError as exc:
                    report.checked += 1
                    report.add(folder / METADATA_FILE, str(exc.__cause__ or exc))
                    continue
                self._check(version, report, recorded)
        return report

    def verified(self, name: str, ref: str) -> ModelVersion:
        """The version ``ref`` of ``name`` once its model file matches its sha256 (else :class:`ModelIntegrityError`)."""
        version = self.get(name, ref)
        problem = _file_problem(version)
        if problem is not None:
            raise ModelIntegrityError(f"Model file {version.model_file} {problem}")
        return version

    def aliases(self, name: str) -> dict[str, str]:
        """The current alias -> version mapping of ``name``."""
        path = self._require(name) / ALIASES_FILE
        return dict(read_json(path)) if path.exists() else {}

    def pending(self, name: str) -> PendingSwitch | None:
        """The alias move a crash interrupted (or a governed move still being completed), None when there is none."""
        path = self._require(name) / PENDING_FILE
        if not path.exists():
            return None
        try:
            return PendingSwitch.from_dict(read_json(path))
        except (OSError, ValueError, TypeError) as exc:
            raise ModelStoreError(
                f"{path} does not read ({exc}): it records an interrupted alias move. Compare aliases.json with "
                f"{HISTORY_FILE}, fix aliases.json with `millpond models promote/rollback`, then remove {path}."
            ) from exc

    def update_pending(self, name: str, pending: PendingSwitch) -> None:
        """Replace the model's pending move record (a governed move going to its next phase), atomically."""
        with self._locked(name):
            current = self.pending(name)
            if current is None or current.id != pending.id:
                raise ModelStoreError(f"Model '{name}' has no pending move {pending.id} to update.")
            self._write_pending(name, pending)

    def clear_pending(self, name: str, intent: str) -> None:
        """Remove the pending move ``intent`` (it is complete or undone); a no-op when it is already gone."""
        path = self._require(name) / PENDING_FILE
        current = self.pending(name)
        if current is not None and current.id == intent:
            path.unlink()
            fsync_dir(path.parent)

    def resume_switch(self, name: str, *, complete: bool = False) -> PendingSwitch | None:
        """Finish the alias move a crash interrupted; return it when it is governed (its caller completes the rest).

        The aliases had moved: the move's missing history lines are appended (once). They had not: the move is
        undone (the record dropped), or with ``complete`` made (a governed rollback that must happen). A plain
        move is then forgotten; a governed one stays pending for :mod:`millpond.governance.deployment`. When
        ``aliases.json`` matches neither side it was changed by hand after the crash: nothing is touched and
        :class:`ModelStoreError` says so.
        """
        with self._locked(name):
            pending = self.pending(name)
            if pending is None:
                return None
            current = self.aliases(name)
            if current == pending.after:
                self._append_moves(name, pending)
            elif current == pending.before and complete:
                self._apply(name, pending)
            elif current == pending.before:
                if pending.governed:
                    return pending
                log.warning("model %s: dropping the record of an alias move a crash interrupted before it", name)
                self.clear_pending(name, pending.id)
                return None
            else:
                raise ModelStoreError(
                    f"Model '{name}': {ALIASES_FILE} ({current}) is neither the state before ({pending.before}) nor "
                    f"after ({pending.after}) the interrupted move in {PENDING_FILE}: it was changed by hand. Restore "
                    f"one of them, then run again."
                )
            if not pending.governed:
                self.clear_pending(name, pending.id)
                return None
            return pending

    def history(self, name: str) -> list[AliasChange]:
        """Every recorded alias change of ``name``, oldest first (a line torn by a crash is skipped).

        Earlier millpond kept a torn line's fragment as a line of its own (it only added the missing
        newline): such a line is skipped too, wherever it is. The save entries are not alias changes: see
        :meth:`_recorded`.
        """
        return [AliasChange.from_dict(entry) for entry in self._entries(name) if "alias" in entry]

    def _entries(self, name: str) -> list[dict[str, Any]]:
        """Every whole, parseable line of ``name``'s history.jsonl: alias moves and saves, oldest first."""
        entries = []
        for line in self._history(self._require(name)).lines():
            with suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def _recorded(self, name: str) -> _Recorded:
        """The last recorded move of each alias and the metadata.json sha256 each save of a version recorded."""
        moves: dict[str, dict[str, Any]] = {}
        metadata: dict[str, set[str]] = {}
        for entry in self._entries(name):
            if entry.get("action") == SAVE_ACTION and isinstance(entry.get("version"), str):
                metadata.setdefault(entry["version"], set()).add(str(entry.get("metadata_sha256")))
            elif entry.get("alias") in ALIASES:
                moves[entry["alias"]] = entry
        return _Recorded(moves, metadata)

    # --- writing ---------------------------------------------------------------
    def save(self, name: str, model: object, metadata: dict[str, Any]) -> ModelVersion:
        """Store ``model`` as a new content-addressed version (a no-op when the same bytes are stored)."""
        _check_name(name)
        if not isinstance(metadata, dict):
            raise ModelStoreError(f"metadata for model '{name}' must be a dict. Got {type(metadata).__name__} instead.")
        dump = _canonical(model)
        untrusted = _types_outside_allow_list(dump.data, dump.types)
        if untrusted:
            raise ModelIntegrityError(
                f"Model '{name}' holds types outside the trusted list: {', '.join(untrusted)}. Use the estimators "
                "millpond supports, or review that code and add the type to millpond.models.store.TRUSTED_TYPES."
            )
        sha = sha256_bytes(dump.data)
        final = self.root / name / "versions" / sha[:12]
        with self._locked(name, create=True):
            if (final / METADATA_FILE).exists():
                existing = self._read(name, final)
                if existing.sha256 != sha:
                    raise ModelIntegrityError(
                        f"Version {sha[:12]} of model '{name}' exists with sha256 {existing.sha256}, not {sha}."
                    )
                return existing
            _remove_staging(final.parent)
            meta = _record(name, sha, dump.data, metadata).to_json().encode("utf-8")
            with staged_dir(final.parent, final.name) as staging:
                (staging / MODEL_FILE).write_bytes(dump.data)
                (staging / METADATA_FILE).write_bytes(meta)
                seal_tree(staging)  # every file flushed and read-only before the version becomes visible
                checkpoint("model-staged")
                self._record_save(name, final.name, sha, meta)  # before publishing: no version goes unrecorded
                checkpoint("model-recorded")
                if publish_dir(staging, final):  # False: a concurrent writer published the same bytes first
                    note_written("model_version", final / MODEL_FILE, sha, ref=f"{name}@{final.name}")
                checkpoint("model-published")
        return self._read(name, final)

    def _record_save(self, name: str, version: str, sha: str, metadata: bytes) -> None:
        """Append the save entry that holds the sha256 of the version's metadata.json (see the module docstring)."""
        self._history(self.root / name).append(
            {
                "time": _now(),
                "action": SAVE_ACTION,
                "version": version,
                "sha256": sha,
                "metadata_sha256": sha256_bytes(metadata),
            }
        )

    def set_alias(self, name: str, alias: str, version: str, *, actor: str, reason: str) -> None:
        """Point ``alias`` at an existing version."""
        _check_alias(alias)
        with self._locked(name):
            self._settle(name)
            target = self.get(name, version).version
            old = self.aliases(name)
            if old.get(alias) != target:
                self._switch(name, {**old, alias: target}, old, actor=actor, reason=reason, action="set")

    def remove_alias(self, name: str, alias: str, *, actor: str, reason: str) -> None:
        """Remove ``alias``."""
        _check_alias(alias)
        with self._locked(name):
            self._settle(name)
            old = self.aliases(name)
            if alias not in old:
                raise ModelVersionNotFoundError(
                    f"Model '{name}' has no '{alias}' alias to remove; set aliases: {old or 'none'}."
                )
            self._switch(
                name, {k: v for k, v in old.items() if k != alias}, old, actor=actor, reason=reason, action="remove"
            )

    def promote(
        self, name: str, version: str, *, actor: str, reason: str, governed: dict[str, Any] | None = None
    ) -> PendingSwitch | None:
        """Make ``version`` champion; the old champion becomes previous (one atomic aliases write).

        With ``governed`` (the context of a promotion the governance layer completes: audit, smoke test) the move's
        ``pending.json`` is kept and returned; None when ``version`` already is the champion.
        """
        with self._locked(name):
            self._settle(name)
            target = self.get(name, version).version
            old = self.aliases(name)
            if old.get("champion") == target:
                return None
            new = {k: v for k, v in old.items() if not (k == "challenger" and v == target)}
            if "champion" in old:
                new["previous"] = old["champion"]
            new["champion"] = target
            return self._switch(name, new, old, actor=actor, reason=reason, action="promote", governed=governed)

    def rollback(self, name: str, *, actor: str, reason: str) -> str:
        """Make previous champion again; previous becomes the champion before it when history knows it."""
        with self._locked(name):
            self._settle(name)
            target, new, old = self.rollback_plan(name)
            self._switch(name, new, old, actor=actor, reason=reason, action="rollback")
            return target

    def rollback_plan(self, name: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """(target, aliases after, aliases now) of a rollback of ``name``, computed without moving anything."""
        with self._locked(name):
            old = self.aliases(name)
            if "previous" not in old:
                raise ModelStoreError(
                    f"Model '{name}' has no previous version to roll back to (aliases: {old or 'none'}). "
                    "Promote an older version explicitly instead."
                )
            target, current = (
                self.verified(name, old["previous"]).version,
                old.get("champion"),
            )  # never roll back onto a tampered file
            # the champion `target` replaced last time, never the one being rolled back (None: target was the first)
            replaced = (e.source for e in reversed(self.history(name)) if e.alias == "champion" and e.target == target)
            earlier = next((v for v in replaced if v != current), None)
            new = {k: v for k, v in old.items() if k != "previous"}
            new["champion"] = target
            if earlier is not None and (self.root / name / "versions" / earlier / METADATA_FILE).exists():
                new["previous"] = earlier
            return target, new, old

    def switch_governed(self, pending: PendingSwitch, *, replaces: str | None = None) -> PendingSwitch:
        """Record ``pending`` (a governed move, e.g. the rollback after a failed smoke test) and carry it out.

        ``replaces`` names the pending move this one takes the place of (in the same atomic write); any other
        unfinished move is refused.
        """
        with self._locked(pending.model):
            current = self.pending(pending.model)
            if current is not None and current.id not in (pending.id, replaces) and current.phase != "done":
                raise ModelStoreError(f"Model '{pending.model}' has another pending move {current.id}.")
            self._write_pending(pending.model, pending)
            checkpoint("alias-intent-written")
            self._apply(pending.model, pending)
            return pending

    # --- helpers -----------------------------------------------------------------
    def _require(self, name: str) -> Path:
        _check_name(name)
        folder = self.root / name
        if not (folder / "versions").is_dir():
            known = self.names()
            raise ModelVersionNotFoundError(
                f"No model named '{name}' in {self.root}.{did_you_mean(name, known)} Models: {', '.join(known) or 'none'}."
            )
        return folder

    def _version_folders(self, name: str) -> list[Path]:
        """The published version folders of ``name`` (hidden staging folders are not versions)."""
        folder = self._require(name) / "versions"
        return [p for p in folder.iterdir() if not p.name.startswith(".") and (p / METADATA_FILE).is_file()]

    def _read(self, name: str, folder: Path) -> ModelVersion:
        path = folder / METADATA_FILE
        try:
            meta = ModelMetadata.from_json(path.read_bytes())
        except (ValueError, TypeError) as exc:
            raise ModelIntegrityError(
                f"Metadata {path} of model '{name}' does not read ({exc}); restore the version folder from a backup."
            ) from exc
        return ModelVersion(name, folder.name, folder, meta.sha256, meta.created_at, meta)

    def _check(self, version: ModelVersion, report: VerifyReport, recorded: _Recorded) -> None:
        """Count one version in ``report`` and record its model file's and its metadata.json's problems, if any."""
        report.checked += 1
        problem = _file_problem(version)
        if problem is not None:
            report.add(version.model_file, problem)
        path = version.path / METADATA_FILE
        hashes = recorded.metadata.get(version.version)
        if not hashes:
            report.note(
                f"{path} was saved by an earlier millpond, which recorded no sha256 of it in {HISTORY_FILE}: "
                "only its model file is checked"
            )
            return
        actual = sha256_file(path)
        if actual not in hashes:
            report.add(
                path,
                f"was altered on disk: sha256 {actual}, its save recorded {', '.join(sorted(hashes))} in "
                f"{HISTORY_FILE}; restore the version folder from a backup.",
            )

    def _check_aliases(self, name: str, recorded: _Recorded, report: VerifyReport, only: str | None = None) -> None:
        """Record each alias (or ``only``) that does not point where its last recorded move put it."""
        path = self.root / name / ALIASES_FILE
        try:
            current = read_json(path) if path.exists() else {}
            if not isinstance(current, dict):
                raise ValueError(f"a JSON object was expected, got {type(current).__name__}")
        except (OSError, ValueError) as exc:
            report.add(path, f"does not read ({exc}): restore it from a backup.")
            return
        if self._pending_explains(name, current, recorded, report):
            return
        for alias in [only] if only else ALIASES:
            problem = _alias_problem(alias, current.get(alias), recorded.moves.get(alias))
            if problem is not None:
                report.add(path, problem)

    def _pending_explains(self, name: str, current: dict[str, Any], recorded: _Recorded, report: VerifyReport) -> bool:
        """Note an interrupted move that explains ``current``; True when it does (the aliases are not checked).

        It explains them only when the history is where the move's steps leave it: at ``before`` while
        aliases.json is (the history lines come after the aliases), else at ``before`` or ``after``.
        """
        try:
            pending = self.pending(name)
        except ModelStoreError as exc:
            report.add(self.root / name / PENDING_FILE, str(exc))
            return True
        if pending is None or pending.phase == "done" or current not in (pending.before, pending.after):
            return False  # a done move is complete: the aliases must match the history like any other
        logged = {alias: move["to"] for alias, move in recorded.moves.items() if move.get("to")}
        if logged not in ([pending.before] if current == pending.before else [pending.before, pending.after]):
            return False
        side = "after" if current == pending.after else "before"
        report.note(
            f"{name}: an alias move ({pending.action} of {pending.context.get('version') or pending.after}, "
            f"phase {pending.phase}) was interrupted; {ALIASES_FILE} holds the state {side} it, and the next "
            "write to the model (or cycle stage) completes or undoes it"
        )
        return True

    @staticmethod
    def _history(folder: Path) -> JsonLinesLog:
        """The hash-chained, append-only log of alias changes and saves of the model in ``folder``."""
        return JsonLinesLog(folder / HISTORY_FILE, chain=True, head=folder / HISTORY_HEAD, legacy=True)

    def _switch(
        self,
        name: str,
        new: dict[str, str],
        old: dict[str, str],
        *,
        actor: str,
        reason: str,
        action: str,
        governed: dict[str, Any] | None = None,
    ) -> PendingSwitch:
        """Write-ahead: record the move in pending.json, replace aliases.json, log each changed alias, drop the record.

        A crash anywhere in between leaves pending.json, which :meth:`resume_switch` completes or undoes. A
        governed move keeps it (its caller completes the rest and removes it).
        """
        pending = PendingSwitch.new(name, action, old, new, actor=actor, reason=reason, context=governed)
        self._write_pending(name, pending)
        checkpoint("alias-intent-written")
        self._apply(name, pending)
        if not pending.governed:
            self.clear_pending(name, pending.id)
        return pending

    def _apply(self, name: str, pending: PendingSwitch) -> None:
        """Replace aliases.json with the move's ``after``, then append its history lines."""
        atomic_write_json(self.root / name / ALIASES_FILE, pending.after)
        checkpoint("alias-switched")
        self._append_moves(name, pending)
        checkpoint("alias-history-written")

    def _append_moves(self, name: str, pending: PendingSwitch) -> None:
        """Append a history line per alias the move changed, skipping those already logged (exactly once)."""
        history = self._history(self.root / name)
        logged = {e.get("alias") for e in self._entries(name) if e.get("intent") == pending.id}
        for alias in ALIASES:
            if pending.before.get(alias) != pending.after.get(alias) and alias not in logged:
                history.append(
                    {
                        "time": _now(),
                        "alias": alias,
                        "from": pending.before.get(alias),
                        "to": pending.after.get(alias),
                        "actor": pending.actor,
                        "reason": pending.reason,
                        "action": pending.action,
                        "intent": pending.id,
                    }
                )

    def _write_pending(self, name: str, pending: PendingSwitch) -> None:
        atomic_write_json(self.root / name / PENDING_FILE, pending.as_dict())

    def _settle(self, name: str) -> None:
        """Before a new move: finish a plain move a crash interrupted; refuse while a governed one is unfinished."""
        pending = self.resume_switch(name)
        if pending is not None and pending.phase != "done":  # a done move only awaits its decision entry
            raise ModelStoreError(
                f"Model '{name}' has an interrupted promotion of {pending.context.get('version')} "
                f"({PENDING_FILE}, phase {pending.phase}): its audit entry or smoke test is not done. The next "
                "cycle stage completes it (or call millpond.governance.deployment.recover_pending); then retry."
            )

    def _warn_pending(self, name: str, alias: str) -> None:
        """Say so when ``alias`` is served while a governed move of it is unfinished (never silently)."""
        path = self.root / name / PENDING_FILE
        if alias != "champion" or not path.exists():
            return
        try:
            pending = self.pending(name)
        except ModelStoreError as exc:
            log.warning("%s", exc)
            return
        if pending is not None and pending.governed and pending.phase != "done":
            log.warning(
                "model %s: the champion is in an unfinished promotion of %s (phase %s, smoke test not passed yet); "
                "the next cycle stage completes or rolls it back",
                name,
                pending.context.get("version"),
                pending.phase,
            )

    def _check_history(self, name: str, report: VerifyReport) -> None:
        """Add the hash chain's problems and notes of ``name``'s history.jsonl to ``report``."""
        chain = self._history(self.root / name).verify()
        report.problems.extend(chain.problems)
        report.notes.extend(chain.notes)

    @contextmanager
    def _locked(self, name: str, *, create: bool = False) -> Iterator[None]:
        """Hold the model's lock (re-entrant in this store); only save may create the model folder."""
        path = (self.root / name if create else self._require(name)) / ".lock"
        lock = self._locks.setdefault(
            name,
            HolderLock(
                path,
                timeout=self.lock_timeout,
                what=f"Model '{name}'",
                hint="wait for that train or promote run to finish or stop it, then retry.",
                error=ModelStoreLockedError,
            ),
        )
        with lock:
            yield


def _record(name: str, sha: str, data: bytes, metadata: dict[str, Any]) -> ModelMetadata:
    """The metadata of a new version: the caller's, then what the store knows of the file."""
    import sklearn
    import skops

    record = {
        **metadata,
        "name": name,
        "version": sha[:12],
        "sha256": sha,
        "created_at": _now(),
        "size_bytes": len(data),
        "skops_version": skops.__version__,
        "sklearn_version": sklearn.__version__,
    }
    if isinstance(record.get("profile"), dict):
        record["profile"] = {**record["profile"], "serialized_bytes": len(data)}
    return ModelMetadata.from_dict(record)


def _remove_staging(versions_dir: Path) -> None:
    """Remove the staging folders crashed saves left, old names (``.staging-<version>-<hex>``) included.

    Every save stages under the model's lock, which the caller holds: no staging folder belongs to a live save.
    """
    for stale in versions_dir.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _alias_problem(alias: str, current: object, move: dict[str, Any] | None) -> str | None:
    """What is wrong with where ``alias`` points (None: where its last recorded move put it)."""
    recorded = move.get("to") if move else None
    if current == recorded:
        return None
    if move is None:
        said = f"{alias} points to {current} but {HISTORY_FILE} records no move of it"
    else:
        last = f"the last recorded move ({move.get('action')} by {move.get('actor')} at {move.get('time')})"
        if current is None:
            said = f"has no {alias} but {last} set it to {recorded}"
        elif recorded is None:
            said = f"{alias} points to {current} but {last} removed it"
        else:
            said = f"{alias} points to {current} but {last} set {recorded}"
    return (
        f"{said}: it was changed outside millpond; restore it, or move the alias with millpond, which records "
        "the move (a promote or rollback that was interrupted: run it again)."
    )


def _file_problem(version: ModelVersion) -> str | None:
    """What is wrong with a version's model file (None: it matches the sha256 the store recorded)."""
    try:
        actual = sha256_file(version.model_file)
    except FileNotFoundError:
        return f"is missing; restore it from a backup or roll back with `millpond models rollback {version.name}`."
    if actual != version.sha256 or not actual.startswith(version.version):
        return (
            f"was altered on disk: sha256 {actual}, store recorded {version.sha256}; "
            f"restore it or roll back with `millpond models rollback {version.name}`."
        )
    return None


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ModelStoreError(
            f"Model name {name!r} is not allowed: use letters, digits, '-' and '_' only (no path separators), e.g. 'churn'."
        )


def _check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise ModelStoreError(
            f"Unknown alias '{alias}'; aliases are {', '.join(ALIASES)}.{did_you_mean(alias, ALIASES)}"
        )
