"""Params are data, end to end (issue 14): a real papermill run and a real `millpond run` with hostile values.

Stock papermill writes a ``bytes`` parameter into the notebook as ``"<str(value)>"``, so a ``!!binary`` value whose
bytes close the quote runs as code in the kernel. With millpond installed, papermill loads millpond's
``papermill.engine`` entry point when it starts, which registers the exact translator: the same file is refused
before a kernel starts, and a string full of quotes, newlines and Python arrives in the kernel exactly.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from millpond.runs.runner import kernel_name
from millpond.runs.store import RunStore
from millpond.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]
CANARY = "pwned-by-params"
PAYLOAD = f'"+__import__("os").system("touch {CANARY}")+"'
TRICKY = f'He said "hi"\n\'\'\' """ # not a comment \\ \\n {PAYLOAD}\n__import__("os").system("touch {CANARY}")'


def _binary(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _entry_point(folder: Path) -> Path:
    """A distribution declaring millpond's entry point, as `pip install millpond` does (pyproject.toml)."""
    info = folder / "millpond_entry_point-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: millpond-entry-point\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[papermill.engine]\nmillpond = millpond.config.papermill_plugin:MillpondEngine\n"
    )
    return folder


def _notebook(path: Path) -> None:
    """A notebook whose parameters are `description` and `note`; it writes what arrived, and its globals, to JSON."""
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('description = ""\nnote = ""')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        parameters,
        nbformat.v4.new_code_cell(
            "import json\n"
            "names = sorted(n for n in globals() if not n.startswith('_') and n not in ('In', 'Out', 'get_ipython', "
            "'exit', 'quit', 'open', 'json'))\n"
            "json.dump({'description': description, 'note': note, 'names': names}, open('arrived.json', 'w'))"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": kernel_name(), "language": "python", "display_name": "millpond"}
    nbformat.write(nb, path)


def _papermill(cwd: Path, params: str) -> subprocess.CompletedProcess[str]:
    (cwd / "params.yaml").write_text(params, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_entry_point(cwd / "site")), str(REPO / "src")])}
    return subprocess.run(
        [sys.executable, "-m", "papermill", "nb.ipynb", "out.ipynb", "-f", "params.yaml", "--log-level", "ERROR"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.reliability("code")
def test_plain_papermill_refuses_binary_and_delivers_a_tricky_string_exactly(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad", tmp_path / "good"
    for folder in (bad, good):
        folder.mkdir()
        _notebook(folder / "nb.ipynb")

    refused = _papermill(bad, f"description: !!binary {_binary(PAYLOAD)}\n")
    assert refused.returncode != 0
    assert "Notebook parameter 'description' cannot be injected: a bytes value is not plain data" in refused.stderr
    assert not (bad / CANARY).exists()
    assert not (bad / "out.ipynb").exists() and not (bad / "arrived.json").exists()  # no kernel ever started

    ran = _papermill(good, f"description: {json.dumps(TRICKY)}\nnote: {json.dumps(PAYLOAD)}\n")
    assert ran.returncode == 0, ran.stderr[-3000:]
    arrived = json.loads((good / "arrived.json").read_text(encoding="utf-8"))
    assert arrived == {"description": TRICKY, "note": PAYLOAD, "names": ["description", "note"]}
    assert not (good / CANARY).exists()
    injected = nbformat.read(good / "out.ipynb", as_version=4).cells[1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert injected.source == f"# Parameters\ndescription = {TRICKY!r}\nnote = {PAYLOAD!r}\n"


@pytest.mark.reliability("hostile")
def test_millpond_run_refuses_a_binary_param_before_any_notebook_runs(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (workspace.params / "churn.yaml").read_text(encoding="utf-8")
    hostile = text.replace(
        "description: Monthly customer churn (embedded synthetic demo data)",
        f"description: !!binary {_binary(PAYLOAD)}",
    )
    assert hostile != text
    (workspace.params / "binary.yaml").write_text(hostile, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "millpond", "--workspace", str(workspace.root), "run", "ingest"]
        + ["--params", "params/binary.yaml", "--window", "2025-01"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert "line 5: the tag '!!binary' is not allowed" in out.stderr
    assert not list(workspace.root.rglob(CANARY))
    [record] = RunStore(workspace.runs).list()  # recorded as bad params under the file's name, never executed
    assert record.status == "failed" and record.manifest["extra"]["bad_params"] is True
    assert not (workspace.runs / record.run_id / "notebook.ipynb").exists()
