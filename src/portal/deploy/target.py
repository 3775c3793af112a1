"""A live Data Factory, read and changed through the official SDK (`azure-mgmt-datafactory`, `azure-identity`).

Bodies go to the service as the plain JSON the template renders (the SDK accepts JSON-compatible mappings), so
nothing is lost in a model round trip; throttling and transient errors are retried by the SDK's own policies.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    map_error,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.mgmt.core.exceptions import ARMErrorFormat

from portal.adf.model import Kind
from portal.errors import ErrorCode, PortalError
from portal.events import RETRY, Event, EventSink, no_events

GLOBAL_PARAMETERS = "globalParameters"
API_VERSION = "2018-06-01"  # the Data Factory management API the SDK speaks


@dataclass(frozen=True)
class Collection:
    key: str  # the object kind as the portal names it (ADF's Git folder name)
    operations: str  # the SDK client's attribute
    segment: str  # the collection in the REST API's URLs


# In dependency order for creation; deletion goes the other way.
COLLECTIONS: tuple[Collection, ...] = (
    Collection(GLOBAL_PARAMETERS, "global_parameters", "globalParameters"),
    Collection(Kind.MANAGED_VIRTUAL_NETWORK.value, "managed_virtual_networks", "managedVirtualNetworks"),
    Collection(Kind.MANAGED_PRIVATE_ENDPOINT.value, "managed_private_endpoints", "managedPrivateEndpoints"),
    Collection(Kind.INTEGRATION_RUNTIME.value, "integration_runtimes", "integrationRuntimes"),
    Collection(Kind.CREDENTIAL.value, "credential_operations", "credentials"),
    Collection(Kind.LINKED_SERVICE.value, "linked_services", "linkedservices"),
    Collection(Kind.DATASET.value, "datasets", "datasets"),
    Collection(Kind.DATAFLOW.value, "data_flows", "dataflows"),
    Collection(Kind.PIPELINE.value, "pipelines", "pipelines"),
    Collection(Kind.CHANGE_DATA_CAPTURE.value, "change_data_capture", "adfcdcs"),
    Collection(Kind.TRIGGER.value, "triggers", "triggers"),
)
COLLECTION_BY_KEY = {c.key: c for c in COLLECTIONS}
_BIG_KINDS = (
    Kind.PIPELINE.value,
    Kind.DATASET.value,
    Kind.LINKED_SERVICE.value,
    Kind.TRIGGER.value,
    Kind.DATAFLOW.value,
)
_LIST_FIRST = {
    key: (key not in _BIG_KINDS, _BIG_KINDS.index(key) if key in _BIG_KINDS else 0) for key in COLLECTION_BY_KEY
}
EVENT_TRIGGER_TYPES = frozenset({"BlobEventsTrigger", "CustomEventsTrigger"})


@dataclass(frozen=True)
class LiveObject:
    kind: str
    name: str  # "default/mpe" for a private endpoint
    properties: Mapping[str, Any]
    etag: str | None

    @property
    def runtime_state(self) -> str | None:
        state = self.properties.get("runtimeState")
        return state if isinstance(state, str) else None


def _as_json(model: Any) -> dict[str, Any]:
    """The REST JSON of an SDK model (v10 models are mappings over it)."""
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return dict(model)


class SinkHolder:
    """Where retry events go, and until when retrying is worth it; swapped per run, as one client serves a plan and
    then its apply."""

    def __init__(self, sink: EventSink = no_events):
        self.sink = sink
        # time.monotonic() after which no request is retried (None: the policy's own limits only). Set while
        # triggers are stopped, so that retries cannot keep them down past deploy.trigger_downtime_seconds.
        self.deadline: float | None = None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def __call__(self, event: Event) -> None:
        self.sink(event)


class EventRetryPolicy(RetryPolicy):
    """The SDK's retry policy, telling the event sink about each retry (429 with Retry-After, 5xx, drops)."""

    def __init__(self, sink: EventSink = no_events, **kwargs: Any):
        # Throttling comes in storms when objects are written in parallel: more status retries than azure-core's
        # default three, each waiting as long as the service's Retry-After says.
        kwargs.setdefault("retry_total", 10)
        kwargs.setdefault("retry_status", 10)
        super().__init__(**kwargs)
        self._sink = sink

    def increment(self, settings: Any, response: Any = None, error: Any = None) -> bool:
        retry = super().increment(settings, response=response, error=error)
        if retry and self._past_deadline(settings, response):
            self._sink(Event(RETRY, "retry", message="not retried: the run's time for stopped triggers is spent"))
            return False
        if retry:
            status = getattr(getattr(response, "http_response", None), "status_code", None)
            why = f"HTTP {status}" if status else type(error).__name__ if error else "transient error"
            request = getattr(getattr(response, "http_request", None), "url", "") or ""
            self._sink(Event(RETRY, "retry", message=f"{why}; retrying {_short_url(request)}"))
        return retry

    def _past_deadline(self, settings: Any, response: Any) -> bool:
        """Whether waiting for the next try would end past the run's deadline (see SinkHolder.deadline)."""
        remaining = self._sink.remaining() if isinstance(self._sink, SinkHolder) else None
        if remaining is None:
            return False
        wait = self.get_backoff_time(settings)
        http_response = getattr(response, "http_response", None)
        if http_response is not None:
            wait = max(wait, self.get_retry_after(response) or 0)
        return wait >= remaining


