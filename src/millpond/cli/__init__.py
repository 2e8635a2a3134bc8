"""The command line: parsing and dispatch only; each command calls one library function."""

from millpond.cli.app import main

__all__ = ["main"]
