"""Editing `arm-template-parameters-definition.json` through a structured API, and previewing what a change does.

Nobody writes the file's syntax by hand: a rule is a `Rule` (a `RuleTarget` plus action, name part, type and, for
array paths, the naming property), `add_rule` and `remove_rule` return a new definition, `definition_text` is the
file's text and `preview` says which ARM template parameters the change adds, removes or changes. Everything here
is pure: the caller (a workspace that commits to Git) writes the text to the file under the ADF root.

How a target maps onto the definition (see `portal.adf.parameterization` for the rule semantics):
- Linked services and datasets are always keyed by subtype; their "every subtype" value is `*`. Credentials are
  keyed that way too when written like ADF's default (`*`), or directly when the entry holds resource keys such as
  `properties`; `*` then means that direct entry. Other resource types are keyed directly (subtype `None`); an
  entry that holds only subtype keys (as `rules_for` detects them) is edited under its subtype keys, `None`
  meaning `*`.
- `[]` in a path steps into an array rule `[itemRule, naming]`; the rule's `naming` is the naming property of
  the innermost array on the path. `naming=None` keeps what the array has, `""` drops it (items are named by
  index), any other value sets it. The naming belongs to the array, so it applies to every rule below it.
- Resource types match case-insensitively and only the first matching entry counts, as in `rules_for`.
- `remove_rule` prunes what the removal empties: objects, arrays (with their naming), subtype entries and the
  resource-type entry itself. Entries that were empty before (the default's `pipelines: {}`) are not touched.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE, export_factory
from portal.adf.model import PARAMETER_DEFINITION_FILE, Factory, Kind
from portal.adf.parameterization import (
    ACTIONS,
    DEFAULT_DEFINITION,
    RESOURCE_LEVEL_KEYS,
    SUBTYPED_RESOURCE_TYPES,
    RuleSpec,
    TemplateParameter,
)
from portal.errors import ErrorCode, PortalError

__all__ = [
    "ARM_PARAMETER_LIMIT",
    "Rule",
    "RulePreview",
    "RuleTarget",
    "add_rule",
    "current_definition",
    "definition_text",
    "list_rules",
    "preview",
    "remove_rule",
]

# ARM refuses a template with more parameters than this.
ARM_PARAMETER_LIMIT = 256
ARRAY = "[]"
STAR = "*"
_ARM_PREFIX = "microsoft.datafactory/factories"

# Short names (folder/kind names, and the ARM segments) → the ARM resource type.
_SHORT_TYPES: dict[str, str] = {}
for _kind in Kind:
    _SHORT_TYPES[_kind.value] = _kind.arm_type
    _SHORT_TYPES[_kind.segment] = _kind.arm_type
_SHORT_TYPES.update({"factory": FACTORY_TYPE, "factories": FACTORY_TYPE, "globalParameters": GLOBAL_PARAMETERS_TYPE})
_CANONICAL_TYPES: dict[str, str] = {name.lower(): arm for name, arm in _SHORT_TYPES.items()}
_CANONICAL_TYPES.update({arm.lower(): arm for arm in _SHORT_TYPES.values()})
_KIND_BY_TYPE: dict[str, Kind] = {kind.arm_type.lower(): kind for kind in Kind}
CREDENTIALS_TYPE = Kind.CREDENTIAL.arm_type
# Types whose "every subtype" value is `*` (None for the others).
_STAR_TYPES = frozenset(SUBTYPED_RESOURCE_TYPES | {CREDENTIALS_TYPE.lower()})


def _canonical_type(resource_type: Any) -> str:
    if not isinstance(resource_type, str) or not resource_type.strip():
        raise PortalError(
            "rule target",
            f"resource type {resource_type!r} is not a name",
            code=ErrorCode.RULE_TARGET,
            hint='e.g. "linkedService" or "Microsoft.DataFactory/factories/linkedServices"',
        )
    known = _CANONICAL_TYPES.get(resource_type.strip().lower())
    if known is not None:
        return known
    if resource_type.lower().startswith(_ARM_PREFIX):
        return resource_type
    raise PortalError(
        "rule target",
        f"unknown resource type {resource_type!r}",
        code=ErrorCode.RULE_TARGET,
        hint="use an ARM type (Microsoft.DataFactory/factories/...) or one of: "
        + ", ".join(sorted({k.value for k in Kind} | {"factory", "globalParameters"})),
    )


def _dotted(path: tuple[str, ...]) -> str:
    text = ""
    for segment in path:
        if segment == ARRAY:
            text += ARRAY
        else:
            text += ("." if text else "") + segment
    return text


@dataclass(frozen=True)
class RuleTarget:
    """Where a rule sits: a resource type, for subtyped types a subtype, and a property path from the resource root.

    `*` in the path is every key at that level, `[]` every item of the array before it. The resource type may be a
    short name (`linkedService`, `trigger`, …) and is kept as the ARM type; the subtype defaults to `*` for linked
    services, datasets and credentials, and `*` means `None` for the other types.
    """

    resource_type: str
    path: tuple[str, ...]
    subtype: str | None = None

    def __post_init__(self) -> None:
        resource_type = _canonical_type(self.resource_type)
        object.__setattr__(self, "resource_type", resource_type)
        where = f"rule target {resource_type}"
        if isinstance(self.path, str):
            raise PortalError(
                where,
                f"the path must be a tuple of segments, not the string {self.path!r}",
                hint='use RuleTarget.parse(resource_type, "properties.typeProperties.url")',
                code=ErrorCode.RULE_TARGET,
            )
        path = tuple(self.path)
        object.__setattr__(self, "path", path)
        if not path:
            raise PortalError(
                where,
                "the property path is empty",
                code=ErrorCode.RULE_TARGET,
                hint="e.g. properties.typeProperties.url",
            )
        for index, segment in enumerate(path):
            shown = _dotted(path[:index]) or "(start)"
            if not isinstance(segment, str) or not segment.strip():
                raise PortalError(
                    where, f"segment {index + 1} of the path (after {shown}) is empty", code=ErrorCode.RULE_TARGET
                )
            if segment != ARRAY and ("[]" in segment):
                raise PortalError(
                    where,
                    f"segment {segment!r} mixes a name and '[]'",
                    code=ErrorCode.RULE_TARGET,
                    hint='give the array step as its own segment: (..., "pipelines", "[]", ...)',
                )
            if segment == ARRAY and index == 0:
                raise PortalError(
                    where,
                    "the path cannot start with '[]': a resource is an object",
                    code=ErrorCode.RULE_TARGET,
                    hint="'[]' follows an array property, e.g. pipelines[]",
                )
            if segment == ARRAY and path[index - 1] == ARRAY:
                raise PortalError(
                    where,
                    f"'[][]' after {shown}: arrays of arrays take no rules",
                    hint="an array rule applies to items that are objects or plain values",
                    code=ErrorCode.RULE_TARGET,
                )
        subtype = self.subtype
        if subtype is not None and (not isinstance(subtype, str) or not subtype.strip()):
            raise PortalError(
                where,
                f"subtype {subtype!r} is not a name",
                code=ErrorCode.RULE_TARGET,
                hint='"*" for every subtype or a type such as "AzureSqlDatabase"',
            )
        if resource_type.lower() in _STAR_TYPES:
            subtype = STAR if subtype is None else subtype
        elif subtype == STAR:
            subtype = None
        object.__setattr__(self, "subtype", subtype)

    @staticmethod
    def parse(resource_type: str, dotted: str, subtype: str | None = None) -> RuleTarget:
        """`"properties.pipelines[].parameters.*"` → the path `("properties", "pipelines", "[]", "parameters", "*")`."""
        where = f"rule target {resource_type}"
        if not isinstance(dotted, str) or not dotted.strip():
            raise PortalError(
                where,
                "the property path is empty",
                code=ErrorCode.RULE_TARGET,
                hint="e.g. properties.typeProperties.url",
            )
        segments: list[str] = []
        for index, part in enumerate(dotted.split(".")):
            arrays = 0
            while part.endswith(ARRAY):
                part = part[: -len(ARRAY)]
                arrays += 1
            if not part.strip():
                what = "is empty" if not arrays else "has '[]' without a property name before it"
                raise PortalError(
                    where,
                    f"segment {index + 1} of {dotted!r} {what}",
                    code=ErrorCode.RULE_TARGET,
                    hint="write segments separated by single dots, e.g. properties.pipelines[].x",
                )
            if "[" in part or "]" in part:
                raise PortalError(
                    where,
                    f"segment {part!r} of {dotted!r}: only '[]' (every item) can follow a name",
                    hint="a rule covers every item of an array; items cannot be picked by index",
                    code=ErrorCode.RULE_TARGET,
                )
            segments.append(part)
            segments.extend([ARRAY] * arrays)
        return RuleTarget(resource_type, tuple(segments), subtype)

    @property
    def dotted(self) -> str:
        """The path as written in `parse`: `properties.pipelines[].parameters.*`."""
        return _dotted(self.path)

    @property
    def every_subtype(self) -> bool:
        return self.subtype in (None, STAR)

    def describe(self, path: tuple[str, ...] | None = None) -> str:
        """`Microsoft.DataFactory/factories/linkedServices [*] → properties.typeProperties.url`."""
        subtype = f" [{self.subtype}]" if self.subtype is not None else ""
        shown = self.path if path is None else path
        return f"{self.resource_type}{subtype} → {_dotted(shown) or '(root)'}"


def _canonical_parameter_type(type_name: str) -> str | None:
    try:
        return RuleSpec.parse(f"=::{type_name}", "type").type
    except PortalError:
        return None


@dataclass(frozen=True)
class Rule:
    """One rule: the target and the rule string's parts (`<action>[:<name>[:<type>]]`)."""

    target: RuleTarget
    action: str = "="
    name: str = ""
    type: str | None = None
    naming: str | None = None

    def __post_init__(self) -> None:
        # Known types are kept as ADF writes them (`secureString`); unknown ones are refused by `text()`.
        if self.type == "":
            object.__setattr__(self, "type", None)
        elif isinstance(self.type, str):
            canonical = _canonical_parameter_type(self.type)
            if canonical is not None:
                object.__setattr__(self, "type", canonical)

    def text(self) -> str:
        """The rule string as it goes into the file: `=`, `-:name`, `=:-freq:int`, `|:-sasUri:secureString`."""
        where = self.target.describe()
        if not isinstance(self.action, str) or self.action not in ACTIONS:
            raise PortalError(
                where,
                f"action {self.action!r} must be '=', '-' or '|'",
                code=ErrorCode.PARAM_RULE,
                hint="'=' keeps the value as default, '-' makes it required, '|' is for secrets",
            )
        if not isinstance(self.name, str) or ":" in self.name:
            raise PortalError(
                where,
                f"name part {self.name!r} cannot contain ':'",
                code=ErrorCode.PARAM_RULE,
                hint='"" names by the path, "-short" shortens, any other text replaces the last segment',
            )
        if self.name == "-":
            raise PortalError(
                where,
                "name part '-' needs a name after the '-'",
                code=ErrorCode.PARAM_RULE,
                hint='e.g. "-connectionString"',
            )
        text = self.action
        if self.name or self.type:
            text += f":{self.name}"
        if self.type:
            text += f":{self.type}"
        spec = RuleSpec.parse(text, where)
        if (spec.action, spec.name, spec.type) != (self.action, self.name, self.type):
            raise PortalError(where, f"rule {text!r} does not read back as written", code=ErrorCode.PARAM_RULE)
        return text