def _short_url(url: str) -> str:
    marker = "/factories/"
    return url.split(marker, 1)[-1].split("?", 1)[0] if marker in url else url


class FactoryTarget:
    """One factory: list, put, delete, and trigger state changes."""

    def __init__(
        self,
        client: Any,
        subscription_id: str,
        resource_group: str,
        factory_name: str,
        events: SinkHolder | None = None,
        credentials: Credentials | None = None,
    ):
        self.client = client
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.events = events or SinkHolder()
        # The credentials `client` was made with: the run's Key Vault clients use the same (see Credentials).
        self.credentials = credentials if credentials is not None else Credentials()

    def _ops(self, kind: str) -> Any:
        return getattr(self.client, COLLECTION_BY_KEY[kind].operations)

    def read_all(self, parallelism: int = 4) -> dict[tuple[str, str], LiveObject]:
        """Every object of every kind, paging through the list results; the kinds are listed in parallel (the
        private endpoints after the managed networks they live in)."""
        rg, factory = self.resource_group, self.factory_name

        def listed(kind: str, network: str | None = None) -> list[tuple[str, dict[str, Any]]]:
            if network is None:
                return [(item["name"], item) for item in self._list_json(COLLECTION_BY_KEY[kind].segment)]
            path = f"managedVirtualNetworks/{quote(network, safe='')}/managedPrivateEndpoints"
            return [(f"{network}/{item['name']}", item) for item in self._list_json(path)]

        live: dict[tuple[str, str], LiveObject] = {}
        endpoints = Kind.MANAGED_PRIVATE_ENDPOINT.value
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            # The big kinds first: their pages come one after the other (nextLink), so they set the wall time.
            # The factory is asked for alongside, so that a missing one is told as such.
            exists = pool.submit(self.client.factories.get, rg, factory)
            jobs = {
                key: pool.submit(listed, key)
                for key in sorted((c.key for c in COLLECTIONS if c.key != endpoints), key=_LIST_FIRST.__getitem__)
            }
            try:
                exists.result()
            except ResourceNotFoundError as exc:
                for job in jobs.values():
                    job.cancel()
                raise PortalError(
                    f"factory {factory}",
                    f"does not exist in resource group {rg}",
                    hint="create the factory first (the portal deploys into an existing factory)",
                    code=ErrorCode.NO_FACTORY,
                ) from exc
            for collection in COLLECTIONS:
                if collection.key in jobs:
                    for name, item in jobs[collection.key].result():
                        self._add(live, collection.key, name, item)
            networks = [name for kind, name in live if kind == Kind.MANAGED_VIRTUAL_NETWORK.value]
            for job in [pool.submit(listed, endpoints, network) for network in networks]:
                for name, item in job.result():
                    self._add(live, endpoints, name, item)
        return live

    def read_objects(
        self, keys: list[tuple[str, str]], parallelism: int = 4
    ) -> dict[tuple[str, str], LiveObject | None]:
        """The given objects as they are now (None: not there), one GET each, `parallelism` at a time."""

        def read(key: tuple[str, str]) -> LiveObject | None:
            item = self._get_json(self._object_path(*key))
            return None if item is None else LiveObject(key[0], key[1], item.get("properties") or {}, item.get("etag"))

        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            return dict(zip(keys, pool.map(read, keys), strict=False))

    @staticmethod
    def _object_path(kind: str, name: str) -> str:
        if kind == Kind.MANAGED_PRIVATE_ENDPOINT.value:
            network, _, endpoint = name.partition("/")
            return (
                f"managedVirtualNetworks/{quote(network, safe='')}/managedPrivateEndpoints/{quote(endpoint, safe='')}"
            )
        return f"{COLLECTION_BY_KEY[kind].segment}/{quote(name, safe='')}"

    # Reads go through the client's own pipeline (`send_request`: its credential, retry and logging policies) but
    # are not turned into models: the SDK's operations deserialize every item into a model tree, which for a large
    # factory costs more than the calls themselves, and the plan compares plain JSON anyway.

    def _url(self, path: str) -> str:
        return (
            f"/subscriptions/{quote(self.subscription_id, safe='')}/resourceGroups/"
            f"{quote(self.resource_group, safe='')}/providers/Microsoft.DataFactory/factories/"
            f"{quote(self.factory_name, safe='')}/{path}?api-version={API_VERSION}"
        )

    def _send_get(self, url: str) -> Any:
        from azure.core.rest import HttpRequest

        # Streamed, then read here: otherwise azure-core's content-decode policy parses every page once more.
        response = self.client.send_request(
            HttpRequest("GET", url, headers={"Accept": "application/json"}), stream=True
        )
        body = response.read()
        if response.status_code != 200:
            map_error(response.status_code, response, {401: ClientAuthenticationError, 404: ResourceNotFoundError})
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        return json.loads(body)

    def _get_json(self, path: str) -> dict[str, Any] | None:
        try:
            return self._send_get(self._url(path))
        except ResourceNotFoundError:
            return None

    def _list_json(self, collection_path: str) -> Iterator[dict[str, Any]]:
        """A collection's items as the REST JSON, following nextLink."""
        url: str | None = self._url(collection_path)
        while url:
            page = self._send_get(url)
            yield from page.get("value") or []
            url = page.get("nextLink") or None

    @staticmethod
    def _add(live: dict[tuple[str, str], LiveObject], kind: str, name: str, item: Mapping[str, Any]) -> None:
        live[(kind, name)] = LiveObject(kind, name, item.get("properties") or {}, item.get("etag"))

    def put(self, kind: str, name: str, properties: Mapping[str, Any], *, if_etag: str | None = None) -> str | None:
        """Create or update one object; with `if_etag` only while the live object still has that etag (If-Match,
        sent as the SDK sends it), so a change made since the plan is not overwritten: the service then answers
        412, reported as such.

        There is no "only if absent": the contract documents If-None-Match for reads only, so a create is guarded
        by the check before apply (the object was still absent), never by the service."""
        rg, factory = self.resource_group, self.factory_name
        body = {"properties": properties}
        conditions: dict[str, Any] = {}
        if kind != GLOBAL_PARAMETERS and if_etag is not None:  # the SDK sends no conditions for global parameters
            conditions = {"etag": if_etag, "match_condition": MatchConditions.IfNotModified}
        try:
            if kind == Kind.MANAGED_PRIVATE_ENDPOINT.value:
                network, _, endpoint = name.partition("/")
                result = self._ops(kind).create_or_update(rg, factory, network, endpoint, body, **conditions)
            else:
                result = self._ops(kind).create_or_update(rg, factory, name, body, **conditions)
        except HttpResponseError as error:
            if error.status_code == 412:
                raise ChangedSincePlan(f"{kind} {name}") from error
            raise
        return _as_json(result).get("etag")

    def delete(self, kind: str, name: str) -> None:
        rg, factory = self.resource_group, self.factory_name
        if kind == Kind.MANAGED_PRIVATE_ENDPOINT.value:
            network, _, endpoint = name.partition("/")
            self._ops(kind).delete(rg, factory, network, endpoint)
        else:
            self._ops(kind).delete(rg, factory, name)

    def start_trigger(self, name: str) -> None:
        self.client.triggers.begin_start(self.resource_group, self.factory_name, name).result()

    def stop_trigger(self, name: str) -> None:
        self.client.triggers.begin_stop(self.resource_group, self.factory_name, name).result()

    def set_event_subscription(
        self, name: str, enabled: bool, *, timeout_s: float = 300.0, poll_s: float = 0.2
    ) -> None:
        """Subscribe (or unsubscribe) an event trigger and wait until the service says it is done."""
        rg, factory = self.resource_group, self.factory_name
        # A long-running operation whose 202 points (Location) at getEventSubscriptionStatus, which answers POST
        # only: the SDK's poller would GET it and fail, so the operation is started without the poller and its
        # status asked the way the contract defines (Triggers_GetEventSubscriptionStatus, POST).
        # The request is sent (and a refusal raised) when the poller is made; its result is not asked for, since a
        # 202 carries no body to read.
        if enabled:
            self.client.triggers.begin_subscribe_to_events(rg, factory, name, polling=False)
        else:
            self.client.triggers.begin_unsubscribe_from_events(rg, factory, name, polling=False)
        wanted = "Enabled" if enabled else "Disabled"
        deadline = time.monotonic() + timeout_s
        while True:
            status = _as_json(self.client.triggers.get_event_subscription_status(rg, factory, name)).get("status")
            if status == wanted:
                return
            if time.monotonic() > deadline:
                raise PortalError(
                    f"trigger {name}",
                    f"event subscription still {status} after {timeout_s:.0f} s",
                    code=ErrorCode.EVENT_SUBSCRIPTION,
                )
            time.sleep(poll_s)


