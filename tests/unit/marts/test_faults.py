"""Disk faults during mart writes (issue 14): a full disk, a read-only folder, a failing fsync.

Each gives a StorageError naming the path, leaves nothing half-written and changes nothing stored before; once
the fault is gone the same ingest works. The disk is a 2 MB tmpfs mounted over the mart's folder (root only:
elsewhere these skip with the reason). Every case runs one-shot and streamed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from millpond.errors import StorageError
from millpond.marts.store import MartStore, ingest
from millpond.store import staging
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase, tree_snapshot
from tests.faults import fill, read_only, tmpfs

pytestmark = pytest.mark.usefixtures("ingest_mode")


def _scratch(folder: Path) -> list[str]:
    return [p.name for p in (folder / "versions").glob(".*")]


def test_a_full_disk_refuses_the_version_naming_the_path_and_keeps_the_earlier_one(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    uc = make_use_case(demo_workspace)
    folder = demo_workspace.feature_marts / "churn"
    with tmpfs(folder):
        first = ingest(demo_workspace, uc, "2025-01").version
        filler = fill(folder, leave=16 * 1024)
        before = tree_snapshot(folder)
        with pytest.raises(StorageError, match=r"No space left on device") as info:
            ingest(demo_workspace, uc, "2025-02")
        message = str(info.value)
        assert str(folder / "versions") in message and "Free space on the disk" in message
        assert tree_snapshot(folder) == before and _scratch(folder) == []
        filler.unlink()
        second = ingest(demo_workspace, uc, "2025-02")  # the next run works
        store = MartStore(demo_workspace.feature_marts)
        assert second.created and store.verify("churn").ok
        assert [v.version for v in store.versions("churn")] == [first.version, second.version.version]


def test_a_read_only_folder_refuses_the_version_naming_the_path(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    uc = make_use_case(demo_workspace)
    folder = demo_workspace.feature_marts / "churn"
    with tmpfs(folder):
        ingest(demo_workspace, uc, "2025-01")
        before = tree_snapshot(folder)
        with read_only(folder):
            with pytest.raises(StorageError, match=r"Read-only file system") as info:
                ingest(demo_workspace, uc, "2025-02")
            assert str(folder / "versions") in str(info.value) and "remount it read-write" in str(info.value)
            stored = MartStore(demo_workspace.feature_marts).latest("churn", "2025-01")
            assert len(stored.read()) == stored.rows  # reading what is stored still works
        assert tree_snapshot(folder) == before and _scratch(folder) == []
        assert ingest(demo_workspace, uc, "2025-02").created


def test_a_failing_fsync_publishes_nothing(
    demo_workspace: Workspace, make_use_case: MakeUseCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    uc = make_use_case(demo_workspace)
    ingest(demo_workspace, uc, "2025-01")
    folder = demo_workspace.feature_marts / "churn"
    before = tree_snapshot(folder)

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", broken)
        with pytest.raises(StorageError, match=r"Input/output error.*check it \(dmesg"):
            ingest(demo_workspace, uc, "2025-02")
    assert tree_snapshot(folder) == before and _scratch(folder) == []


def test_data_and_manifest_are_flushed_before_the_version_is_published(
    demo_workspace: Workspace, make_use_case: MakeUseCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("rename " + os.path.basename(dst))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    version = ingest(demo_workspace, make_use_case(demo_workspace), "2025-01").version.version
    published = events.index(f"rename {version}")
    assert {"fsync data.parquet", "fsync manifest.json"} <= set(events[:published])
    assert "fsync versions" in events[published:]  # the rename itself is flushed too


@pytest.mark.reliability("kill")
def test_a_killed_ingest_leaves_staging_the_next_ingest_sweeps(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    import subprocess
    import sys

    uc = make_use_case(demo_workspace)
    first = ingest(demo_workspace, uc, "2025-01")
    versions = demo_workspace.feature_marts / "churn" / "versions"
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom millpond.store import staging\n"
        "d = staging.scratch_dir(Path(sys.argv[1]), '2025-02-abc')\n(d / 'data.parquet').write_bytes(b'half')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(versions)],
        check=False,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    left = _scratch(demo_workspace.feature_marts / "churn")
    assert len(left) == 1 and left[0].startswith(".staging-2025-02-abc-p")
    assert not ingest(demo_workspace, uc, "2025-01").created  # even a no-op ingest sweeps
    assert _scratch(demo_workspace.feature_marts / "churn") == []
    assert MartStore(demo_workspace.feature_marts).get("churn", first.version.version).rows == first.version.rows


def test_a_reused_pid_does_not_keep_a_dead_writers_staging_forever(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    entry = tmp_path / ".staging-2025-02-abc-p1-x1y2z3"
    entry.mkdir()
    old = time.time() - 3600
    os.utime(entry, (old, old))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        reused = entry.rename(tmp_path / f".staging-2025-02-abc-p{holder.pid}-x1y2z3")
        os.utime(reused, (old, old))  # written an hour before the live process with its pid started
        fresh = staging.scratch_dir(tmp_path, "2025-03-def")  # this process's own, being written now
        assert staging.sweep(tmp_path) == [reused.name]
        assert fresh.exists() and not reused.exists()
    finally:
        holder.kill()
        holder.wait()