def _plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (definitions may arrive as mappings)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.deepcopy(value)


def current_definition(factory: Factory) -> dict[str, Any]:
    """The definition to edit: a copy of the factory's file, or of ADF's default when it has none.

    A custom file replaces the default entirely, so a first edit must start from the default to keep its rules.
    """
    source = factory.parameter_definition
    return _plain(DEFAULT_DEFINITION if source is None else source)


def _type_key(definition: Mapping[str, Any], resource_type: str) -> str | None:
    """The entry `rules_for` reads for this type: the first key matching case-insensitively."""
    wanted = resource_type.lower()
    for key in definition:
        if isinstance(key, str) and key.lower() == wanted:
            return key
    return None


def _is_subtyped(resource_type: str, root: Mapping[str, Any]) -> bool:
    # As `rules_for` decides it.
    return resource_type.lower() in SUBTYPED_RESOURCE_TYPES or bool(root and not (RESOURCE_LEVEL_KEYS & set(root)))


# --- listing ------------------------------------------------------------------------------------------------------


def list_rules(definition: Mapping[str, Any]) -> list[Rule]:
    """Every rule in the definition, in file order (for a rules table).

    Strings that are no rule (ADF ignores them, e.g. a trigger type written where a rule belongs) are left out; a
    rule string that is broken (`=:a:float`) or a value that cannot be a rule (a number) is refused with its place,
    as the export would refuse it. Entries for other than `Microsoft.DataFactory/factories…` types, and later
    entries that repeat a type in other letter case, are never read by the export and are not listed.
    """
    rules: list[Rule] = []
    seen: set[str] = set()
    for key, root in definition.items():
        if not isinstance(key, str) or not key.lower().startswith(_ARM_PREFIX) or key.lower() in seen:
            continue
        seen.add(key.lower())
        if not isinstance(root, Mapping):
            raise PortalError(key, "rules for a resource type must be a JSON object", code=ErrorCode.PARAM_RULE)
        if _is_subtyped(key, root):
            for subtype, tree in root.items():
                if isinstance(tree, Mapping):
                    _collect(rules, key, subtype, tree, (), None)
        else:
            _collect(rules, key, None, root, (), None)
    return rules


