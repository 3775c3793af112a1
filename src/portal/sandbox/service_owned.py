"""What the service owns in a resource, and how it answers what the client wrote.

Sources:
- Read-only properties: the models of azure-mgmt-datafactory 10.0.0 (generated from the REST contract), where a
  field whose visibility is only "read" is the service's (`readOnly` in the spec); e.g. `FactoryProperties`
  provisioningState/createTime/version, `FactoryIdentity` principalId/tenantId, `ManagedIntegrationRuntime.state`,
  `ManagedVirtualNetwork` vNetId/alias, `ManagedPrivateEndpoint` provisioningState/isReserved, every field of
  `ConnectionStateProperties`, a trigger's runtimeState, and id/name/type/etag/systemData of every resource. A
  request never sets them: they are removed from the body, at any depth, before anything is stored.
- Enum spelling: an enum field's value is answered in the contract's spelling, matched without regard to case
  (examples/GlobalParameters_Create.json: "int" is answered "Int").
- Property names the models define are answered in the models' spelling, matched without regard to case
  (examples/ChangeDataCapture_Create.json sends `SourceConnectionsInfo`, `Policy`, ...;
  ChangeDataCapture_Get.json answers `sourceConnectionsInfo`, `policy`, as the models spell them). Properties the
  models do not define keep the client's spelling.
- Dropped properties: examples/ManagedPrivateEndpoints_Create.json sends a `description` that the answer does not
  have; the `ManagedPrivateEndpoint` model has no such field. A managed private endpoint (and, a choice, a managed
  virtual network, whose model has no writable field) keeps only the fields its model defines.
- Filled in by the service, as the examples answer: an integration runtime of type Managed gets `state`
  "Initial" (IntegrationRuntimes_Create.json; a SelfHosted one has none, IntegrationRuntimes_Get.json); a managed
  virtual network gets `vNetId` and `alias` (ManagedVirtualNetworks_Create.json); a managed private endpoint gets
  `provisioningState` "Succeeded", `connectionState` {status "Pending", description "", actionsRequired "None"}
  and `fqdns` (ManagedPrivateEndpoints_Create.json); a linked service holding a SecureString gets an
  `encryptedCredential` (LinkedServices_Create.json).
- Secrets: "The string value will be masked with asterisks '*' during Get or List API calls" (`SecureString` in
  datafactory.json); the examples answer "**********" (LinkedServices_Create.json, IntegrationRuntimes_Create.json).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import uuid
from collections.abc import Mapping
from typing import Any

from portal.adf.sdk_schema import LIST, MAP, Field, fields_of, subtype_names

MASK = "**********"

# The model of a whole resource body, by the collection's URL segment.
RESOURCE_MODEL = {
    "factories": "Factory",
    "pipelines": "PipelineResource",
    "datasets": "DatasetResource",
    "linkedservices": "LinkedServiceResource",
    "triggers": "TriggerResource",
    "dataflows": "DataFlowResource",
    "integrationRuntimes": "IntegrationRuntimeResource",
    "credentials": "CredentialResource",
    "managedVirtualNetworks": "ManagedVirtualNetworkResource",
    "managedPrivateEndpoints": "ManagedPrivateEndpointResource",
    "adfcdcs": "ChangeDataCaptureResource",
    "globalParameters": "GlobalParameterResource",
}
# Models that keep no property they do not define (see the module docstring).
_CLOSED = frozenset({"ManagedPrivateEndpoint", "ManagedVirtualNetwork"})


@functools.cache
def _subtypes(model_name: str) -> Mapping[str, str]:
    """Discriminator value (lower-cased, as the service matches it) → concrete model."""
    return {value.lower(): name for value, name in reversed(list(subtype_names(model_name).items()))}


def _concrete(model_name: str, value: Mapping[str, Any]) -> str:
    fields = fields_of(model_name)
    for key, item in value.items():
        field = fields.get(key.lower())
        if field is not None and field.discriminator and isinstance(item, str):
            return _subtypes(model_name).get(item.lower(), model_name)
    return model_name


def _accept(model_name: str | None, value: Any) -> Any:
    if model_name is None or not isinstance(value, dict):
        return copy.deepcopy(value)
    concrete = _concrete(model_name, value)
    fields = fields_of(concrete)
    closed = concrete in _CLOSED
    result: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key.lower())
        if field is None:
            if not closed:
                result[key] = copy.deepcopy(item)
            continue
        if field.read_only:
            continue
        result[field.rest_name] = _accept_field(field, item)  # the model's spelling, as the service answers
    return result


def _accept_field(field: Field, item: Any) -> Any:
    if field.container == LIST and isinstance(item, list):
        return [_accept_one(field, element) for element in item]
    if field.container == MAP and isinstance(item, dict):
        return {key: _accept_one(field, element) for key, element in item.items()}
    return _accept_one(field, item)


def _accept_one(field: Field, item: Any) -> Any:
    if field.enum_values is not None and isinstance(item, str):
        return field.enum_values.get(item.lower(), item)
    return _accept(field.model, item)


def accepted(collection: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as the service keeps it: read-only properties removed at any depth, enum values in the
    contract's spelling, model-defined property names in the models' spelling, and what closed models do not
    define dropped."""
    return _accept(RESOURCE_MODEL.get(collection), dict(body))


