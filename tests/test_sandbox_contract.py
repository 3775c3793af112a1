"""The sandbox against the published contract: every vendored example, replayed through the real SDK client.

For each example of `portal.sandbox.contract` (azure-rest-api-specs, Data Factory 2018-06-01; see its SOURCE.md):
- create what the example presupposes (its factory, the objects its body references, the object a GET, list or
  DELETE reads, the trigger it starts ...), with the SDK;
- send the example's request with the SDK client (its credential, retry and LRO handling; the raw answers are
  caught with the per-call `raw_response_hook` of azure-core's CustomHookPolicy, so nothing is sent around it);
- compare status and body with the example's: service-generated values (etags, GUIDs, timestamps, durations,
  encrypted credentials) by shape, everything else equal, keys included. The example's recorded headers (Date,
  request ids) are not compared, except a 202's Location, whose path and query must be the example's.

A few examples contradict themselves, their sibling examples or the spec; `CORRECTIONS` lists each one, the
value it expects instead and why. Nothing else is relaxed.

Also here: unit tests of `contract.validate` and `contract.name_rule`, and checks that the vendored data is whole
(every $ref resolves, every example parses and belongs to an operation of the extract).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResponseNotReadError

from portal.sandbox import SandboxServer, contract
from portal.sandbox.contract import Example

EXAMPLES = contract.examples()

# The SDK's operation group and the example parameter naming the object, by the example file's prefix.
COLLECTIONS: dict[str, tuple[str, str]] = {
    "Pipelines": ("pipelines", "pipelineName"),
    "Datasets": ("datasets", "datasetName"),
    "LinkedServices": ("linked_services", "linkedServiceName"),
    "DataFlows": ("data_flows", "dataFlowName"),
    "Triggers": ("triggers", "triggerName"),
    "IntegrationRuntimes": ("integration_runtimes", "integrationRuntimeName"),
    "ManagedVirtualNetworks": ("managed_virtual_networks", "managedVirtualNetworkName"),
    "ManagedPrivateEndpoints": ("managed_private_endpoints", "managedPrivateEndpointName"),
    "GlobalParameters": ("global_parameters", "globalParameterName"),
    "Credentials": ("credential_operations", "credentialName"),
    "ChangeDataCapture": ("change_data_capture", "changeDataCaptureName"),
}
# The example whose request body creates an object of the collection when an example presupposes one.
CREATE_EXAMPLE = {prefix: f"{prefix}_Create" for prefix in COLLECTIONS}
# Properties the contract marks readOnly (entityTypes/*.json), left out when an object is created from an answer.
READ_ONLY = {
    "Triggers": ("runtimeState",),
    "ManagedVirtualNetworks": ("vNetId", "alias"),
    "ManagedPrivateEndpoints": ("provisioningState", "connectionState", "isReserved"),
}
# The change data capture properties the spec (entityTypes/ChangeDataCapture.json at the vendored revision) spells
# in PascalCase, which azure-mgmt-datafactory 10.0.0's models (generated from the current contract) and the
# ChangeDataCapture_Get answer spell in camelCase: objects are created in the spec's spelling, answers expected in
# the models' (see CORRECTIONS).
CDC_PASCAL = (
    "SourceConnectionsInfo",
    "SourceEntities",
    "Connection",
    "TargetConnectionsInfo",
    "TargetEntities",
    "DataMapperMappings",
    "Relationships",
    "Policy",
)


def respelled(value: Any, camel: bool) -> Any:
    """A change data capture's properties with the CDC_PASCAL keys in camelCase (camel) or PascalCase."""
    if isinstance(value, list):
        return [respelled(item, camel) for item in value]
    if not isinstance(value, dict):
        return value
    spelled = {}
    for key, item in value.items():
        target = key
        for pascal in CDC_PASCAL:
            if key.lower() == pascal.lower():
                target = pascal[0].lower() + pascal[1:] if camel else pascal
        spelled[target] = respelled(item, camel)
    return spelled


