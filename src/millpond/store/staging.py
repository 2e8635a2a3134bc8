"""Staging, then one no-clobber rename: how every store makes a version visible.

A version (a folder) or a part (a file) is written under a hidden scratch name
beside its final place, named after the writing process
(``.staging-<label>-p<pid>-<random>``), flushed to disk, sealed read-only and
published with one rename that never replaces what is already there. A reader
therefore sees a whole version or none. A write that fails (full disk, read-only
folder, I/O error) raises :class:`~millpond.errors.StorageError` naming the path. A process killed half way leaves only
its scratch entry; :func:`sweep` removes those whose writer is dead: no process
has its pid, or the process that has it now started after the entry was last
written (the pid was reused), so a kill never leaves a scratch entry forever.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from millpond.store.files import fsync_dir, fsync_file, make_read_only, writes_to
from millpond.store.lock import process_alive

PREFIXES = (".staging-", ".work-")
_OWNER = re.compile(r"-p(\d+)-[a-z0-9_]+(?:\.[a-z0-9]+)?$")  # tempfile's random part has no '-'; a label may


def scratch_dir(parent: Path, label: str, *, prefix: str = ".staging-") -> Path:
    """A new hidden folder in ``parent`` owned by this process (so a later sweep can tell when it was abandoned)."""
    with writes_to(parent, f"a staging folder for {label}"):
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{label}-p{os.getpid()}-", dir=parent))


def scratch_file(parent: Path, label: str, *, suffix: str = "") -> Path:
    """A new empty hidden file in ``parent`` owned by this process."""
    with writes_to(parent, f"a staging file for {label}"):
        parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".staging-{label}-p{os.getpid()}-", suffix=suffix, dir=parent)
        os.close(fd)
    return Path(name)


def owner_pid(entry: Path) -> int | None:
    """The pid a scratch entry's name records, or None when the name is not a scratch name."""
    found = _OWNER.search(entry.name)
    return int(found.group(1)) if found and entry.name.startswith(PREFIXES) else None


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return float(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def writer_alive(entry: Path, pid: int) -> bool:
    """Whether the process that wrote scratch ``entry`` may still be writing it.

    False when no process has ``pid``, or when the one that has it started after the entry was last written
    (a reused pid: the writer died long ago). A second of slack covers the clocks' granularity.
    """
    if not process_alive(pid):
        return False
    started = _started_at(pid)
    try:
        written = entry.lstat().st_mtime
    except OSError:
        return False
    return started is None or started <= written + 1.0


def _remove(entry: Path) -> bool:
    """Remove a scratch entry (a sealed one holds read-only files); whether it is gone."""
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)  # its files may be read-only (sealed): removing them needs the folder writable only
        else:
            entry.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk: left for a later sweep
        return False
    return not entry.exists()


def sweep(parent: Path) -> list[str]:
    """Remove scratch folders and files in ``parent`` whose writer is dead (:func:`writer_alive`); return their names.

    An entry that cannot be removed (a read-only disk) is left for a later sweep, and not listed.
    """
    removed: list[str] = []
    if not parent.is_dir():
        return removed
    for entry in sorted(parent.glob(".*")):
        pid = owner_pid(entry)
        if pid is None or writer_alive(entry, pid):
            continue
        if _remove(entry):
            removed.append(entry.name)
    return removed


def seal_tree(folder: Path) -> None:
    """Flush every file of a staged folder to disk and make it read-only (before it is published).

    A failed flush (an I/O error, a full disk that delayed allocation only now notices) is a ``StorageError``.
    """
    with writes_to(folder.parent, f"staged {folder.name}"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                fsync_file(path)
                make_read_only(path)
        fsync_dir(folder)


def publish_dir(staging: Path, final: Path) -> bool:
    """Rename a fully written staging folder to ``final`` in one step.

    Returns ``False`` (and removes the staging folder) when ``final`` already
    exists: versions are never overwritten.
    """
    with writes_to(final.parent, f"version {final.name}"):
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, final)
        except OSError:
            if final.exists():
                shutil.rmtree(staging, ignore_errors=True)
                return False
            raise
        fsync_dir(final.parent)
    return True


def publish_file(staging: Path, final: Path, *, replace: bool = False) -> bool:
    """Publish a flushed staging file as ``final``; without ``replace`` never over an existing file.

    Returns ``False`` (and removes the staging file) when ``final`` exists and ``replace`` is off.
    """
    with writes_to(final.parent, final.name):
        final.parent.mkdir(parents=True, exist_ok=True)
        if replace:
            os.replace(staging, final)
        else:
            try:
                os.link(staging, final)  # fails instead of clobbering
            except FileExistsError:
                staging.unlink(missing_ok=True)
                return False
            staging.unlink()
        fsync_dir(final.parent)
    return True


@contextmanager
def staged_dir(parent: Path, label: str) -> Iterator[Path]:
    """A scratch folder that is removed when the block raises (publish it inside the block)."""
    folder = scratch_dir(parent, label)
    try:
        yield folder
    finally:  # gone when published; still there when the block raised or the publish found the version already
        shutil.rmtree(folder, ignore_errors=True)
