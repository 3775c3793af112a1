"""The `portal` command: parses arguments, calls the core, prints what it says."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from portal.errors import FindingsError, PortalError, Severity


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adf_root", metavar="ADF_ROOT", help="folder holding the factory's Git JSON")
    parser.add_argument("--ref", help="read this Git commit, branch or tag instead of the working tree")
    parser.add_argument("--root-folder", help="ADF root folder inside the repository, as in ADF's Git "
                        "configuration (e.g. /adf); ADF_ROOT is then the repository")
    parser.add_argument("--factory-name", help="factory to export for when factory/ holds several files "
                        "or none")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="Promotion portal for Azure Data Factory")
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export-arm", help="write the ARM templates ADF Publish would make")
    _add_source_arguments(export)
    export.add_argument("--out", required=True, help="folder to write the templates to")
    export.add_argument("--locale", default="en", help="language of the descriptions in the templates, as "
                        "ADF Studio writes them (en, ja); default en")

    validate = commands.add_parser("validate", help="check the factory's JSON for errors")
    _add_source_arguments(validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "export-arm":
            return _export(args)
        if args.command == "validate":
            return _validate(args)
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

    result = export_to_folder(args.adf_root, args.out, ref=args.ref, root_folder=args.root_folder,
                              factory_name=args.factory_name, locale=args.locale)
    for finding in result.warnings:
        print(finding, file=sys.stderr)
    print(f"wrote {len(result.files)} files for factory {result.factory_name!r} to {result.out_dir}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from portal.adf.validation import validate_source

    report = validate_source(args.adf_root, ref=args.ref, root_folder=args.root_folder,
                             factory_name=args.factory_name)
    for finding in report.findings:
        print(finding, file=sys.stderr if finding.severity is Severity.ERROR else sys.stdout)
    errors = sum(1 for f in report.findings if f.severity is Severity.ERROR)
    warnings = len(report.findings) - errors
    print(f"{report.object_count} objects checked: {errors} errors, {warnings} warnings")
    return 1 if errors else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
