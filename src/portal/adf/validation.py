"""Static checks of a factory's Git JSON, before it is exported or promoted.

Covers what azure.datafactory.tools' Test-AdfCode checks (JSON syntax, file vs object names, dangling references,
global parameter names, dashes in names) and more: object types, duplicate names, reference cycles, the ARM
limits of the export, and the parameter definition file.

Findings name files, objects and property paths; they never quote property values, which may be secrets.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE, ArmExport, export_factory
from portal.adf.dataflows import script_problems
from portal.adf.expressions import json_type_name
from portal.adf.loader import open_source, parse_factory
from portal.adf.model import PARAMETER_DEFINITION_FILE, PUBLISH_CONFIG_FILE, AdfObject, Factory, Kind
from portal.adf.parameterization import (
    ACTIONS,
    DEFAULT_DEFINITION,
    RESOURCE_LEVEL_KEYS,
    SUBTYPED_RESOURCE_TYPES,
    RuleSpec,
    subtype_rules,
)
from portal.adf.references import (
    NESTED_ACTIVITY_KEYS,
    dangling_references,
    dependency_graph,
    find_cycles,
    object_references,
)
from portal.errors import ErrorCode, Finding, FindingsError, PortalError, Severity

# ARM limits for one template (https://learn.microsoft.com/azure/azure-resource-manager/templates/best-practices).
MAX_PARAMETERS = 256
MAX_RESOURCES = 800
MAX_TEMPLATE_BYTES = 4 * 1024 * 1024
MAIN_TEMPLATE = "ARMTemplateForFactory.json"
LINKED_PREFIX = "linkedTemplates/ArmTemplate_"

# Kinds whose `properties.type` ADF needs to know what the object is.
TYPED_KINDS = frozenset({Kind.LINKED_SERVICE, Kind.DATASET, Kind.TRIGGER, Kind.INTEGRATION_RUNTIME, Kind.CREDENTIAL})
# Test-AdfCode warns about these characters in these kinds' names.
NAME_CHARACTER_KINDS = (Kind.LINKED_SERVICE, Kind.DATASET, Kind.DATAFLOW)
BAD_NAME_CHARACTERS = ("-", " ")

_KIND_BY_ARM_TYPE: Mapping[str, Kind] = {kind.arm_type.lower(): kind for kind in Kind}


@dataclass(frozen=True)
class ValidationReport:
    findings: tuple[Finding, ...]
    object_count: int

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_source(
    adf_root: str | os.PathLike[str],
    *,
    ref: str | None = None,
    root_folder: str | None = None,
    factory_name: str | None = None,
) -> ValidationReport:
    """Load the factory (at `ref` when given) and check it; a source that cannot be opened raises PortalError."""
    loaded = parse_factory(open_source(adf_root, ref, root_folder), factory_name=factory_name)
    return validate_factory(loaded.factory, loaded.findings)


def validate_factory(factory: Factory, load_findings: Iterable[Finding] = ()) -> ValidationReport:
    findings = check_structure(factory, load_findings)
    # Not part of check_structure, which every export runs first: a script outside the grammar does not stop the
    # export, and reading every script again would cost each export as much as the scripts' own step.
    findings.extend(check_data_flow_scripts(factory))
    # A bad rule also stops the export; it is reported once, by the definition check, which finds all of them.
    reported = {f.code for f in findings if f.severity is Severity.ERROR}
    findings.extend(check_export(factory, skip_codes=reported & {ErrorCode.PARAM_RULE}))
    return ValidationReport(findings=tuple(sort_findings(findings)), object_count=len(factory.objects))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity is not Severity.ERROR, f.where, f.code))


def check_structure(factory: Factory, load_findings: Iterable[Finding] = ()) -> list[Finding]:
    """Every check but the ARM limits: what must hold before an export is worth writing."""
    findings: list[Finding] = list(load_findings)
    findings.extend(check_names(factory))
    findings.extend(check_service_names(factory))
    findings.extend(check_types(factory))
    findings.extend(check_activities(factory))
    findings.extend(check_duplicates(factory))
    findings.extend(check_references(factory))
    findings.extend(check_cycles(factory))
    findings.extend(check_self_calls(factory))
    findings.extend(check_global_parameters(factory))
    findings.extend(check_parameter_definition(factory))
    return findings


# --- names and types ---------------------------------------------------------------------------------------------


def check_names(factory: Factory) -> Iterator[Finding]:
    for obj in factory.objects:
        stem = PurePosixPath(obj.path).stem
        if obj.name != stem:
            yield Finding(
                ErrorCode.NAME_MISMATCH,
                obj.path,
                f"the file is named {stem!r} but the {obj.kind.label.lower()} inside is named {obj.name!r}",
                hint=f"rename the file to {obj.name}.json, or the object to {stem!r}",
            )
    if factory.factory_path and factory.factory_body is not None:
        name = factory.factory_body.get("name")
        stem = PurePosixPath(factory.factory_path).stem
        if isinstance(name, str) and name != stem:
            yield Finding(
                ErrorCode.NAME_MISMATCH,
                factory.factory_path,
                f"the file is named {stem!r} but the factory inside is named {name!r}",
                hint=f"rename the file to {name}.json",
            )
    for kind in NAME_CHARACTER_KINDS:
        for obj in factory.of_kind(kind):
            found = [c for c in BAD_NAME_CHARACTERS if c in obj.name]
            if found:
                what = " and ".join("a dash" if c == "-" else "a space" for c in found)
                yield Finding(
                    ErrorCode.NAME_CHARACTERS,
                    obj.path,
                    f"the name of {obj.describe()} contains {what}",
                    Severity.WARNING,
                    "use letters, digits and underscores",
                )


# Names the Data Factory service accepts, per kind: the path parameters of the REST contract
# (azure-rest-api-specs, Microsoft.DataFactory/stable/2018-06-01/datafactory.json, `parameters`, named in
# CONTRACT_PARAMETERS; tests/test_deploy_contract.py compares this table with the vendored contract). ADF Studio
# checks entity names with the same pattern. A name the service refuses fails the deploy half-way, after the
# objects before it were written, so a factory holding one gets no plan.
_ENTITY_WORDS = "start with a letter, digit or underscore and contain none of < > * # . % & : \\ + ? /"
_ENTITY_PATTERN = re.compile(r"^[A-Za-z0-9_][^<>*#.%&:\\+?/]*$")
_ENTITY_NAME = (_ENTITY_PATTERN, 1, 260, _ENTITY_WORDS)
_NETWORK_NAME = (
    re.compile(r"^([_A-Za-z0-9]|([_A-Za-z0-9][-_A-Za-z0-9]{0,125}[_A-Za-z0-9]))$"),
    1,
    127,
    "be letters, digits, underscores and dashes, starting and ending with no dash",
)
SERVICE_NAME_RULES: Mapping[Kind, tuple[re.Pattern[str], int, int, str]] = {
    Kind.LINKED_SERVICE: _ENTITY_NAME,
    Kind.DATASET: _ENTITY_NAME,
    Kind.PIPELINE: _ENTITY_NAME,
    Kind.TRIGGER: _ENTITY_NAME,
    Kind.DATAFLOW: _ENTITY_NAME,
    Kind.CHANGE_DATA_CAPTURE: _ENTITY_NAME,
    Kind.CREDENTIAL: _NETWORK_NAME,
    Kind.INTEGRATION_RUNTIME: (
        re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$"),
        3,
        63,
        "be letters and digits, with single dashes between them",
    ),
    Kind.MANAGED_VIRTUAL_NETWORK: _NETWORK_NAME,
    Kind.MANAGED_PRIVATE_ENDPOINT: _NETWORK_NAME,
}
CONTRACT_PARAMETERS: Mapping[Kind, str] = {
    Kind.LINKED_SERVICE: "linkedServiceName",
    Kind.DATASET: "datasetName",
    Kind.PIPELINE: "pipelineName",
    Kind.TRIGGER: "triggerName",
    Kind.DATAFLOW: "dataFlowName",
    Kind.CHANGE_DATA_CAPTURE: "changeDataCaptureName",
    Kind.CREDENTIAL: "credentialName",
    Kind.INTEGRATION_RUNTIME: "integrationRuntimeName",
    Kind.MANAGED_VIRTUAL_NETWORK: "managedVirtualNetworkName",
    Kind.MANAGED_PRIVATE_ENDPOINT: "managedPrivateEndpointName",
}


def check_service_names(factory: Factory) -> Iterator[Finding]:
    for obj in factory.objects:
        rule = SERVICE_NAME_RULES.get(obj.kind)
        if rule is None:
            continue
        pattern, shortest, longest, words = rule
        if not (shortest <= len(obj.name) <= longest and pattern.match(obj.name)):
            yield Finding(
                ErrorCode.SERVICE_NAME,
                obj.path,
                f"Data Factory refuses the name of {obj.describe()}: {obj.kind.label.lower()} names must have "
                f"{shortest}-{longest} characters and {words}",
                hint="rename the object (and the file) before promoting it",
            )


def check_activities(factory: Factory) -> Iterator[Finding]:
    """A pipeline's activities (and those nested in ForEach, Until, If and Switch) must be lists of objects: the
    service refuses anything else, after the objects before it were written."""
    for obj in factory.of_kind(Kind.PIPELINE):
        props = obj.body.get("properties")
        if not isinstance(props, dict) or "activities" not in props:
            continue
        queue: list[tuple[Any, str]] = [(props["activities"], "properties.activities")]
        while queue:
            value, pointer = queue.pop()
            if not isinstance(value, list):
                yield Finding(
                    ErrorCode.ACTIVITIES,
                    f"{obj.path} ({pointer})",
                    f"{pointer} of {obj.describe()} is a JSON {json_type_name(value)}, not a list of activities",
                )
                continue
            for index, activity in enumerate(value):
                where = f"{pointer}[{index}]"
                if not isinstance(activity, dict):
                    yield Finding(
                        ErrorCode.ACTIVITIES,
                        f"{obj.path} ({where})",
                        f"{where} of {obj.describe()} is a JSON {json_type_name(activity)}, not an activity",
                    )
                    continue
                inner = activity.get("typeProperties")
                if not isinstance(inner, dict):
                    continue
                for key in NESTED_ACTIVITY_KEYS:
                    if key in inner:
                        queue.append((inner[key], f"{where}.typeProperties.{key}"))
                cases = inner.get("cases")
                if isinstance(cases, list):
                    for ci, case in enumerate(cases):
                        if isinstance(case, dict) and "activities" in case:
                            queue.append((case["activities"], f"{where}.typeProperties.cases[{ci}].activities"))


def check_types(factory: Factory) -> Iterator[Finding]:
    for obj in factory.objects:
        declared = obj.body.get("type")
        if isinstance(declared, str) and _is_synapse_twin(declared, obj.kind):
            # Synapse and ADF share the Git format; ADF Studio publishes such a file, found in its own folder,
            # as the factory's object of that folder (a corpus factory has 22).
            yield Finding(
                ErrorCode.SYNAPSE_TYPE,
                f"{obj.path} (type)",
                f"the file declares the Synapse type {declared!r}; ADF publishes it as {obj.kind.arm_type}, "
                f"the type of the {obj.kind.value}/ folder",
                Severity.WARNING,
                f'write "type": "{obj.kind.arm_type}" to match what is deployed',
            )
        elif declared is not None and (not isinstance(declared, str) or declared.lower() != obj.kind.arm_type.lower()):
            shown = declared if isinstance(declared, str) else f"a JSON {type(declared).__name__}"
            yield Finding(
                ErrorCode.WRONG_TYPE,
                f"{obj.path} (type)",
                f"the file declares type {shown!r} but sits in the {obj.kind.value}/ folder, "
                f"which holds {obj.kind.arm_type}",
                hint='move the file to the folder of its type, or fix its "type"',
            )
        if obj.kind in TYPED_KINDS and not obj.subtype:
            yield Finding(
                ErrorCode.MISSING_TYPE,
                f"{obj.path} (properties.type)",
                f"{obj.describe()} has no properties.type, so ADF cannot tell what kind of "
                f"{obj.kind.label.lower()} it is",
                hint='recreate the object in ADF Studio or add its "type" under "properties"',
            )
    if factory.factory_path and factory.factory_body is not None:
        declared = factory.factory_body.get("type")
        if declared is not None and (not isinstance(declared, str) or declared.lower() != FACTORY_TYPE.lower()):
            yield Finding(
                ErrorCode.WRONG_TYPE,
                f"{factory.factory_path} (type)",
                f"the factory file declares type {declared!r} instead of {FACTORY_TYPE}",
            )


SYNAPSE_PREFIX = "microsoft.synapse/workspaces/"


def _is_synapse_twin(declared: str, kind: Kind) -> bool:
    """`Microsoft.Synapse/workspaces/pipelines` for a file in pipeline/: the same object in Synapse's namespace."""
    lowered = declared.lower()
    return lowered.startswith(SYNAPSE_PREFIX) and lowered[len(SYNAPSE_PREFIX) :] == kind.segment.lower()


