"""ADF's custom parameterization: `arm-template-parameters-definition.json` applied to ARM resources.

Semantics, as ADF Publish applies them:
- Without a definition file the default template (`default-parameter-definition.json`) is used; a custom
  file replaces it (no merge).
- Top-level keys are resource types; keys that name none are ignored. Linked services and datasets (and
  credentials when written that way) have one more level: `*` for every subtype, or a subtype name such as
  `AzureBlobStorage`, whose section replaces `*` for that subtype.
- Below, the JSON mirrors the resource. A string marks a property: `<action>[:<name>[:<type>]]`.
  `=` keeps the current value as default, `-` gives no default (the value is required at deployment), `|` is for
  secrets: a Key Vault secret reference gets its `secretName` parameterized, a plain value becomes a secure
  string.
- The parameter name is `<resource>_<path joined by _>`; a name part starting with `-` shortens it to
  `<resource>_<name>`, any other name part replaces the last path segment.
- `*` applies to every property at that level (one level only); named siblings override it.
- An array holds the rule for every item and, optionally, a second element: the dotted path of the item property
  whose value names the item in parameter names (the index otherwise). The array's own key is not part of
  the name.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from portal.errors import ErrorCode, PortalError

# The default parameterization template ADF uses when the factory has no definition file: the one ADF Studio
# offers under "Edit parameter configuration" (2023-2025), kept as JSON beside this module.
DEFAULT_DEFINITION_PATH = Path(__file__).with_name("default-parameter-definition.json")
DEFAULT_DEFINITION: Mapping[str, Any] = json.loads(DEFAULT_DEFINITION_PATH.read_text(encoding="utf-8"))

ACTIONS = ("=", "-", "|")
SECURE_TYPES = ("secureString", "secureObject")
_TYPE_NAMES = {
    "string": "string",
    "securestring": "secureString",
    "int": "int",
    "bool": "bool",
    "object": "object",
    "secureobject": "secureObject",
    "array": "array",
}
# Keys that sit on an ARM resource itself; a rule root without any of them is keyed by subtype.
RESOURCE_LEVEL_KEYS = frozenset({"name", "type", "apiVersion", "properties", "dependsOn", "location", "identity"})
SUBTYPED_RESOURCE_TYPES = frozenset(
    {"microsoft.datafactory/factories/linkedservices", "microsoft.datafactory/factories/datasets"}
)

_NO_DEFAULT = object()


@dataclass(frozen=True)
class RuleSpec:
    """A parsed rule value such as `=:-freq:int`."""

    action: str
    name: str = ""
    type: str | None = None

    @staticmethod
    def parse(text: str, where: str) -> RuleSpec:
        parts = text.split(":")
        action = parts[0]
        if action not in ACTIONS:
            raise PortalError(
                where,
                f"rule {text!r} must start with '=', '-' or '|'",
                hint='write e.g. "=" (keep the value as default) or "-:name:string"',
                code=ErrorCode.PARAM_RULE,
            )
        if len(parts) > 3:
            raise PortalError(
                where, f"rule {text!r} has more than three ':'-separated parts", code=ErrorCode.PARAM_RULE
            )
        name = parts[1] if len(parts) > 1 else ""
        type_name = None
        if len(parts) > 2 and parts[2]:
            type_name = _TYPE_NAMES.get(parts[2].lower())
            if type_name is None:
                raise PortalError(
                    where,
                    f"rule {text!r} names unknown parameter type {parts[2]!r}",
                    hint="use string, securestring, int, bool, object, secureobject or array",
                    code=ErrorCode.PARAM_RULE,
                )
        return RuleSpec(action, name, type_name)


@dataclass(frozen=True)
class TemplateParameter:
    """One ARM template parameter and where it comes from."""

    name: str
    type: str
    default: Any = _NO_DEFAULT
    metadata: str | None = None
    resource: str = ""  # the ARM resource type it belongs to
    object_name: str = ""  # the ADF object's name
    path: tuple[str, ...] = ()  # the property path inside the resource
    rule: str | None = None  # the definition rule that made it, or None for ADF's automatic secure strings
    required: bool = False
    # A default that names another parameter (`[parameters('x')]`): only linked templates, to which the master
    # passes every parameter, write it; the main template and the parameter files have none.
    linked_default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    @property
    def secure(self) -> bool:
        return self.type in SECURE_TYPES

    def template_entry(self, *, linked: bool = False) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": self.type}
        if self.metadata is not None:
            entry["metadata"] = self.metadata
        if self.has_default:
            entry["defaultValue"] = self.default
        elif linked and self.linked_default is not _NO_DEFAULT:
            entry["defaultValue"] = self.linked_default
        return entry

    def file_value(self) -> Any:
        return self.default if self.has_default else ""


@dataclass
class ParameterSink:
    """Collects parameters in the order they are made, refusing silent name clashes."""

    parameters: dict[str, TemplateParameter] = field(default_factory=dict)
    clashes: list[tuple[str, str]] = field(default_factory=list)
    # Rule values that are no rule at all (e.g. a subtype name where a rule belongs): (where, text).
    ignored_rules: list[tuple[str, str]] = field(default_factory=list)

    def made_since(self, count: int) -> list[str]:
        """The names of the parameters made after the first `count` (none, cheaply, when there are none)."""
        newer = len(self.parameters) - count
        if newer <= 0:
            return []
        # From the end: a resource makes few parameters, a factory may have thousands.
        return list(itertools.islice(reversed(self.parameters), newer))[::-1]

    def add(self, parameter: TemplateParameter) -> str:
        name = parameter.name
        if name in self.parameters:
            # Two rules made the same name; keep both by numbering the later one, and report it.
            suffix = 2
            while f"{name}_{suffix}" in self.parameters:
                suffix += 1
            new_name = f"{name}_{suffix}"
            self.clashes.append((name, new_name))
            parameter = _replace_name(parameter, new_name)
            name = new_name
        self.parameters[name] = parameter
        return name


def _replace_name(parameter: TemplateParameter, name: str) -> TemplateParameter:
    return replace(parameter, name=name)


def parameter_expression(name: str) -> str:
    return f"[parameters('{name}')]"


def is_parameter_expression(text: str) -> bool:
    return text.startswith("[parameters('") and text.endswith("')]")


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def rules_for(definition: Mapping[str, Any], resource_type: str, subtype: str | None, where: str) -> Any:
    """The rule tree for one resource (for types keyed by subtype, the subtype's section or `*`)."""
    root = None
    wanted = resource_type.lower()
    for key, value in definition.items():
        if isinstance(key, str) and key.lower() == wanted:
            root = value
            break
    if root is None:
        return None
    if not isinstance(root, dict):
        raise PortalError(
            f"{where}: {resource_type}", "rules for a resource type must be a JSON object", code=ErrorCode.PARAM_RULE
        )
    subtyped = wanted in SUBTYPED_RESOURCE_TYPES or (root and not (RESOURCE_LEVEL_KEYS & set(root)))
    if not subtyped:
        return root
    return subtype_rules(root, subtype)


def subtype_rules(root: Mapping[str, Any], subtype: str | None) -> Any:
    """The rules for one subtype: its own section when the definition has one, else `*`. A subtype's section
    replaces `*` for that subtype; the two are not merged (ADF's rule for linked services and datasets)."""
    specific = root.get(subtype) if subtype else None
    return specific if specific is not None else root.get("*")


class RuleApplier:
    """Applies one resource's rule tree to its ARM JSON, replacing values with parameter expressions."""

    def __init__(self, *, prefix: str, object_name: str, resource_type: str, sink: ParameterSink, where: str):
        self.prefix = prefix
        self.object_name = object_name
        self.resource_type = resource_type
        self.sink = sink
        self.where = where

    def apply(self, resource: dict[str, Any], rules: Any) -> None:
        if isinstance(rules, dict):
            self._walk_object(resource, rules, (), ())

    # `path` is the JSON path (for the catalogue); `name_path` the segments used in the parameter name.
    def _walk(self, holder: Any, key: Any, rule: Any, path: tuple[str, ...], name_path: tuple[str, ...]) -> None:
        value = holder[key]
        if isinstance(rule, str):
            if not rule.startswith(ACTIONS):
                # Not a rule: real definition files hold such values (a trigger type written where a rule
                # belongs); they parameterize nothing and are reported, not fatal.
                where = (self._rule_where(path), rule)
                if where not in self.sink.ignored_rules:
                    self.sink.ignored_rules.append(where)
                return
            self._parameterize(holder, key, RuleSpec.parse(rule, self._rule_where(path)), path, name_path)
        elif isinstance(rule, dict):
            if isinstance(value, dict):
                self._walk_object(value, rule, path, name_path)
        elif isinstance(rule, list):
            if isinstance(value, list):
                self._walk_array(value, rule, path, name_path[:-1])
        elif rule is not None:
            raise PortalError(
                self._rule_where(path), "a rule must be a string, an object or an array", code=ErrorCode.PARAM_RULE
            )

    def _walk_object(
        self, value: dict[str, Any], rule: dict[str, Any], path: tuple[str, ...], name_path: tuple[str, ...]
    ) -> None:
        star = rule.get("*")
        for key in list(value.keys()):
            child_rule = rule.get(key, star)
            if child_rule is None:
                continue
            self._walk(value, key, child_rule, path + (key,), name_path + (key,))

    def _walk_array(self, items: list[Any], rule: list[Any], path: tuple[str, ...], name_path: tuple[str, ...]) -> None:
        if not rule:
            return
        item_rule = rule[0]
        naming = rule[1] if len(rule) > 1 and isinstance(rule[1], str) else None
        for index, item in enumerate(items):
            segment = str(index)
            if naming and isinstance(item, dict):
                named = _dotted(item, naming)
                if isinstance(named, (str, int)) and not isinstance(named, bool):
                    segment = str(named)
            # Array items are named in the path as in the parameter name: `pipelines[PL_Load]`, else `[0]`.
            step = f"[{index}]" if segment == str(index) else f"[{segment}]"
            if isinstance(item_rule, str):
                self._walk(items, index, item_rule, path + (step,), name_path + (segment,))
            elif isinstance(item_rule, dict) and isinstance(item, dict):
                self._walk_object(item, item_rule, path + (step,), name_path + (segment,))

    def _parameterize(
        self, holder: Any, key: Any, spec: RuleSpec, path: tuple[str, ...], name_path: tuple[str, ...]
    ) -> None:
        value = holder[key]
        if isinstance(value, str) and is_parameter_expression(value):
            # Already a parameter (ADF's automatic secure string); literal text would start with '[['.
            return
        if isinstance(value, dict) and value.get("type") == "Expression" and "value" in value:
            # An expression keeps its wrapper; its text is the value.
            self._parameterize(value, "value", spec, path, name_path)
            return
        if isinstance(value, dict) and value.get("type") == "AzureKeyVaultSecret" and spec.action == "|":
            # Key Vault reference: the secret's name is what differs between environments.
            if "secretName" in value:
                self._parameterize(
                    value, "secretName", RuleSpec("="), path + ("secretName",), name_path + ("secretName",)
                )
            return
        if isinstance(value, dict) and value.get("type") == "SecureString" and spec.action == "|":
            inner = value.get("value")
            if isinstance(inner, str) and is_parameter_expression(inner):
                # Already ADF's automatic secure string (secrets.py): the rule writes that parameter as a plain
                # reference (a corpus factory connectionString, a corpus factory masked one).
                holder[key] = inner
                return
            # A secret typed into the UI (Git holds it masked): the parameter takes the value's place.
            self._parameterize(value, "value", spec, path, name_path)
            return
        if isinstance(value, dict) and value.get("type") == "SecureString" and "value" in value:
            # A '=' or '-' rule on a secret keeps its SecureString wrapper and parameterizes what it holds, under
            # the property's name and the rule's type. It gets no default: what the wrapper holds is masked or
            # ADF's own secure-string parameter, which Publish still declares (a corpus factory:
            # "connectionString": "=" gives ..._properties_typeProperties_connectionString, a string).
            inner = value["value"]
            parameter = TemplateParameter(
                name=self._name(spec, name_path),
                type=spec.type or "string",
                resource=self.resource_type,
                object_name=self.object_name,
                path=path + ("value",),
                rule=_spec_text(spec),
                required=True,
            )
            if spec.action == "=" and isinstance(inner, str) and is_parameter_expression(inner):
                # '=' keeps the value as default: here the reference to ADF's own parameter, which Publish
                # writes into the linked templates only.
                parameter = replace(parameter, linked_default=inner)
            value["value"] = parameter_expression(self.sink.add(parameter))
            return
        if isinstance(value, dict) and spec.type not in ("object", "secureObject"):
            # A rule on an object without '::object' leaves it alone (a corpus factory: "changeNumber": "="
            # on a pipeline parameter's declaration); arrays are parameterized (fqdns, dependsOn).
            return
        if (
            key == "value"
            and isinstance(holder, dict)
            and holder.get("type") == "SecureString"
            and name_path
            and name_path[-1] == "value"
        ):
            # A rule on a SecureString's value names the secret, not its "value" (a corpus factory SSIS
            # ..._catalogInfo_catalogAdminPassword from {"catalogAdminPassword": {"value": "-::secureString"}}).
            name_path = name_path[:-1]
        rule_text = _spec_text(spec)
        if spec.action == "|" and not isinstance(value, (dict, list)):
            prop = str(name_path[-1]) if name_path else "value"
            short = spec.name[1:] if spec.name.startswith("-") else (spec.name or prop)
            name = f"{self.prefix}_{short}"
            parameter = TemplateParameter(
                name=name,
                type=spec.type or "secureString",
                metadata=f"Secure string for '{prop}' of '{self.object_name}'",
                resource=self.resource_type,
                object_name=self.object_name,
                path=path,
                rule=rule_text,
                required=True,
            )
            if parameter.type not in SECURE_TYPES:
                parameter = _with_default(parameter, value)
        else:
            type_name = spec.type or infer_type(value)
            name = self._name(spec, name_path)
            parameter = TemplateParameter(
                name=name,
                type=type_name,
                resource=self.resource_type,
                object_name=self.object_name,
                path=path,
                rule=rule_text,
                required=spec.action == "-",
            )
            if spec.action != "-" and type_name not in SECURE_TYPES:
                parameter = _with_default(parameter, value)
        final_name = self.sink.add(parameter)
        holder[key] = parameter_expression(final_name)

    def _name(self, spec: RuleSpec, name_path: tuple[str, ...]) -> str:
        if spec.name.startswith("-"):
            return f"{self.prefix}_{spec.name[1:]}"
        segments = list(name_path)
        if spec.name:
            segments = segments[:-1] + [spec.name]
        return "_".join([self.prefix, *segments])

    def _rule_where(self, path: tuple[str, ...]) -> str:
        return f"{self.where}: {self.resource_type} → {'.'.join(path) or '(root)'}"


def _with_default(parameter: TemplateParameter, value: Any) -> TemplateParameter:
    return replace(parameter, default=copy.deepcopy(value))


def _spec_text(spec: RuleSpec) -> str:
    text = spec.action
    if spec.name or spec.type:
        text += f":{spec.name}"
    if spec.type:
        text += f":{spec.type}"
    return text


def _dotted(item: Mapping[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def ordered_parameters(parameters: Sequence[TemplateParameter]) -> list[TemplateParameter]:
    """Publish lists secure parameters before the others, each group in resource order."""
    return [p for p in parameters if p.rule is None] + [p for p in parameters if p.rule is not None]
