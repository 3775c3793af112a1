"""`portal plan`: arguments and printing over the deploy façade (the plan printer is shared by `portal promote`)."""

from __future__ import annotations

import argparse
import json

from portal.databricks.plan import NotebookPlan
from portal.deploy.plan import Plan
from portal.deploy.service import plan_environment
from portal.deploy.steps import plan_steps
from portal.environments.workspace import MappingWorkspace

# `portal plan` exit codes: nothing to do, or changes to apply.
NO_CHANGES, CHANGES = 0, 2


def run(args: argparse.Namespace) -> int:
    """`portal plan`; promotions (which record who did what) are in promotion_cli."""
    workspace = MappingWorkspace.open(args.repo, args.ref)
    plan = plan_environment(workspace, args.env).plan
    if args.json:
        print(json.dumps(plan.to_json(), indent=2, ensure_ascii=False, default=str))
    else:
        print_plan(plan)
    return CHANGES if plan.has_changes else NO_CHANGES


def print_plan(plan: Plan) -> None:
    counts = plan.counts()
    print(
        f"Plan {plan.hash[:12]} for {plan.environment} (factory {plan.factory}, source "
        f"{(plan.source_commit or 'working tree')[:10]})"
    )
    for change in plan.objects:
        if change.action == "unchanged":
            continue
        mark = "+" if change.action == "create" else "~"
        print(f"  {mark} {change.label}")
        for property_change in change.changes:
            print(f"      {property_change}")
    for change in plan.deletions:
        mark = "-" if plan.deletions_enabled else "?"
        print(f"  {mark} {change.label}" + ("" if plan.deletions_enabled else " (not in the source; kept)"))
    for trigger in plan.triggers:
        steps = " and ".join(s for s, on in (("stop", trigger.stop), ("start", trigger.start)) if on)
        print(f"  ! trigger {trigger.name}: {steps} ({trigger.reason})")
    for note in plan.notes:
        print(f"  note: {note}")
    for blocker in plan.blockers:
        print(f"  cannot apply: {blocker}")
    print(
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['unchanged']} unchanged, {counts['triggers']} trigger changes"
    )
    if plan.notebooks is not None:
        print_notebooks(plan.notebooks)
    print_steps(plan)


def print_notebooks(plan: NotebookPlan) -> None:
    print(f"Notebooks: {plan.source_folder}/ → {plan.host} {plan.target_folder}")
    for folder in plan.folders_to_create:
        print(f"  + folder {folder}")
    marks = {"create": "+", "update": "~", "delete": "-"}
    for change in plan.changes:
        origin = f" ← {change.repo_path}" if change.repo_path else ""
        print(f"  {marks[change.action]} {change.label}{origin} ({change.reason})")
    for folder in plan.folders_to_delete:
        print(f"  - folder {folder}")
    if plan.write_manifest and not (plan.changes or plan.folders_to_create or plan.folders_to_delete):
        print("  ~ the portal's manifest is recorded again (objects were saved in the workspace without a change)")
    if plan.left_alone:
        print(
            f"  {len(plan.left_alone)} objects the portal did not deploy are left alone: "
            + ", ".join(plan.left_alone[:5])
            + (" …" if len(plan.left_alone) > 5 else "")
        )
    counts = plan.counts()
    print(
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to prune, "
        f"{counts['unchanged']} unchanged, {counts['drift']} edited in the workspace"
    )


def print_steps(plan: Plan) -> None:
    """The steps applying `plan` runs, in order (the notebooks' first, then the factory's), from the builders
    apply runs them from: each one's name, item count and description, or why it is skipped."""
    print("Steps, in the order they run:")
    for number, step in enumerate(plan_steps(plan), 1):
        if step.runs:
            print(f"  {number}. {step.name} ({len(step.items)}): {step.description}")
        else:
            print(f"  {number}. {step.name}: skipped: {step.skipped_because}")
