"""Trigger rules of the service: runtime state, start and stop, and event subscriptions.

`runtimeState` is read-only: a PUT never sets it, and a started trigger can be neither updated nor deleted
(the service answers TriggerEnabledCannotUpdate to both). Event triggers also carry an event subscription whose
removal takes a moment: after unsubscribing, one status call still reads "Deprovisioning", so callers must poll.
"""

from __future__ import annotations

from typing import Any

from portal.sandbox.errors import ApiError, ApiResponse
from portal.sandbox.references import find_references
from portal.sandbox.routes import Route
from portal.sandbox.state import Document, SandboxState, new_etag

EVENT_TRIGGER_TYPES = ("BlobEventsTrigger", "CustomEventsTrigger")
_ENABLED_CANNOT_UPDATE = "Cannot update enabled Trigger; the trigger needs to be disabled first."
# Status calls that still read "Deprovisioning" after an unsubscribe.
DEPROVISIONING_POLLS = 1


def runtime_state(doc: Document) -> str:
    return str(doc.get("properties", {}).get("runtimeState") or "Stopped")


def prepare_put(existing: Document | None, properties: dict[str, Any]) -> dict[str, Any]:
    if existing is not None and runtime_state(existing) == "Started":
        raise ApiError(400, "TriggerEnabledCannotUpdate", _ENABLED_CANNOT_UPDATE)
    # Only start and stop change the state; whatever the body says is dropped, and a stored trigger is stopped.
    return {**{k: v for k, v in properties.items() if k != "runtimeState"}, "runtimeState": "Stopped"}


def check_delete(doc: Document) -> None:
    if runtime_state(doc) == "Started":
        raise ApiError(400, "TriggerEnabledCannotUpdate", _ENABLED_CANNOT_UPDATE)


def act(state: SandboxState, factory: Document, route: Route) -> ApiResponse:
    doc = state.get(f"{factory['id']}/triggers/{route.name}")
    if doc is None:
        raise ApiError(404, "NotFound", f"Trigger '{route.name}' was not found in factory '{route.factory}'.")
    action = route.action
    if action == "start":
        _start(state, factory, doc)
    elif action == "stop":
        _set_state(doc, "Stopped")
        if _subscription(doc)["status"] in ("Enabled", "Provisioning"):
            _unsubscribe(doc)
    elif action == "subscribeToEvents":
        _require_event_trigger(doc)
        doc["_sandbox"] = {"status": "Enabled", "deprovisioningPolls": 0}
    elif action == "unsubscribeFromEvents":
        _require_event_trigger(doc)
        _unsubscribe(doc)
    else:  # getEventSubscriptionStatus
        _require_event_trigger(doc)
        status = _read_status(doc)
        state.put(doc)
        return _status_answer(doc, status)
    state.put(doc)
    if action in ("start", "stop"):
        # An LRO answered 200 without Location or Azure-AsyncOperation: the SDK's poller is done at once.
        return ApiResponse(200)
    return _status_answer(doc, _subscription(doc)["status"])


def _start(state: SandboxState, factory: Document, doc: Document) -> None:
    for collection, name in find_references(doc.get("properties")):
        if collection == "pipelines" and state.get(f"{factory['id']}/pipelines/{name}") is None:
            raise ApiError(400, "BadRequest", f"Cannot start trigger '{doc['name']}': pipeline '{name}' was not found.")
    _set_state(doc, "Started")
    if _is_event_trigger(doc):
        # Starting an event trigger subscribes it, as in the service.
        doc["_sandbox"] = {"status": "Enabled", "deprovisioningPolls": 0}


def _set_state(doc: Document, value: str) -> None:
    doc["properties"]["runtimeState"] = value
    doc["etag"] = new_etag()


def _is_event_trigger(doc: Document) -> bool:
    return doc.get("properties", {}).get("type") in EVENT_TRIGGER_TYPES


def _require_event_trigger(doc: Document) -> None:
    if not _is_event_trigger(doc):
        kind = doc.get("properties", {}).get("type")
        raise ApiError(400, "BadRequest", f"Trigger '{doc['name']}' of type '{kind}' does not subscribe to events.")


def _subscription(doc: Document) -> dict[str, Any]:
    return doc.get("_sandbox") or {"status": "Disabled", "deprovisioningPolls": 0}


def _unsubscribe(doc: Document) -> None:
    doc["_sandbox"] = {"status": "Disabled", "deprovisioningPolls": DEPROVISIONING_POLLS}


def _read_status(doc: Document) -> str:
    subscription = dict(_subscription(doc))
    if subscription["deprovisioningPolls"] > 0:
        subscription["deprovisioningPolls"] -= 1
        doc["_sandbox"] = subscription
        return "Deprovisioning"
    return str(subscription["status"])


def _status_answer(doc: Document, status: str) -> ApiResponse:
    return ApiResponse(200, {"triggerName": doc["name"], "status": status})
