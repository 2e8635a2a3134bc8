"""The workspace: the folder every relative path resolves against.

A workspace is the folder whose ``pyproject.toml`` has a ``[tool.millpond]``
section (or the folder named by ``MILLPOND_WORKSPACE``). Cron, the CLI, papermill
and JupyterLab all resolve paths from it, never from the current directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from millpond.errors import WorkspaceError

ENV_VAR = "MILLPOND_WORKSPACE"
_FOLDERS = ("runs", "feature_marts", "model_store", "params", "notebooks")


def _millpond_section(folder: Path) -> dict[str, str] | None:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    section = data.get("tool", {}).get("millpond")
    return section if isinstance(section, dict) else None


@dataclass(frozen=True)
class Workspace:
    """Paths of one millpond workspace."""

    root: Path
    folders: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Workspace:
        """Locate the workspace from ``start``, ``$MILLPOND_WORKSPACE`` or the current directory upwards."""
        if start is None or str(start) == "":
            start = os.environ.get(ENV_VAR) or Path.cwd()
        begin = Path(start).expanduser().resolve()
        for folder in (begin, *begin.parents):
            section = _millpond_section(folder)
            if section is not None:
                return cls(root=folder, folders={k: str(v) for k, v in section.items()})
        raise WorkspaceError(
            f"No millpond workspace found at or above {begin}: no pyproject.toml with a "
            f"[tool.millpond] section. Run millpond inside the workspace, pass --workspace DIR, "
            f"or set {ENV_VAR}=DIR."
        )

    def _folder(self, name: str) -> Path:
        return self.root / self.folders.get(name, name)

    @property
    def runs(self) -> Path:
        return self._folder("runs")

    @property
    def feature_marts(self) -> Path:
        return self._folder("feature_marts")

    @property
    def model_store(self) -> Path:
        return self._folder("model_store")

    @property
    def params(self) -> Path:
        return self._folder("params")

    @property
    def notebooks(self) -> Path:
        return self._folder("notebooks")

    @property
    def raw(self) -> Path:
        """Landing folder for raw source files (the demo data lands here)."""
        return self.feature_marts / "raw"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """Resolve ``path`` against the workspace root (absolute paths pass through)."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.root / candidate

    def relative(self, path: str | os.PathLike[str]) -> str:
        """Show ``path`` relative to the root when it lies inside the workspace."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)