def check_duplicates(factory: Factory) -> Iterator[Finding]:
    """ADF names are case-insensitive: `PL_A` and `pl_a` are one object, and the second file overwrites it."""
    first: dict[tuple[Kind, str], AdfObject] = {}
    for obj in sorted(factory.objects, key=lambda o: o.path):
        key = (obj.kind, obj.qualified_name.lower())
        if key not in first:
            first[key] = obj
            continue
        other = first[key]
        yield Finding(
            ErrorCode.DUPLICATE_NAME,
            obj.path,
            f"{obj.describe()} has the same name as {other.describe()} in {other.path} "
            "(ADF names are case-insensitive)",
            hint="rename or delete one of the two files",
        )


# --- references --------------------------------------------------------------------------------------------------


def check_references(factory: Factory) -> Iterator[Finding]:
    by_folded = {(obj.kind, obj.qualified_name.lower()): obj for obj in factory.objects}
    for obj in factory.objects:
        for dangling in dangling_references(factory, obj):
            ref = dangling.reference
            target = f"{ref.kind.label.lower()} {ref.name}"
            assert ref.pointer is not None  # object_references gives every reference its place
            # The parent link of a managed private endpoint has a pointer in parentheses already.
            where = f"{obj.path} {ref.pointer}" if ref.pointer.startswith("(") else f"{obj.path} ({ref.pointer})"
            other = by_folded.get((ref.kind, ref.name.lower()))
            if other is not None:
                # ADF resolves it, but the export's dependsOn matches names exactly and would miss it.
                yield Finding(
                    ErrorCode.REFERENCE_CASE,
                    where,
                    f"{obj.describe()} refers to {target}, which is named {other.qualified_name!r}",
                    Severity.WARNING,
                    f"write the name as {other.qualified_name!r}",
                )
                continue
            if dangling.optional:
                yield Finding(
                    ErrorCode.DANGLING_REFERENCE,
                    where,
                    f"{obj.describe()} refers to {target}, which does not exist in the factory; ADF drops "
                    "this optional reference when it publishes, and so does the export",
                    Severity.WARNING,
                    f"add {ref.kind.value}/{ref.name}.json or remove the reference",
                )
                continue
            yield Finding(
                ErrorCode.DANGLING_REFERENCE,
                where,
                f"{obj.describe()} refers to {target}, which does not exist in the factory",
                hint=f"add {ref.kind.value}/{ref.name}.json or remove the reference",
            )


