"""``models list|show|lineage|rollback|compare|verify|approve|reject``: the model store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from millpond.cli.common import Handler, Subparsers, dump, fmt
from millpond.cli.refs import parse_ref
from millpond.cli.verify import print_verify
from millpond.errors import EXIT_FAILED, EXIT_OK
from millpond.views.console import print_table
from millpond.workspace import Workspace

StoreCommand = Callable[[argparse.Namespace, Workspace, Any], int]
_REF_HELP = "NAME@champion, NAME@<version> or NAME"


def add_parsers(sub: Subparsers) -> None:
    models = sub.add_parser("models", help="list and show model versions")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    p = models_sub.add_parser("list", help="a model's versions with their window, metric and aliases")
    p.add_argument("name", help="model (use case) name, e.g. churn")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser("show", help="one version: metrics, training marts, profile, search")
    p.add_argument("ref", help=_REF_HELP)
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser(
        "lineage", help="model -> training run -> mart versions -> ingest runs -> sources, code commit"
    )
    p.add_argument("ref", help=_REF_HELP)
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser(
        "rollback", help="make the previous champion champion again (recorded in the alias history)"
    )
    p.add_argument("name")
    p.add_argument("--reason", default="manual rollback", help="why, for the history")
    _add_who(p)
    p = models_sub.add_parser("compare", help="two versions side by side: metrics, parameter diff, training data diff")
    p.add_argument("name")
    p.add_argument("first", help="version, unique prefix or alias")
    p.add_argument("second", help="version, unique prefix or alias")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser("verify", help="exit 3 and name the file when a model file was altered")
    p.add_argument("ref", help="NAME (every version) or NAME@<version|alias>")
    _add_decision_parsers(models_sub)
    from millpond.cli.site import add_export_parser

    add_export_parser(models_sub)


def _add_decision_parsers(models_sub: Subparsers) -> None:
    for verb, text in (
        ("approve", "promote a candidate awaiting approval (smoke test, rollback on failure)"),
        ("reject", "end a decision awaiting approval without promoting"),
    ):
        p = models_sub.add_parser(verb, help=text)
        p.add_argument("name")
        p.add_argument("version", help="the candidate version awaiting approval (see millpond status)")
        p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
        _add_who(p)


def _add_who(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--by",
        help="your display name, recorded beside your OS user and uid (who decides is the OS user running this)",
    )
    p.add_argument("--params", help="use-case YAML, for promotion.approvers (default: params/<name>.yaml)")


def with_model_store(command: StoreCommand) -> Handler:
    """A ``models`` command as a handler: it gets the workspace's model store as its third argument."""

    def handler(args: argparse.Namespace, ws: Workspace) -> int:
        from millpond.models.store import ModelStore

        return command(args, ws, ModelStore(ws.model_store))

    handler.__name__ = handler.__qualname__ = command.__name__
    handler.__doc__ = command.__doc__
    return handler


