"""The Data Factory management API over the sandbox state: factories, their collections, and the service's rules.

Each request is handled under the state lock, so a check and the write it guards (a reference that must exist,
a delete refused while referenced) can never interleave with another request.

The sandbox follows the published contract (azure-rest-api-specs, specification/datafactory/resource-manager/
Microsoft.DataFactory/stable/2018-06-01: datafactory.json, entityTypes/*.json, examples/*.json), Microsoft's
docs and the models of azure-mgmt-datafactory 10.0.0; each module names its sources. Where they are silent, the
sandbox is the strictest plausible service. These are ALL such choices, in one place:

1. Names are case-insensitive. A PUT to `pipelines/MyPipe` while `mypipe` exists updates that object in place,
   and the object keeps the name (and id) it was created with.
2. If-Match (PUT): `*`, or entity-tags separated by commas; one matches when, without its quotes, it equals the
   stored etag without its quotes. azure-mgmt-datafactory 10.0.0 sends `"<etag>"` (`quote_etag` in
   azure/mgmt/datafactory/_utils/utils.py, for `etag=..., match_condition=MatchConditions.IfNotModified`; it has
   no `if_match=` keyword); a factory's `eTag` is stored quoted and an object's `etag` bare, as the examples answer
   (Factories_CreateOrUpdate.json, Pipelines_Create.json). A bare value is honoured too (the examples send bare
   If-None-Match values and are answered 304, IntegrationRuntimes_Get.json), a weak tag (`W/"..."`) never
   matches (If-Match compares strongly, RFC 9110 13.1.1), and If-Match on an object that does not exist fails.
   Failure: 412 PreconditionFailed in the ARM error shape.
3. If-None-Match is honoured on GET only (the contract documents it "only for get"); a PUT ignores it. On a GET it
   compares weakly, and `*` matches any existing object: 304 without a body.
4. An operation the contract does not define on a path is answered 405 MethodNotAllowed, "The requested resource
   does not support http method '<METHOD>'.": a GET of getEventSubscriptionStatus (or of any other POST-only
   operation), a DELETE of a managed virtual network (the contract and the SDK have none).
5. Triggers: starting a started trigger and stopping a stopped one are refused (400 BadRequest); subscribing
   (unsubscribing) an event trigger already subscribed (unsubscribed) answers 200 with its status, otherwise
   202 + Location; a change of any kind to a trigger whose subscription is still (de)provisioning is refused
   with the service's "Resource cannot be updated during provisioning" until a status call has seen it settle;
   starting an event trigger subscribes it and stopping it unsubscribes it.
6. Published limits are refused with 400 BadRequest (no code is published): object size measured as the bytes
   of the request body as received, "KB" read as 1,000 bytes; every object below a factory counts toward its
   5,000 entities (private endpoints, managed networks, credentials, data flows, change data captures and global
   parameters included; pipeline runs not); an expression is a string that starts with one "@" or holds "@{".
7. A managed private endpoint cannot be changed in place (MicrosoftDocs/azure-docs articles/data-factory/
   continuous-integration-delivery.md, "Managed private endpoint deployment": the deployment fails when the
   properties differ). The refusal's code is the one the service gives for its other private endpoint refusals
   (400 InvalidResourceRequest, Azure/Azure-DataFactory#250); `fqdns` absent counts as `[]`; the service's own
   fields and the dropped `description` are not compared.
8. A request body without a `properties` object, or one the vendored contract finds invalid, is answered like
   the service's "Invalid payload" (400 InvalidResourceRequest, MicrosoftDocs/azure-docs#73705, #76925).
9. Every SecureString value is answered masked, in every kind of object (the `SecureString` definition does not
   limit it to kinds); a linked service holding one gets an `encryptedCredential` (LinkedServices_Create.json).
10. Every enum field of the contract's models is answered in the contract's spelling (GlobalParameters_Create.json
    answers "int" as "Int"; GlobalParameters_Update.json echoes "int": the stricter of the two is kept), and a
    managed virtual network, like a managed private endpoint, keeps no property its model does not define.
11. ARM write throttling (off by default, `ServiceOptions.write_limit`): PUT, PATCH and POST count as writes
    (DELETE has its own, higher limit in request-limits-and-throttling.md and is not limited), per subscription;
    beyond the limit 429 SubscriptionRequestsThrottled with Retry-After in whole seconds; every write answer then
    carries x-ms-ratelimit-remaining-subscription-writes, as the examples' answers do.
12. Pipeline runs: createRun refuses a run that leaves a parameter without a default unset (400 BadRequest);
    `runStart` is the creation time; cancelling a finished run changes nothing.
13. A factory PUT naming another location than the factory has is refused (409 InvalidResourceLocation): the
    location is create-only (`x-ms-mutability` create, read).
14. IntegrationRuntimes_Update (PATCH) is refused for a runtime that is not self-hosted (400 BadRequest): the
    contract describes autoUpdate as "the auto-update feature of the self-hosted integration runtime". The
    settings it changes are not part of the runtime's definition, so GET answers the definition as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from portal.sandbox import runs, triggers
from portal.sandbox.contract import validate
from portal.sandbox.credential import SANDBOX_TOKEN
from portal.sandbox.errors import ApiError, ApiResponse
from portal.sandbox.limits import WriteLimiter, check_entity_count, check_object
from portal.sandbox.names import check_name
from portal.sandbox.references import find_references
from portal.sandbox.routes import (
    API_VERSION,
    PRIVATE_ENDPOINTS,
    PROVIDER,
    Route,
    parse_route,
)
from portal.sandbox.service_options import ServiceOptions
from portal.sandbox.service_owned import (
    accepted,
    accepted_as,
    endpoint_definition,
    fill,
    masked,
)
from portal.sandbox.state import Document, SandboxState, new_etag

_FACTORY_TYPE = f"{PROVIDER}/factories"
# Collections whose ids and types the service spells otherwise than the URL: IntegrationRuntimes_Create.json and
# IntegrationRuntimes_Get.json answer ".../integrationruntimes/..." and "Microsoft.DataFactory/factories/
# integrationruntimes".
_ID_SEGMENT = {"integrationRuntimes": "integrationruntimes"}
# The contract's model names, as the service names them in "Invalid resource request" messages.
_RESOURCE_WORD = {
    "pipelines": "Pipeline",
    "datasets": "Dataset",
    "linkedservices": "LinkedService",
    "triggers": "Trigger",
    "dataflows": "DataFlow",
    "integrationRuntimes": "IntegrationRuntime",
    "credentials": "Credential",
    "managedVirtualNetworks": "ManagedVirtualNetwork",
    PRIVATE_ENDPOINTS: "ManagedPrivateEndpoint",
    "adfcdcs": "ChangeDataCapture",
    "globalParameters": "GlobalParameter",
    "factories": "Factory",
}
_WRITE_METHODS = ("PUT", "PATCH", "POST")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # percent-encoded, as received
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys in lower case
    body: bytes = b""


class DataFactoryApi:
    """`options` (default: the state's own `SandboxState.options`) holds the settings tests change while the
    server runs: ARM write throttling and how pipeline runs end."""

    def __init__(
        self,
        state: SandboxState,
        base_url: Callable[[], str],
        page_size: int = 50,
        options: ServiceOptions | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.state = state
        self.base_url = base_url  # a callable: the port is known only once the server listens
        self.page_size = max(1, page_size)
        self._options = options
        self._limiter = WriteLimiter(clock) if clock is not None else WriteLimiter()

    @property
    def options(self) -> ServiceOptions:
        return self._options if self._options is not None else self.state.options

    def handle(self, request: ApiRequest) -> ApiResponse:
        try:
            _authorize(request)
            _check_api_version(request)
            route = parse_route(request.path)
            remaining = self._throttle(route, request)
            with self.state.lock:
                response = self._dispatch(route, request)
            if remaining is not None:
                response.headers.setdefault("x-ms-ratelimit-remaining-subscription-writes", str(remaining))
            return response
        except ApiError as err:
            return err.response()

    def _throttle(self, route: Route, request: ApiRequest) -> int | None:
        limit = self.options.write_limit
        if limit is None or request.method.upper() not in _WRITE_METHODS:
            return None
        return self._limiter.admit(limit, route.subscription)

    def _dispatch(self, route: Route, request: ApiRequest) -> ApiResponse:
        method, kind = request.method.upper(), route.kind
        handler: Callable[[Route, ApiRequest], ApiResponse] | None = None
        if kind == "factories" and method == "GET":
            return self._page(self.state.factories(_scope_id(route)), request)
        if kind == "factory":
            handler = {
                "GET": self._get_factory,
                "PUT": self._put_factory,
                "PATCH": self._patch_factory,
                "DELETE": self._delete_factory,
            }.get(method)
        elif kind == "collection" and method == "GET":
            return self._page(self.state.children(self._parent(route)["id"], route.collection or ""), request)
        elif kind == "resource":
            handler = {"GET": self._get, "PUT": self._put, "DELETE": self._delete}.get(method)
            if method == "PATCH" and route.collection == "integrationRuntimes":
                handler = self._patch_integration_runtime  # IntegrationRuntimes_Update
            if method == "DELETE" and route.collection == "managedVirtualNetworks":
                handler = None  # ManagedVirtualNetworks has no delete operation in the contract
        elif kind == "action" and method == "POST":
            factory = self._factory(route)
            if route.collection == "pipelines":
                return self._create_run(factory, route, request)
            return triggers.act(self.state, factory, route, self.base_url(), request.path)
        elif kind == "run":
            if route.action is None and method == "GET":
                return runs.get(self.state, self._factory(route), route.name or "")
            if route.action == "cancel" and method == "POST":
                return runs.cancel(self.state, self._factory(route), route.name or "")
        if handler is None:
            raise ApiError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        return handler(route, request)

    # -- factories -------------------------------------------------------------------------------------------

    def _factory(self, route: Route) -> Document:
        doc = self.state.get(_factory_id(route))
        if doc is None:
            raise ApiError(
                404,
                "ResourceNotFound",
                f"The Resource '{_FACTORY_TYPE}/{route.factory}' under resource group "
                f"'{route.resource_group}' was not found.",
            )
        return doc

    def _get_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        return _answer(self._factory(route), request)

    def _put_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        name = route.factory or ""
        check_name("factories", name)
        body = _json_object(request)
        existing = self.state.get(_factory_id(route))
        _check_if_match(request, existing, "eTag")
        body = accepted("factories", body)
        _validate("factories", name, body)
        location = body.get("location") or (existing or {}).get("location")
        if not isinstance(location, str) or not location:
            raise ApiError(400, "LocationRequired", "The location property is required for this definition.")
        if existing is not None and _location_key(location) != _location_key(str(existing.get("location", ""))):
            raise ApiError(
                409,
                "InvalidResourceLocation",
                f"The resource '{existing['name']}' already exists in location '{existing['location']}' in "
                f"resource group '{route.resource_group}'. A resource with the same name cannot be created "
                f"in location '{location}'.",
            )
        properties = body.get("properties") or {}
        if not isinstance(properties, dict):
            raise _invalid_payload("factories", name)
        doc = existing or {"id": _factory_id(route), "name": name, "type": _FACTORY_TYPE}
        doc["location"] = (existing or {}).get("location") or location
        doc["tags"] = body.get("tags") or {}
        doc["properties"] = {
            **properties,
            "provisioningState": "Succeeded",
            "createTime": (existing or {}).get("properties", {}).get("createTime") or _now(),
            "version": API_VERSION,
        }
        if "identity" in body:
            doc["identity"] = _identity(body["identity"], doc["id"])
        else:
            doc.pop("identity", None)
        doc["eTag"] = _factory_etag()
        self.state.put(doc)
        return _answer(doc)

    def _patch_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        """Factories_Update: FactoryUpdateParameters holds tags, identity and `properties.publicNetworkAccess`."""
        doc = self._factory(route)
        body = accepted_as("FactoryUpdateParameters", _json_object(request))
        if "tags" in body:
            doc["tags"] = body["tags"] or {}
        if "identity" in body:
            doc["identity"] = _identity(body["identity"], doc["id"])
        update = body.get("properties")
        if isinstance(update, dict) and "publicNetworkAccess" in update:
            doc["properties"]["publicNetworkAccess"] = update["publicNetworkAccess"]
        doc["eTag"] = _factory_etag()
        self.state.put(doc)
        return _answer(doc)

    def _delete_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        return ApiResponse(200 if self.state.delete(_factory_id(route)) else 204)

    # -- objects of a factory --------------------------------------------------------------------------------

    def _parent(self, route: Route) -> Document:
        """The factory, or for a private endpoint its managed virtual network (which must exist)."""
        factory = self._factory(route)
        if route.collection != PRIVATE_ENDPOINTS:
            return factory
        vnet = self.state.get(f"{factory['id']}/managedVirtualNetworks/{route.vnet}")
        if vnet is None:
            raise ApiError(404, "NotFound", f"Managed virtual network '{route.vnet}' was not found.")
        return vnet

    def _get(self, route: Route, request: ApiRequest) -> ApiResponse:
        doc = self.state.get(_resource_id(self._parent(route), route))
        if doc is None:
            raise _not_found(route)
        return _answer(doc, request)

    def _put(self, route: Route, request: ApiRequest) -> ApiResponse:
        collection, name = route.collection or "", route.name or ""
        check_name(collection, name)
        parent = self._parent(route)
        factory = self._factory(route)
        resource_id = _resource_id(parent, route)
        existing = self.state.get(resource_id)
        body = _json_object(request)
        if not isinstance(body.get("properties"), dict):
            raise _invalid_payload(collection, name)
        _check_if_match(request, existing, "etag")
        body = accepted(collection, body)
        _validate(collection, name, body)
        properties: dict[str, Any] = body.get("properties") or {}
        if collection == "triggers":
            properties = triggers.prepare_put(existing, properties)
        if collection == PRIVATE_ENDPOINTS:
            self._check_private_endpoint(parent, existing, name, properties)
        check_object(collection, name, len(request.body or b""), properties)
        self._check_references(factory["id"], route, properties)
        if existing is None:
            check_entity_count(str(factory["name"]), self.state.count_entities(factory["id"]) + 1)
        properties = fill(collection, properties, (existing or {}).get("properties"), factory, resource_id)
        doc: Document = existing or {"id": resource_id, "name": name, "type": _type(route)}
        doc["properties"] = properties
        doc["etag"] = new_etag()
        self.state.put(doc)
        return _answer(doc)

    def _patch_integration_runtime(self, route: Route, request: ApiRequest) -> ApiResponse:
        """IntegrationRuntimes_Update: an UpdateIntegrationRuntimeRequest (autoUpdate, updateDelayOffset) changes
        the runtime's auto-update settings, not its definition; the answer is the runtime with a new etag
        (IntegrationRuntimes_Update.json)."""
        name = route.name or ""
        doc = self.state.get(_resource_id(self._parent(route), route))
        if doc is None:
            raise _not_found(route)
        body = _json_object(request)
        problems = contract_problems("UpdateIntegrationRuntimeRequest", body)
        if problems:
            raise _invalid_resource("integrationRuntimes", name, "Invalid payload: " + "; ".join(problems))
        if str((doc.get("properties") or {}).get("type", "")).lower() != "selfhosted":
            raise ApiError(
                400,
                "BadRequest",
                f"Integration runtime '{doc['name']}' is not self-hosted: only a "
                "self-hosted integration runtime has auto-update settings.",
                target=str(doc["name"]),
            )
        settings = dict(doc.get("_autoUpdate") or {})
        settings.update({k: v for k, v in body.items() if k in ("autoUpdate", "updateDelayOffset")})
        doc["_autoUpdate"] = settings
        doc["etag"] = new_etag()
        self.state.put(doc)
        return _answer(doc)

    def _check_private_endpoint(
        self, vnet: Document, existing: Document | None, name: str, properties: Mapping[str, Any]
    ) -> None:
        if existing is not None:
            if endpoint_definition(existing.get("properties") or {}) != endpoint_definition(properties):
                raise _invalid_resource(
                    PRIVATE_ENDPOINTS,
                    name,
                    "A managed private endpoint cannot be updated: "
                    "its properties differ from the existing one's. Delete it and create it "
                    "again",
                )
            return
        target = (str(properties.get("privateLinkResourceId", "")).lower(), str(properties.get("groupId", "")).lower())
        for sibling in self.state.children(vnet["id"], PRIVATE_ENDPOINTS):
            props = sibling.get("properties") or {}
            if (str(props.get("privateLinkResourceId", "")).lower(), str(props.get("groupId", "")).lower()) == target:
                # The service's words (Azure/Azure-DataFactory#250).
                raise _invalid_resource(
                    PRIVATE_ENDPOINTS, name, "A managed private endpoint to the data source already exist."
                )

    def _delete(self, route: Route, request: ApiRequest) -> ApiResponse:
        parent = self._parent(route)
        doc = self.state.get(_resource_id(parent, route))
        if doc is None:
            return ApiResponse(204)
        if route.collection == "triggers":
            triggers.check_delete(doc)
        referrer = self._referrer(_factory_id(route), route.collection or "", doc)
        if referrer is not None:
            raise ApiError(
                400,
                "BadRequest",
                f"The document cannot be deleted since it is referenced by {referrer}.",
                target=_target(route, doc["name"]),
            )
        self.state.delete(doc["id"])
        return ApiResponse(200)

    def _create_run(self, factory: Document, route: Route, request: ApiRequest) -> ApiResponse:
        pipeline = self.state.get(f"{factory['id']}/pipelines/{route.name}")
        if pipeline is None:
            raise _not_found(route)
        parameters = _json_object(request) if request.body else {}
        return runs.create(self.state, self.options, factory, pipeline, parameters)

    def _check_references(self, factory_id: str, route: Route, properties: dict[str, Any]) -> None:
        for collection, name in find_references(properties):
            if collection == route.collection and name.lower() == (route.name or "").lower():
                continue  # a pipeline may run itself; the service does not ask it to exist first
            if self.state.get(f"{factory_id}/{collection}/{name}") is None:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"The document creation or update failed because of invalid reference '{name}'.",
                    target=_target(route, route.name or ""),
                )

    def _referrer(self, factory_id: str, collection: str, target: Document) -> str | None:
        """Name of an object of the factory that references `target`, if any."""
        wanted = (collection.lower(), str(target["name"]).lower())
        for doc in self.state.descendants(factory_id):
            if doc["id"].lower() == target["id"].lower():
                continue
            for ref_collection, ref_name in find_references(doc.get("properties")):
                if (ref_collection.lower(), ref_name.lower()) == wanted:
                    return str(doc["name"])
        return None

    # -- lists -----------------------------------------------------------------------------------------------

    def _page(self, items: list[Document], request: ApiRequest) -> ApiResponse:
        """One page of `page_size` items; `nextLink` is absolute and carries the offset as `$skipToken`."""
        token = request.query.get("$skipToken", "0") or "0"
        if not token.isdigit():
            raise ApiError(400, "InvalidSkipToken", f"The $skipToken '{token}' is not one this server gave.")
        start = int(token)
        page = items[start : start + self.page_size]
        body: dict[str, Any] = {"value": [shown(d) for d in page]}
        end = start + len(page)
        if end < len(items):
            body["nextLink"] = f"{self.base_url()}{request.path}?api-version={API_VERSION}&$skipToken={end}"
        return ApiResponse(200, body)


# -- helpers -------------------------------------------------------------------------------------------------


def public(doc: Document) -> Document:
    """A stored document without the sandbox's own bookkeeping (keys starting `_`)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def shown(doc: Document) -> Document:
    """A stored document as the service answers it: bookkeeping removed, secrets masked."""
    return masked(public(doc))


def _answer(doc: Document, request: ApiRequest | None = None) -> ApiResponse:
    etag = doc.get("etag") or doc.get("eTag")
    if request is not None and etag and _none_match(request.headers.get("if-none-match"), str(etag)):
        return ApiResponse(304)
    return ApiResponse(200, shown(doc))


def _authorize(request: ApiRequest) -> None:
    header = request.headers.get("authorization")
    challenge = {"WWW-Authenticate": 'Bearer realm="portal-sandbox", error="invalid_token"'}
    if not header:
        raise ApiError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            headers=challenge,
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != SANDBOX_TOKEN:
        raise ApiError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers=challenge)


