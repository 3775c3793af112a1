"""Linked-service metadata derived from the azure-mgmt-datafactory SDK models (the REST spec's own shape).

For every linked-service `type` discriminator the SDK declares a model whose `typeProperties` attributes each have
a wire name and a type; the secret ones are typed `SecretBase` (or one of its subclasses, `SecureString` and
`AzureKeyVaultSecretReference`). The exporter needs, per type: the typeProperties in the model's order, which of
them are secrets, and which are lists of linked-service references.

Importing the SDK takes about a second (a 68,000-line module), far more than exporting a small factory, so the
table is derived once by `derive_linked_service_models()` and kept as JSON beside this module
(`sdk-linked-services.json`); `python -m portal.adf.sdk_models` rewrites it, and a test checks that it still equals
what the installed SDK says. Loading the JSON costs about a millisecond, once per process.

Both SDK generations are read: the TypeSpec models of 10.x (`__mapping__`, `rest_field`, a separate
`...TypeProperties` model) and the msrest models of 9.x and older (`_subtype_map`, `_attribute_map` keys such as
`type_properties.password`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from portal.adf.sdk_schema import rest_fields

TABLE_PATH = Path(__file__).with_name("sdk-linked-services.json")
SECRET_BASE_NAMES = ("SecretBase",)
REFERENCE_NAMES = ("LinkedServiceReference",)


@dataclass(frozen=True)
class LinkedServiceModel:
    """What the SDK says about one linked-service type's `typeProperties`."""

    type: str
    properties: tuple[str, ...]  # wire names, in the model's order
    secrets: frozenset[str]  # typed SecretBase (or a subclass)
    reference_lists: frozenset[str]  # typed list[LinkedServiceReference]

    def owner(self, secret: str) -> str | None:
        """The model attribute a secret belongs to: the nearest non-secret attribute before it (the user name
        before a password, the endpoint before an access token). None for a secret that comes first."""
        index = self.properties.index(secret)
        for name in reversed(self.properties[:index]):
            if name not in self.secrets and name not in ("encryptedCredential", "credential"):
                return name
        return None


# --- derivation from the SDK (only when regenerating or testing) ---------------------------------------------------


def _model_names(annotation: Any) -> list[str]:
    return re.findall(r"_models\.(\w+)", str(annotation))


def _is_subclass(models: Any, name: str, bases: tuple[str, ...]) -> bool:
    cls = getattr(models, name, None)
    return isinstance(cls, type) and any(
        isinstance(getattr(models, b, None), type) and issubclass(cls, getattr(models, b)) for b in bases
    )


def _typespec_fields(cls: type) -> list[tuple[str, str]]:
    """(wire name, annotation text) of a TypeSpec model's rest fields, base classes first."""
    return [(field._rest_name_input or attr, str(annotation)) for attr, (field, annotation) in rest_fields(cls).items()]


def _derive_typespec(models: Any) -> dict[str, dict[str, list[str]]]:
    table: dict[str, dict[str, list[str]]] = {}
    for discriminator, cls in models.LinkedService.__mapping__.items():
        wire = dict(_typespec_fields(cls))
        names = _model_names(wire.get("typeProperties"))
        props_cls = getattr(models, names[0], None) if names else None
        if not isinstance(props_cls, type):
            continue  # CustomDataSource: typeProperties is free-form
        entry: dict[str, list[str]] = {"properties": [], "secrets": [], "referenceLists": []}
        for name, annotation in _typespec_fields(props_cls):
            entry["properties"].append(name)
            found = _model_names(annotation)
            if found and _is_subclass(models, found[0], SECRET_BASE_NAMES):
                entry["secrets"].append(name)
            if found and found[0] in REFERENCE_NAMES and "list[" in annotation:
                entry["referenceLists"].append(name)
        table[discriminator] = entry
    return table


def _derive_msrest(models: Any) -> dict[str, dict[str, list[str]]]:
    table: dict[str, dict[str, list[str]]] = {}
    for discriminator, class_name in models.LinkedService._subtype_map["type"].items():
        cls = getattr(models, class_name)
        entry: dict[str, list[str]] = {"properties": [], "secrets": [], "referenceLists": []}
        for attr, spec in cls._attribute_map.items():
            if not attr.startswith("type_properties."):
                continue
            # The wire key is dotted ("typeProperties.password"); nested typeProperties keep their last part.
            name = spec["key"].split("typeProperties.", 1)[-1].replace("\\.", ".")
            type_name = spec["type"]
            entry["properties"].append(name)
            if _is_subclass(models, type_name, SECRET_BASE_NAMES):
                entry["secrets"].append(name)
            if type_name.strip("[]") in REFERENCE_NAMES and type_name.startswith("["):
                entry["referenceLists"].append(name)
        table[discriminator] = entry
    return table


def derive_linked_service_models() -> dict[str, Any]:
    """The table, read from the installed SDK."""
    from importlib.metadata import version

    from azure.mgmt.datafactory import models

    types = _derive_typespec(models) if hasattr(models.LinkedService, "__mapping__") else _derive_msrest(models)
    return {"sdk": f"azure-mgmt-datafactory {version('azure-mgmt-datafactory')}", "types": dict(sorted(types.items()))}


def write_table(path: Path = TABLE_PATH) -> None:
    path.write_text(json.dumps(derive_linked_service_models(), indent=1) + "\n", encoding="utf-8")


# --- use --------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _models() -> dict[str, LinkedServiceModel]:
    try:
        raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:  # a source tree without the generated file: derive it (slow, once)
        raw = derive_linked_service_models()
    return {
        name: LinkedServiceModel(
            name, tuple(entry["properties"]), frozenset(entry["secrets"]), frozenset(entry["referenceLists"])
        )
        for name, entry in raw["types"].items()
    }


def linked_service_model(ls_type: str | None) -> LinkedServiceModel | None:
    if not ls_type:
        return None
    return _models().get(ls_type)
