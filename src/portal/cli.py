"""The `portal` command: parses arguments, calls the core, prints what it says."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portal.errors import FindingsError, PortalError, Severity


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adf_root", metavar="ADF_ROOT", help="folder holding the factory's Git JSON")
    parser.add_argument("--ref", help="read this Git commit, branch or tag instead of the working tree")
    parser.add_argument(
        "--root-folder",
        help="ADF root folder inside the repository, as in ADF's Git "
        "configuration (e.g. /adf); ADF_ROOT is then the repository",
    )
    parser.add_argument("--factory-name", help="factory to export for when factory/ holds several files or none")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="Promotion portal for Azure Data Factory")
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export-arm", help="write the ARM templates ADF Publish would make")
    _add_source_arguments(export)
    export.add_argument("--out", required=True, help="folder to write the templates to")
    export.add_argument(
        "--locale",
        default="en",
        help="language of the descriptions in the templates, as ADF Studio writes them (en, ja); default en",
    )

    validate = commands.add_parser("validate", help="check the factory's JSON for errors")
    _add_source_arguments(validate)

    params = commands.add_parser("params", help="parameter values per environment")
    params_commands = params.add_subparsers(dest="params_command", required=True)
    show = params_commands.add_parser("show", help="the parameters and one environment's values")
    show.add_argument("env", metavar="ENV")
    show.add_argument("--json", action="store_true", help="one JSON object per parameter")
    set_ = params_commands.add_parser("set", help="give a parameter a value (saved as a Git commit)")
    set_.add_argument("env", metavar="ENV")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument(
        "value", metavar="VALUE", help="the value; for a secret keyvault:<vault id>/secrets/<name> or env:VARIABLE"
    )
    check = params_commands.add_parser("validate", help="check the values of one environment or all")
    check.add_argument("env", metavar="ENV", nargs="?")
    stale = params_commands.add_parser("remove-stale", help="remove values of parameters the template lost")
    stale.add_argument("env", metavar="ENV")
    for sub in (show, set_, check, stale):
        _add_repo_arguments(sub)
    for sub in (set_, stale):
        _add_commit_arguments(sub)

    rules = commands.add_parser("rules", help="the parameterization rules (arm-template-parameters-definition.json)")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    rules_list = rules_commands.add_parser("list", help="every rule in force")
    rules_list.add_argument("--json", action="store_true")
    rules_add = rules_commands.add_parser("add", help="add or replace a rule (saved as a Git commit)")
    rules_remove = rules_commands.add_parser("remove", help="remove a rule (saved as a Git commit)")
    for sub in (rules_add, rules_remove):
        sub.add_argument(
            "resource_type", metavar="TYPE", help="linkedService, dataset, pipeline, trigger, … or the ARM type"
        )
        sub.add_argument(
            "path",
            metavar="PATH",
            help="property path, e.g. properties.typeProperties.url; * for every key, [] for every array item",
        )
        sub.add_argument(
            "--subtype",
            help="for linked services and datasets: a type such as AzureSqlDatabase (default: every type, *)",
        )
        sub.add_argument("--preview", action="store_true", help="show the parameters it yields; commit nothing")
        _add_commit_arguments(sub)
    rules_add.add_argument(
        "--action",
        default="=",
        choices=["=", "-", "|"],
        help="= keep the value as default, - required, | secret (default =)",
    )
    rules_add.add_argument(
        "--name", default="", help="parameter name part: -short, or a replacement for the last path segment"
    )
    rules_add.add_argument("--type", help="string, securestring, int, bool, object, secureobject or array")
    rules_add.add_argument(
        "--naming", help="with []: the item property that names items, e.g. pipelineReference.referenceName"
    )
    for sub in (rules_list, rules_add, rules_remove):
        _add_repo_arguments(sub)

    plan = commands.add_parser("plan", help="what promoting ENV would change in its live factory")
    plan.add_argument("env", metavar="ENV")
    plan.add_argument("--json", action="store_true", help="the plan as JSON")
    _add_repo_arguments(plan)
    from portal import promotion_cli

    promotion_cli.add_commands(commands)

    sandbox = commands.add_parser("sandbox", help="the embedded Data Factory sandbox")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser("serve", help="run the sandbox as a server")
    serve.add_argument("--state", default=".portal-sandbox", help="folder for the sandbox's state")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--latency-ms", type=int, default=0, help="added to every request")
    serve.add_argument("--throttle-every", type=int, default=0, help="answer every Nth request with 429")
    serve.add_argument("--error-every", type=int, default=0, help="answer every Nth write with 503")
    serve.add_argument(
        "--workspace",
        action="append",
        default=[],
        metavar="HOST",
        help="also serve the Databricks workspace API for this workspace host (repeatable)",
    )

    demo = commands.add_parser("demo", help="create a ready demo data repository on the embedded sandbox")
    demo.add_argument("--path", required=True, help="an empty or new folder for the repository")

    render = commands.add_parser("render", help="the concrete resources and parameter file an environment gets")
    render.add_argument("env", metavar="ENV")
    render.add_argument("--out", required=True, help="folder to write the rendered resources to")
    _add_repo_arguments(render)
    return parser


def _add_repo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=".", help="the data repository (default: the current directory)")
    parser.add_argument("--ref", help="read this Git commit, branch or tag instead of the working tree")


def _add_commit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--branch", help="the new branch for the commit (default: params/<env>-<time>)")
    parser.add_argument(
        "--direct", action="store_true", help="commit straight to the main branch (only where portal.yaml allows it)"
    )
    parser.add_argument("--push", action="store_true", default=None, help="push the branch after committing")
    parser.add_argument("--author", help='"Name <email>" (default: the repository\'s Git user)')
    parser.add_argument("--message", help="the commit's first line (default: made from the changes)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "export-arm":
            return _export(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "params":
            from portal import params_cli

            return params_cli.run(args)
        if args.command == "rules":
            from portal import params_cli

            return params_cli.rules(args)
        if args.command in ("promote", "approve", "reject", "rollback", "line", "status", "audit"):
            from portal import promotion_cli

            return promotion_cli.run(args)
        if args.command == "plan":
            from portal import deploy_cli

            return deploy_cli.run(args)
        if args.command == "sandbox":
            from portal.sandbox import Faults, serve as serve_sandbox

            serve_sandbox(
                args.state,
                port=args.port,
                workspaces=args.workspace,
                faults=Faults(
                    latency_ms=args.latency_ms, throttle_every=args.throttle_every, error_every=args.error_every
                ),
            )
            return 0
        if args.command == "demo":
            from portal.events import PrintSink
            from portal.usecases.demo import create_demo

            root = create_demo(args.path, sink=PrintSink())
            print(f"demo repository ready in {root}: dev is deployed; try `portal plan test --repo {root}`")
            return 0
        if args.command == "render":
            from portal import params_cli

            return params_cli.render(args)
    except FindingsError as exc:
        for finding in exc.findings:
            print(finding, file=sys.stderr)
        return 1
    except PortalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


def _export(args: argparse.Namespace) -> int:
    from portal.adf import export_to_folder

    result = export_to_folder(
        args.adf_root,
        args.out,
        ref=args.ref,
        root_folder=args.root_folder,
        factory_name=args.factory_name,
        locale=args.locale,
    )
    for finding in result.warnings:
        print(finding, file=sys.stderr)
    print(f"wrote {len(result.files)} files for factory {result.factory_name!r} to {result.out_dir}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from portal.adf.validation import validate_source

    report = validate_source(args.adf_root, ref=args.ref, root_folder=args.root_folder, factory_name=args.factory_name)
    for finding in report.findings:
        print(finding, file=sys.stderr if finding.severity is Severity.ERROR else sys.stdout)
    errors = sum(1 for f in report.findings if f.severity is Severity.ERROR)
    warnings = len(report.findings) - errors
    print(f"{report.object_count} objects checked: {errors} errors, {warnings} warnings")
    return 1 if errors else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