def check_cycles(factory: Factory) -> Iterator[Finding]:
    graph = dependency_graph(factory)
    for cycle in find_cycles(graph):
        start = factory.find(*cycle[0])
        label = " → ".join(f"{kind.value} {name}" for kind, name in cycle)
        yield Finding(
            ErrorCode.REFERENCE_CYCLE,
            start.path if start is not None else cycle[0][1],
            f"reference cycle: {label}",
            hint="remove one of these references; ARM cannot deploy resources that depend on each other in a circle",
        )


def check_self_calls(factory: Factory) -> Iterator[Finding]:
    """A pipeline that runs itself (Execute Pipeline naming its own pipeline) never ends; ADF refuses it. The
    dependency graph leaves self-references out, so the cycle check does not see these."""
    for obj in factory.of_kind(Kind.PIPELINE):
        for ref in object_references(obj):
            if ref.kind is Kind.PIPELINE and ref.name.lower() == obj.name.lower():
                yield Finding(
                    ErrorCode.SELF_CALL,
                    f"{obj.path} ({ref.pointer})",
                    f"{obj.describe()} runs itself",
                    hint="an Execute Pipeline activity must run another pipeline",
                )


# --- data flow scripts -------------------------------------------------------------------------------------------

_SCRIPT_PLACE = re.compile(r"line (\d+), column (\d+)")


