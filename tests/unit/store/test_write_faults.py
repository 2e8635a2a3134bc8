"""Disk faults under the storage layer (issue 14): every atomic write and staging step names the path when it fails.

A 2 MB tmpfs is mounted by the test (root only; elsewhere these skip with the reason).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from millpond.errors import StorageError
from millpond.store import staging
from millpond.store.files import atomic_write_bytes
from tests.conftest import tree_snapshot
from tests.faults import fill, read_only, tmpfs


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_an_atomic_write_that_fails_names_the_path_and_keeps_the_old_file(tmp_path: Path, fault: str) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        target = disk / "sub" / "labels.csv"
        atomic_write_bytes(target, b"old")
        if fault == "full":
            fill(disk)
            before = tree_snapshot(disk)
            with pytest.raises(StorageError, match=r"No space left on device") as info:
                atomic_write_bytes(target, b"new" * 100_000)
        else:
            before = tree_snapshot(disk)
            with read_only(disk), pytest.raises(StorageError, match=r"Read-only file system") as info:
                atomic_write_bytes(target, b"new")
        assert str(target.parent) in str(info.value) and "labels.csv" in str(info.value)
        assert tree_snapshot(disk) == before and target.read_bytes() == b"old"


def test_staging_on_a_read_only_disk_names_the_folder(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk, read_only(disk):
        with pytest.raises(StorageError, match=r"Cannot write a staging folder for v1 under .*disk"):
            staging.scratch_dir(disk / "versions", "v1")
        with pytest.raises(StorageError, match=r"Cannot write a staging file for part under .*disk"):
            staging.scratch_file(disk, "part")


def test_a_capture_part_on_a_read_only_disk_is_a_storage_error(tmp_path: Path) -> None:
    from millpond.scoring.capture import CaptureStore

    with tmpfs(tmp_path / "disk") as disk, read_only(disk):
        with pytest.raises(StorageError, match=r"Read-only file system"):
            writer = CaptureStore(disk, "m").open("2025-01", "v1", "r1")
            writer.write(pa.table({"a": [1, 2]}))
            writer.commit()
