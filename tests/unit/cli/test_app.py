"""The command line's shape: one handler per command in the dispatch table, and a help that stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import millpond.cli
from millpond.cli import main
from millpond.cli.app import COMMANDS, build_parser
from millpond.cli.parser import MillpondParser

CLI_DIR = Path(millpond.cli.__file__).parent


def _commands(parser: MillpondParser) -> set[tuple[str, str | None]]:
    """Every (command, subcommand) the parser accepts."""
    keys: set[tuple[str, str | None]] = set()
    for name, command in parser.commands.items():
        keys |= {(name, s) for s in command.commands} if command.commands else {(name, None)}
    return keys


def test_the_dispatch_table_has_a_handler_for_every_command_and_no_other() -> None:
    assert _commands(build_parser()) == set(COMMANDS)


def test_help_lists_the_commands_in_the_old_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listed = capsys.readouterr().out.split("{", 1)[1].split("}", 1)[0].split(",")
    old_order = (
        "cycle,run,demo,runs,models,audit,marts,score,labels,smoke,captures,verify,status,schedule,gc,du,report,drift,"
        "site,backtest"
    )
    assert [c for c in listed if c in old_order.split(",")] == old_order.split(",")


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from millpond.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'sklearn', 'papermill', 'numpy', 'duckdb'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_cli_functions_are_short_and_take_few_parameters() -> None:
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                a = node.args
                params = len(a.posonlyargs + a.args + a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
                assert lines <= 60, f"{path.name}:{node.lineno} {node.name} has {lines} lines"
                assert params <= 8, f"{path.name}:{node.lineno} {node.name} takes {params} parameters"