def check_data_flow_scripts(factory: Factory) -> Iterator[Finding]:
    """A script outside the data flow script grammar is exported as written, where Publish would re-serialize
    it; the place is named, never the script's text (it may hold literals)."""
    for obj in factory.of_kind(Kind.DATAFLOW):
        for problem in script_problems(obj.body, factory.body_of):
            field = problem.split(":", 1)[0]
            place = _SCRIPT_PLACE.search(problem)
            at = f" at line {place.group(1)}, column {place.group(2)}" if place else ""
            yield Finding(
                ErrorCode.DATA_FLOW_SCRIPT,
                f"{obj.path} (properties.typeProperties.{field})",
                f"{obj.describe()}: the script cannot be read{at}, so the export keeps it as written; ADF "
                "Publish may write it differently",
                Severity.WARNING,
                "open the data flow in ADF Studio and save it, or fix the script",
            )


# --- global parameters -------------------------------------------------------------------------------------------


def check_global_parameters(factory: Factory) -> Iterator[Finding]:
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if factory.factory_body is not None and factory.factory_path:
        props = factory.factory_body.get("properties")
        if isinstance(props, dict) and isinstance(props.get("globalParameters"), dict):
            sources.append((f"{factory.factory_path} (properties.globalParameters.", props["globalParameters"]))
    if factory.global_parameters_body is not None:
        body = factory.global_parameters_body
        params = body.get("properties", body)
        if isinstance(params, dict):
            sources.append(("globalParameters/ (", params))
    for prefix, params in sources:
        for name in params:
            if "-" in name:
                # Publish does not refuse such a name; only an expression that names it fails, at run time.
                yield Finding(
                    ErrorCode.GLOBAL_PARAMETER_NAME,
                    f"{prefix}{name})",
                    f"global parameter {name!r} contains a dash, so ADF expressions cannot reference it as "
                    f"pipeline().globalParameters.{name}",
                    Severity.WARNING,
                    "use letters, digits and underscores",
                )