def _collect(
    rules: list[Rule],
    resource_type: str,
    subtype: str | None,
    node: Mapping[str, Any],
    path: tuple[str, ...],
    naming: str | None,
) -> None:
    for key, value in node.items():
        _visit(rules, resource_type, subtype, value, path + (key,), naming)


def _visit(
    rules: list[Rule], resource_type: str, subtype: str | None, value: Any, path: tuple[str, ...], naming: str | None
) -> None:
    if isinstance(value, str):
        if value.startswith(ACTIONS):
            target = RuleTarget(resource_type, path, subtype)
            spec = RuleSpec.parse(value, target.describe())
            rules.append(Rule(target, spec.action, spec.name, spec.type, naming))
    elif isinstance(value, Mapping):
        _collect(rules, resource_type, subtype, value, path, naming)
    elif isinstance(value, list):
        # The export applies the item rule when it is a string or an object; anything else does nothing.
        if value and isinstance(value[0], (str, Mapping)):
            inner = value[1] if len(value) > 1 and isinstance(value[1], str) else None
            _visit(rules, resource_type, subtype, value[0], path + (ARRAY,), inner)
    elif value is not None:
        target = RuleTarget(resource_type, path, subtype)
        raise PortalError(
            target.describe(),
            f"{json.dumps(value)} is not a rule: a rule must be a string, an object or an array",
            code=ErrorCode.PARAM_RULE,
        )


