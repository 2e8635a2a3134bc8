"""CLI conventions: --version, the exit-code table, help on every option, --json everywhere (errors too),
did-you-mean for misspelt commands, quiet pipes, completion of commands and of the workspace's names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from millpond import __version__
from millpond.cli import main
from millpond.cli.app import build_parser
from millpond.cli.completion import SCRIPTS, candidates
from millpond.cli.output import EXIT_CODES, PipeSafe
from millpond.cli.parser import MillpondParser

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "workspace-v1"


@pytest.fixture
def old_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sealed v1 workspace (two churn runs, a churn model), found through MILLPOND_WORKSPACE."""
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    monkeypatch.setenv("MILLPOND_WORKSPACE", str(root))
    monkeypatch.chdir(tmp_path)
    return root


def _walk(parser: MillpondParser) -> list[MillpondParser]:
    return [parser, *(p for child in parser.commands.values() for p in _walk(child))]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"millpond {__version__}"


def test_help_carries_the_exit_code_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert [code for code, _ in EXIT_CODES] == [0, 1, 2, 3, 4, 5]
    for code, text in EXIT_CODES:
        assert f"  {code}  {text}" in out
    assert "millpond completion bash" in out


def test_every_command_and_option_has_help_text() -> None:
    parsers = _walk(build_parser())
    missing = [f"{p.prog} {a.option_strings or a.dest}" for p in parsers for a in p.actions if not a.help]
    missing += [f"{p.prog} {name}" for p in parsers for name, text in p.command_help.items() if not text]
    assert missing == []


def test_every_command_takes_json() -> None:
    leaves = list(build_parser().leaves())
    assert len(leaves) > 30
    assert [prog for prog, leaf in leaves if "--json" not in leaf.option_strings()] == []


