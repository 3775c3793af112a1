"""The Data Factory management API over the sandbox state: factories, their collections, and the service's rules.

Each request is handled under the state lock, so a check and the write it guards (a reference that must exist,
a delete refused while referenced) can never interleave with another request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from portal.sandbox import triggers
from portal.sandbox.credential import SANDBOX_TOKEN
from portal.sandbox.errors import ApiError, ApiResponse
from portal.sandbox.references import find_references
from portal.sandbox.routes import API_VERSION, PRIVATE_ENDPOINTS, PROVIDER, Route, parse_route
from portal.sandbox.state import Document, SandboxState, new_etag

# Name rules of the 2018-06-01 spec: factories are DNS-like; other objects exclude characters that break URLs.
_FACTORY_NAME = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
_OBJECT_NAME = re.compile(r"^[A-Za-z0-9_][^<>*#.%&:\\+?/]*$")
_FACTORY_TYPE = f"{PROVIDER}/factories"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # percent-encoded, as received
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys in lower case
    body: bytes = b""


class DataFactoryApi:
    def __init__(self, state: SandboxState, base_url: Callable[[], str], page_size: int = 50) -> None:
        self.state = state
        self.base_url = base_url  # a callable: the port is known only once the server listens
        self.page_size = max(1, page_size)

    def handle(self, request: ApiRequest) -> ApiResponse:
        try:
            _authorize(request)
            _check_api_version(request)
            route = parse_route(request.path)
            with self.state.lock:
                return self._dispatch(route, request)
        except ApiError as err:
            return err.response()

    def _dispatch(self, route: Route, request: ApiRequest) -> ApiResponse:
        method, kind = request.method, route.kind
        if kind == "factories" and method == "GET":
            return self._page(self.state.factories(_scope_id(route)), request)
        if kind == "factory":
            handler = {"GET": self._get_factory, "PUT": self._put_factory, "PATCH": self._patch_factory,
                       "DELETE": self._delete_factory}.get(method)
            if handler:
                return handler(route, request)
        if kind == "collection" and method == "GET":
            return self._page(self.state.children(self._parent(route)["id"], route.collection or ""), request)
        if kind == "resource":
            handler = {"GET": self._get, "PUT": self._put, "DELETE": self._delete}.get(method)
            if handler:
                return handler(route, request)
        if kind == "action" and method == "POST":
            factory = self._factory(route)
            if route.collection == "pipelines":
                return self._create_run(factory, route)
            return triggers.act(self.state, factory, route)
        raise ApiError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")

    # -- factories -------------------------------------------------------------------------------------------

    def _factory(self, route: Route) -> Document:
        doc = self.state.get(_factory_id(route))
        if doc is None:
            raise ApiError(404, "ResourceNotFound",
                           f"The Resource '{_FACTORY_TYPE}/{route.factory}' under resource group "
                           f"'{route.resource_group}' was not found.")
        return doc

    def _get_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        return _answer(self._factory(route), request)

    def _put_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        name = route.factory or ""
        if not (3 <= len(name) <= 63 and _FACTORY_NAME.match(name)):
            raise ApiError(400, "InvalidResourceName",
                           f"Invalid factory name '{name}': 3 to 63 letters, digits and single dashes inside.")
        body = _json_object(request)
        existing = self.state.get(_factory_id(route))
        _check_preconditions(request, existing, "eTag")
        location = body.get("location") or (existing or {}).get("location")
        if not isinstance(location, str) or not location:
            raise ApiError(400, "LocationRequired", "The location property is required for this definition.")
        properties = body.get("properties") or {}
        if not isinstance(properties, dict):
            raise ApiError(400, "BadRequest", "The factory's 'properties' must be an object.")
        doc = existing or {"id": _factory_id(route), "name": name, "type": _FACTORY_TYPE}
        doc["location"] = location
        doc["tags"] = body.get("tags") or {}
        doc["properties"] = {
            **properties,
            "provisioningState": "Succeeded",
            "createTime": (existing or {}).get("properties", {}).get("createTime") or _now(),
            "version": API_VERSION,
        }
        if "identity" in body:
            doc["identity"] = _identity(body["identity"], doc["id"])
        doc["eTag"] = new_etag()
        self.state.put(doc)
        return _answer(doc)

    def _patch_factory(self, route: Route, request: ApiRequest) -> ApiResponse:
        doc = self._factory(route)
        body = _json_object(request)
        if "tags" in body:
            doc["tags"] = body["tags"] or {}
        if "identity" in body:
            doc["identity"] = _identity(body["identity"], doc["id"])
        if isinstance(body.get("properties"), dict):
            doc["properties"].update(body["properties"])
        doc["eTag"] = new_etag()
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
        parent = self._parent(route)
        name = route.name or ""
        if not (len(name) <= 260 and _OBJECT_NAME.match(name)):
            raise ApiError(400, "InvalidResourceName", f"Invalid name '{name}': it must start with a letter, "
                           "a digit or '_' and cannot contain any of <>*#.%&:\\+?/.")
        factory_id = _factory_id(route)
        resource_id = _resource_id(parent, route)
        existing = self.state.get(resource_id)
        body = _json_object(request)
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise ApiError(400, "BadRequest", "The request body must hold a 'properties' object.")
        _check_preconditions(request, existing, "etag")
        if route.collection == "triggers":
            properties = triggers.prepare_put(existing, properties)
        self._check_references(factory_id, route, properties)
        doc: Document = existing or {"id": resource_id, "name": name, "type": _type(route)}
        doc["properties"] = properties
        doc["etag"] = new_etag()
        self.state.put(doc)
        return _answer(doc)

    def _delete(self, route: Route, request: ApiRequest) -> ApiResponse:
        parent = self._parent(route)
        doc = self.state.get(_resource_id(parent, route))
        if doc is None:
            return ApiResponse(204)
        if route.collection == "triggers":
            triggers.check_delete(doc)
        if route.collection == "managedVirtualNetworks" and self.state.children(doc["id"], PRIVATE_ENDPOINTS):
            raise ApiError(400, "BadRequest", f"The managed virtual network '{doc['name']}' still has managed "
                           "private endpoints; delete them first.")
        referrer = self._referrer(_factory_id(route), route.collection or "", doc)
        if referrer is not None:
            raise ApiError(400, "BadRequest", f"The document cannot be deleted since it is referenced by {referrer}.",
                           target=_target(route, doc["name"]))
        self.state.delete(doc["id"])
        return ApiResponse(200)

    def _create_run(self, factory: Document, route: Route) -> ApiResponse:
        """A run id only: the sandbox stores definitions and does not execute pipelines."""
        if self.state.get(f"{factory['id']}/pipelines/{route.name}") is None:
            raise _not_found(route)
        return ApiResponse(200, {"runId": str(uuid.uuid4())})

    def _check_references(self, factory_id: str, route: Route, properties: dict[str, Any]) -> None:
        for collection, name in find_references(properties):
            if collection == route.collection and name.lower() == (route.name or "").lower():
                continue  # a pipeline may run itself; the service does not ask it to exist first
            if self.state.get(f"{factory_id}/{collection}/{name}") is None:
                raise ApiError(400, "BadRequest",
                               f"The document creation or update failed because of invalid reference '{name}'.",
                               target=_target(route, route.name or ""))

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
        page = items[start:start + self.page_size]
        # Not copied: stored documents are replaced on write, never changed in place, and the page is only
        # serialized.
        body: dict[str, Any] = {"value": [public(d) for d in page]}
        end = start + len(page)
        if end < len(items):
            body["nextLink"] = f"{self.base_url()}{request.path}?api-version={API_VERSION}&$skipToken={end}"
        return ApiResponse(200, body)


# -- helpers -------------------------------------------------------------------------------------------------


def public(doc: Document) -> Document:
    """A stored document as the service shows it: without the sandbox's own bookkeeping (keys starting `_`)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _answer(doc: Document, request: ApiRequest | None = None) -> ApiResponse:
    etag = doc.get("etag") or doc.get("eTag")
    if request is not None and etag and _etag(request.headers.get("if-none-match")) == etag:
        return ApiResponse(304)
    return ApiResponse(200, public(doc))


