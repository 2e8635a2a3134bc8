"""File primitives every store uses: hashing, atomic writes with fsync, read-only seals, write errors said plainly.

:func:`writes_to` turns an ``OSError`` of a write (full disk, read-only or unwritable folder, I/O error) into a
:class:`~millpond.errors.StorageError` that names the path and the fix.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from millpond.errors import MillpondError, StorageError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, read_only: bool = False) -> Path:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    then renamed over ``path`` in one step. A failed write raises
    :class:`~millpond.errors.StorageError` naming the folder (the old file, if any, is unchanged).
    """
    target = Path(path)
    with writes_to(target.parent, target.name):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if read_only:
                os.chmod(tmp_name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, read_only: bool = False) -> Path:
    """Atomically write UTF-8 text (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), read_only=read_only)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, read_only: bool = False) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_text(path, text, read_only=read_only)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file's bytes to disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def make_read_only(path: str | os.PathLike[str]) -> None:
    """Drop write permission on a file (a run record or stored version)."""
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


_ERRNO_IN_TEXT = re.compile(r"errno[ =]*(\d+)", re.IGNORECASE)  # pyarrow's and duckdb's OSErrors carry it in the text


def _errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    found = _ERRNO_IN_TEXT.search(str(exc))
    return int(found.group(1)) if found else None


def storage_error(path: Path, what: str, exc: BaseException) -> StorageError:
    """The :class:`StorageError` for a failed write of ``what`` under ``path``: the path, the reason and the fix."""
    code = _errno_of(exc)
    where = Path(getattr(exc, "filename", None) or path)
    reason = os.strerror(code) if code else str(exc)
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = f"Free space on the disk holding {path} (df -h {path}) and run again."
    elif code == errno.EROFS:
        fix = f"{path} is on a read-only file system: remount it read-write, or move the workspace."
    elif code in (errno.EACCES, errno.EPERM):
        fix = f"Make {path} writable for this user (ls -ld {path}; an immutable flag shows in lsattr)."
    elif code == errno.EIO:
        fix = "The disk reported an I/O error: check it (dmesg, smartctl) before running again."
    else:
        fix = f"Check the disk and the permissions of {path}."
    return StorageError(
        f"Cannot write {what} under {path}: {reason} ({where}). {fix} "
        "Nothing was stored; what was stored before is unchanged."
    )


@contextmanager
def writes_to(path: Path, what: str) -> Iterator[None]:
    """Raise a :class:`StorageError` naming ``path`` for an ``OSError`` (or DuckDB I/O error) of the block's writes."""
    try:
        yield
    except MillpondError:
        raise
    except OSError as exc:
        raise storage_error(path, what, exc) from exc
    except Exception as exc:
        if type(exc).__module__.split(".")[0] == "duckdb" and type(exc).__name__ == "IOException":
            raise storage_error(path, what, exc) from exc
        raise
