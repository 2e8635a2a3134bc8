"""The ``millpond`` command: parses arguments, then calls the one handler the dispatch table names.

Each command group (cycle, runs, models, audit, marts, score, ops, views) defines its subparsers and its
handlers in its own module; this module builds the parser from them and holds the one table from
(command, subcommand) to handler.

Exit codes (``output.EXIT_CODES``, listed by ``millpond --help``): 0 done, 1 a stage failed (its run is
recorded), 2 bad input (parameters, names, ids), 3 a stored record failed verification, 4 nothing due
(``cycle --next``: every window is completed), 5 locked (another cycle or stage run of the use case is running).

Conventions every command gets here, in one place: ``--version``; ``--json`` on every command (its output one
JSON document, an error ``{"error", "exit_code", "hint"}`` on stdout with the same exit code); a misspelt command
answered with "did you mean"; quiet pipes (``millpond runs list | head``); shell completion
(``millpond completion bash|zsh``). Command modules import their heavy dependencies inside the handlers, so
``--help``, ``status``, ``runs list`` and ``models list`` start fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

import millpond
from millpond.cli import audit, backtest, completion, cycle, marts, models, ops, runs, score, site, views
from millpond.cli.common import Handler
from millpond.cli.models import with_model_store
from millpond.cli.output import EXIT_CODES, PipeSafe, json_output, report_error
from millpond.cli.parser import MillpondParser
from millpond.errors import MillpondError
from millpond.runs.kernel_imports import skip_unused_format_checkers
from millpond.workspace import Workspace

GROUPS = (cycle, runs, models, audit, marts, score, ops, views, site, backtest, completion)
"""The command groups, in the order ``millpond --help`` lists their commands."""

COMMANDS: dict[tuple[str, str | None], Handler] = {
    ("cycle", None): cycle.cmd_cycle,
    ("run", None): cycle.cmd_run,
    ("demo", None): cycle.cmd_demo,
    ("runs", "list"): runs.cmd_runs_list,
    ("runs", "show"): runs.cmd_runs_show,
    ("runs", "verify"): runs.cmd_runs_verify,
    ("runs", "reindex"): runs.cmd_runs_reindex,
    ("runs", "rerun"): runs.cmd_runs_rerun,
    ("runs", "compare"): runs.cmd_runs_compare,
    ("models", "list"): with_model_store(models.cmd_models_list),
    ("models", "show"): with_model_store(models.cmd_models_show),
    ("models", "lineage"): with_model_store(models.cmd_models_lineage),
    ("models", "rollback"): with_model_store(models.cmd_models_rollback),
    ("models", "compare"): with_model_store(models.cmd_models_compare),
    ("models", "verify"): with_model_store(models.cmd_models_verify),
    ("models", "approve"): with_model_store(models.cmd_models_approve),
    ("models", "reject"): with_model_store(models.cmd_models_approve),
    ("audit", "show"): audit.cmd_audit_show,
    ("audit", "verify"): audit.cmd_audit_verify,
    ("marts", "list"): marts.cmd_marts_list,
    ("marts", "show"): marts.cmd_marts_show,
    ("marts", "diff"): marts.cmd_marts_diff,
    ("marts", "verify"): marts.cmd_marts_verify,
    ("captures", "verify"): score.cmd_captures_verify,
    ("score", None): score.cmd_score,
    ("labels", "add"): score.cmd_labels_add,
    ("smoke", None): score.cmd_smoke,
    ("verify", None): ops.cmd_verify,
    ("status", None): ops.cmd_status,
    ("schedule", None): ops.cmd_schedule,
    ("gc", None): ops.cmd_gc,
    ("du", None): ops.cmd_du,
    ("report", None): views.cmd_report,
    ("drift", "view"): views.cmd_drift_view,
    ("site", None): site.cmd_site,
    ("models", "export"): site.cmd_models_export,
    ("backtest", None): backtest.cmd_backtest,
    ("completion", None): completion.cmd_completion,
}
"""The dispatch table: (command, subcommand or None) -> handler(args, workspace) -> exit code."""

STREAMING = {("drift", "view")}
"""Commands whose output is live (a server's address, then waiting): under --json they print JSON lines themselves."""


EPILOG = (
    "exit codes:\n"
    + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES)
    + "\n\nevery command takes --json (errors then print as JSON too: error, exit_code, hint).\n"
    'shell completion: eval "$(millpond completion bash)"   (or zsh)'
)
JSON_HELP = 'print the result as one JSON document; an error as {"error", "exit_code", "hint"} (same exit code)'
DEFAULT_HELP = {"json": JSON_HELP, "name": "model (use case) name, e.g. churn"}


def build_parser() -> MillpondParser:
    """The whole command line: every group's commands, --version, and --json on each command."""
    parser = MillpondParser(
        prog="millpond",
        description="Notebook-first MLOps on one machine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"millpond {millpond.__version__}", help="print the version"
    )
    parser.add_argument("--workspace", help="workspace folder (default: found from the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    for _, leaf in parser.leaves():
        if "--json" not in leaf.option_strings():
            leaf.add_argument("--json", action="store_true", help=JSON_HELP)
        for action in leaf.actions:  # the options every command shares get one help text here
            action.help = action.help or DEFAULT_HELP.get(action.dest)
    return parser


def command_key(args: argparse.Namespace) -> tuple[str, str | None]:
    """The dispatch key of parsed arguments: a group's subcommand is in ``<command>_command``."""
    return args.command, getattr(args, f"{args.command}_command", None)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command the arguments name (the ones needing no workspace first)."""
    key = command_key(args)
    if key == ("completion", None):
        return completion.cmd_completion(args)
    ws = Workspace.find(args.workspace)
    if key in STREAMING or not args.json:
        return int(COMMANDS[key](args, ws))
    with json_output(True) as code:
        code[0] = int(COMMANDS[key](args, ws))
    return code[0]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``millpond`` command: parse, dispatch, and turn millpond's errors into messages and exit codes."""
    words = list(sys.argv[1:] if argv is None else argv)
    skip_unused_format_checkers()
    parser = build_parser()
    if words[:1] == ["__complete"]:  # what the completion scripts call (not a listed command)
        return completion.complete(parser, words[1:])
    stdout, sys.stdout = sys.stdout, PipeSafe(sys.stdout)
    try:
        args = parser.parse_args(words)
        return _dispatch(args)
    except MillpondError as exc:  # the exit code lives on the exception class (errors.exit_code_of)
        if "--json" not in words:
            _usage_line(parser, exc, words)
        return report_error(exc, as_json="--json" in words)
    except Exception as exc:
        if "--json" not in words:
            raise  # not millpond's own: the traceback is the report
        traceback.print_exc()
        return report_error(exc, as_json=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


def _usage_line(parser: MillpondParser, exc: MillpondError, words: list[str]) -> None:
    """Before a usage error's message, the usage of the command it is about (as argparse would show)."""
    from millpond.cli.parser import UsageError

    if isinstance(exc, UsageError):
        target = parser
        for word in words:
            target = target.commands.get(word, target)
        print(target.format_usage().rstrip(), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