def _authorize(request: ApiRequest) -> None:
    header = request.headers.get("authorization")
    challenge = {"WWW-Authenticate": 'Bearer realm="portal-sandbox", error="invalid_token"'}
    if not header:
        raise ApiError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                       headers=challenge)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != SANDBOX_TOKEN:
        raise ApiError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers=challenge)


def _check_api_version(request: ApiRequest) -> None:
    version = request.query.get("api-version")
    if not version:
        raise ApiError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    if version != API_VERSION:
        raise ApiError(400, "InvalidApiVersionParameter",
                       f"The api-version '{version}' is invalid. The supported versions are '{API_VERSION}'.")


def _check_preconditions(request: ApiRequest, existing: Document | None, etag_key: str) -> None:
    """If-Match (`*` or an etag) and If-None-Match: * as the SDK's `match_condition` sends them."""
    current = (existing or {}).get(etag_key)
    if_match = request.headers.get("if-match")
    if if_match is not None and (existing is None or (if_match.strip() != "*" and _etag(if_match) != current)):
        raise ApiError(412, "PreconditionFailed", "The etag given in If-Match does not match the resource's etag.")
    if request.headers.get("if-none-match", "").strip() == "*" and existing is not None:
        raise ApiError(412, "PreconditionFailed", "The resource exists and If-None-Match is '*'.")


def _etag(header: str | None) -> str | None:
    if header is None:
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def _json_object(request: ApiRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as err:
        raise ApiError(400, "InvalidRequestContent", f"The request content is not valid JSON: {err}.") from err
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


def _scope_id(route: Route) -> str:
    if route.resource_group is None:
        return f"/subscriptions/{route.subscription}"
    return f"/subscriptions/{route.subscription}/resourceGroups/{route.resource_group}"


def _factory_id(route: Route) -> str:
    return f"{_scope_id(route)}/providers/{PROVIDER}/factories/{route.factory}"


def _resource_id(parent: Document, route: Route) -> str:
    # Built from the stored parent id, so ids keep the casing the objects were created with.
    return f"{parent['id']}/{route.collection}/{route.name}"


def _type(route: Route) -> str:
    if route.collection == PRIVATE_ENDPOINTS:
        return f"{_FACTORY_TYPE}/managedVirtualNetworks/{PRIVATE_ENDPOINTS}"
    return f"{_FACTORY_TYPE}/{route.collection}"


def _target(route: Route, name: str) -> str:
    return f"/{_FACTORY_TYPE}/{route.factory}/{route.collection}/{name}"


def _not_found(route: Route) -> ApiError:
    return ApiError(404, "NotFound", f"Entity '{route.name}' of type '{route.collection}' was not found in factory "
                    f"'{route.factory}'.")


def _identity(identity: Any, resource_id: str) -> Any:
    """A system-assigned identity gets stable ids, as the service would give it."""
    if not isinstance(identity, dict):
        return identity
    result = dict(identity)
    if "SystemAssigned" in str(identity.get("type", "")):
        result.setdefault("principalId", str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower())))
        result.setdefault("tenantId", str(uuid.uuid5(uuid.NAMESPACE_URL, "portal-sandbox-tenant")))
    return result


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
