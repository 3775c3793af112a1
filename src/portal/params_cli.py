"""`portal params …` and `portal render`: argument handling and printing over the mappings façade."""

from __future__ import annotations

import argparse
import json
import sys

from portal.environments.workspace import MappingWorkspace
from portal.errors import PortalError, Severity


def run(args: argparse.Namespace) -> int:
    workspace = MappingWorkspace.open(args.repo, args.ref)
    command = args.params_command
    if command == "show":
        return _show(workspace, args)
    if command == "set":
        edits = workspace.set_values(args.env, [(args.name, args.value)])
        return _save(workspace, edits, args)
    if command == "remove-stale":
        edits = workspace.remove_stale(args.env)
        if not edits:
            print(f"{args.env}: no stale parameters")
            return 0
        return _save(workspace, edits, args)
    if command == "validate":
        findings = workspace.check(args.env)
        for finding in findings:
            print(finding, file=sys.stderr if finding.severity is Severity.ERROR else sys.stdout)
        errors = sum(1 for f in findings if f.severity is Severity.ERROR)
        scope = args.env or ", ".join(workspace.config.names)
        print(f"{scope}: {errors} errors, {len(findings) - errors} warnings")
        return 1 if errors else 0
    raise PortalError("params", f"unknown command {command!r}")


def _show(workspace: MappingWorkspace, args: argparse.Namespace) -> int:
    env = workspace.environment(args.env).name
    entries = workspace.catalogue()
    if args.json:
        print(json.dumps([entry.as_json(env) for entry in entries], indent=2, ensure_ascii=False))
        return 0
    for entry in entries:
        flags = ", ".join(f for f, on in (("required", entry.required), ("secret", entry.secret)) if on)
        print(f"{entry.name}  ({entry.type}{', ' + flags if flags else ''})")
        print(f"    {entry.source}")
        print(f"    {env}: {entry.values[env].display}")
    print(f"{len(entries)} parameters")
    return 0


def rules(args: argparse.Namespace) -> int:
    from portal.adf.rules_editor import Rule, RuleTarget

    workspace = MappingWorkspace.open(args.repo, args.ref)
    if args.rules_command == "list":
        listed = workspace.rules()
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "resourceType": r.target.resource_type,
                            "subtype": r.target.subtype,
                            "path": r.target.dotted,
                            "rule": r.text(),
                            "naming": r.naming,
                        }
                        for r in listed
                    ],
                    indent=2,
                )
            )
        else:
            for rule in listed:
                print(f"{rule.target.describe()}  {rule.text()}")
            print(f"{len(listed)} rules")
        return 0
    target = RuleTarget.parse(args.resource_type, args.path, args.subtype)
    if args.rules_command == "add":
        edits, preview = workspace.change_rules(add=Rule(target, args.action, args.name, args.type, args.naming))
    else:
        edits, preview = workspace.change_rules(remove=target)
    for parameter in preview.added:
        print(f"  + {parameter.name} ({parameter.type})")
    for parameter in preview.removed:
        print(f"  - {parameter.name}")
    for old, new in preview.changed:
        print(f"  ~ {new.name} ({old.type} → {new.type})")
    for warning in preview.warnings:
        print(f"warning: {warning}")
    print(f"{preview.parameter_count} parameters after the change (ARM allows 256)")
    if args.preview or not edits:
        return 0
    return _save(workspace, edits, args, branch_prefix="rules")


def _save(workspace: MappingWorkspace, edits, args: argparse.Namespace, branch_prefix: str = "params") -> int:
    from portal.environments.git_store import Author
    from portal.promotion.service import Promotions
    from portal.usecases.edits import author_identity, save_edit

    author = Author.parse(args.author) if args.author else Author.from_git_config(workspace.snapshot.root)
    promotions = Promotions.open(workspace.snapshot.root)
    try:
        saved = save_edit(
            promotions,
            workspace,
            edits,
            author_identity(author),
            environment=getattr(args, "env", None),
            author=author,
            branch=args.branch,
            direct=args.direct,
            message=args.message,
            push=args.push,
            branch_prefix=branch_prefix,
        )
    finally:
        promotions.close()
    result = saved.commit
    for edit in edits:
        for line in edit.changes:
            print(f"  {line}")
    pushed = " and pushed" if result.pushed else ""
    print(f"committed {result.commit[:10]} on branch {result.branch}{pushed} (based on {result.base[:10]})")
    return 0


def render(args: argparse.Namespace) -> int:
    from portal.environments.render import render_environment, write_rendered

    workspace = MappingWorkspace.open(args.repo, args.ref)
    rendered = render_environment(workspace, args.env)
    written = write_rendered(rendered, args.out, workspace=workspace)
    print(f"{args.env}: {len(rendered.resources)} resources and the parameter file written to {written}")
    return 0
