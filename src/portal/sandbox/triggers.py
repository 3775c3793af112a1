"""Trigger rules of the service: runtime state, start and stop, and event subscriptions.

Sources (datafactory.json, 2018-06-01, and its examples):
- `runtimeState` is read-only (`Trigger` in entityTypes/Trigger.json); a created trigger is "Stopped"
  (Triggers_Create.json). A started trigger can be neither updated nor deleted: 400 TriggerEnabledCannotUpdate,
  "Cannot update enabled Trigger; the trigger needs to be disabled first." (the service's words, quoted in
  MicrosoftDocs/azure-docs#74039 and liprec/vsts-publish-adf#63).
- Triggers_Start / Triggers_Stop are long-running operations whose only answer is 200 (Triggers_Start.json:
  body null), so the SDK's poller is done at once.
- Triggers_SubscribeToEvents / Triggers_UnsubscribeFromEvents are long-running operations answering 202 with a
  `Location` header pointing at the trigger's getEventSubscriptionStatus (Triggers_SubscribeToEvents.json,
  Triggers_UnsubscribeFromEvents.json), or 200 with a TriggerSubscriptionOperationStatus. The status
  (EventSubscriptionStatus: Enabled, Provisioning, Deprovisioning, Disabled, Unknown) is asked with POST only
  (Triggers_GetEventSubscriptionStatus); after a change it reads Provisioning / Deprovisioning for at least one
  status call before it settles.
- While an event subscription is provisioning the service refuses to change the trigger: 400 BadRequest
  "Resource cannot be updated during provisioning", target the trigger's name (Azure/azure-cli#32842,
  Azure-Player/azure.datafactory.tools#107 and #484).
- Starting an event trigger subscribes it and stopping it unsubscribes it, the status going through Provisioning /
  Deprovisioning as above (the issues above show a start refused while the subscription provisions, so starting
  drives the subscription); whether the service does so on its own is not published (a choice, see
  `portal.sandbox.api`).
"""

from __future__ import annotations

from typing import Any

from portal.sandbox.errors import ApiError, ApiResponse
from portal.sandbox.references import find_references
from portal.sandbox.routes import API_VERSION, Route
from portal.sandbox.state import Document, SandboxState, new_etag

EVENT_TRIGGER_TYPES = ("BlobEventsTrigger", "CustomEventsTrigger")
_ENABLED_CANNOT_UPDATE = "Cannot update enabled Trigger; the trigger needs to be disabled first."
_DURING_PROVISIONING = "Resource cannot be updated during provisioning"
# Status calls that still read "Provisioning" / "Deprovisioning" after a subscription change.
TRANSITION_POLLS = 1
DEPROVISIONING_POLLS = TRANSITION_POLLS  # the name earlier callers used


def runtime_state(doc: Document) -> str:
    return str(doc.get("properties", {}).get("runtimeState") or "Stopped")


def prepare_put(existing: Document | None, properties: dict[str, Any]) -> dict[str, Any]:
    if existing is not None:
        if runtime_state(existing) == "Started":
            raise ApiError(400, "TriggerEnabledCannotUpdate", _ENABLED_CANNOT_UPDATE)
        _refuse_during_transition(existing)
    # Only start and stop change the state; whatever the body says is dropped, and a stored trigger is stopped.
    return {**{k: v for k, v in properties.items() if k != "runtimeState"}, "runtimeState": "Stopped"}


def keep_subscription(existing: Document | None, doc: Document) -> None:
    """An update keeps the trigger's event subscription (the sandbox's bookkeeping under `_sandbox`)."""
    if existing is not None and "_sandbox" in existing:
        doc["_sandbox"] = existing["_sandbox"]


def check_delete(doc: Document) -> None:
    if runtime_state(doc) == "Started":
        raise ApiError(400, "TriggerEnabledCannotUpdate", _ENABLED_CANNOT_UPDATE)
    _refuse_during_transition(doc)