# --- the parameter definition file -------------------------------------------------------------------------------


@dataclass(eq=False)
class _Leaf:
    """A rule string in the definition, kept by identity so a walk can mark it used."""

    path: str
    text: str


def check_parameter_definition(factory: Factory) -> list[Finding]:
    """Malformed rules (errors) and rules that match nothing in this factory (warnings)."""
    definition = factory.parameter_definition
    if definition is None:
        return []  # the default template is ADF's own
    file = factory.parameter_definition_path or PARAMETER_DEFINITION_FILE
    findings: list[Finding] = []
    resources = _rule_targets(factory)
    seen_types: set[str] = set()
    if definition and not any(key.lower() in resources for key in definition):
        # An ARM template or parameter file saved under the definition's name (a corpus factory):
        # Publish reads it as a definition whose keys name no resource type, so it parameterizes nothing, and
        # ADF's default parameterization does not apply either.
        findings.append(
            Finding(
                ErrorCode.NO_RULES,
                file,
                "names no resource type of a data factory (is it an ARM template?), so ADF parameterizes nothing: "
                "the templates get only the secure strings ADF adds for secrets",
                Severity.WARNING,
                "write parameterization rules here, or delete the file to use ADF's default ones",
            )
        )
    for type_key, root in definition.items():
        where = f"{file} ({type_key})"
        if type_key.lower() not in resources:
            # ADF reads the keys that name resource types and ignores the others, whatever their value.
            findings.append(
                Finding(
                    ErrorCode.UNUSED_RULE,
                    where,
                    "is not a resource type of a data factory; ADF ignores it",
                    Severity.WARNING,
                    "check the spelling of the type",
                )
            )
            continue
        if not isinstance(root, dict):
            findings.append(Finding(ErrorCode.PARAM_RULE, where, "the rules for a resource type must be a JSON object"))
            continue
        tree = _annotate(root, "", f"{file} ({type_key} → ", findings)
        lowered = type_key.lower()
        if not root:
            continue  # `{}`: boilerplate of ADF's default template, parameterizes nothing on purpose
        if lowered in seen_types:
            findings.append(
                Finding(
                    ErrorCode.UNUSED_RULE,
                    where,
                    "is ignored: an earlier key names the same resource type",
                    Severity.WARNING,
                    "merge the two sets of rules",
                )
            )
        elif not resources[lowered]:
            if root not in (_default_rules(lowered), _EARLIER_DEFAULTS.get(lowered)):
                findings.append(Finding(ErrorCode.UNUSED_RULE, where, _why_absent(lowered), Severity.WARNING))
        else:
            subtyped = lowered in SUBTYPED_RESOURCE_TYPES or not (RESOURCE_LEVEL_KEYS & set(root))
            findings.extend(_unused_rules(tree, resources[lowered], subtyped, f"{file} ({type_key} → ", lowered))
        seen_types.add(lowered)
    return findings


