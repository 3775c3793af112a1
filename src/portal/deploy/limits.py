"""What the service refuses, checked while planning, so that a plan it would refuse half-way is never applied.

Names the service refuses are found earlier, by `portal validate` (`adf.validation.SERVICE_NAME_RULES`): a
factory holding one gets no plan at all. Sources of what is checked here:
- Limits: Microsoft's published Data Factory limits (learn.microsoft.com, "Azure subscription and service limits,
  quotas, and constraints", Data Factory section; MicrosoftDocs/azure-docs
  articles/azure-resource-manager/management/azure-subscription-service-limits.md): 5,000 entities per factory,
  120 activities per pipeline including the inner activities of containers, 50 parameters per pipeline, 200 KB
  per pipeline object, 100 KB per dataset or linked service object, 8,192 characters per expression. These are
  default limits a subscription may have raised; the plan holds to the defaults.
- Managed private endpoints cannot be changed in place: their properties are fixed once created (the service
  refuses an update), so a changed one must be deleted and made again, which needs the private link's owner to
  approve it anew: the portal never does that on its own.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

from portal.adf.model import Kind


ENTITIES_PER_FACTORY = 5000
# Azure Resource Manager's write budget (same page: "Write API calls 1,200/h ... imposed by Azure Resource
# Manager"): a bigger deploy is throttled (429 with Retry-After) part-way, which the SDK's retries wait out.
WRITES_PER_HOUR = 1200
ACTIVITIES_PER_PIPELINE = 120
PARAMETERS_PER_PIPELINE = 50
CHARACTERS_PER_EXPRESSION = 8192
# "KB" read as 1,000 bytes: the stricter reading, so a plan is refused whenever the service might refuse it.
BYTES_PER_OBJECT = {Kind.PIPELINE.value: 200_000, Kind.DATASET.value: 100_000, Kind.LINKED_SERVICE.value: 100_000}
# Where container activities keep their inner activities (ForEach, Until: activities; If: both branches;
# Switch: each case and the default), per the activity models of the contract.
_INNER = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")

Key = tuple[str, str]


def plan_blockers(desired: Mapping[Key, Any], objects: Mapping[Key, Any], live: Mapping[Key, Any],
                  deletions: Iterable[Any]) -> list[str]:
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
            found.append(f"{kind} {name}: a managed private endpoint cannot be changed in place ({changed} "
                         "differ); delete it in the factory so that the promotion creates it anew, or keep "
                         "its old properties in Git")
    gone = {(c.kind, c.name.lower()) for c in deletions}
    # Every object below the factory counts ("entities, such as ..."), the global parameters too: the stricter reading.
    kept_live = {(k, n.lower()) for k, n in live if (k, n.lower()) not in gone}
    total = len(kept_live | {(k, n.lower()) for k, n in desired})
    if total > ENTITIES_PER_FACTORY:
        found.append(f"factory: {total} entities after this promotion, more than the {ENTITIES_PER_FACTORY} "
                     "Data Factory allows per factory")
    return found


def write_rate_note(writes: int) -> str | None:
    """A warning when one promotion makes more writes than Resource Manager allows per hour."""
    if writes <= WRITES_PER_HOUR:
        return None
    return (f"{writes} writes, more than the {WRITES_PER_HOUR} per hour Azure Resource Manager allows: the deploy "
            "will be throttled part-way and wait (the service's Retry-After), so it takes longer than an hour")


def _object_limits(kind: str, name: str, properties: Any) -> list[str]:
    found = []
    limit = BYTES_PER_OBJECT.get(kind)
    if limit is not None:
        # Measured as the SDK sends it (json.dumps with its default separators), secrets still unresolved.
        size = len(json.dumps({"properties": properties}, default=str).encode("utf-8"))
        if size > limit:
            found.append(f"{kind} {name}: {size:,} bytes, more than the {limit // 1000} KB Data Factory allows "
                         f"per {kind} object")
    if kind == Kind.PIPELINE.value and isinstance(properties, Mapping):
        activities = sum(1 for _ in _all_activities(properties.get("activities")))
        if activities > ACTIVITIES_PER_PIPELINE:
            found.append(f"{kind} {name}: {activities} activities (inner activities of containers included), "
                         f"more than the {ACTIVITIES_PER_PIPELINE} Data Factory allows per pipeline")
        parameters = properties.get("parameters")
        if isinstance(parameters, Mapping) and len(parameters) > PARAMETERS_PER_PIPELINE:
            found.append(f"{kind} {name}: {len(parameters)} parameters, more than the {PARAMETERS_PER_PIPELINE} "
                         "Data Factory allows per pipeline")
    for where, length in _long_expressions(properties, "properties"):
        found.append(f"{kind} {name}: the expression at {where} has {length} characters, more than the "
                     f"{CHARACTERS_PER_EXPRESSION} Data Factory allows")
    return found


def _all_activities(activities: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(activities, list):
        return
    for activity in activities:
        if not isinstance(activity, Mapping):
            continue
        yield activity
        props = activity.get("typeProperties")
        if not isinstance(props, Mapping):
            continue
        for key in _INNER:
            yield from _all_activities(props.get(key))
        for case in props.get("cases") or []:
            if isinstance(case, Mapping):
                yield from _all_activities(case.get("activities"))


def _long_expressions(value: Any, path: str) -> Iterator[tuple[str, int]]:
    if isinstance(value, str):
        if value.startswith("@") and not value.startswith("@@") and len(value) > CHARACTERS_PER_EXPRESSION:
            yield path, len(value)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _long_expressions(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _long_expressions(child, f"{path}[{index}]")