def accepted_as(model_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """`accepted` for a body of another model (e.g. FactoryUpdateParameters)."""
    return _accept(model_name, dict(body))


# -- answers ---------------------------------------------------------------------------------------------------


def masked(value: Any) -> Any:
    """A copy with every SecureString's value masked."""
    if isinstance(value, dict):
        if str(value.get("type", "")).lower() == "securestring" and "value" in value:
            return {**{k: masked(v) for k, v in value.items() if k != "value"}, "value": MASK}
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def has_secure_string(value: Any) -> bool:
    if isinstance(value, dict):
        if str(value.get("type", "")).lower() == "securestring" and "value" in value:
            return True
        return any(has_secure_string(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secure_string(v) for v in value)
    return False


def fill(
    collection: str,
    properties: dict[str, Any],
    existing: Mapping[str, Any] | None,
    factory: Mapping[str, Any],
    resource_id: str,
) -> dict[str, Any]:
    """`properties` (already `accepted`) with the service's own fields, kept stable across updates."""
    before = dict(existing or {})
    result = dict(properties)
    if collection == "integrationRuntimes" and str(result.get("type", "")).lower() == "managed":
        result["state"] = before.get("state") or "Initial"
    elif collection == "managedVirtualNetworks":
        result["vNetId"] = before.get("vNetId") or str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower()))
        result["alias"] = before.get("alias") or str(factory.get("name", ""))
    elif collection == "managedPrivateEndpoints":
        result.setdefault("fqdns", [])
        result["provisioningState"] = "Succeeded"
        result["connectionState"] = before.get("connectionState") or {
            "status": "Pending",
            "description": "",
            "actionsRequired": "None",
        }
    elif collection == "linkedservices":
        type_properties = result.get("typeProperties")
        if (
            isinstance(type_properties, dict)
            and "encryptedCredential" not in type_properties
            and has_secure_string(type_properties)
        ):
            result["typeProperties"] = {**type_properties, "encryptedCredential": _encrypted_credential(resource_id)}
    return result


def _encrypted_credential(resource_id: str) -> str:
    """An opaque token like the one LinkedServices_Create.json answers (base64 of a small JSON document)."""
    envelope = {
        "Version": "2017-11-30",
        "ProtectionMode": "Key",
        "SecretContentType": "Plaintext",
        "CredentialId": f"SANDBOX_{uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower())}",
    }
    return base64.b64encode(json.dumps(envelope).encode("utf-8")).decode("ascii")


# Properties of a managed private endpoint the client owns: compared to refuse an update in place.
SERVICE_FIELDS_OF_ENDPOINT = frozenset({"provisioningState", "connectionState", "isReserved"})


def endpoint_definition(properties: Mapping[str, Any]) -> dict[str, Any]:
    """What defines a managed private endpoint (its properties without the service's), `fqdns` [] when absent."""
    definition = {k: v for k, v in properties.items() if k not in SERVICE_FIELDS_OF_ENDPOINT}
    definition.setdefault("fqdns", [])
    return definition