# --- editing ------------------------------------------------------------------------------------------------------


def _conflict(target: RuleTarget, path: tuple[str, ...], what: str, hint: str | None = None) -> PortalError:
    return PortalError(target.describe(path), what, hint=hint, code=ErrorCode.RULE_CONFLICT)


def _count_rules(value: Any) -> int:
    if isinstance(value, str):
        return 1
    if isinstance(value, Mapping):
        return sum(_count_rules(v) for v in value.values())
    if isinstance(value, list) and value:
        return _count_rules(value[0])
    return 0


def _put(holder: Any, slot: Any, value: Any) -> None:
    """Set `holder[slot]`; an empty array rule (`slot` 0) takes `value` as its one item."""
    if isinstance(holder, list) and not holder:
        holder.append(value)
    else:
        holder[slot] = value


def _rule_tree_for_add(root: dict[str, Any], target: RuleTarget) -> dict[str, Any]:
    subtyped = _is_subtyped(target.resource_type, root) or (not root and target.subtype is not None)
    if subtyped:
        key = STAR if target.every_subtype else target.subtype
        assert key is not None
        if key in RESOURCE_LEVEL_KEYS and target.resource_type.lower() not in SUBTYPED_RESOURCE_TYPES:
            raise PortalError(
                target.describe(),
                f"subtype {key!r} would be read as the resource's own {key!r}",
                code=ErrorCode.RULE_TARGET,
            )
        tree = root.get(key)
        if tree is None:
            tree = root[key] = {}
        elif not isinstance(tree, dict):
            raise PortalError(
                f"{target.resource_type} [{key}]",
                f"holds {json.dumps(tree)}, not an object of rules",
                hint="remove that value from the file first",
                code=ErrorCode.RULE_CONFLICT,
            )
        return tree
    if not target.every_subtype:
        keys = ", ".join(sorted(RESOURCE_LEVEL_KEYS & set(root)))
        raise PortalError(
            target.resource_type,
            f"the rules for this type are not keyed by subtype (the entry holds {keys}), so a rule for subtype "
            f"{target.subtype!r} cannot be added",
            code=ErrorCode.RULE_CONFLICT,
            hint='add the rule for every subtype ("*"), or rewrite the entry keyed by subtype',
        )
    return root


