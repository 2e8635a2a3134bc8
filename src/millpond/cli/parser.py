"""The argument parser every millpond command is parsed with: millpond's own error words, a tree to walk.

:class:`MillpondParser` is an ``argparse.ArgumentParser`` that

- raises :class:`UsageError` (exit 2) instead of printing argparse's message and exiting, so the caller prints
  it in millpond's words (or as JSON under ``--json``); a misspelt subcommand gets "did you mean";
- remembers the actions and subcommands added to it (``actions``, ``commands``), which shell completion and the
  ``--json``/help checks walk with public API only.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from typing import Any, NoReturn

from millpond.errors import MillpondError, did_you_mean

_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)")


class UsageError(MillpondError, ValueError):
    """The command line does not parse: an unknown command or option, a missing or malformed argument (exit 2)."""

    def __init__(self, message: str, *, prog: str = "millpond") -> None:
        super().__init__(message)
        self.prog = prog
        self.hint = f"`{prog} --help` lists the commands and options"


class MillpondParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` and records its actions and subcommands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.actions: list[argparse.Action] = []  # set first: argparse's constructor adds --help
        self.commands: dict[str, MillpondParser] = {}
        self.command_help: dict[str, str] = {}
        self.subcommand_actions: list[argparse.Action] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.actions.append(action)
        return action

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        group = super().add_mutually_exclusive_group(**kwargs)
        add = group.add_argument

        def recorded(*args: Any, **kw: Any) -> argparse.Action:
            action = add(*args, **kw)
            self.actions.append(action)
            return action

        setattr(group, "add_argument", recorded)  # noqa: B010  (the group is argparse's; only this method changes)
        return group

    def add_subparsers(self, **kwargs: Any) -> Any:
        sub = super().add_subparsers(**kwargs)
        self.subcommand_actions.append(sub)
        add = sub.add_parser

        def recorded(name: str, **kw: Any) -> MillpondParser:
            if "help" in kw and kw.get("description") is None:
                kw["description"] = kw["help"]
            parser: MillpondParser = add(name, **kw)
            self.commands[name] = parser
            self.command_help[name] = kw.get("help") or ""
            return parser

        setattr(sub, "add_parser", recorded)  # noqa: B010
        return sub

    def option_strings(self) -> list[str]:
        """Every option this parser takes (``--help`` included)."""
        return [s for a in self.actions for s in a.option_strings]

    def positionals(self) -> list[argparse.Action]:
        """The positional arguments, in order (subcommands excluded)."""
        return [a for a in self.actions if not a.option_strings]

    def leaves(self) -> Iterator[tuple[str, MillpondParser]]:
        """``(prog, parser)`` of every command that runs something (a parser without subcommands)."""
        if not self.commands:
            yield self.prog, self
        for child in self.commands.values():
            yield from child.leaves()

    def error(self, message: str) -> NoReturn:
        """argparse calls this for a command line it cannot parse: raise it in millpond's words instead."""
        raise UsageError(_millpond_words(self, message), prog=self.prog)


def _millpond_words(parser: MillpondParser, message: str) -> str:
    """argparse's message rephrased: an unknown subcommand names the closest one and lists them all."""
    match = _INVALID_CHOICE.search(message)
    if match and parser.commands:
        value, names = match["value"], list(parser.commands)
        what = "command" if parser.prog == "millpond" else f"'{parser.prog.removeprefix('millpond ')}' command"
        return (
            f"'{value}' is not a millpond {what}.{did_you_mean(value, names)} "
            f"Commands: {', '.join(names)} (`{parser.prog} --help` says what each does)."
        )
    if match:
        return f"{message.split(':')[0]}: '{match['value']}' is not one of {match['choices']}."
    return message[:1].upper() + message[1:] + f" (`{parser.prog} --help` shows the usage)."