def _unused_rules(
    tree: dict[str, Any],
    targets: list[tuple[str | None, Mapping[str, Any]]],
    subtyped: bool,
    where: str,
    lowered: str,
) -> Iterator[Finding]:
    used: set[_Leaf] = set()
    if subtyped:
        subtypes = {subtype for subtype, _ in targets}
        for subtype, body in targets:
            _mark(subtype_rules(tree, subtype), body, used)
        branches = []
        for key, branch in tree.items():
            if key == "*" or key in subtypes:
                branches.append(branch)
            elif _default_rules(lowered, key) == _plain(branch):
                continue  # ADF's own default rules for that connector: boilerplate, not a mistake
            else:
                # One finding for the whole subtype rather than one per rule below it.
                yield Finding(
                    ErrorCode.UNUSED_RULE,
                    f"{where}{key})",
                    f"no {_noun(lowered)} has type {key!r}, so these rules match nothing",
                    Severity.WARNING,
                )
    else:
        for _, body in targets:
            _mark(tree, body, used)
        branches = [tree]
    for branch in branches:
        for leaf in _leaves(branch):
            if leaf not in used and not _from_default_template(lowered, leaf):
                yield Finding(
                    ErrorCode.UNUSED_RULE,
                    f"{where}{leaf.path})",
                    f"the rule matches no property of any {_noun(lowered)}",
                    Severity.WARNING,
                    "remove it, or check the property path",
                )


# Earlier forms of ADF's default template that definition files still copy.
_EARLIER_DEFAULTS: Mapping[str, Any] = {
    "microsoft.datafactory/factories/managedvirtualnetworks/managedprivateendpoints": {"properties": {"*": "="}},
}


def _default_rules(lowered: str, *path: str) -> Any:
    """The default template's rules for a resource type (and a path below it), or None."""
    node: Any = next((v for k, v in DEFAULT_DEFINITION.items() if k.lower() == lowered), None)
    for part in path:
        if isinstance(node, list):
            node = node[0] if node and part == "[]" else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _from_default_template(lowered: str, leaf: _Leaf) -> bool:
    """Rules copied from ADF's default template (most definition files start as a copy) stay quiet when they
    match nothing: they are boilerplate, not a mistake of the author's."""
    parts: list[str] = []
    for part in leaf.path.split("."):
        if part.endswith("[]"):
            parts.extend([part[:-2], "[]"])
        else:
            parts.append(part)
    return _default_rules(lowered, *parts) == leaf.text


def _plain(rule: Any) -> Any:
    """An annotated rule tree back as plain JSON."""
    if isinstance(rule, _Leaf):
        return rule.text
    if isinstance(rule, dict):
        return {k: _plain(v) for k, v in rule.items()}
    if isinstance(rule, list):
        return [_plain(rule[0]), *rule[1:]] if rule else rule
    return rule


def _rule_targets(factory: Factory) -> dict[str, list[tuple[str | None, Mapping[str, Any]]]]:
    """Each resource type (lower case) → (subtype, resource) for the resources the export writes.

    The resources are shaped as in the template (`name`, `type`, `properties`, `dependsOn`, for the factory
    `location` and `identity`), which is what the rules are written against; values are never shown.
    """
    targets: dict[str, list[tuple[str | None, Mapping[str, Any]]]] = {t: [] for t in _KIND_BY_ARM_TYPE}
    targets[FACTORY_TYPE.lower()] = []
    targets[GLOBAL_PARAMETERS_TYPE.lower()] = []
    for obj in factory.objects:
        resource = {
            "name": obj.qualified_name,
            "type": obj.kind.arm_type,
            "properties": obj.properties,
            # Only whether `dependsOn` has entries matters to a rule, not how they are written.
            "dependsOn": [f"{ref.kind.segment}/{ref.name}" for ref in object_references(obj)],
        }
        targets[obj.kind.arm_type.lower()].append((obj.subtype, resource))
    if factory.include_factory_template:
        body = factory.factory_body or {}
        resource = {
            "name": factory.name,
            "type": FACTORY_TYPE,
            "properties": body.get("properties") or {},
            "dependsOn": [],
        }
        for key in ("location", "identity"):
            if key in body:
                resource[key] = body[key]
        targets[FACTORY_TYPE.lower()].append((None, resource))
    if factory.include_global_params_template:
        targets[GLOBAL_PARAMETERS_TYPE.lower()].append(
            (
                None,
                {
                    "name": "default",
                    "type": GLOBAL_PARAMETERS_TYPE,
                    "properties": factory.global_parameters,
                    "dependsOn": [],
                },
            )
        )
    return targets


