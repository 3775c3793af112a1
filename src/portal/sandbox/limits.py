"""The published limits the service refuses writes beyond, and ARM's write throttling.

Source: `portal.adf.limits` (the Data Factory section of MicrosoftDocs/azure-docs
articles/azure-resource-manager/management/azure-subscription-service-limits.md, default limits), which the
deploy core plans against too; ARM's throttling of writes: 429 with Retry-After
(articles/azure-resource-manager/management/request-limits-and-throttling.md).

No error code for these refusals is published; the choices are listed in `portal.sandbox.api`.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from portal.adf.limits import (
    ACTIVITIES_PER_PIPELINE,
    BYTES_PER_OBJECT,
    CHARACTERS_PER_EXPRESSION,
    ENTITIES_PER_FACTORY,
    KB,
    PARAMETERS_PER_PIPELINE,
    all_activities,
    long_expressions,
)
from portal.adf.model import Kind
from portal.sandbox.errors import ApiError
from portal.sandbox.service_options import WriteRateLimit

# Collection URL segment → the limits' kind, and the word the messages use.
_KIND = {"pipelines": Kind.PIPELINE.value, "datasets": Kind.DATASET.value, "linkedservices": Kind.LINKED_SERVICE.value}
_KIND_WORD = {"pipelines": "pipeline", "datasets": "dataset", "linkedservices": "linked service"}


def check_object(collection: str, name: str, body_size: int, properties: Mapping[str, Any]) -> None:
    """400 BadRequest when one object breaks a per-object limit."""
    limit = BYTES_PER_OBJECT.get(_KIND.get(collection, ""))
    if limit is not None and body_size > limit:
        raise ApiError(
            400,
            "BadRequest",
            f"The {_KIND_WORD[collection]} '{name}' is {body_size} bytes, more than the {limit // KB} KB "
            f"allowed per {_KIND_WORD[collection]} object.",
            target=name,
        )
    if collection == "pipelines":
        count = sum(1 for _ in all_activities(properties.get("activities")))
        if count > ACTIVITIES_PER_PIPELINE:
            raise ApiError(
                400,
                "BadRequest",
                f"Pipeline '{name}' has {count} activities, more than the max number of "
                f"{ACTIVITIES_PER_PIPELINE} activities allowed per pipeline (inner activities of "
                "containers included).",
                target=name,
            )
        parameters = properties.get("parameters")
        if isinstance(parameters, Mapping) and len(parameters) > PARAMETERS_PER_PIPELINE:
            raise ApiError(
                400,
                "BadRequest",
                f"Pipeline '{name}' has {len(parameters)} parameters, more than the max number of "
                f"{PARAMETERS_PER_PIPELINE} parameters allowed per pipeline.",
                target=name,
            )
    for where, length in long_expressions(properties, "properties"):
        raise ApiError(
            400,
            "BadRequest",
            f"The expression at '{where}' of '{name}' has {length} characters, more than the "
            f"{CHARACTERS_PER_EXPRESSION} characters allowed per expression.",
            target=name,
        )


def check_entity_count(factory_name: str, count_after: int) -> None:
    if count_after > ENTITIES_PER_FACTORY:
        raise ApiError(
            400, "BadRequest", f"Factory '{factory_name}' cannot hold more than {ENTITIES_PER_FACTORY} entities."
        )


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
                    429,
                    "SubscriptionRequestsThrottled",
                    f"Number of 'write' requests for subscription '{subscription}' exceeded the limit of "
                    f"{limit.writes}. Please try again after '{seconds}' seconds.",
                    headers={"Retry-After": str(seconds), "x-ms-ratelimit-remaining-subscription-writes": "0"},
                )
            window.append(now)
            return limit.writes - len(window)