def add_rule(definition: Mapping[str, Any], rule: Rule) -> dict[str, Any]:
    """A new definition with `rule` set (an existing rule at the same target is replaced in place).

    Objects and arrays on the way are created (`[]` as `[ {…} ]`, or `[ {…}, naming ]`). Refused with
    RULE_CONFLICT, naming the place, when the path crosses an existing rule string, needs an object where the
    definition has an array rule (or the reverse), or ends where rules for deeper properties already are.
    """
    text = rule.text()
    target = rule.target
    path = target.path
    if path[0] not in RESOURCE_LEVEL_KEYS:
        raise PortalError(
            target.describe(),
            f"a rule's path starts at the ARM resource, whose keys are "
            f"{', '.join(sorted(RESOURCE_LEVEL_KEYS))}; {path[0]!r} is none of them",
            code=ErrorCode.RULE_TARGET,
            hint='most rules start with "properties." (e.g. properties.typeProperties.url)',
        )
    naming = rule.naming
    arrays = [index for index, segment in enumerate(path) if segment == ARRAY]
    if naming is not None:
        if not isinstance(naming, str):
            raise PortalError(
                target.describe(), f"naming {naming!r} must be a dotted property path", code=ErrorCode.PARAM_RULE
            )
        if not arrays:
            raise PortalError(
                target.describe(),
                "a naming property names the items of an array, and the path has no '[]'",
                hint="drop the naming, or go through the array: pipelines[].…",
                code=ErrorCode.PARAM_RULE,
            )
        if naming and any(not part.strip() for part in naming.split(".")):
            raise PortalError(
                target.describe(),
                f"naming {naming!r} has an empty segment",
                code=ErrorCode.PARAM_RULE,
                hint="e.g. pipelineReference.referenceName",
            )

    result = _plain(definition)
    type_key = _type_key(result, target.resource_type)
    if type_key is None:
        type_key = target.resource_type
        result[type_key] = {}
    root = result[type_key]
    if not isinstance(root, dict):
        raise PortalError(
            type_key,
            f"holds {json.dumps(root)}, not an object of rules",
            code=ErrorCode.RULE_CONFLICT,
            hint="remove that value from the file first",
        )
    node: Any = _rule_tree_for_add(root, target)

    for index, segment in enumerate(path):
        here = path[: index + 1]
        last = index == len(path) - 1
        if segment == ARRAY:
            holder: Any = node
            slot: Any = 0
            current = node[0] if node else None
        else:
            holder, slot = node, segment
            current = node.get(segment)

        if last:
            if isinstance(current, (dict, list)) and _count_rules(current):
                raise _conflict(
                    target,
                    here,
                    f"holds {_count_rules(current)} rule(s) for what is below it; it cannot be a rule itself as well",
                    hint=f"remove the rules below {_dotted(here)} first",
                )
            _put(holder, slot, text)
        else:
            wants_array = path[index + 1] == ARRAY
            if current is None:
                current = [] if wants_array else {}
                _put(holder, slot, current)
            elif isinstance(current, str):
                items = " for every item" if segment == ARRAY else ""
                raise _conflict(
                    target,
                    here,
                    f"is already the rule {current!r}{items}; a rule for {target.dotted} cannot go below it",
                    hint=f"remove the rule at {_dotted(here)} first, or change that rule instead",
                )
            elif wants_array and isinstance(current, dict):
                raise _conflict(
                    target,
                    here,
                    f"is an object of rules, not an array rule; {target.dotted} needs an array here",
                    hint=f"drop the '[]' after {_dotted(here)}",
                )
            elif not wants_array and isinstance(current, list):
                raise _conflict(
                    target,
                    here,
                    f"is an array rule; {target.dotted} needs an object here",
                    hint=f"go into its items with {_dotted(here + (ARRAY,))}",
                )
            elif not isinstance(current, (dict, list)):
                raise _conflict(
                    target,
                    here,
                    f"holds {json.dumps(current)}, which is no rule",
                    hint="remove that value from the file first",
                )
        if segment == ARRAY and naming is not None and index == arrays[-1]:
            del node[1:]
            if naming:
                node.append(naming)
        node = current
    return result