def act(state: SandboxState, factory: Document, route: Route, base_url: str, raw_path: str) -> ApiResponse:
    doc = state.get(f"{factory['id']}/triggers/{route.name}")
    if doc is None:
        raise ApiError(
            404, "NotFound", f"Entity '{route.name}' of type 'triggers' was not found in factory '{route.factory}'."
        )
    action = route.action
    if action == "getEventSubscriptionStatus":
        _require_event_trigger(doc)
        status = _read_status(doc)
        state.put(doc)
        return _status_answer(doc, status)
    if action == "start":
        _start(state, factory, doc)
    elif action == "stop":
        _stop(doc)
    else:  # subscribeToEvents / unsubscribeFromEvents
        _require_event_trigger(doc)
        wanted = "Enabled" if action == "subscribeToEvents" else "Disabled"
        subscription = _subscription(doc)
        if subscription["transition"] is None and subscription["status"] == wanted:
            return _status_answer(doc, wanted)  # nothing to do: the operation is complete (200)
        _refuse_during_transition(doc)
        _change_subscription(doc, wanted)
        state.put(doc)
        status_path = raw_path.rstrip("/").rsplit("/", 1)[0] + "/getEventSubscriptionStatus"
        return ApiResponse(202, None, {"Location": f"{base_url}{status_path}?api-version={API_VERSION}"})
    state.put(doc)
    return ApiResponse(200)


def _start(state: SandboxState, factory: Document, doc: Document) -> None:
    if runtime_state(doc) == "Started":
        raise ApiError(400, "BadRequest", f"Trigger '{doc['name']}' is already started.", target=doc["name"])
    _refuse_during_transition(doc)
    for collection, name in find_references(doc.get("properties")):
        if collection == "pipelines" and state.get(f"{factory['id']}/pipelines/{name}") is None:
            raise ApiError(
                400,
                "BadRequest",
                f"Cannot start trigger '{doc['name']}': pipeline '{name}' was not found.",
                target=doc["name"],
            )
    _set_state(doc, "Started")
    if _is_event_trigger(doc) and _subscription(doc)["status"] != "Enabled":
        _change_subscription(doc, "Enabled")


def _stop(doc: Document) -> None:
    if runtime_state(doc) != "Started":
        raise ApiError(400, "BadRequest", f"Trigger '{doc['name']}' is already stopped.", target=doc["name"])
    _refuse_during_transition(doc)
    _set_state(doc, "Stopped")
    if _is_event_trigger(doc) and _subscription(doc)["status"] == "Enabled":
        _change_subscription(doc, "Disabled")


def _set_state(doc: Document, value: str) -> None:
    doc["properties"]["runtimeState"] = value
    doc["etag"] = new_etag()


def _is_event_trigger(doc: Document) -> bool:
    return doc.get("properties", {}).get("type") in EVENT_TRIGGER_TYPES


def _require_event_trigger(doc: Document) -> None:
    if not _is_event_trigger(doc):
        kind = doc.get("properties", {}).get("type")
        raise ApiError(
            400,
            "BadRequest",
            f"Trigger '{doc['name']}' of type '{kind}' does not subscribe to events.",
            target=doc["name"],
        )


def _subscription(doc: Document) -> dict[str, Any]:
    stored = doc.get("_sandbox") or {}
    return {
        "status": stored.get("status", "Disabled"),
        "transition": stored.get("transition"),
        "polls": int(stored.get("polls", 0)),
    }


def _change_subscription(doc: Document, wanted: str) -> None:
    transition = "Provisioning" if wanted == "Enabled" else "Deprovisioning"
    doc["_sandbox"] = {"status": wanted, "transition": transition, "polls": TRANSITION_POLLS}


def _refuse_during_transition(doc: Document) -> None:
    if _subscription(doc)["transition"] is not None:
        raise ApiError(400, "BadRequest", _DURING_PROVISIONING, target=str(doc["name"]))


def _read_status(doc: Document) -> str:
    subscription = _subscription(doc)
    if subscription["transition"] is not None:
        if subscription["polls"] > 0:
            doc["_sandbox"] = {**subscription, "polls": subscription["polls"] - 1}
            return str(subscription["transition"])
        doc["_sandbox"] = {**subscription, "transition": None, "polls": 0}
    return str(subscription["status"])


def _status_answer(doc: Document, status: str) -> ApiResponse:
    return ApiResponse(200, {"triggerName": doc["name"], "status": status})
