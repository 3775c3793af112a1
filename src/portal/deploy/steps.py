"""The factory's deploy as named steps, built from its plan: stop triggers, deploy (in dependency order, by
`graphlib`), delete, start triggers. The runner is `portal.steps.run_steps`.

The factory's dependency order comes from `graphlib.TopologicalSorter`: a batch (a "level") is every object whose
dependencies among the objects being written are done; a dependency on an object that is not written is already
live. A cycle among the objects being written is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError
from typing import Protocol

from portal.databricks.steps import notebook_steps
from portal.deploy.plan import CREATE, UPDATE, Plan
from portal.steps import Step, cycle_refused, dependency_levels, sequential_step

# The factory's steps, in the order they run.
STOP_TRIGGERS = "stop triggers"
DEPLOY = "deploy"
DELETE = "delete"
START_TRIGGERS = "start triggers"

_WRITES = (CREATE, UPDATE)


# --- the factory's steps ---------------------------------------------------------------------------------------


class _ObjectChange(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def label(self) -> str: ...


class _TriggerChange(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def stop(self) -> bool: ...
    @property
    def start(self) -> bool: ...


class _FactoryPlan(Protocol):
    """What the factory's steps are built from: `portal.deploy.plan.Plan` (not imported here, so that the notebook
    core, which runs steps too, stays apart from the factory's plan)."""

    @property
    def factory(self) -> str: ...
    @property
    def objects(self) -> Sequence[_ObjectChange]: ...
    @property
    def deletions(self) -> Sequence[_ObjectChange]: ...
    @property
    def deletions_enabled(self) -> bool: ...
    @property
    def effective_deletions(self) -> Sequence[_ObjectChange]: ...
    @property
    def triggers(self) -> Sequence[_TriggerChange]: ...


class _Desired(Protocol):
    @property
    def depends_on(self) -> Sequence[tuple[str, str]]: ...


def factory_steps(
    plan: _FactoryPlan, desired: Mapping[tuple[str, str], _Desired] | None = None, *, parallelism: int = 1
) -> list[Step]:
    """The factory's steps for `plan`: stop triggers, deploy, delete, start triggers.

    With the `desired` objects (their dependencies), the deploy step goes level by level, `parallelism` objects at
    a time, and a dependency cycle among the objects written is refused here, before anything runs. Without them
    (showing a plan alone), it keeps the plan's own order (dependencies first), one object after the other."""
    stopping = tuple(t.name for t in plan.triggers if t.stop)
    starting = tuple(t.name for t in plan.triggers if t.start)
    writes = [o for o in plan.objects if o.action in _WRITES]
    deletions = tuple(c.label for c in plan.effective_deletions)
    return [
        sequential_step(
            STOP_TRIGGERS,
            "stop the started triggers this deploy affects, one after the other, before anything is written",
            stopping,
            None if stopping else _no_triggers(plan, "no started trigger needs stopping"),
            done_word="stopped",
            noun="trigger",
        ),
        _deploy_step(plan, writes, desired, parallelism),
        sequential_step(
            DELETE,
            "delete the live objects the source no longer has, dependents first, one after the other",
            deletions,
            None
            if deletions
            else "deploy.delete_removed is off"
            if plan.deletions
            else "nothing was removed from the source",
            done_word="deleted",
        ),
        sequential_step(
            START_TRIGGERS,
            "start the triggers that are to run, one after the other",
            starting,
            None if starting else _no_triggers(plan, "no trigger needs starting"),
            done_word="started",
            noun="trigger",
        ),
    ]


def _no_triggers(plan: _FactoryPlan, otherwise: str) -> str:
    return otherwise if plan.triggers else "no trigger changes"


def _deploy_step(
    plan: _FactoryPlan,
    writes: Sequence[_ObjectChange],
    desired: Mapping[tuple[str, str], _Desired] | None,
    parallelism: int,
) -> Step:
    description = "create or update the changed objects, dependencies first, independent ones in parallel"
    labels = tuple(o.label for o in writes)
    if not labels:
        return Step(DEPLOY, description, skipped_because="nothing changed")
    batches: tuple[tuple[str, ...], ...]
    if desired is None:
        batches = tuple((label,) for label in labels)
        parallelism = 1
    else:
        label_of = {(o.kind, o.name): o.label for o in writes}
        waits_for = {
            o.label: [label_of[d] for d in _depends_on(desired, (o.kind, o.name)) if d in label_of] for o in writes
        }
        try:
            levels = dependency_levels(labels, waits_for)
        except CycleError as error:
            raise cycle_refused(error, f"factory {plan.factory}") from error
        batches = tuple(tuple(level) for level in levels)
    return Step(
        DEPLOY,
        description,
        labels,
        batches=batches,
        parallelism=max(1, parallelism),
        reports_as_done=True,
        done_word="deployed",
    )


def _depends_on(desired: Mapping[tuple[str, str], _Desired], key: tuple[str, str]) -> Sequence[tuple[str, str]]:
    found = desired.get(key)
    return found.depends_on if found is not None else ()


def plan_steps(plan: Plan) -> list[Step]:
    """Every step applying `plan` runs, in order: the notebooks' first (when the environment deploys notebooks),
    then the factory's. What `portal plan` prints and the Promote page shows."""
    steps = notebook_steps(plan.notebooks) if plan.notebooks is not None else []
    return steps + factory_steps(plan)
