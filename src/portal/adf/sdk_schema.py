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

import enum
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


ONE, LIST, MAP = "one", "list", "map"


@dataclass(frozen=True)
class Field:
    """A property of a model, as the generated code declares it: its wire name; the model of its value (of each
    item for lists and maps; None for a plain value or free-form JSON); whether the value is one, a list or a
    name → value map; its enum (lower-cased value → the contract's spelling; None: not one); whether the
    declaring model requires it; whether only the service writes it (visibility "read", `readOnly` in the
    spec); and whether it is the model's discriminator (`type`)."""

    rest_name: str
    model: str | None
    container: str = ONE
    enum_values: Mapping[str, str] | None = None
    required: bool = False
    read_only: bool = False
    discriminator: bool = False

    @property
    def is_list(self) -> bool:
        return self.container == LIST


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


@functools.cache
def fields_of(model_name: str) -> Mapping[str, Field]:
    """The model's properties by lower-cased wire name, inherited ones included; empty when the contract has no
    such model (or it is an enum). The one reader of a model's fields for the export, the plan and the sandbox."""
    cls = _model_class(model_name)
    found: dict[str, Field] = {}
    if cls is None or issubclass(cls, enum.Enum):
        return found
    for attr, (field, annotation) in rest_fields(cls).items():
        text = str(annotation or "")
        named = [_model_class(n) for n in _MODEL_NAME.findall(text)]
        enums = [n for n in named if n is not None and issubclass(n, enum.Enum)]
        models = [n for n in named if n is not None and not issubclass(n, enum.Enum)]
        lowered = text.lower()
        rest_name = field._rest_name_input or attr
        found[rest_name.lower()] = Field(
            rest_name=rest_name,
            model=models[0].__name__ if models else None,
            container=LIST if "list[" in lowered else MAP if "dict[str" in lowered else ONE,
            enum_values={str(m.value).lower(): str(m.value) for m in enums[0]} if enums else None,
            required=not text.startswith("typing.Optional"),
            read_only=list(getattr(field, "_visibility", None) or ()) == ["read"],
            discriminator=bool(getattr(field, "_is_discriminator", False)),
        )
    return found


def is_model(model_name: str) -> bool:
    """Whether the contract has a (non-enum) model of this name."""
    cls = _model_class(model_name)
    return cls is not None and not issubclass(cls, enum.Enum)


def _model_class(name: str | None) -> type | None:
    cls = getattr(_models(), name, None) if name else None
    return cls if isinstance(cls, type) else None


@functools.cache
def subtype_names(model_name: str) -> Mapping[str, str]:
    """Discriminator value → the name of the concrete model, through intermediate bases."""
    cls = _model_class(model_name)
    return {value: sub.__name__ for value, sub in subtypes_of(cls).items()} if cls is not None else {}


def concrete_model(model_name: str, value: Any) -> str:
    """The subtype a JSON object's `type` selects, or the model itself."""
    if isinstance(value, Mapping):
        discriminator = value.get("type")
        if isinstance(discriminator, str):
            return subtype_names(model_name).get(discriminator, model_name)
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