def cmd_models_list(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    aliases = store.aliases(args.name)
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    rows = [
        {
            "version": v.version,
            "created": v.created_at[:19],
            "window": v.metadata.trained_for_window,
            "metric": fmt(v.metadata.metrics.get("roc_auc") or v.metadata.metrics.get("rmse")),
            "aliases": ",".join(sorted(by_version.get(v.version, []))),
        }
        for v in store.versions(args.name)
    ]
    dump(rows) if args.json else print_table(rows, ("version", "created", "window", "metric", "aliases"))
    return EXIT_OK


def cmd_models_show(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    ref = parse_ref(args.ref)
    version = store.get(ref.name, ref.selector_or("champion"))
    if args.json:
        dump(
            {
                "name": version.name,
                "version": version.version,
                "sha256": version.sha256,
                "metadata": version.metadata.to_dict(),
            }
        )
        return EXIT_OK
    meta = version.metadata.to_dict()
    print(f"{version.name}@{version.version}  sha256 {version.sha256}")
    for key in ("trained_for_window", "family", "train_rows", "holdout_rows", "retrain_reasons", "run_id"):
        print(f"  {key:<19} {meta.get(key)}")
    print(f"  {'metrics':<19} {json.dumps({k: round(v, 4) for k, v in meta.get('metrics', {}).items()})}")
    print(f"  {'training marts':<19} {', '.join(m['version'] for m in meta.get('training_marts', []))}")
    _show_profile_and_search(meta)
    return EXIT_OK


def _show_profile_and_search(meta: dict[str, Any]) -> None:
    profile = meta.get("profile") or {}
    if profile:
        print(f"  {'profile':<19} " + ", ".join(f"{k}={fmt(v)}" for k, v in profile.items()))
    search = meta.get("search") or {}
    if search:
        print(
            f"  {'search':<19} {search.get('method')} over {search.get('candidates')} candidates, {search.get('folds')} folds "
            f"({search.get('cv')}), best {search.get('scoring')}={fmt(search.get('best_score'))} with {search.get('best_params')}"
        )


def cmd_models_lineage(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.views.lineage import lineage_lines, trace_lineage

    ref = parse_ref(args.ref)
    lineage = trace_lineage(ws, ref.name, ref.selector_or("champion"))
    if args.json:
        dump(lineage)
    else:
        print("\n".join(lineage_lines(lineage)))
    return EXIT_OK


def cmd_models_rollback(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.governance.approvals import current_approver, rollback

    champion = store.aliases(args.name).get("champion")
    use_case = _approval_use_case(args, ws, store, champion) if champion else None
    done = rollback(ws, args.name, use_case, approver=current_approver(args.by), reason=args.reason)
    print(
        f"{args.name}: champion {done['champion_before']} -> {done['champion']} by {done['actor']} (rolled back; "
        f"recorded in {ws.relative(ws.model_store / args.name / 'history.jsonl')})"
    )
    return EXIT_OK


def cmd_models_compare(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.models.compare import compare_versions

    report = compare_versions(store, args.name, args.first, args.second)
    if args.json:
        dump(report)
        return EXIT_OK
    a, b = report["versions"]
    print(f"{args.name}: {a} vs {b}\n\nmetrics")
    print_table(
        [{**r, a: fmt(r[a]), b: fmt(r[b]), "difference": fmt(r["difference"])} for r in report["metrics"]],
        ("metric", a, b, "difference"),
    )
    print("\nparameters that differ")
    if report["params"]:
        print_table(report["params"], ("parameter", a, b))
    else:
        print("  (none)")
    data = report["training_data"]
    print("\ntraining data")
    print(f"  mart versions in both: {', '.join(data['both']) or 'none'}")
    print(f"  only {a}: {', '.join(data[f'only_{a}']) or 'none'}")
    print(f"  only {b}: {', '.join(data[f'only_{b}']) or 'none'}")
    print(f"  train rows: {data['train_rows'][a]} vs {data['train_rows'][b]}")
    return EXIT_OK


def cmd_models_verify(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    ref = parse_ref(args.ref)
    report = store.verify(ref.name, ref.selector)  # a VerifyReport: every altered or missing file, never raises
    ok_line = f"{report.checked} model file(s) of {ref.name} match their recorded sha256"
    return print_verify([report], ok_line=ok_line, as_json=args.json)


def _approval_use_case(args: argparse.Namespace, ws: Workspace, store: Any, version: str | None = None) -> Any:
    """The use case of a decision: --params, else params/<name>.yaml, else the params stored with the version."""
    from millpond.config.params import load_use_case, params_file, validate_use_case

    if args.params:
        return load_use_case(params_file(ws, args.params))
    default = ws.params / f"{args.name}.yaml"
    if default.is_file():
        return load_use_case(default)
    version = version or args.version
    return validate_use_case(store.get(args.name, version).metadata.params, source=f"{args.name}@{version} metadata")


def cmd_models_approve(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.governance.approvals import approve, current_approver, reject

    use_case = _approval_use_case(args, ws, store)
    approver = current_approver(args.by)
    by = approver.actor
    if args.models_command == "approve":
        outcome = approve(ws, use_case, args.version, approver=approver, reason=args.reason)
        if outcome["outcome"] == "rolled_back":
            print(
                f"{args.name}: {args.version} approved by {by} but its smoke test failed ({outcome['smoke']}); rolled back"
            )
            return EXIT_FAILED
        print(f"{args.name}: {args.version} approved by {by} and promoted to champion (smoke test passed)")
    else:
        reject(ws, use_case, args.version, approver=approver, reason=args.reason)
        print(f"{args.name}: {args.version} rejected by {by}; the champion is unchanged")
    return EXIT_OK
