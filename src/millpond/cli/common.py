"""What the command groups share: the handler signature, JSON output, number formatting, common options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, Protocol

from millpond.workspace import Workspace

Handler = Callable[[argparse.Namespace, Workspace], int]
"""A command: gets the parsed arguments and the workspace, returns the exit code."""


class Subparsers(Protocol):
    """What ``add_subparsers`` returns (argparse's public use of it): each group adds its commands to it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def dump(obj: Any) -> None:
    """Print ``obj`` as indented, key-sorted JSON (what every ``--json`` prints)."""
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def fmt(value: Any) -> str:
    """A table cell: floats to 4 places, None as empty."""
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


def add_params_window(parser: argparse.ArgumentParser) -> None:
    """The required ``--params`` and ``--window`` of the commands that work on one window of one use case."""
    parser.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    parser.add_argument("--window", required=True, help="window label, e.g. 2025-03")
