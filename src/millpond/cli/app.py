"""The ``millpond`` command: parses arguments, then calls the one handler the dispatch table names.

Each command group (cycle, runs, models, audit, marts, score, ops, views) defines its subparsers and its
handlers in its own module; this module builds the parser from them and holds the one table from
(command, subcommand) to handler.

Exit codes: 0 done, 1 a stage failed (its run is recorded), 2 bad input
(parameters, names, ids), 3 a stored record failed verification, 4 nothing due
(``cycle --next``: every window is completed), 5 locked (another cycle or stage run of the
use case is running).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from millpond.cli import audit, backtest, cycle, marts, models, ops, runs, score, site, views
from millpond.cli.common import Handler
from millpond.cli.models import with_model_store
from millpond.errors import MillpondError, exit_code_of
from millpond.runs.kernel_imports import skip_unused_format_checkers
from millpond.workspace import Workspace

GROUPS = (cycle, runs, models, audit, marts, score, ops, views, site, backtest)
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
}
"""The dispatch table: (command, subcommand or None) -> handler(args, workspace) -> exit code."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="millpond", description="Notebook-first MLOps on one machine.")
    parser.add_argument("--workspace", help="workspace folder (default: found from the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def command_key(args: argparse.Namespace) -> tuple[str, str | None]:
    """The dispatch key of parsed arguments: a group's subcommand is in ``<command>_command``."""
    return args.command, getattr(args, f"{args.command}_command", None)


def main(argv: Sequence[str] | None = None) -> int:
    skip_unused_format_checkers()
    args = build_parser().parse_args(argv)
    handler = COMMANDS[command_key(args)]
    try:
        ws = Workspace.find(args.workspace)
        return int(handler(args, ws))
    except MillpondError as exc:  # the exit code lives on the exception class (errors.exit_code_of)
        from millpond.config.secrets import redact_text  # stdlib only: cheap even on the early-refusal path

        print(f"error: {redact_text(str(exc))}", file=sys.stderr)  # terminals and cron logs never see a credential
        return exit_code_of(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
