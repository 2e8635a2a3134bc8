"""Shell completion for bash and zsh: commands, options, and the workspace's use cases, run ids and model refs.

``millpond completion bash`` (or ``zsh``) prints a script to source, e.g. in ``~/.bashrc``::

    eval "$(millpond completion bash)"

The script asks ``millpond __complete CWORD WORD…`` for the candidates; that walks the parser (the same one
the command runs with) and reads the workspace found from the current directory: params files, use-case and
model names, run ids from the runs index, ``NAME@champion``-style model refs, mart refs. It imports nothing
heavy and never fails loudly: outside a workspace it offers commands and options only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

from millpond.cli.common import Subparsers
from millpond.cli.parser import MillpondParser
from millpond.workspace import Workspace

_BASH = """# millpond completion for bash: eval "$(millpond completion bash)"
_millpond_complete() {
    local IFS=$'\\n'
    COMPREPLY=($(millpond __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null))
}
complete -o default -F _millpond_complete millpond
"""

_ZSH = """#compdef millpond
# millpond completion for zsh: eval "$(millpond completion zsh)"
(( $+functions[compdef] )) || { autoload -U compinit && compinit }
_millpond() {
    local -a candidates
    candidates=(${(f)"$(millpond __complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)"})
    if (( ${#candidates} )); then
        compadd -a candidates
    else
        _files  # nothing millpond knows of here (a path, a file to score): complete file names, as bash's -o default
    fi
}
compdef _millpond millpond
"""

SCRIPTS = {"bash": _BASH, "zsh": _ZSH}

_ALIASES = ("champion", "challenger", "previous", "latest")


def _names(ws: Workspace) -> list[str]:
    """Use cases (params files) and models (model-store folders), sorted and unique."""
    found = {p.stem for p in ws.params.glob("*.yaml")}
    found |= {p.parent.name for p in ws.model_store.glob("*/versions")}
    return sorted(found)


def _params(ws: Workspace) -> list[str]:
    return sorted(ws.relative(p) for p in ws.params.glob("*.yaml"))


def _run_ids(ws: Workspace) -> list[str]:
    from millpond.runs.store import RunStore  # sqlite and json only

    return [r.run_id for r in RunStore(ws.runs).list(limit=500)]


def _model_refs(ws: Workspace) -> list[str]:
    refs = []
    for versions in sorted(ws.model_store.glob("*/versions")):
        name = versions.parent.name
        refs += [f"{name}@{a}" for a in _ALIASES] + [f"{name}@{v.name}" for v in sorted(versions.iterdir())]
    return refs


def _mart_refs(ws: Workspace) -> list[str]:
    refs = []
    for versions in sorted(ws.feature_marts.glob("*/versions")):
        if versions.parent.name != "raw":
            refs += [versions.parent.name] + [f"{versions.parent.name}@{v.name}" for v in sorted(versions.iterdir())]
    return refs


def _stages(ws: Workspace) -> list[str]:
    return ["ingest", "score", "drift", "train", "promote"]


_BY_DEST: dict[str, Callable[[Workspace], list[str]]] = {
    "params": _params,
    "name": _names,
    "use_case": _names,
    "run": _run_ids,
    "ref": _model_refs,
    "model": _model_refs,
    "mart": _mart_refs,
    "old": _mart_refs,
    "new": _mart_refs,
    "stage": _stages,
}


def _values(action: argparse.Action | None) -> list[str]:
    """The candidates for one argument: its choices, else what the workspace has for its name."""
    if action is None:
        return []
    if action.choices is not None:
        return [str(c) for c in action.choices]
    source = _BY_DEST.get(action.dest)
    if source is None:
        return []
    try:
        return source(Workspace.find(None))
    except Exception:  # noqa: BLE001  (completion must never print a traceback into the shell)
        return []


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _walk(parser: MillpondParser, words: list[str]) -> tuple[MillpondParser, argparse.Action | None, int]:
    """The parser the words lead to, the option awaiting a value (if any), and how many positionals were given."""
    options = {s: a for a in parser.actions for s in a.option_strings}
    pending: argparse.Action | None = None
    positionals = 0
    for i, word in enumerate(words):
        if pending is not None:
            pending = None
        elif word in parser.commands:
            return _walk(parser.commands[word], words[i + 1 :])
        elif word.startswith("-"):
            action = options.get(word.split("=", 1)[0])
            pending = action if action is not None and _takes_value(action) and "=" not in word else None
        else:
            positionals += 1
    return parser, pending, positionals


def candidates(parser: MillpondParser, words: list[str], current: str) -> list[str]:
    """What may come at ``current`` after ``words`` (the command line after ``millpond``)."""
    leaf, pending, given = _walk(parser, words)
    if pending is not None:
        found: Iterable[str] = _values(pending)
    elif current.startswith("-"):
        found = leaf.option_strings()
    elif leaf.commands:
        found = list(leaf.commands)
    else:
        positionals = leaf.positionals()
        found = _values(positionals[given]) if given < len(positionals) else []
    return [c for c in found if c.startswith(current)]


def complete(parser: MillpondParser, argv: list[str]) -> int:
    """``millpond __complete CWORD WORDS…``: print one candidate per line (what the shell scripts call)."""
    try:
        cword = int(argv[0])
    except (IndexError, ValueError):
        return 0
    words = argv[1:]  # words[0] is "millpond" itself
    current = words[cword] if cword < len(words) else ""
    for candidate in candidates(parser, words[1:cword], current):
        print(candidate)
    return 0


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("completion", help="print the bash or zsh completion script (eval it in your shell's rc file)")
    p.add_argument("shell", choices=sorted(SCRIPTS), help='bash or zsh, e.g. eval "$(millpond completion bash)"')


def cmd_completion(args: argparse.Namespace, ws: Workspace | None = None) -> int:
    """Print the script (needs no workspace)."""
    print(SCRIPTS[args.shell], end="")
    return 0