class ChangedSincePlan(PortalError):
    """The service refused a conditional write: the object changed in the factory after the plan was made."""

    def __init__(self, where: str):
        super().__init__(
            where,
            "changed in the factory since the plan was made (the service refused the write: "
            "its etag no longer matches); it was not overwritten",
            hint="make a new plan, review it, and apply that",
            code=ErrorCode.PLAN_STALE,
        )


def service_message(error: Exception) -> str:
    """The service's own words for a failed call (error code and message), without request details."""
    if isinstance(error, HttpResponseError):
        code = getattr(getattr(error, "error", None), "code", None)
        message = getattr(getattr(error, "error", None), "message", None) or error.message or str(error)
        first = str(message).strip().splitlines()[0] if message else ""
        return f"{code}: {first}" if code else first
    if isinstance(error, PortalError):  # its place is told apart (the failure's `where`)
        return f"{error.what} (hint: {error.hint})" if error.hint else error.what
    return str(error)


# --- clients ------------------------------------------------------------------------------------------------------


def credential_for(auth: str) -> Any:
    """The azure-identity credential for an environment's `auth` setting."""
    import azure.identity as identity

    if auth == "default":
        return identity.DefaultAzureCredential()
    if auth == "service-principal":
        return identity.EnvironmentCredential()
    if auth == "managed-identity":
        return identity.ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
    if auth == "workload-identity":
        return identity.WorkloadIdentityCredential()
    if auth == "azure-cli":
        return identity.AzureCliCredential()
    raise PortalError("data_factory.auth", f"unknown authentication {auth!r}", code=ErrorCode.AUTH)