def _why_absent(lowered: str) -> str:
    if lowered == FACTORY_TYPE.lower():
        return (
            f"has rules, but the template holds no factory resource (includeFactoryTemplate is not set in "
            f"{PUBLISH_CONFIG_FILE})"
        )
    if lowered == GLOBAL_PARAMETERS_TYPE.lower():
        return (
            f"has rules, but the template holds no global parameters resource (includeGlobalParamsTemplate "
            f"is not set in {PUBLISH_CONFIG_FILE})"
        )
    return f"has rules, but the factory has no {_noun(lowered)}s"


def _noun(lowered: str) -> str:
    kind = _KIND_BY_ARM_TYPE.get(lowered)
    if kind is not None:
        return kind.label.lower()
    return "factory" if lowered == FACTORY_TYPE.lower() else "global parameters resource"


def _annotate(rule: Any, path: str, where_prefix: str, findings: list[Finding]) -> Any:
    """The rule tree with each rule string replaced by a `_Leaf`; malformed rules become PARAM_RULE findings.

    `where_prefix` is `FILE (TYPE → `; the rule's path and `)` complete it.
    """
    shown = path or "(root)"
    where = f"{where_prefix}{shown})"
    if isinstance(rule, str):
        if not rule.startswith(ACTIONS):
            # The export ignores such a value (real files hold e.g. a trigger type where a rule belongs).
            findings.append(
                Finding(
                    ErrorCode.UNKNOWN_RULE,
                    where,
                    f"{rule!r} is not a parameterization rule and is ignored",
                    Severity.WARNING,
                    "a rule starts with '=', '-' or '|'",
                )
            )
            return _Leaf(shown, rule)
        try:
            RuleSpec.parse(rule, where)
        except PortalError as exc:
            findings.append(exc.as_finding())
        return _Leaf(shown, rule)
    if isinstance(rule, dict):
        return {
            key: _annotate(value, f"{path}.{key}" if path else key, where_prefix, findings)
            for key, value in rule.items()
        }
    if isinstance(rule, list):
        if not rule or len(rule) > 2 or (len(rule) == 2 and not isinstance(rule[1], str)):
            findings.append(
                Finding(
                    ErrorCode.PARAM_RULE,
                    where,
                    'an array rule must be [rule for each item] or [rule for each item, "naming.property.path"]',
                )
            )
            return None
        return [_annotate(rule[0], f"{path}[]", where_prefix, findings), *rule[1:]]
    findings.append(
        Finding(
            ErrorCode.PARAM_RULE,
            where,
            "a rule must be a string, an object or an array",
            hint='write e.g. "=" to keep the current value as default',
        )
    )
    return None


def _mark(rule: Any, value: Any, used: set[_Leaf]) -> None:
    """Walk `value` as the export's rule applier does, marking each rule that would apply to something."""
    if isinstance(rule, _Leaf):
        used.add(rule)
    elif isinstance(rule, dict) and isinstance(value, Mapping):
        star = rule.get("*")
        for key, child in value.items():
            # A named rule overrides `*` for its key.
            child_rule = rule.get(key, star)
            if child_rule is not None:
                _mark(child_rule, child, used)
    elif isinstance(rule, list) and rule and isinstance(value, list):
        for item in value:
            _mark(rule[0], item, used)


def _leaves(rule: Any) -> Iterator[_Leaf]:
    if isinstance(rule, _Leaf):
        yield rule
    elif isinstance(rule, dict):
        for child in rule.values():
            yield from _leaves(child)
    elif isinstance(rule, list) and rule:
        yield from _leaves(rule[0])


# --- the ARM export ----------------------------------------------------------------------------------------------


def check_export(factory: Factory, *, skip_codes: Iterable[str] = ()) -> list[Finding]:
    """Export the factory as Publish would and check the templates against ARM's limits."""
    if not factory.name:
        return []  # the loader already reported that the factory name is unknown
    try:
        export = export_factory(factory)
        files = export.files()
    except FindingsError as exc:
        return list(exc.findings)
    except PortalError as exc:
        if exc.code in set(skip_codes):
            return []
        return [Finding(exc.code, exc.where, f"the ARM export fails: {exc.what}", hint=exc.hint)]
    findings = [_clash(factory, export, name, new_name) for name, new_name in export.clashes]
    findings.extend(_limits({path: _measure(text) for path, text in files.items()}))
    return findings


