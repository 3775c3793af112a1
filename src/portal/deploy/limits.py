"""What the service refuses, checked while planning, so that a plan it would refuse half-way is never applied.

Names the service refuses are found earlier, by `portal validate` (`adf.validation.SERVICE_NAME_RULES`): a
factory holding one gets no plan at all. Sources of what is checked here:
- Limits: Microsoft's published Data Factory limits, in `portal.adf.limits` (the sandbox refuses by the same
  table). They are default limits a subscription may have raised; the plan holds to the defaults.
- Managed private endpoints cannot be changed in place: their properties are fixed once created (the service
  refuses an update), so a changed one must be deleted and made again, which needs the private link's owner to
  approve it anew: the portal never does that on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from portal.adf.limits import (
    ACTIVITIES_PER_PIPELINE,
    BYTES_PER_OBJECT,
    CHARACTERS_PER_EXPRESSION,
    ENTITIES_PER_FACTORY,
    KB,
    PARAMETERS_PER_PIPELINE,
    WRITES_PER_HOUR,
    all_activities,
    long_expressions,
)
from portal.adf.model import Kind

Key = tuple[str, str]


def plan_blockers(
    desired: Mapping[Key, Any], objects: Mapping[Key, Any], live: Mapping[Key, Any], deletions: Iterable[Any]
) -> list[str]:
    """Why the service would refuse this plan, one sentence per object and rule (empty: it would not).

    `desired` maps keys to objects with `.properties`; `objects` to the plan's changes (`.action`, `.name`);
    `live` is the factory as read; `deletions` the changes that delete."""
    found: list[str] = []
    writes = {key for key, change in objects.items() if change.action in ("create", "update")}
    for key in sorted(writes):
        kind, name = key
        found += _object_limits(kind, name, desired[key].properties)
        if kind == Kind.MANAGED_PRIVATE_ENDPOINT.value and objects[key].action == "update":
            changed = ", ".join(c.path for c in objects[key].changes) or "its properties"
            found.append(
                f"{kind} {name}: a managed private endpoint cannot be changed in place ({changed} "
                "differ); delete it in the factory so that the promotion creates it anew, or keep "
                "its old properties in Git"
            )
    gone = {(c.kind, c.name.lower()) for c in deletions}
    # Every object below the factory counts ("entities, such as ..."), the global parameters too: the stricter reading.
    kept_live = {(k, n.lower()) for k, n in live if (k, n.lower()) not in gone}
    total = len(kept_live | {(k, n.lower()) for k, n in desired})
    if total > ENTITIES_PER_FACTORY:
        found.append(
            f"factory: {total} entities after this promotion, more than the {ENTITIES_PER_FACTORY} "
            "Data Factory allows per factory"
        )
    return found


def write_rate_note(writes: int) -> str | None:
    """A warning when one promotion makes more writes than Resource Manager allows per hour: it is throttled
    (429 with Retry-After) part-way, which the SDK's retries wait out."""
    if writes <= WRITES_PER_HOUR:
        return None
    return (
        f"{writes} writes, more than the {WRITES_PER_HOUR} per hour Azure Resource Manager allows: the deploy "
        "will be throttled part-way and wait (the service's Retry-After), so it takes longer than an hour"
    )


def _object_limits(kind: str, name: str, properties: Any) -> list[str]:
    found = []
    limit = BYTES_PER_OBJECT.get(kind)
    if limit is not None:
        # Measured as the SDK sends it (json.dumps with its default separators), secrets still unresolved.
        size = len(json.dumps({"properties": properties}, default=str).encode("utf-8"))
        if size > limit:
            found.append(
                f"{kind} {name}: {size:,} bytes, more than the {limit // KB} KB Data Factory allows per {kind} object"
            )
    if kind == Kind.PIPELINE.value and isinstance(properties, Mapping):
        activities = sum(1 for _ in all_activities(properties.get("activities")))
        if activities > ACTIVITIES_PER_PIPELINE:
            found.append(
                f"{kind} {name}: {activities} activities (inner activities of containers included), "
                f"more than the {ACTIVITIES_PER_PIPELINE} Data Factory allows per pipeline"
            )
        parameters = properties.get("parameters")
        if isinstance(parameters, Mapping) and len(parameters) > PARAMETERS_PER_PIPELINE:
            found.append(
                f"{kind} {name}: {len(parameters)} parameters, more than the {PARAMETERS_PER_PIPELINE} "
                "Data Factory allows per pipeline"
            )
    for where, length in long_expressions(properties, "properties"):
        found.append(
            f"{kind} {name}: the expression at {where} has {length} characters, more than the "
            f"{CHARACTERS_PER_EXPRESSION} Data Factory allows"
        )
    return found