def remove_rule(definition: Mapping[str, Any], target: RuleTarget) -> dict[str, Any]:
    """A new definition without the rule at `target`, pruning the objects, arrays, subtype and resource-type
    entries the removal leaves empty. RULE_NOT_FOUND when there is no rule there."""
    result = _plain(definition)

    def missing(why: str) -> PortalError:
        return PortalError(
            target.describe(),
            f"there is no rule here: {why}",
            code=ErrorCode.RULE_NOT_FOUND,
            hint="list_rules shows the rules there are",
        )

    type_key = _type_key(result, target.resource_type)
    if type_key is None or not isinstance(result[type_key], dict):
        raise missing(f"the definition has no rules for {target.resource_type}")
    root = result[type_key]
    chain: list[tuple[Any, Any]] = [(result, type_key)]
    if _is_subtyped(target.resource_type, root):
        key = STAR if target.every_subtype else target.subtype
        if not isinstance(root.get(key), dict):
            raise missing(f"the definition has no rules for subtype {key!r}")
        chain.append((root, key))
        node: Any = root[key]
    else:
        if not target.every_subtype:
            raise missing("the rules for this type are not keyed by subtype")
        node = root
    for index, segment in enumerate(target.path):
        if segment == ARRAY:
            if not isinstance(node, list) or not node:
                raise missing(f"{_dotted(target.path[:index])} is not an array rule")
            slot: Any = 0
        else:
            if not isinstance(node, dict) or segment not in node:
                shown = _dotted(target.path[: index + 1])
                raise missing(f"nothing at {shown}")
            slot = segment
        chain.append((node, slot))
        node = node[slot]
    if not isinstance(node, str):
        raise missing(f"{target.dotted} holds rules for what is below it, not a rule")

    while chain:
        container, slot = chain.pop()
        if isinstance(container, list):
            # The array's item rule is gone: the array goes, its naming with it.
            container.clear()
        else:
            del container[slot]
        if container:
            break
    return result


def definition_text(definition: Mapping[str, Any], indent: str = "    ") -> str:
    """The file's text: indented JSON as ADF writes it (4 spaces), keys in their order, a final newline."""
    return json.dumps(_plain(definition), indent=indent, ensure_ascii=False) + "\n"


# --- preview ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulePreview:
    added: tuple[TemplateParameter, ...]
    removed: tuple[TemplateParameter, ...]
    changed: tuple[tuple[TemplateParameter, TemplateParameter], ...]
    parameter_count: int
    warnings: tuple[str, ...]


def _differs(old: TemplateParameter, new: TemplateParameter) -> bool:
    def key(p: TemplateParameter) -> tuple[Any, ...]:
        return (p.type, p.has_default, p.default if p.has_default else None, p.required)

    return key(old) != key(new)


def _path_matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if len(path) == len(pattern) + 1 and path[-1] == "secretName":
        path = path[:-1]  # `|` on a Key Vault reference parameterizes its secret name
    if len(path) != len(pattern):
        return False
    for want, have in zip(pattern, path, strict=True):
        is_item = have.startswith("[") and have.endswith("]")
        if want == ARRAY:
            if not is_item:
                return False
        elif want == STAR:
            if is_item:
                return False
        elif want != have:
            return False
    return True