def _clash(factory: Factory, export: ArmExport, name: str, new_name: str) -> Finding:
    parameter = next((p for p in export.parameters if p.name == new_name), None)
    where = MAIN_TEMPLATE + f" (parameters.{new_name})"
    if parameter is not None:
        kind = _KIND_BY_ARM_TYPE.get(parameter.resource.lower())
        obj = factory.find(kind, parameter.object_name) if kind is not None else None
        if obj is not None:
            where = f"{obj.path} ({'.'.join(parameter.path)})"
    return Finding(
        ErrorCode.PARAMETER_CLASH,
        where,
        f"two rules make the template parameter {name!r}; this one is renamed {new_name!r}",
        Severity.WARNING,
        'give one of the rules its own name ("=:name") in the parameter definition file',
    )


def written_limit_findings(export: ArmExport, folder: str | os.PathLike[str]) -> list[Finding]:
    """ARM's limits for an export already written to `folder` (sizes from the files, so no text is held)."""
    measures = {}
    for path, document in export.documents():
        measures[path] = _Measure(
            len(document.get("parameters", {})),
            len(document.get("resources", [])),
            os.path.getsize(os.path.join(folder, path)),
        )
    return _limits(measures)


def _limits(measures: Mapping[str, _Measure]) -> list[Finding]:
    findings: list[Finding] = []
    main = measures[MAIN_TEMPLATE]
    linked = {path: m for path, m in measures.items() if path.startswith(LINKED_PREFIX)}
    linked_ok = {
        "parameters": all(m.parameters <= MAX_PARAMETERS for m in linked.values()),
        "resources": all(m.resources <= MAX_RESOURCES for m in linked.values()),
        "size": all(m.size <= MAX_TEMPLATE_BYTES for m in linked.values()),
    }
    use_linked = (
        "deploy the linked templates (linkedTemplates/ArmTemplate_master.json) instead; they stay under the limit"
    )
    if main.parameters > MAX_PARAMETERS:
        findings.append(
            Finding(
                ErrorCode.ARM_PARAMETER_LIMIT,
                MAIN_TEMPLATE,
                f"the template has {main.parameters} parameters; ARM allows at most {MAX_PARAMETERS}",
                hint="parameterize fewer properties in arm-template-parameters-definition.json (the linked "
                "templates' master has all the parameters too)",
            )
        )
    if main.resources > MAX_RESOURCES:
        findings.append(
            Finding(
                ErrorCode.ARM_RESOURCE_LIMIT,
                MAIN_TEMPLATE,
                f"the template has {main.resources} resources; ARM allows at most {MAX_RESOURCES}",
                # Deployable all the same when the linked templates are within the limits, as Publish intends.
                Severity.WARNING if linked_ok["resources"] else Severity.ERROR,
                hint=use_linked if linked_ok["resources"] else "split the factory",
            )
        )
    if main.size > MAX_TEMPLATE_BYTES:
        findings.append(
            Finding(
                ErrorCode.ARM_SIZE_LIMIT,
                MAIN_TEMPLATE,
                f"the template is {_mb(main.size)}; ARM allows at most {_mb(MAX_TEMPLATE_BYTES)}",
                Severity.WARNING if linked_ok["size"] else Severity.ERROR,
                hint=use_linked if linked_ok["size"] else "make the biggest objects smaller",
            )
        )
    # The linked templates matter only to those who deploy them; a limit the main template already breaks is
    # reported there once.
    for path, measured in sorted(linked.items()):
        if measured.parameters > MAX_PARAMETERS and main.parameters <= MAX_PARAMETERS:
            findings.append(
                Finding(
                    ErrorCode.ARM_PARAMETER_LIMIT,
                    path,
                    f"the linked template has {measured.parameters} parameters; ARM allows at most {MAX_PARAMETERS}",
                    Severity.WARNING,
                    f"deploy {MAIN_TEMPLATE} instead, or parameterize fewer properties",
                )
            )
        if measured.size > MAX_TEMPLATE_BYTES:
            findings.append(
                Finding(
                    ErrorCode.ARM_SIZE_LIMIT,
                    path,
                    f"the linked template is {_mb(measured.size)}; ARM allows at most {_mb(MAX_TEMPLATE_BYTES)}",
                    Severity.WARNING,
                    "make the biggest objects in it smaller",
                )
            )
    return findings


@dataclass(frozen=True)
class _Measure:
    parameters: int
    resources: int
    size: int


def _measure(text: str) -> _Measure:
    document = json.loads(text)
    return _Measure(len(document.get("parameters", {})), len(document.get("resources", [])), len(text.encode("utf-8")))


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.2f} MB"