# Values compared by shape: the key's value in the example decides which shape the sandbox's value must have.
SERVICE_GENERATED = {
    "etag",
    "eTag",
    "createTime",
    "runId",
    "runStart",
    "runEnd",
    "lastUpdated",
    "durationInMs",
    "encryptedCredential",
    "vNetId",
}
SERVICE_GENERATED_PATHS = {"invokedBy.id"}
SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("a GUID", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)),
    ("a quoted GUID", re.compile(r'^"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"$', re.IGNORECASE)),
    ("32 hex digits", re.compile(r"^[0-9a-f]{32}$", re.IGNORECASE)),
    ("an ISO 8601 UTC timestamp", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")),
    ("base64", re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")),
]

# Corrections of examples that contradict themselves, their siblings or the spec: example → [(path, value, why)].
# A path is dotted, list items as [i]; the value replaces the example's (DELETE removes the key).
DELETE = object()
_FACTORY_ID = (
    "/subscriptions/12345678-1234-1234-1234-12345678abc/resourceGroups/exampleResourceGroup/providers/"
    "Microsoft.DataFactory/factories/exampleFactoryName"
)
_CDC_ID = f"{_FACTORY_ID}/adfcdcs/exampleChangeDataCapture"
_CDC_CAMEL = (
    "the answer spells the properties in the spec's PascalCase; azure-mgmt-datafactory 10.0.0's models "
    '(ChangeDataCapture.source_connections_info is rest name "sourceConnectionsInfo", ...) and the '
    "ChangeDataCapture_Get answer spell them in camelCase, which is what an SDK client can read"
)
_CDC_FOREIGN_ID = (
    "the answer's id names another subscription, resource group and factory (d3bb3b2e-..., "
    "amja-rg-03, amja-adf-04) than the request"
)
_CDC_CREATE_DESCRIPTION = (
    "Sample demo change data capture to transfer data from delimited (csv) to Azure SQL "
    "Database with automapped and non-automapped mappings."
)
CORRECTIONS: dict[str, list[tuple[str, Any, str]]] = {
    "ChangeDataCapture_Create": [
        ("id", _CDC_ID, _CDC_FOREIGN_ID),
        (
            "properties.description",
            _CDC_CREATE_DESCRIPTION,
            "the answer's description is the Update example's, not the one this request sends",
        ),
        ("properties", "{cdc-camel}", _CDC_CAMEL),
    ],
    "ChangeDataCapture_Update": [("id", _CDC_ID, _CDC_FOREIGN_ID), ("properties", "{cdc-camel}", _CDC_CAMEL)],
    "ChangeDataCapture_ListByFactory": [
        ("value[0].id", _CDC_ID, _CDC_FOREIGN_ID),
        ("value[0].properties", "{cdc-camel}", _CDC_CAMEL),
    ],
    "Datasets_Create": [
        (
            "properties.schema",
            DELETE,
            (
                "the answer shows a column schema the request does not send; the same dataset's Update, Get and "
                "ListByFactory answers have none, and nothing else in any example is added to a stored definition"
            ),
        )
    ],
    "DataFlows_Create": [
        (
            "id",
            f"{_FACTORY_ID}/dataflows/exampleDataFlow",
            (
                "the answer's id names datasets/exampleDataset for the data flow exampleDataFlow (copy-paste from "
                "Datasets_Create); DataFlows_Get/ListByFactory show the .../dataflows/<name> shape"
            ),
        )
    ],
    "DataFlows_Update": [("id", f"{_FACTORY_ID}/dataflows/exampleDataFlow", "as DataFlows_Create")],
    "Credentials_ListByFactory": [
        (
            "value[0].id",
            f"{_FACTORY_ID}/credentials/exampleCredentialName",
            ("the listed credential's id stops at the collection; Credentials_Get/Create show .../credentials/<name>"),
        )
    ],
    "ManagedPrivateEndpoints_ListByFactory": [
        (
            "",
            "{wrap-value}",
            (
                'the answer is a bare array; the spec\'s managedPrivateEndpointListResponse requires {"value": [...]}, '
                "which is also what the SDK's pager reads"
            ),
        )
    ],
    "GlobalParameters_Update": [
        (
            "properties.waitTime.type",
            "Int",
            (
                'echoes the request\'s "int", where GlobalParameters_Create answers the same request with "Int", the '
                "spelling of the spec's GlobalParameterType enum"
            ),
        )
    ],
}


# -- comparison ---------------------------------------------------------------------------------------------------


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _shape(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        for label, pattern in SHAPES:
            if pattern.match(value):
                return label
        return "a non-empty string" if value else "an empty string"
    return type(value).__name__


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Readable differences between an example's body and the sandbox's (service-generated values by shape)."""
    where = path or "(body)"
    plain = re.sub(r"\[\d+\]", "", path)
    key = plain.rsplit(".", 1)[-1]
    if key in SERVICE_GENERATED or any(plain == p or plain.endswith("." + p) for p in SERVICE_GENERATED_PATHS):
        want, got = _shape(expected), _shape(actual)
        if want == "a non-empty string" and isinstance(actual, str) and actual:
            return []  # the example's value has no recognisable shape (Create's vNetId is one digit short)
        return [] if want == got else [f"{where}: expected {want} (example {expected!r}), got {actual!r}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for k in expected:
            if k not in actual:
                found.append(f"{_join(path, k)}: missing (example {expected[k]!r})")
            else:
                found.extend(differences(expected[k], actual[k], _join(path, k)))
        found.extend(f"{_join(path, k)}: not in the example (got {actual[k]!r})" for k in actual if k not in expected)
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}: {actual!r}"]
        return [
            d for i, (e, a) in enumerate(zip(expected, actual, strict=False)) for d in differences(e, a, _join(path, i))
        ]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def corrected(example: Example, status: int) -> Any:
    body = copy.deepcopy(example.responses[status]["body"])
    for path, value, _why in CORRECTIONS.get(example.name, []):
        if value == "{wrap-value}":
            body = {"value": body}
            continue
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
        node = body
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        last = parts[-1]
        if value == "{cdc-camel}":
            node[last] = respelled(node[last], camel=True)
        elif value is DELETE:
            del node[last]
        elif last.startswith("["):
            node[int(last[1:-1])] = value
        else:
            node[last] = value
    return body


# -- talking to the sandbox ---------------------------------------------------------------------------------------


class Answer:
    """One raw HTTP answer the SDK received (read once the SDK call is over: an LRO's first answer is streamed)."""

    def __init__(self, response: Any) -> None:
        self.status = response.status_code
        self.headers = dict(response.headers)
        try:
            text = response.text()
        except ResponseNotReadError:
            response.read()
            text = response.text()
        self.body = json.loads(text) if text.strip() else None

    def __repr__(self) -> str:
        return f"<{self.status} {json.dumps(self.body)[:400] if self.body is not None else '(no body)'}>"


def answers(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[list[Answer], Any, Exception | None]:
    """Run one SDK call; every raw answer it received (retries and LRO polls included), its result or error."""
    raw: list[Any] = []
    result: Any = None
    error: Exception | None = None
    try:
        result = call(
            *args, raw_response_hook=lambda pipeline_response: raw.append(pipeline_response.http_response), **kwargs
        )
    except HttpResponseError as err:
        error = err
    return [Answer(response) for response in raw], result, error


def last(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Answer:
    seen, _, error = answers(call, *args, **kwargs)
    assert seen, f"the SDK call received no answer: {error!r}"
    return seen[-1]


class World:
    """The sandbox client of one example, and the objects created so far."""

    def __init__(self, client: Any, example: Example) -> None:
        self.client = client
        self.rg = example.parameters["resourceGroupName"]
        self.factory = example.parameters["factoryName"]
        self.made: set[tuple[str, str]] = set()
        self.run_id: str | None = None  # the run a PipelineRuns_Get replay created

    def make_factory(self, body: dict[str, Any] | None = None) -> None:
        self.client.factories.create_or_update(self.rg, self.factory, body or {"location": "East US"})

    def put(self, prefix: str, name: str, body: dict[str, Any], parent: str | None = None) -> Any:
        """Create an object with the SDK (its references first); returns the SDK's answer."""
        if (prefix, name.lower()) in self.made:
            return None
        self.made.add((prefix, name.lower()))
        self.ensure_references(body)
        group = getattr(self.client, COLLECTIONS[prefix][0])
        if prefix == "ManagedPrivateEndpoints":
            self.put("ManagedVirtualNetworks", parent or "", {"properties": {}})
            return group.create_or_update(self.rg, self.factory, parent, name, body)
        return group.create_or_update(self.rg, self.factory, name, body)

    def ensure_references(self, body: Any) -> None:
        """Create every object the body references (and theirs), from the examples' own definitions."""
        if isinstance(body, list):
            for item in body:
                self.ensure_references(item)
            return
        if not isinstance(body, dict):
            return
        kind, name = body.get("type"), body.get("referenceName")
        if isinstance(name, str) and kind in PREREQUISITES:
            prefix, make = PREREQUISITES[kind]
            self.put(prefix, name, make())
        for value in body.values():
            self.ensure_references(value)


def _request_body(name: str) -> dict[str, Any]:
    parameters = contract.example(name).parameters
    bodies = [v for k, v in parameters.items() if isinstance(v, dict) and "properties" in v]
    assert len(bodies) == 1, f"{name}: no single request body"
    return copy.deepcopy(bodies[0])


def _listed_properties(name: str) -> dict[str, Any]:
    return {"properties": copy.deepcopy(contract.example(name).responses[200]["body"]["value"][0]["properties"])}


# What a referenced object is created from: the examples' own definitions of such objects.
PREREQUISITES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "LinkedServiceReference": ("LinkedServices", lambda: _request_body("LinkedServices_Create")),
    # Datasets_Get declares the parameters (MyFolderPath, MyFileName) the pipeline examples pass.
    "DatasetReference": (
        "Datasets",
        lambda: {"properties": copy.deepcopy(contract.example("Datasets_Get").responses[200]["body"]["properties"])},
    ),
    # Pipelines_ListByFactory's pipeline takes OutputBlobNameList only, the one parameter the trigger and run
    # examples pass (Pipelines_Create's also declares JobId without a default).
    "PipelineReference": ("Pipelines", lambda: _listed_properties("Pipelines_ListByFactory")),
}


def writable(prefix: str, answer: dict[str, Any]) -> dict[str, Any]:
    properties = {k: copy.deepcopy(v) for k, v in answer["properties"].items() if k not in READ_ONLY.get(prefix, ())}
    return {"properties": properties}


def _blob_events_trigger() -> dict[str, Any]:
    return {
        "properties": {
            "type": "BlobEventsTrigger",
            "typeProperties": {
                "events": ["Microsoft.Storage.BlobCreated"],
                "blobPathBeginsWith": "/in/blobs/",
                "scope": "/subscriptions/12345678-1234-1234-1234-12345678abc/resourceGroups/"
                "exampleResourceGroup/providers/Microsoft.Storage/storageAccounts/example",
            },
            "pipelines": [{"pipelineReference": {"referenceName": "myPipeline", "type": "PipelineReference"}}],
        }
    }


# -- the replays --------------------------------------------------------------------------------------------------

Replay = Callable[[World, Example], "dict[int, Answer]"]


def _prefix(example: Example) -> str:
    return example.name.split("_", 1)[0]


def _object_args(world: World, example: Example) -> list[str]:
    prefix = _prefix(example)
    args = [world.rg, world.factory]
    if prefix == "ManagedPrivateEndpoints":
        args.append(example.parameters["managedVirtualNetworkName"])
    args.append(example.parameters[COLLECTIONS[prefix][1]])
    return args


def _group(world: World, example: Example) -> Any:
    return getattr(world.client, COLLECTIONS[_prefix(example)][0])


def _presupposed(world: World, example: Example, answer: dict[str, Any], name: str | None = None) -> None:
    """Create the object an example reads, from its (corrected) answer, in the spec's spelling."""
    prefix = _prefix(example)
    body = writable(prefix, answer)
    if prefix == "ChangeDataCapture":
        body = respelled(body, camel=False)
    parent = example.parameters.get("managedVirtualNetworkName")
    world.put(prefix, name or answer["name"], body, parent=parent)
    if prefix == "Triggers" and answer["properties"].get("runtimeState") == "Started":
        world.client.triggers.begin_start(world.rg, world.factory, name or answer["name"]).result()


def replay_put(world: World, example: Example) -> dict[int, Answer]:
    world.make_factory()
    prefix, name = _prefix(example), example.parameters[COLLECTIONS[_prefix(example)][1]]
    body = _request_body(example.name)
    if example.name.endswith("_Update") and CREATE_EXAMPLE[prefix] in {e.name for e in EXAMPLES}:
        created = contract.example(CREATE_EXAMPLE[prefix])
        if created.parameters[COLLECTIONS[prefix][1]] == name:  # an update changes an existing object
            world.put(
                prefix, name, _request_body(created.name), parent=example.parameters.get("managedVirtualNetworkName")
            )
    world.ensure_references(body)
    if prefix == "ManagedPrivateEndpoints":
        world.put("ManagedVirtualNetworks", example.parameters["managedVirtualNetworkName"], {"properties": {}})
    return {200: last(_group(world, example).create_or_update, *_object_args(world, example), body)}


def replay_patch(world: World, example: Example) -> dict[int, Answer]:
    """IntegrationRuntimes_Update: a PATCH of an existing runtime, which the example's answer shows."""
    world.make_factory()
    _presupposed(world, example, corrected(example, 200))
    request = example.parameters["updateIntegrationRuntimeRequest"]
    return {200: last(world.client.integration_runtimes.update, *_object_args(world, example), request)}


def replay_get(world: World, example: Example) -> dict[int, Answer]:
    world.make_factory()
    _presupposed(world, example, corrected(example, 200))
    group, args = _group(world, example), _object_args(world, example)
    got: dict[int, Answer] = {}
    tag = example.parameters.get("ifNoneMatch")
    if tag:  # the example's If-None-Match is an etag of the recorded service: it does not match, the body comes
        got[200] = last(group.get, *args, etag=tag, match_condition=MatchConditions.IfModified)
    else:
        got[200] = last(group.get, *args)
    if 304 in example.responses:  # ... and with the object's own etag the answer is 304 without a body
        current = got[200].body.get("etag") if isinstance(got[200].body, dict) else None
        assert current, f"no etag to ask for 304 with: {got[200]!r}"
        got[304] = last(group.get, *args, etag=current, match_condition=MatchConditions.IfModified)
    return got


def replay_list(world: World, example: Example) -> dict[int, Answer]:
    world.make_factory()
    items = corrected(example, 200)["value"]
    for item in items:
        # created under their `name` (Credentials_ListByFactory's id stops short of it)
        _presupposed(world, example, item, name=item["name"])
    args = [world.rg, world.factory]
    if _prefix(example) == "ManagedPrivateEndpoints":
        args.append(example.parameters["managedVirtualNetworkName"])
    seen, result, error = answers(lambda *a, **k: list(_group(world, example).list_by_factory(*a, **k)), *args)
    assert seen, f"the SDK pager received no answer: {error!r}"
    assert error is None, f"the SDK pager failed: {error!r}"
    assert len(result) == len(items), f"the SDK pager yields {len(result)} items, the example lists {len(items)}"
    return {200: seen[0]}


def replay_delete(world: World, example: Example) -> dict[int, Answer]:
    world.make_factory()
    prefix = _prefix(example)
    name = example.parameters[COLLECTIONS[prefix][1]]
    body = _request_body(CREATE_EXAMPLE[prefix])
    world.put(prefix, name, body, parent=example.parameters.get("managedVirtualNetworkName"))
    group, args = _group(world, example), _object_args(world, example)
    return {200: last(group.delete, *args), 204: last(group.delete, *args)}  # the second finds nothing to delete


def replay_factory_put(world: World, example: Example) -> dict[int, Answer]:
    return {200: last(world.client.factories.create_or_update, world.rg, world.factory, example.parameters["factory"])}


def replay_factory_get(world: World, example: Example) -> dict[int, Answer]:
    got: dict[int, Answer] = {}
    if 200 in example.responses:
        answer = example.responses[200]["body"]
        world.make_factory(
            {
                "location": answer["location"],
                "tags": answer["tags"],
                "properties": {"repoConfiguration": answer["properties"]["repoConfiguration"]},
            }
        )
        got[200] = last(
            world.client.factories.get,
            world.rg,
            world.factory,
            etag=example.parameters["ifNoneMatch"],
            match_condition=MatchConditions.IfModified,
        )
    else:
        world.make_factory()
    if 304 in example.responses:
        # the example's If-None-Match is the recorded factory's eTag; the sandbox's factory has its own
        current = world.client.factories.get(world.rg, world.factory)["eTag"]
        got[304] = last(
            world.client.factories.get,
            world.rg,
            world.factory,
            etag=current,
            match_condition=MatchConditions.IfModified,
        )
    return got


def _trigger_world(world: World, example: Example, body: dict[str, Any]) -> str:
    world.make_factory()
    name = example.parameters["triggerName"]
    world.put("Triggers", name, body)
    return name


def replay_trigger_start(world: World, example: Example) -> dict[int, Answer]:
    name = _trigger_world(world, example, _request_body("Triggers_Create"))
    seen, result, error = answers(
        lambda *a, **k: world.client.triggers.begin_start(*a, **k).result(), world.rg, world.factory, name
    )
    assert error is None and result is None, f"the SDK poller of Triggers_Start failed: {error!r} {seen!r}"
    return {200: seen[0]}


def replay_trigger_stop(world: World, example: Example) -> dict[int, Answer]:
    name = _trigger_world(world, example, _request_body("Triggers_Create"))
    world.client.triggers.begin_start(world.rg, world.factory, name).result()
    seen, result, error = answers(
        lambda *a, **k: world.client.triggers.begin_stop(*a, **k).result(), world.rg, world.factory, name
    )
    assert error is None and result is None, f"the SDK poller of Triggers_Stop failed: {error!r} {seen!r}"
    return {200: seen[0]}


def _subscribed(world: World, name: str) -> None:
    """Subscribe a trigger without the SDK's poller, then ask its status (POST) until it has settled."""
    # polling=False sends the request only (the poller's result would read the 202's empty body as the status)
    world.client.triggers.begin_subscribe_to_events(world.rg, world.factory, name, polling=False)
    for _ in range(20):
        if (
            world.client.triggers.get_event_subscription_status(world.rg, world.factory, name)["status"]
            != "Provisioning"
        ):
            return
    raise AssertionError("the subscription stays Provisioning")


def _subscription(world: World, example: Example, method: str, subscribed_first: bool) -> dict[int, Answer]:
    name = _trigger_world(world, example, _blob_events_trigger())
    if subscribed_first:
        _subscribed(world, name)
    # The contract's LRO: 202 with a Location naming getEventSubscriptionStatus, an operation the contract
    # defines for POST only. The SDK's poller (azure-mgmt-core ARMPolling → LocationPolling) follows a Location
    # with GET, as ARM prescribes for a Location ("Track asynchronous Azure operations", learn.microsoft.com/
    # azure/azure-resource-manager/management/async-operations); the strictest service refuses that GET (405),
    # so the poller fails, which is why the deploy core asks the status with POST itself.
    seen, _, error = answers(
        lambda *a, **k: getattr(world.client.triggers, method)(*a, **k).result(), world.rg, world.factory, name
    )
    assert seen and seen[0].status == 202, f"{example.name} did not start a long-running operation: {seen!r}"
    assert isinstance(error, HttpResponseError) and error.status_code == 405, (
        f"the SDK poller of {example.name} followed the POST-only status with GET: {error!r}; answers {seen!r}"
    )
    # ... and the status, asked as the contract defines it, settles on the example's 200
    deadline = time.monotonic() + 10
    while True:
        status = last(world.client.triggers.get_event_subscription_status, world.rg, world.factory, name)
        if status.body is None or status.body.get("status") not in ("Provisioning", "Deprovisioning"):
            break
        assert time.monotonic() < deadline, f"the subscription of {name} never settled: {status!r}"
    return {202: seen[0], 200: status}


def replay_subscribe(world: World, example: Example) -> dict[int, Answer]:
    return _subscription(world, example, "begin_subscribe_to_events", subscribed_first=False)


def replay_unsubscribe(world: World, example: Example) -> dict[int, Answer]:
    return _subscription(world, example, "begin_unsubscribe_from_events", subscribed_first=True)


def replay_subscription_status(world: World, example: Example) -> dict[int, Answer]:
    name = _trigger_world(world, example, _blob_events_trigger())
    _subscribed(world, name)
    return {200: last(world.client.triggers.get_event_subscription_status, world.rg, world.factory, name)}


def _run_world(world: World, example: Example) -> tuple[str, dict[str, Any]]:
    world.make_factory()
    name = example.parameters.get("pipelineName", "myPipeline")
    world.put("Pipelines", name, _listed_properties("Pipelines_ListByFactory"))
    return name, contract.example("Pipelines_CreateRun").parameters["parameters"]


def replay_create_run(world: World, example: Example) -> dict[int, Answer]:
    name, parameters = _run_world(world, example)
    return {
        200: last(
            world.client.pipelines.create_run,
            world.rg,
            world.factory,
            name,
            parameters,
            reference_pipeline_run_id=example.parameters.get("referencePipelineRunId"),
        )
    }


def replay_run_get(world: World, example: Example) -> dict[int, Answer]:
    name, parameters = _run_world(world, example)
    run_id = world.client.pipelines.create_run(world.rg, world.factory, name, parameters)["runId"]
    deadline = time.monotonic() + 10
    while world.client.pipeline_runs.get(world.rg, world.factory, run_id)["status"] in ("Queued", "InProgress"):
        assert time.monotonic() < deadline, "the run did not finish"
    world.run_id = run_id
    return {200: last(world.client.pipeline_runs.get, world.rg, world.factory, run_id)}


REPLAYS: dict[str, Replay] = {
    "Factories_CreateOrUpdate": replay_factory_put,
    "Factories_Get": replay_factory_get,
    "Triggers_Start": replay_trigger_start,
    "Triggers_Stop": replay_trigger_stop,
    "Triggers_SubscribeToEvents": replay_subscribe,
    "Triggers_UnsubscribeFromEvents": replay_unsubscribe,
    "Triggers_GetEventSubscriptionStatus": replay_subscription_status,
    "Pipelines_CreateRun": replay_create_run,
    "PipelineRuns_Get": replay_run_get,
    "IntegrationRuntimes_Update": replay_patch,
}


def replay_for(example: Example) -> Replay:
    if example.operation_id in REPLAYS:
        return REPLAYS[example.operation_id]
    verb = example.operation_id.rsplit("_", 1)[-1].lower()
    return {"createorupdate": replay_put, "get": replay_get, "listbyfactory": replay_list, "delete": replay_delete}[
        verb
    ]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "sandbox") as running:
        yield running


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_the_sandbox_answers_as_the_example(server: SandboxServer, example: Example) -> None:
    world = World(server.client(example.parameters["subscriptionId"]), example)
    got = replay_for(example)(world, example)

    problems = []
    for status in sorted(example.responses):
        answer = got.get(status)
        if answer is None:
            problems.append(f"{status}: not replayed")
            continue
        if answer.status != status:
            problems.append(f"status: expected {status}, got {answer!r}")
            continue
        problems.extend(f"{status} {d}" for d in differences(corrected(example, status), answer.body))
        if world.run_id and isinstance(answer.body, dict) and answer.body.get("runId") != world.run_id:
            # the run read is the one just created, not the recorded one
            got_run = answer.body.get("runId")
            problems.append(f"{status} runId: expected the created run {world.run_id}, got {got_run!r}")
        location = (example.responses[status]["headers"] or {}).get("Location")
        if location:
            got_location = {k.lower(): v for k, v in answer.headers.items()}.get("location")
            want, have = urlsplit(location), urlsplit(got_location or "")
            if (want.path, want.query) != (have.path, have.query):
                problems.append(f"{status} Location: expected …{want.path}?{want.query}, got {got_location!r}")
    assert not problems, f"{example.name} ({example.method} {example.path}):\n  " + "\n  ".join(problems)


# -- the vendored data --------------------------------------------------------------------------------------------


def test_every_example_belongs_to_an_operation_of_the_extract() -> None:
    assert len(EXAMPLES) >= 50
    for example in EXAMPLES:
        assert example.method and example.path, example.name
        assert example.parameters.get("api-version") == "2018-06-01", example.name
        assert example.responses, example.name


def test_every_ref_of_the_vendored_spec_resolves() -> None:
    compiler = contract._compiler()  # compiling resolves every $ref of every definition
    assert "datafactory.PipelineResource" in compiler.definitions
    for document, content in contract._documents().items():
        for path, item in (content.get("paths") or {}).items():
            for method, operation in item.items():
                for response in operation.get("responses", {}).values():
                    ref = (response.get("schema") or {}).get("$ref")
                    if ref:
                        assert contract._resolve(ref, document), (document, path, method)


def test_the_examples_requests_conform_to_the_contract() -> None:
    checked = 0
    for example in EXAMPLES:
        if example.method not in ("PUT", "PATCH"):
            continue
        operation = contract._documents()["datafactory.json"]["paths"][example.path][example.method.lower()]
        for parameter in operation["parameters"]:
            if parameter.get("in") != "body":
                continue
            # GlobalParameters_*.json name the body "globalParameter" where the spec names it "default"
            body = example.parameters.get(parameter["name"]) or next(
                v for v in example.parameters.values() if isinstance(v, dict) and "properties" in v
            )
            definition = parameter["schema"]["$ref"].rsplit("/", 1)[-1]
            assert contract.validate(definition, body) == [], example.name
            checked += 1
    assert checked >= 18


# -- validate -----------------------------------------------------------------------------------------------------


def test_validate_accepts_a_valid_pipeline() -> None:
    body = contract.example("Pipelines_Create").parameters["pipeline"]
    assert contract.validate("PipelineResource", body) == []


def test_validate_names_the_path_of_what_is_missing_or_wrong() -> None:
    body = {
        "properties": {
            "activities": [
                {"name": "ok", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}},
                {"name": "a", "type": "Copy"},
                {"name": "b", "type": "Wait"},
                {"type": "Copy"},
            ],
            "concurrency": 0,
        }
    }
    assert contract.validate("PipelineResource", body) == [
        "properties.activities[3].name: is required",
        "properties.concurrency: 0 is less than the minimum of 1",
    ]


def test_validate_requires_properties_and_their_types() -> None:
    assert contract.validate("DatasetResource", {}) == ["properties: is required"]
    assert contract.validate("DatasetResource", {"properties": {"type": "Json"}}) == [
        "properties.linkedServiceName: is required"
    ]
    assert contract.validate("PipelineResource", []) == ["(root): [] is not of type 'object'"]
    assert contract.validate("ManagedPrivateEndpointResource", {"properties": {"fqdns": "a", "groupId": 1}}) == [
        "properties.fqdns: 'a' is not of type 'array'",
        "properties.groupId: 1 is not of type 'string'",
    ]


def test_validate_dispatches_on_the_discriminator() -> None:
    # a vendored subtype is checked in full (ScheduleTrigger requires its recurrence) ...
    assert contract.validate("TriggerResource", {"properties": {"type": "ScheduleTrigger", "typeProperties": {}}}) == [
        "properties.typeProperties.recurrence: is required"
    ]
    assert contract.validate("IntegrationRuntimeResource", {"properties": {"type": "Managed"}}) == [
        "properties.typeProperties: is required"
    ]
    assert contract.validate("IntegrationRuntimeResource", {"properties": {"type": "SelfHosted"}}) == []
    # ... a subtype the extract leaves out but the SDK's models know is checked against its base ...
    assert (
        contract.validate(
            "LinkedServiceResource",
            {"properties": {"type": "AzureKeyVault", "typeProperties": {"baseUrl": "https://v.vault.azure.net"}}},
        )
        == []
    )
    assert contract.validate("DatasetResource", {"properties": {"type": "Parquet", "linkedServiceName": 5}}) == [
        "properties.linkedServiceName: 5 is not of type 'object'"
    ]
    # ... and so is a type nobody here knows (the service took data flows of type "UDFLibrary" that neither the
    # spec nor the SDK lists): the base's own rules still hold
    assert contract.validate("PipelineResource", {"properties": {"activities": [{"type": "Teleport"}]}}) == [
        "properties.activities[0].name: is required"
    ]
    assert (
        contract.validate("PipelineResource", {"properties": {"activities": [{"name": "x", "type": "Teleport"}]}}) == []
    )
    assert contract.validate("DataFlowResource", {"properties": {"type": "UDFLibrary"}}) == []


def test_validate_ignores_read_only_properties() -> None:
    answer = contract.example("Triggers_Get").responses[200]["body"]  # id, name, type, etag, runtimeState
    assert contract.validate("TriggerResource", answer) == []
    odd = copy.deepcopy(answer)
    odd["properties"]["runtimeState"] = 42
    odd["etag"] = ["not", "a", "string"]
    assert contract.validate("TriggerResource", odd) == []


def test_validate_checks_enums_and_nested_secrets() -> None:
    # a sealed enum (x-ms-enum modelAsString: false) is checked as listed ...
    schedule = {
        "properties": {
            "type": "ScheduleTrigger",
            "typeProperties": {"recurrence": {"schedule": {"weekDays": ["Funday"]}}},
        }
    }
    days = "['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']"
    assert contract.validate("TriggerResource", schedule) == [
        f"properties.typeProperties.recurrence.schedule.weekDays[0]: 'Funday' is not one of {days}"
    ]
    schedule["properties"]["typeProperties"]["recurrence"]["schedule"]["weekDays"] = ["Monday"]
    assert contract.validate("TriggerResource", schedule) == []
    # ... an extensible one (modelAsString: true) lists examples, not a limit
    assert contract.validate("GlobalParameterSpecification", {"type": "Integer", "value": 1}) == []
    assert contract.validate("PipelineResource", {"properties": {"variables": {"v": {"type": "Integer"}}}}) == []
    credential = {
        "properties": {
            "type": "ServicePrincipal",
            "typeProperties": {"servicePrincipalKey": {"type": "AzureKeyVaultSecret", "secretName": "k"}},
        }
    }
    assert contract.validate("CredentialResource", credential) == [
        "properties.typeProperties.servicePrincipalKey.store: is required"
    ]


def test_validate_refuses_an_unknown_definition() -> None:
    with pytest.raises(KeyError):
        contract.validate("NoSuchResource", {})


# -- name_rule ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("factoryName", ["adf-dev", "abc"], ["ab", "-adf", "adf_dev", "a" * 64]),
        ("pipelineName", ["PL_Copy", "a", "with space"], ["", ".hidden", "a/b", "a*b", "x" * 261]),
        ("integrationRuntimeName", ["ir-1", "SelfHosted1"], ["ir_1", "ir", "a" * 64]),
        ("managedVirtualNetworkName", ["default", "a", "vnet-1_x"], ["-vnet", "vnet-", "a" * 128]),
        ("managedPrivateEndpointName", ["mpe_blob", "x"], ["mpe.blob", "a" * 128]),
        ("credentialName", ["cred-1", "c"], ["-cred", "cred.1", "a" * 128]),
        ("changeDataCaptureName", ["cdc1"], ["cdc#1"]),
        ("globalParameterName", ["default"], ["a%b"]),
    ],
)
def test_name_rule_reads_the_path_parameters_of_the_spec(parameter: str, good: list[str], bad: list[str]) -> None:
    rule = contract.name_rule(parameter)
    assert rule is not None and rule.parameter == parameter

    def allows(name: str) -> bool:
        assert rule.pattern is not None and rule.min_length is not None and rule.max_length is not None
        return rule.min_length <= len(name) <= rule.max_length and re.fullmatch(rule.pattern, name) is not None

    assert [n for n in good if not allows(n)] == []
    assert [n for n in bad if allows(n)] == []


def test_name_rule_values_and_unknown_parameters() -> None:
    assert contract.name_rule("factoryName") == contract.NameRule(
        "factoryName", "^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$", 3, 63
    )
    assert contract.name_rule("runId") == contract.NameRule("runId", None, None, None)
    assert contract.name_rule("nope") is None