def _rule_matches(
    rule: Rule, parameters: tuple[TemplateParameter, ...], subtypes: Mapping[tuple[str, str], Any]
) -> bool:
    target = rule.target
    wanted_type = target.resource_type.lower()
    for parameter in parameters:
        if parameter.rule is None or parameter.resource.lower() != wanted_type:
            continue
        if not target.every_subtype and subtypes.get((wanted_type, parameter.object_name)) != target.subtype:
            continue
        if _path_matches(target.path, parameter.path):
            return True
    return False


def _no_match_warning(rule: Rule, factory: Factory) -> str:
    target = rule.target
    lead = f"the rule {rule.text()!r} at {target.describe()}"
    lower = target.resource_type.lower()
    if lower == FACTORY_TYPE.lower():
        text = f"{lead} matches no property of the factory resource"
        if not factory.include_factory_template:
            text += " (it is in the template only with includeFactoryTemplate in publish_config.json)"
        return text
    if lower == GLOBAL_PARAMETERS_TYPE.lower():
        text = f"{lead} matches no property of the global parameters resource"
        if not factory.include_global_params_template:
            text += " (it is in the template only with includeGlobalParamsTemplate in publish_config.json)"
        return text
    kind = _KIND_BY_TYPE.get(lower)
    if kind is None:
        return f"{lead} matches nothing: the export makes no resource of this type"
    label = kind.label.lower()
    subject = label if target.every_subtype else f"{target.subtype} {label}"
    objects = [o for o in factory.of_kind(kind) if target.every_subtype or o.subtype == target.subtype]
    text = f"{lead} matches no property of any {subject}"
    if not objects:
        text += f" (the factory has no {subject}s)"
    return text


def preview(factory: Factory, new_definition: Mapping[str, Any]) -> RulePreview:
    """Export with the factory's definition and with `new_definition`, and compare the parameters by name."""
    old_definition = factory.parameter_definition if factory.parameter_definition is not None else DEFAULT_DEFINITION
    new_definition = _plain(new_definition)
    old_rules = set(list_rules(old_definition))
    new_rules = list_rules(new_definition)
    before = export_factory(factory)
    after = export_factory(
        replace(
            factory,
            parameter_definition=new_definition,
            parameter_definition_path=factory.parameter_definition_path or PARAMETER_DEFINITION_FILE,
        )
    )
    old_by_name = {p.name: p for p in before.parameters}
    new_by_name = {p.name: p for p in after.parameters}
    added = tuple(p for p in after.parameters if p.name not in old_by_name)
    removed = tuple(p for p in before.parameters if p.name not in new_by_name)
    changed = tuple(
        (old_by_name[p.name], p) for p in after.parameters if p.name in old_by_name and _differs(old_by_name[p.name], p)
    )

    warnings: list[str] = []
    subtypes = {(o.kind.arm_type.lower(), o.name): o.subtype for o in factory.objects}
    for rule in new_rules:
        if rule not in old_rules and not _rule_matches(rule, after.parameters, subtypes):
            warnings.append(_no_match_warning(rule, factory))
    count = len(after.parameters)
    if count > ARM_PARAMETER_LIMIT:
        warnings.append(f"the template would have {count} parameters; ARM allows at most {ARM_PARAMETER_LIMIT}")
    for first, second in after.clashes:
        if (first, second) not in before.clashes:
            warnings.append(f"two rules make parameter {first!r}; the second is named {second!r}")
    old_ignored = {_strip_source(where, before.definition_source) + text for where, text in before.ignored_rules}
    for where, text in after.ignored_rules:
        place = _strip_source(where, after.definition_source)
        if place + text not in old_ignored:
            warnings.append(f"{place}: {text!r} is not a parameterization rule and is ignored")
    return RulePreview(added=added, removed=removed, changed=changed, parameter_count=count, warnings=tuple(warnings))


def _strip_source(where: str, source: str) -> str:
    prefix = f"{source}: "
    return where[len(prefix) :] if where.startswith(prefix) else where
