"""The parameter catalogue: every template parameter explained in plain words, with its value per environment.

This is what the parameter forms show, so an engineer who does not know ARM can tell what a parameter is for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE
from portal.adf.model import Kind
from portal.adf.parameterization import TemplateParameter
from portal.environments.parameter_files import ParameterEntry

_LABEL_BY_TYPE = {kind.arm_type.lower(): kind.label for kind in Kind}
_LABEL_BY_TYPE[FACTORY_TYPE.lower()] = "Factory"
_LABEL_BY_TYPE[GLOBAL_PARAMETERS_TYPE.lower()] = "Global parameters"
# Path segments that say nothing to a reader.
_SILENT_SEGMENTS = {"properties", "typeProperties"}
# Words that read better in capitals.
_ACRONYMS = {"url": "URL", "uri": "URI", "id": "id", "sas": "SAS", "ssis": "SSIS", "ir": "IR"}


@dataclass(frozen=True)
class EnvironmentValue:
    """What one environment gives a parameter, for display: never a secret itself."""

    kind: str  # "value", "key-vault", "environment-variable", "default", "target", "missing"
    display: str
    value: Any = None  # the plain value for "value"/"default"/"target"; None otherwise

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "display": self.display}
        if self.kind in ("value", "default", "target"):
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    type: str
    source: str  # plain words: "Linked service LS_SQL → connection string"
    object_kind: str
    object_name: str
    property_path: str
    default: Any  # the dev value from the factory, or None
    has_default: bool
    required: bool  # no default: every environment must give a value
    secret: bool
    rule: str | None  # the definition rule that made it; None for ADF's automatic secure strings
    values: Mapping[str, EnvironmentValue]

    def as_json(self, environment: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "source": self.source,
            "objectKind": self.object_kind,
            "objectName": self.object_name,
            "property": self.property_path,
            "required": self.required,
            "secret": self.secret,
            "rule": self.rule,
            "default": None if self.secret or not self.has_default else self.default,
        }
        if environment is not None:
            chosen = self.values[environment]
            out["value"] = chosen.as_json().get("value") if not self.secret else None
            out["valueSource"] = chosen.kind
            out["display"] = chosen.display
        else:
            out["values"] = {env: v.as_json() for env, v in self.values.items()}
        return out


def humanize(segment: str) -> str:
    """`connectionString` → `connection string`; `[2]` → `item 3`."""
    index = re.fullmatch(r"\[(\d+)\]", segment)
    if index:
        return f"item {int(index.group(1)) + 1}"
    named = re.fullmatch(r"\[(.+)\]", segment)
    if named:
        return named.group(1)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", segment).split()
    return " ".join(_ACRONYMS.get(w.lower(), w.lower()) if not w.isupper() or len(w) < 2 else w for w in words)


def describe_source(parameter: TemplateParameter) -> str:
    if parameter.name == "factoryName":
        return "Data factory name (each environment's target factory)"
    label = _LABEL_BY_TYPE.get(parameter.resource.lower(), parameter.resource)
    segments = list(parameter.path)
    while segments and segments[0] in _SILENT_SEGMENTS:
        segments.pop(0)
    if segments and segments[0] in _SILENT_SEGMENTS:
        segments.pop(0)
    words = " → ".join(humanize(s) for s in segments if s not in _SILENT_SEGMENTS) or "value"
    name = parameter.object_name
    if parameter.resource.lower() == GLOBAL_PARAMETERS_TYPE.lower():
        return f"Global parameter {words}"
    return f"{label} {name} → {words}" if name else f"{label} → {words}"


def display_value(
    parameter: TemplateParameter, entry: ParameterEntry | None, env_variable: str | None, target_factory: str | None
) -> EnvironmentValue:
    if parameter.name == "factoryName" and target_factory:
        return EnvironmentValue("target", target_factory, target_factory)
    if env_variable:
        return EnvironmentValue("environment-variable", f"environment variable {env_variable}")
    if entry is not None and entry.reference is not None:
        return EnvironmentValue("key-vault", entry.reference.describe())
    if entry is not None and entry.has_value:
        if parameter.secure:
            # Refused by validation; never shown.
            return EnvironmentValue("value", "«plaintext secret: refused»")
        return EnvironmentValue("value", _short(entry.value), entry.value)
    if parameter.has_default and not parameter.secure:
        return EnvironmentValue("default", f"{_short(parameter.default)} (dev default)", parameter.default)
    return EnvironmentValue("missing", "— missing —")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "…"


def catalogue_entry(parameter: TemplateParameter, values: Mapping[str, EnvironmentValue]) -> CatalogueEntry:
    label = _LABEL_BY_TYPE.get(parameter.resource.lower(), parameter.resource)
    return CatalogueEntry(
        name=parameter.name,
        type=parameter.type,
        source=describe_source(parameter),
        object_kind=label,
        object_name=parameter.object_name,
        property_path=".".join(parameter.path).replace(".[", "["),
        default=parameter.default if parameter.has_default else None,
        has_default=parameter.has_default,
        required=not parameter.has_default and parameter.name != "factoryName",
        secret=parameter.secure,
        rule=parameter.rule,
        values=dict(values),
    )
