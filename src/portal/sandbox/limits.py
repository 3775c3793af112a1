"""The published limits the service refuses writes beyond, and ARM's write throttling.

Source: the Data Factory section of MicrosoftDocs/azure-docs
articles/azure-resource-manager/management/azure-subscription-service-limits.md (default limits): 5,000 entities
per factory ("such as pipelines, data sets, triggers, linked services, Private Endpoints, and integration
runtimes"), 120 activities per pipeline including the inner activities of containers, 50 parameters per
pipeline, 200 KB per pipeline object, 100 KB per dataset and linked service object, 8,192 characters per
expression, and 1,200 write API calls per hour, imposed by Azure Resource Manager
(articles/azure-resource-manager/management/request-limits-and-throttling.md: 429 with Retry-After).

No error code for these refusals is published; the choices are listed in `portal.sandbox.api`.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any, Callable, Iterator, Mapping

from portal.sandbox.errors import ApiError
from portal.sandbox.service_options import WriteRateLimit

ENTITIES_PER_FACTORY = 5000
ACTIVITIES_PER_PIPELINE = 120
PARAMETERS_PER_PIPELINE = 50
CHARACTERS_PER_EXPRESSION = 8192
KB = 1000  # the smaller reading of the docs' "KB" (a choice)
BYTES_PER_OBJECT = {"pipelines": 200 * KB, "datasets": 100 * KB, "linkedservices": 100 * KB}
_KIND_WORD = {"pipelines": "pipeline", "datasets": "dataset", "linkedservices": "linked service"}
# Where container activities keep inner activities (ForEach/Until: activities; IfCondition: both branches;
# Switch: each case's activities and defaultActivities), per the activity models of the contract.
_INNER = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")


def check_object(collection: str, name: str, body_size: int, properties: Mapping[str, Any]) -> None:
    """400 BadRequest when one object breaks a per-object limit."""
    limit = BYTES_PER_OBJECT.get(collection)
    if limit is not None and body_size > limit:
        raise ApiError(400, "BadRequest",
                       f"The {_KIND_WORD[collection]} '{name}' is {body_size} bytes, more than the {limit // KB} KB "
                       f"allowed per {_KIND_WORD[collection]} object.", target=name)
    if collection == "pipelines":
        count = sum(1 for _ in all_activities(properties.get("activities")))
        if count > ACTIVITIES_PER_PIPELINE:
            raise ApiError(400, "BadRequest",
                           f"Pipeline '{name}' has {count} activities, more than the max number of "
                           f"{ACTIVITIES_PER_PIPELINE} activities allowed per pipeline (inner activities of "
                           "containers included).", target=name)
        parameters = properties.get("parameters")
        if isinstance(parameters, Mapping) and len(parameters) > PARAMETERS_PER_PIPELINE:
            raise ApiError(400, "BadRequest",
                           f"Pipeline '{name}' has {len(parameters)} parameters, more than the max number of "
                           f"{PARAMETERS_PER_PIPELINE} parameters allowed per pipeline.", target=name)
    for where, length in long_expressions(properties, "properties"):
        raise ApiError(400, "BadRequest",
                       f"The expression at '{where}' of '{name}' has {length} characters, more than the "
                       f"{CHARACTERS_PER_EXPRESSION} characters allowed per expression.", target=name)


def check_entity_count(factory_name: str, count_after: int) -> None:
    if count_after > ENTITIES_PER_FACTORY:
        raise ApiError(400, "BadRequest",
                       f"Factory '{factory_name}' cannot hold more than {ENTITIES_PER_FACTORY} entities.")


def all_activities(activities: Any) -> Iterator[Mapping[str, Any]]:
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


def is_expression(text: str) -> bool:
    """An expression ("@..."; "@@" escapes a literal "@") or a string with interpolations ("...@{...}...")."""
    return (text.startswith("@") and not text.startswith("@@")) or "@{" in text


def long_expressions(value: Any, path: str) -> Iterator[tuple[str, int]]:
    if isinstance(value, str):
        if len(value) > CHARACTERS_PER_EXPRESSION and is_expression(value):
            yield path, len(value)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from long_expressions(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from long_expressions(child, f"{path}[{index}]")


class WriteLimiter:
    """A sliding window of the writes each subscription made; `admit` refuses one beyond the limit."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._writes: dict[str, collections.deque[float]] = {}

    def admit(self, limit: WriteRateLimit, subscription: str) -> int:
        """Record one write and answer how many remain; raise the 429 ARM answers when none does."""
        now = self._clock()
        with self._lock:
            window = self._writes.setdefault(subscription.lower(), collections.deque())
            while window and now - window[0] >= limit.window_seconds:
                window.popleft()
            if len(window) >= max(0, limit.writes):
                wait = limit.window_seconds - (now - window[0]) if window else limit.window_seconds
                seconds = max(1, math.ceil(wait))
                raise ApiError(
                    429, "SubscriptionRequestsThrottled",
                    f"Number of 'write' requests for subscription '{subscription}' exceeded the limit of "
                    f"{limit.writes}. Please try again after '{seconds}' seconds.",
                    headers={"Retry-After": str(seconds), "x-ms-ratelimit-remaining-subscription-writes": "0"})
            window.append(now)
            return limit.writes - len(window)
