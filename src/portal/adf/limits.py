"""Data Factory's published default limits, and how an object is measured against them.

Source: the Data Factory section of MicrosoftDocs/azure-docs
articles/azure-resource-manager/management/azure-subscription-service-limits.md ("Azure subscription and service
limits, quotas, and constraints"): 5,000 entities per factory ("such as pipelines, data sets, triggers, linked
services, Private Endpoints, and integration runtimes"), 120 activities per pipeline including the inner
activities of containers, 50 parameters per pipeline, 200 KB per pipeline object, 100 KB per dataset or linked
service object, 8,192 characters per expression, and 1,200 write API calls per hour, imposed by Azure Resource
Manager. A subscription may have had them raised; these are the defaults.

The deploy core plans against these and the sandbox refuses by them, so both measure an object the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from portal.adf.expression_types import is_expression_text
from portal.adf.model import Kind

ENTITIES_PER_FACTORY = 5000
WRITES_PER_HOUR = 1200
ACTIVITIES_PER_PIPELINE = 120
PARAMETERS_PER_PIPELINE = 50
CHARACTERS_PER_EXPRESSION = 8192
# "KB" read as 1,000 bytes: the stricter reading, so a plan is refused whenever the service might refuse it.
KB = 1000
# By kind (`Kind` values).
BYTES_PER_OBJECT: Mapping[str, int] = {
    Kind.PIPELINE.value: 200 * KB,
    Kind.DATASET.value: 100 * KB,
    Kind.LINKED_SERVICE.value: 100 * KB,
}
# Where container activities keep their inner activities (ForEach, Until: activities; IfCondition: both
# branches; Switch: each case's activities and defaultActivities), per the activity models of the contract.
_INNER = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")


def all_activities(activities: Any) -> Iterator[Mapping[str, Any]]:
    """Every activity of a pipeline's `activities`, the inner ones of containers included, depth first."""
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
            yield from all_activities(props.get(key))
        for case in props.get("cases") or []:
            if isinstance(case, Mapping):
                yield from all_activities(case.get("activities"))


def long_expressions(value: Any, path: str) -> Iterator[tuple[str, int]]:
    """(JSON path, length) of each expression below `value` longer than the limit; an interpolated string
    ("...@{...}...") is an expression too."""
    if isinstance(value, str):
        if len(value) > CHARACTERS_PER_EXPRESSION and is_expression_text(value):
            yield path, len(value)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from long_expressions(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from long_expressions(child, f"{path}[{index}]")