@pytest.mark.parametrize(
    ("argv", "closest", "usage_of"),
    [(["models", "lst"], "list", "millpond models"), (["statu"], "status", "millpond"), (["runs", "shwo"], "show", "")],
)
def test_a_misspelt_command_gets_did_you_mean_in_millponds_words(
    argv: list[str], closest: str, usage_of: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"Did you mean '{closest}'?" in err
    assert "invalid choice" not in err
    assert f"usage: {usage_of}" in err


def test_a_usage_error_under_json_is_a_json_object_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "lst", "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert set(error) == {"error", "exit_code", "hint"}
    assert error["exit_code"] == 2 and "Did you mean 'list'?" in error["error"]
    assert captured.err == ""


def test_a_command_error_under_json_is_a_json_object_with_the_same_exit_code(
    old_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "show", "no-such-run"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["runs", "show", "no-such-run", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["exit_code"] == 2 and "no-such-run" in error["error"] and error["hint"]


def test_a_command_without_its_own_json_output_is_wrapped(
    old_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (old_workspace / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "cron_cycle.sh", old_workspace / "scripts")
    assert main(["schedule", "--params", "params/churn.yaml", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 0
    assert len(data["output"]) == 1 and "cron_cycle.sh" in data["output"][0]


def test_verify_commands_print_json_reports(old_workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "verify", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 0 and data["reports"][0]["checked"] >= 2 and not data["reports"][0]["problems"]
    manifest = next((old_workspace / "runs").glob("*/*/manifest.json"))
    manifest.chmod(0o644)
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("churn", "chURN"), encoding="utf-8")
    assert main(["runs", "verify", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 3 and data["error"] and data["hint"]


def test_a_closed_pipe_is_quiet_and_the_command_still_returns() -> None:
    code = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from millpond.cli import main\n"
        "rc = main(['completion', 'bash'])\n"
        "sys.stderr.write(f'rc={rc}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.endswith("rc=0"), done.stderr
    assert "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.returncode == 0


def test_pipe_safe_drops_writes_after_the_reader_left() -> None:
    class Closed:
        written: list[str] = []

        def write(self, text: str) -> int:
            raise BrokenPipeError

        def flush(self) -> None:
            raise BrokenPipeError

        def fileno(self) -> int:
            raise OSError("no descriptor")

        def isatty(self) -> bool:
            return False

    stream = PipeSafe(Closed())  # type: ignore[arg-type]
    assert stream.write("row 1\n") == 6
    assert stream.reader_gone
    stream.write("row 2\n")
    stream.flush()


def test_completion_offers_commands_options_and_choices() -> None:
    parser = build_parser()
    assert candidates(parser, [], "mo") == ["models"]
    assert set(candidates(parser, ["models"], "li")) == {"list", "lineage"}
    assert "--max-windows" in candidates(parser, ["cycle"], "--ma")
    assert candidates(parser, ["completion"], "") == ["bash", "zsh"]
    assert candidates(parser, ["run"], "tr") == ["train"]


def test_completion_offers_the_workspaces_runs_models_and_params(old_workspace: Path) -> None:
    parser = build_parser()
    runs = sorted(f"{p.parent.parent.name}/{p.parent.name}" for p in (old_workspace / "runs").glob("*/*/manifest.json"))
    assert len(runs) >= 5
    assert sorted(candidates(parser, ["runs", "show"], "2026")) == runs
    version = next((old_workspace / "model_store" / "churn" / "versions").iterdir()).name
    refs = candidates(parser, ["models", "show"], "churn@")
    assert "churn@champion" in refs and f"churn@{version}" in refs
    assert candidates(parser, ["score", "--model"], "churn@ch") == ["churn@champion", "churn@challenger"]
    assert candidates(parser, ["cycle", "--params"], "") == ["params/churn.yaml"]
    assert candidates(parser, ["models", "list"], "ch") == ["churn"]


def test_completion_outside_a_workspace_offers_no_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MILLPOND_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert candidates(build_parser(), ["runs", "show"], "") == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_through_the_command(old_workspace: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "millpond"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m millpond "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    script = (
        SCRIPTS["bash"] + 'COMP_WORDS=(millpond models li); COMP_CWORD=2; _millpond_complete; echo "${COMPREPLY[*]}"'
    )
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "MILLPOND_WORKSPACE": str(old_workspace),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60).stdout
    assert sorted(out.split()) == ["lineage", "list"]


# Completes each line given after the script in an interactive zsh on a pseudo-terminal (zsh/zpty), with the real
# completion system (compinit) and the script sourced; compadd is wrapped to print what the completion adds.
_ZSH_CAPTURE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='' RPROMPT=''; autoload -U compinit; compinit -u -D; source ${(q)1}"
zpty -w z 'compadd() { local -a hits; builtin compadd -O hits "$@"; print -rl -- "" "<hit>"${^hits}; builtin compadd "$@" }'
zpty -w z 'functions[_millpond_script]=$functions[_millpond]; _millpond() { _millpond_script "$@"; print -rl -- "" "<"end">" }'
for line in "${@[2,-1]}"; do
  zpty -w z "print -r -- '<'ready'>'"
  while zpty -r z out; do [[ $out == *'<ready>'* ]] && break; done
  print -r -- "<line>$line"
  zpty -w -n z "$line"$'\t'
  while zpty -r z out; do  # the completion has run once the wrapped function printed <end>: only then type on
    [[ $out == *'<end>'* ]] && break
    [[ $out == *'<hit>'* ]] && print -r -- "${out##*<hit>}"
  done
  zpty -w z $'\C-u'"print -r -- '<'done'>'"
  while zpty -r z out; do [[ $out == *'<done>'* ]] && break; done
done
zpty -d z
"""


@pytest.mark.skipif(
    shutil.which("zsh") is None, reason="zsh is not installed: apt-get install zsh to test its completion"
)
def test_the_zsh_script_completes_commands_options_names_runs_and_refs(old_workspace: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "millpond"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m millpond "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    (tmp_path / "millpond.zsh").write_text(SCRIPTS["zsh"], encoding="utf-8")
    (tmp_path / "capture.zsh").write_text(_ZSH_CAPTURE, encoding="utf-8")
    (tmp_path / "scored.csv").write_text("a\n", encoding="utf-8")
    lines = [
        "millpond mo",
        "millpond models li",
        "millpond cycle --ma",
        "millpond cycle --params ",
        "millpond models list ",
        "millpond runs show 20261201T225853Z-churn-2025-01-e5e1/0",
        "millpond score --model churn@ch",
        "millpond score --input sco",
    ]
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "MILLPOND_WORKSPACE": str(old_workspace)}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    done = subprocess.run(
        ["zsh", "-f", "capture.zsh", "millpond.zsh", *lines],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    got: dict[str, set[str]] = {}
    for row in done.stdout.replace("\r", "").splitlines():
        if row.startswith("<line>"):
            current = got.setdefault(row.removeprefix("<line>"), set())
        elif row:
            current.add(row)
    assert got == {
        "millpond mo": {"models"},
        "millpond models li": {"list", "lineage"},
        "millpond cycle --ma": {"--max-windows"},
        "millpond cycle --params ": {"params/churn.yaml"},
        "millpond models list ": {"churn"},
        "millpond runs show 20261201T225853Z-churn-2025-01-e5e1/0": {
            f"20261201T225853Z-churn-2025-01-e5e1/{run}"
            for run in ("01-ingest", "02-score", "03-drift", "04-train", "05-promote")
        },
        "millpond score --model churn@ch": {"churn@champion", "churn@challenger"},
        "millpond score --input sco": {"scored.csv"},  # nothing millpond knows: file names
    }, done.stderr


def test_cycle_json_is_one_document_with_the_failure_and_progress_on_stderr(
    old_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (old_workspace / "notebooks").mkdir(exist_ok=True)  # no stage notebooks here: the next window's ingest fails
    assert main(["cycle", "--params", "params/churn.yaml", "--next", "--max-windows", "1", "--json"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["exit_code"] == 1 and data["hint"] and "stopped" in data["error"]
    (cycle,) = data["cycles"]
    assert [(r["stage"], r["status"]) for r in cycle["runs"]] == [("ingest", "failed")]
    assert "running cycle" in captured.err
