"""URL shapes of the Data Factory management API (ARM, api-version 2018-06-01), matched without regard to case."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from portal.sandbox.errors import ApiError

API_VERSION = "2018-06-01"
PROVIDER = "Microsoft.DataFactory"

# Collections of a factory, spelled as the SDK spells them in URLs (and so in ids and types).
COLLECTIONS = (
    "pipelines",
    "datasets",
    "linkedservices",
    "triggers",
    "dataflows",
    "integrationRuntimes",
    "credentials",
    "managedVirtualNetworks",
    "adfcdcs",
    "globalParameters",
)
_COLLECTION_BY_LOWER = {c.lower(): c for c in COLLECTIONS}
PRIVATE_ENDPOINTS = "managedPrivateEndpoints"  # the one nested collection: under a managed virtual network
# Pipeline runs of a factory: GET .../pipelineruns/{runId} (PipelineRuns_Get) and POST .../{runId}/cancel
# (PipelineRuns_Cancel), per datafactory.json; they are not objects of the factory.
RUNS = "pipelineruns"

# Operations on one resource: POST .../{collection}/{name}/{action}.
ACTIONS = {
    "triggers": ("start", "stop", "subscribeToEvents", "unsubscribeFromEvents", "getEventSubscriptionStatus"),
    "pipelines": ("createRun",),
    RUNS: ("cancel",),
}


@dataclass(frozen=True)
class Route:
    """One addressed thing: a list of factories, a factory, a collection, a resource or an action on one."""

    subscription: str
    resource_group: str | None = None
    factory: str | None = None
    collection: str | None = None  # canonical spelling, or PRIVATE_ENDPOINTS
    vnet: str | None = None  # the managed virtual network of a private endpoint
    name: str | None = None
    action: str | None = None  # canonical spelling

    @property
    def kind(self) -> str:
        if self.factory is None:
            return "factories"
        if self.collection is None:
            return "factory"
        if self.collection == RUNS:
            return "run"
        if self.name is None:
            return "collection"
        return "action" if self.action else "resource"


def _is(segment: str, word: str) -> bool:
    return segment.lower() == word.lower()


def parse_route(raw_path: str) -> Route:
    """Route of a percent-encoded URL path; each segment is decoded on its own so a name may hold any character."""
    parts = [unquote(p) for p in raw_path.strip("/").split("/")]
    if len(parts) < 2 or not _is(parts[0], "subscriptions"):
        raise _no_api(raw_path)
    sub, rest = parts[1], parts[2:]
    if len(rest) == 3 and _is(rest[0], "providers") and _is(rest[1], PROVIDER) and _is(rest[2], "factories"):
        return Route(sub)
    if len(rest) < 5 or not (
        _is(rest[0], "resourceGroups")
        and _is(rest[2], "providers")
        and _is(rest[3], PROVIDER)
        and _is(rest[4], "factories")
    ):
        raise _no_api(raw_path)
    rg, rest = rest[1], rest[5:]
    if not rest:
        return Route(sub, rg)
    factory, rest = rest[0], rest[1:]
    if not rest:
        return Route(sub, rg, factory)
    if _is(rest[0], RUNS) and len(rest) in (2, 3):
        if len(rest) == 2:
            return Route(sub, rg, factory, RUNS, name=rest[1])
        if _is(rest[2], "cancel"):
            return Route(sub, rg, factory, RUNS, name=rest[1], action="cancel")
        raise _no_api(raw_path)
    collection = _COLLECTION_BY_LOWER.get(rest[0].lower())
    if collection is None:
        raise _unknown_type(rest[0])
    if len(rest) == 1:
        return Route(sub, rg, factory, collection)
    name = rest[1]
    if len(rest) == 2:
        return Route(sub, rg, factory, collection, name=name)
    if collection == "managedVirtualNetworks" and _is(rest[2], PRIVATE_ENDPOINTS) and len(rest) in (3, 4):
        return Route(sub, rg, factory, PRIVATE_ENDPOINTS, vnet=name, name=rest[3] if len(rest) == 4 else None)
    if len(rest) == 3:
        for action in ACTIONS.get(collection, ()):
            if _is(rest[2], action):
                return Route(sub, rg, factory, collection, name=name, action=action)
    raise _no_api(raw_path)


def _no_api(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"The sandbox has no Data Factory API at '{unquote(path)}'.")


def _unknown_type(segment: str) -> ApiError:
    return ApiError(
        404,
        "InvalidResourceType",
        f"The resource type 'factories/{segment}' could not be found in the namespace '{PROVIDER}' "
        f"for api version '{API_VERSION}'.",
    )