def _check_api_version(request: ApiRequest) -> None:
    version = request.query.get("api-version")
    if not version:
        raise ApiError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if version != API_VERSION:
        raise ApiError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{API_VERSION}'.",
        )


def _opaque(tag: str) -> str:
    value = tag.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def _check_if_match(request: ApiRequest, existing: Document | None, etag_key: str) -> None:
    """If-Match as choice 2 of the module docstring describes; If-None-Match is not looked at (choice 3)."""
    header = request.headers.get("if-match")
    if header is None:
        return
    current = (existing or {}).get(etag_key)
    matched = current is not None and any(
        tag == "*" or (not tag.startswith("W/") and _opaque(tag) == _opaque(str(current))) for tag in _tags(header)
    )
    if not matched:
        raise ApiError(
            412,
            "PreconditionFailed",
            "The specified precondition 'If-Match' failed: the entity tag does not match the resource's."
            if current is not None
            else "The specified precondition 'If-Match' failed: the resource does not exist.",
        )


def _none_match(header: str | None, current: str) -> bool:
    if header is None:
        return False
    for tag in _tags(header):
        if tag == "*" or _opaque(tag[2:] if tag.startswith("W/") else tag) == _opaque(current):
            return True
    return False


def _json_object(request: ApiRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as err:
        raise ApiError(400, "InvalidRequestContent", f"The request content is not valid JSON: {err}.") from err
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


def _invalid_resource(collection: str, name: str, error: str) -> ApiError:
    """The service's wording for a refused body (Azure/Azure-DataFactory#250, MicrosoftDocs/azure-docs#73705)."""
    return ApiError(
        400,
        "InvalidResourceRequest",
        f"Invalid resource request. Resource type: '{_RESOURCE_WORD.get(collection, collection)}', "
        f"Resource name: '{name}' 'Error: {error}'.",
        target=name,
    )


def _invalid_payload(collection: str, name: str) -> ApiError:
    return _invalid_resource(collection, name, "Invalid payload")


_VALIDATED_MODEL = {
    "factories": "Factory",
    "pipelines": "PipelineResource",
    "datasets": "DatasetResource",
    "linkedservices": "LinkedServiceResource",
    "triggers": "TriggerResource",
    "dataflows": "DataFlowResource",
    "integrationRuntimes": "IntegrationRuntimeResource",
    "credentials": "CredentialResource",
    "managedVirtualNetworks": "ManagedVirtualNetworkResource",
    PRIVATE_ENDPOINTS: "ManagedPrivateEndpointResource",
    "adfcdcs": "ChangeDataCaptureResource",
    "globalParameters": "GlobalParameterResource",
}


def _validate(collection: str, name: str, body: Mapping[str, Any]) -> None:
    """The vendored contract's verdict on a request body of a collection."""
    model = _VALIDATED_MODEL.get(collection)
    problems = contract_problems(model, body) if model is not None else []
    if problems:
        raise _invalid_resource(collection, name, "Invalid payload: " + "; ".join(problems))


def contract_problems(model: str, body: Any) -> list[str]:
    return [str(problem) for problem in validate(model, body)]


def _scope_id(route: Route) -> str:
    if route.resource_group is None:
        return f"/subscriptions/{route.subscription}"
    return f"/subscriptions/{route.subscription}/resourceGroups/{route.resource_group}"


def _factory_id(route: Route) -> str:
    return f"{_scope_id(route)}/providers/{PROVIDER}/factories/{route.factory}"


def _resource_id(parent: Document, route: Route) -> str:
    # Built from the stored parent id, so ids keep the casing the objects were created with; lookups ignore case.
    collection = route.collection or ""
    return f"{parent['id']}/{_ID_SEGMENT.get(collection, collection)}/{route.name}"


def _type(route: Route) -> str:
    if route.collection == PRIVATE_ENDPOINTS:
        return f"{_FACTORY_TYPE}/managedVirtualNetworks/{PRIVATE_ENDPOINTS}"
    collection = route.collection or ""
    return f"{_FACTORY_TYPE}/{_ID_SEGMENT.get(collection, collection)}"


def _target(route: Route, name: str) -> str:
    return f"/{_FACTORY_TYPE}/{route.factory}/{route.collection}/{name}"


def _not_found(route: Route) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f"Entity '{route.name}' of type '{route.collection}' was not found in factory '{route.factory}'.",
    )


def _identity(identity: Any, resource_id: str) -> Any:
    """A system-assigned identity gets the service's ids (the client's were dropped: they are read-only)."""
    if not isinstance(identity, dict):
        return identity
    result = dict(identity)
    if "systemassigned" in str(identity.get("type", "")).lower():
        result["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower()))
        result["tenantId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "portal-sandbox-tenant"))
    return result


def _factory_etag() -> str:
    """A factory's eTag is a quoted string, as Factories_CreateOrUpdate.json answers it."""
    return f'"{new_etag()}"'


def _location_key(location: str) -> str:
    return location.replace(" ", "").lower()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
