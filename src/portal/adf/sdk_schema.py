"""Data Factory's object schema, read from the models of `azure-mgmt-datafactory` (generated from the service's
REST contract), so that rules about "which property is what" hold for every connector and activity, including
ones no factory here uses.

`field_at(kind, properties, path)` answers, for a place in an object's `properties`, which model declares the
property there and whether that model requires it. The walk follows the JSON: a discriminated model (`type`)
goes to its subtype, a list to its items. Property names are matched case-insensitively, as the service reads
them (change data captures are written `SourceConnectionsInfo` in Git, `sourceConnectionsInfo` in the contract).

The SDK's models take most of a second to import, so they are imported on the first question, which only
a reference to a missing object asks.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from portal.adf.model import Kind

# The model of each kind's `properties`.
PROPERTIES_MODEL: Mapping[Kind, str] = {
    Kind.PIPELINE: "Pipeline",
    Kind.DATASET: "Dataset",
    Kind.LINKED_SERVICE: "LinkedService",
    Kind.TRIGGER: "Trigger",
    Kind.DATAFLOW: "DataFlow",
    Kind.CHANGE_DATA_CAPTURE: "ChangeDataCapture",
    Kind.INTEGRATION_RUNTIME: "IntegrationRuntime",
    Kind.CREDENTIAL: "Credential",
    Kind.MANAGED_PRIVATE_ENDPOINT: "ManagedPrivateEndpoint",
    Kind.MANAGED_VIRTUAL_NETWORK: "ManagedVirtualNetwork",
}

# An annotation as the generated code writes it: `'_models.X'`, `typing.Optional[ForwardRef('_models.X')]`,
# `list['_models.X']`, `typing.Optional[list['_models.X']]`; anything else (str, JSON, dict) is a leaf.
_MODEL_NAME = re.compile(r"_models\.(\w+)")


@dataclass(frozen=True)
class Field:
    """A property of a model: its wire name, the model of its value (None for a plain value), whether the
    value is a list of that model, and whether the declaring model requires it."""

    rest_name: str
    model: str | None
    is_list: bool
    required: bool


@functools.lru_cache(maxsize=1)
def _models() -> Any:
    from azure.mgmt.datafactory import models

    return models


def rest_fields(cls: type) -> dict[str, tuple[Any, Any]]:
    """A generated model's properties, base classes first: attribute name → (its rest field, its annotation).
    The one reader of the models' fields (the generated tables of `sdk_models` and `expression_types` use it)."""
    found: dict[str, tuple[Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        annotations = vars(klass).get("__annotations__", {})
        for attr, value in vars(klass).items():
            if not attr.startswith("_") and hasattr(value, "_rest_name_input"):
                found[attr] = (value, annotations.get(attr))
    return found


def subtypes_of(cls: type) -> dict[str, type]:
    """Discriminator value → concrete model, through intermediate bases (Activity → Execution → Copy)."""
    mapping: dict[str, type] = {}
    stack = [cls]
    seen: set[type] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        # Only a class's own table: subclasses inherit their base's.
        for value, sub in (vars(current).get("__mapping__") or {}).items():
            if sub is not current:
                mapping.setdefault(value, sub)
                stack.append(sub)
    return mapping


@functools.lru_cache(maxsize=None)
def fields_of(model_name: str) -> Mapping[str, Field]:
    """The model's properties by lower-cased wire name, inherited ones included."""
    cls = getattr(_models(), model_name, None)
    found: dict[str, Field] = {}
    if cls is None:
        return found
    for attr, (field, annotation) in rest_fields(cls).items():
        text = str(annotation or "")
        match = _MODEL_NAME.search(text)
        rest_name = field._rest_name_input or attr
        found[rest_name.lower()] = Field(
            rest_name=rest_name,
            model=match.group(1) if match else None,
            is_list="list[" in text.lower(),
            required=not text.startswith("typing.Optional"),
        )
    return found


@functools.lru_cache(maxsize=None)
def _subtypes(model_name: str) -> Mapping[str, str]:
    cls = getattr(_models(), model_name, None)
    return {value: sub.__name__ for value, sub in subtypes_of(cls).items()} if cls is not None else {}


def concrete_model(model_name: str, value: Any) -> str:
    """The subtype a JSON object's `type` selects, or the model itself."""
    if isinstance(value, Mapping):
        discriminator = value.get("type")
        if isinstance(discriminator, str):
            return _subtypes(model_name).get(discriminator, model_name)
    return model_name


def field_at(kind: Kind, properties: Any, path: Sequence[str | int]) -> Field | None:
    """The model field at `path` inside an object's `properties` (keys and list indexes), or None where the
    models do not describe the place (free-form JSON, unknown types)."""
    model = PROPERTIES_MODEL.get(kind)
    value = properties
    field: Field | None = None
    for step in path:
        if isinstance(step, int):
            if field is None or not field.is_list or not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
            model = field.model
            field = None
            continue
        if model is None or not isinstance(value, Mapping):
            return None
        model = concrete_model(model, value)
        field = fields_of(model).get(step.lower())
        if field is None:
            return None
        value = value.get(step)
        model = None if field.is_list else field.model
    return field