class Credentials:
    """The credentials of one run, one per `auth` kind, each made on first use (by `make`, `credential_for` unless a
    caller brings its own): the run's Data Factory client and all its Key Vault clients share one. An azure-identity
    credential keeps its tokens and is safe to share between threads; made anew per call it signs in anew."""

    def __init__(self, make: Callable[[str], Any] = credential_for):
        self._make = make
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, auth: str) -> Any:
        with self._lock:
            if auth not in self._made:
                self._made[auth] = self._make(auth)
            return self._made[auth]


def client_for(
    target: Any,
    repo_root: Path,
    sink: EventSink = no_events,
    retry: Mapping[str, Any] | None = None,
    credentials: Credentials | None = None,
) -> Any:
    """The SDK client for an environment's Data Factory target (the sandbox when the target says so), signed in
    with `credentials` (the run's) when given."""
    retry_policy = EventRetryPolicy(sink, **dict(retry or {}))
    if target.auth == "sandbox":
        # Imported on use: the emulator's web stack takes a quarter of a second to import; real targets never
        # need it.
        from portal.sandbox import sandbox_for

        server = sandbox_for(repo_root / target.sandbox)
        return server.client(target.subscription_id, retry_policy=retry_policy)
    from azure.mgmt.datafactory import DataFactoryManagementClient

    credential = credentials(target.auth) if credentials is not None else credential_for(target.auth)
    return DataFactoryManagementClient(credential, target.subscription_id, retry_policy=retry_policy)
