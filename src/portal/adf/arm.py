"""The ARM writer: a loaded factory → the files ADF Publish writes to the publish branch.

`export_factory` is a pure function of the factory; `write_export` puts the files on disk atomically.

What Git does not hold, so no export can reproduce it (the golden tests compare these parts as ADF allows):
- the ADF Studio browser session: objects created in it are listed after the others; the export lists resources
  by kind (`KIND_ORDER`), then by name;
- the live state of a change data capture (`status`), which Publish reads from the service;
- which factory Publish ran in, when Git holds another factory's file (`--factory-name` names it).
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from portal.adf.jsonformat import dumps_adf, write_adf
from portal.adf.linked_services import studio_linked_service
from portal.adf.model import AdfObject, Factory, Kind
from portal.adf.parameterization import (
    DEFAULT_DEFINITION,
    ParameterSink,
    RuleApplier,
    TemplateParameter,
    ordered_parameters,
    rules_for,
)
from portal.adf.publish_defaults import apply_publish_defaults, copy_escaped
from portal.adf.references import dependency_keys, drop_optional_dangling, object_references, pointer_steps
from portal.adf.secrets import linked_service_secure_strings, replace_masked
from portal.errors import ErrorCode, Finding, PortalError, Severity
from portal.output_folder import OutputFile, Protected, write_output_folder

API_VERSION = "2018-06-01"
DEPLOYMENTS_API_VERSION = "2024-03-01"
TEMPLATE_SCHEMA = "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#"
CONTENT_VERSION = "1.0.0.0"
FACTORY_ID = "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"
FACTORY_TYPE = "Microsoft.DataFactory/factories"
GLOBAL_PARAMETERS_TYPE = "Microsoft.DataFactory/factories/globalparameters"
# The factory resource's parameters are named after this literal, not after the factory.
FACTORY_PARAMETER_PREFIX = "dataFactory"
# Kinds whose Git JSON holds secrets masked ("**********"): linked services (guarded before the rules, in their
# own step), integration runtimes (SSIS catalog, custom setup, linked self-hosted keys) and credentials.
MASKED_SECRET_KINDS = frozenset({Kind.INTEGRATION_RUNTIME, Kind.CREDENTIAL})
# Publish puts at most this many resources in one linked template.
LINKED_TEMPLATE_SIZE = 20

# The order of resource kinds in ARMTemplateForFactory.json (seen the same in every Publish output checked);
# within a kind, names in ordinal order.
KIND_ORDER: tuple[Kind, ...] = (
    Kind.PIPELINE,
    Kind.DATASET,
    Kind.LINKED_SERVICE,
    Kind.TRIGGER,
    Kind.INTEGRATION_RUNTIME,
    Kind.DATAFLOW,
    Kind.CREDENTIAL,
    Kind.CHANGE_DATA_CAPTURE,
    Kind.MANAGED_VIRTUAL_NETWORK,
    Kind.MANAGED_PRIVATE_ENDPOINT,
)

# Publish writes these descriptions in the language of the ADF Studio session that pressed the button.
MESSAGES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "factoryName": "Data Factory name",
        "containerUri": "URI to storage account containing linked ARM templates",
        "containerSasToken": "Sas token to storage account containing linked ARM templates",
    },
    "ja": {
        "factoryName": "データ ファクトリ名",
        "containerUri": "リンクされた ARM テンプレートを含むストレージ アカウントの URI",
        "containerSasToken": "リンクされた ARM テンプレートを格納するストレージ アカウントへの SAS トークン",
    },
}
LOCALES = tuple(MESSAGES)

_PARAMETER_REF = re.compile(r"^\[parameters\('((?:[^']|'')*)'\)\]$")
# Factory properties that the service owns; they never go into a template.
_FACTORY_READ_ONLY = frozenset({"provisioningState", "createTime", "version", "repoConfiguration"})


@dataclass(frozen=True)
class ArmResource:
    """One resource of the template, with what the linked-template split needs to know about it."""

    key: tuple[str, str]  # (resource type, object name)
    body: Mapping[str, Any]
    depends_on: tuple[tuple[str, str], ...]
    parameters: tuple[str, ...]  # in the order they appear in the resource


@dataclass(frozen=True)
class ArmExport:
    factory_name: str
    parameters: tuple[TemplateParameter, ...]
    resources: tuple[ArmResource, ...]
    global_parameters: Mapping[str, Any]
    definition_source: str  # "default" or the definition file's path
    locale: str = "en"
    clashes: tuple[tuple[str, str], ...] = ()
    ignored_rules: tuple[tuple[str, str], ...] = ()

    def warnings(self) -> list[Finding]:
        found = [
            Finding(
                ErrorCode.PARAMETER_CLASH,
                self.definition_source,
                f"two rules make parameter {first!r}; the second is named {second!r}",
                Severity.WARNING,
                'give one of the rules its own name part (e.g. "=:-myName")',
            )
            for first, second in self.clashes
        ]
        found += [
            Finding(
                ErrorCode.UNKNOWN_RULE,
                where,
                f"{text!r} is not a parameterization rule and is ignored",
                Severity.WARNING,
                "a rule starts with '=', '-' or '|'",
            )
            for where, text in self.ignored_rules
        ]
        return found

    @property
    def template(self) -> dict[str, Any]:
        return template_document(self.factory_name, self.parameters, [r.body for r in self.resources], self.locale)

    @property
    def parameter_file(self) -> dict[str, Any]:
        return parameters_document(self.factory_name, self.parameters)

    @cached_property
    def linked_templates(self) -> list[dict[str, Any]]:
        by_name = {p.name: p for p in self.parameters}
        templates = []
        for chunk in split_for_linked_templates(self.resources):
            names: list[str] = []
            for resource in chunk:
                names.extend(n for n in resource.parameters if n not in names)
            chunk_params = ordered_parameters([by_name[n] for n in names])
            members = {r.key for r in chunk}
            bodies = [_local_dependencies(r, members) for r in chunk]
            templates.append(template_document(self.factory_name, chunk_params, bodies, self.locale, linked=True))
        return templates

    def documents(self) -> Iterator[tuple[str, Any]]:
        """Every output file as (relative path, JSON document), in the order Publish lists them."""
        yield "ARMTemplateForFactory.json", self.template
        yield "ARMTemplateParametersForFactory.json", self.parameter_file
        linked = self.linked_templates
        for index, document in enumerate(linked):
            yield f"linkedTemplates/ArmTemplate_{index}.json", document
        yield (
            "linkedTemplates/ArmTemplate_master.json",
            master_document(self.factory_name, self.parameters, linked, self.locale),
        )
        yield (
            "linkedTemplates/ArmTemplateParameters_master.json",
            master_parameters_document(self.factory_name, self.parameters),
        )
        yield f"globalParameters/{self.factory_name}_GlobalParameters.json", dict(self.global_parameters)

    def file_names(self) -> list[str]:
        count = len(self.linked_templates)
        return [
            "ARMTemplateForFactory.json",
            "ARMTemplateParametersForFactory.json",
            *(f"linkedTemplates/ArmTemplate_{i}.json" for i in range(count)),
            "linkedTemplates/ArmTemplate_master.json",
            "linkedTemplates/ArmTemplateParameters_master.json",
            f"globalParameters/{self.factory_name}_GlobalParameters.json",
        ]

    def files(self) -> dict[str, str]:
        """Every output file, relative path → JSON text, in the exact form Publish writes (all in memory; to
        write them, `write_export` streams instead)."""
        return {name: dumps_adf(document) for name, document in self.documents()}


def export_factory(factory: Factory, *, locale: str = "en") -> ArmExport:
    """The ARM export of `factory`; `locale` is the language of the descriptions Publish writes."""
    if locale not in MESSAGES:
        raise PortalError(
            "--locale", f"unknown locale {locale!r}", hint="one of " + ", ".join(LOCALES), code=ErrorCode.LOCALE
        )
    if not factory.name:
        raise PortalError(
            "factory/", "the factory name is unknown", hint="pass --factory-name NAME", code=ErrorCode.FACTORY_NAME
        )
    definition = factory.parameter_definition
    definition_source = factory.parameter_definition_path or "default"
    if definition is None:
        definition = DEFAULT_DEFINITION
    sink = ParameterSink()
    resources: list[ArmResource] = []
    include_factory = factory.include_factory_template
    for kind in KIND_ORDER:
        for obj in factory.of_kind(kind):
            resources.append(_object_resource(factory, obj, definition, definition_source, sink, include_factory))
    if include_factory:
        resources.append(_factory_resource(factory, definition, definition_source, sink))
    if factory.include_global_params_template:
        resources.append(_global_parameters_resource(factory, definition, definition_source, sink, include_factory))

    used: list[str] = []
    for resource in resources:
        used.extend(resource.parameters)
    ordered = ordered_parameters([sink.parameters[name] for name in used])
    factory_parameter = TemplateParameter(
        name="factoryName",
        type="string",
        default=factory.name,
        metadata=MESSAGES[locale]["factoryName"],
        resource=FACTORY_TYPE,
        object_name=factory.name,
        path=("name",),
        required=False,
    )
    return ArmExport(
        factory_name=factory.name,
        parameters=(factory_parameter, *ordered),
        resources=tuple(resources),
        global_parameters=copy.deepcopy(dict(factory.global_parameters)),
        definition_source=definition_source,
        locale=locale,
        clashes=tuple(sink.clashes),
        ignored_rules=tuple(sink.ignored_rules),
    )


def _arm_string(text: str) -> str:
    """A name inside an ARM expression's single-quoted string."""
    return text.replace("'", "''")


def resource_name_expression(qualified_name: str) -> str:
    return f"[concat(parameters('factoryName'), '/{_arm_string(qualified_name)}')]"


def depends_on_expression(kind: Kind, qualified_name: str) -> str:
    return f"[concat(variables('factoryId'), '/{kind.segment}/{_arm_string(qualified_name)}')]"


def _object_resource(
    factory: Factory,
    obj: AdfObject,
    definition: Mapping[str, Any],
    definition_source: str,
    sink: ParameterSink,
    include_factory: bool,
) -> ArmResource:
    # The copy escapes literal '[' on the way; the defaults Publish adds contain none.
    props = copy_escaped(obj.properties) if "properties" in obj.body else {}
    drop_optional_dangling(factory, obj, props)
    props = apply_publish_defaults(obj.kind, props, factory.body_of)
    made_before = len(sink.parameters)
    if obj.kind is Kind.LINKED_SERVICE:
        # As ADF Studio publishes it (property order, form defaults), then with its secrets as automatic secure
        # strings; nothing masked ("**********") may be left for the template.
        props = studio_linked_service(obj.subtype, props)
        if isinstance(props.get("typeProperties"), dict):
            props["typeProperties"] = linked_service_secure_strings(
                obj.name, obj.subtype, props["typeProperties"], sink, obj.kind.arm_type
            )
        props = replace_masked(obj.name, props, sink, obj.kind.arm_type, ("properties",))
    deps = dependency_keys(factory, obj)
    depends_on: list[str] = ["[variables('factoryId')]"] if include_factory else []
    depends_on.extend(depends_on_expression(kind, name) for kind, name in deps)
    body: dict[str, Any] = {
        "name": resource_name_expression(obj.qualified_name),
        "type": obj.kind.arm_type,
        "apiVersion": API_VERSION,
        "properties": props,
        "dependsOn": depends_on,
    }
    rules = rules_for(definition, obj.kind.arm_type, obj.subtype, definition_source)
    if rules:
        before_rules = len(sink.parameters)
        RuleApplier(
            prefix=obj.name, object_name=obj.name, resource_type=obj.kind.arm_type, sink=sink, where=definition_source
        ).apply(body, rules)
        if len(sink.parameters) > before_rules:
            _parameterized_dependencies(obj, body, deps, include_factory)
    if obj.kind in MASKED_SECRET_KINDS:
        # A secret the rules left masked (an SSIS catalog password under a definition without a rule for it)
        # becomes a secure string too: the mask must never be deployed as the password.
        body["properties"] = replace_masked(obj.name, body["properties"], sink, obj.kind.arm_type, ("properties",))
    dep_keys = [(kind.arm_type, name) for kind, name in deps]
    if include_factory:
        dep_keys.insert(0, (FACTORY_TYPE, factory.name))
    return ArmResource(
        key=(obj.kind.arm_type, obj.qualified_name),
        body=body,
        depends_on=tuple(dep_keys),
        parameters=_resource_parameters(body, sink.made_since(made_before)),
    )


def _resource_parameters(body: Mapping[str, Any], made: list[str]) -> tuple[str, ...]:
    """The parameters of a resource in document order, and after them those made for it that a rule then
    replaced: Publish still declares the secure string it added for a secret when a custom rule parameterizes
    the secret's value again (a corpus factory). Most resources get no parameter and are not
    scanned."""
    if not made:
        return ()
    used = list(parameters_in(body))
    return tuple(used + [name for name in made if name not in used])


def _parameterized_dependencies(
    obj: AdfObject, body: dict[str, Any], deps: Sequence[tuple[Kind, str]], include_factory: bool
) -> None:
    """A rule that parameterizes a reference's `referenceName` (e.g. `connectVia.referenceName: "="`) makes its
    `dependsOn` entry name the parameter, so the deployment waits for the object the environment names
    (a corpus factory). Changes `body["dependsOn"]` in place."""
    by_key: dict[tuple[Kind, str], str] = {}
    for ref in object_references(obj):
        if (ref.kind, ref.name) in by_key or ref.pointer is None:
            continue
        holder: Any = body
        for step in pointer_steps(ref.pointer):
            holder = (
                holder.get(step)
                if isinstance(holder, dict) and isinstance(step, str)
                else (
                    holder[step] if isinstance(holder, list) and isinstance(step, int) and step < len(holder) else None
                )
            )
        name = holder.get("referenceName") if isinstance(holder, dict) else None
        match = _PARAMETER_REF.match(name) if isinstance(name, str) else None
        if match:
            by_key[(ref.kind, ref.name)] = match.group(0)[1:-1]
    if not by_key or not isinstance(body.get("dependsOn"), list):
        return  # nothing parameterized, or a rule made `dependsOn` itself a parameter
    offset = 1 if include_factory else 0
    for index, key in enumerate(deps):
        if key in by_key:
            body["dependsOn"][offset + index] = f"[concat(variables('factoryId'), '/{key[0].segment}/', {by_key[key]})]"


def _factory_resource(
    factory: Factory, definition: Mapping[str, Any], definition_source: str, sink: ParameterSink
) -> ArmResource:
    source = factory.factory_body or {}
    props = {k: copy_escaped(v) for k, v in (source.get("properties") or {}).items() if k not in _FACTORY_READ_ONLY}
    body: dict[str, Any] = {
        "name": "[parameters('factoryName')]",
        "type": FACTORY_TYPE,
        "apiVersion": API_VERSION,
        "properties": props,
        "dependsOn": [],
    }
    if "location" in source:
        body["location"] = source["location"]
    identity = source.get("identity")
    if isinstance(identity, dict):
        # principalId and tenantId are assigned by Azure per factory; only the kind of identity is deployed.
        body["identity"] = {k: copy.deepcopy(v) for k, v in identity.items() if k not in ("principalId", "tenantId")}
    rules = rules_for(definition, FACTORY_TYPE, None, definition_source)
    if rules:
        RuleApplier(
            prefix=FACTORY_PARAMETER_PREFIX,
            object_name=factory.name,
            resource_type=FACTORY_TYPE,
            sink=sink,
            where=definition_source,
        ).apply(body, rules)
    return ArmResource(
        key=(FACTORY_TYPE, factory.name), body=body, depends_on=(), parameters=tuple(parameters_in(body))
    )


def _global_parameters_resource(
    factory: Factory,
    definition: Mapping[str, Any],
    definition_source: str,
    sink: ParameterSink,
    include_factory: bool,
) -> ArmResource:
    props = copy_escaped(dict(factory.global_parameters))
    body: dict[str, Any] = {
        "name": resource_name_expression("default"),
        "type": GLOBAL_PARAMETERS_TYPE,
        "apiVersion": API_VERSION,
        "properties": props,
        "dependsOn": ["[variables('factoryId')]"] if include_factory else [],
    }
    rules = rules_for(definition, GLOBAL_PARAMETERS_TYPE, None, definition_source)
    if rules:
        RuleApplier(
            prefix="default",
            object_name="default",
            resource_type=GLOBAL_PARAMETERS_TYPE,
            sink=sink,
            where=definition_source,
        ).apply(body, rules)
    deps = ((FACTORY_TYPE, factory.name),) if include_factory else ()
    return ArmResource(
        key=(GLOBAL_PARAMETERS_TYPE, "default"), body=body, depends_on=deps, parameters=tuple(parameters_in(body))
    )


def parameters_in(value: Any) -> Iterator[str]:
    """Template parameter names used in a resource, in document order, each once."""
    seen: set[str] = set()
    stack: list[Any] = [value]
    # Depth-first in document order: push children reversed.
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            match = _PARAMETER_REF.match(item)
            if match:
                name = match.group(1).replace("''", "'")
                if name not in seen and name != "factoryName":
                    seen.add(name)
                    yield name
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def split_for_linked_templates(resources: tuple[ArmResource, ...]) -> list[list[ArmResource]]:
    """Dependencies first, level by level (a resource's level is one more than its deepest dependency), in
    template order within a level; then cut into templates of at most 20 resources, each deployed after the
    one before."""
    index = {resource.key: position for position, resource in enumerate(resources)}
    levels: dict[tuple[str, str], int] = {}

    def level_of(key: tuple[str, str]) -> int:
        # Iterative, so deep dependency chains cannot exhaust the stack; cycles are cut.
        if key in levels:
            return levels[key]
        stack = [(key, 0)]
        visiting = {key}
        while stack:
            current, child_index = stack[-1]
            deps = [d for d in resources[index[current]].depends_on if d in index]
            if child_index < len(deps):
                stack[-1] = (current, child_index + 1)
                dep = deps[child_index]
                if dep not in levels and dep not in visiting:
                    visiting.add(dep)
                    stack.append((dep, 0))
                continue
            levels[current] = 1 + max((levels.get(d, 0) for d in deps if d in levels), default=-1)
            visiting.discard(current)
            stack.pop()
        return levels[key]

    # The factory-level resources (factory, global parameters) lead their level.
    def base(resource: ArmResource) -> tuple[int, int]:
        return (0 if resource.key[0] in (FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE) else 1, index[resource.key])

    ordered = sorted(resources, key=lambda r: (level_of(r.key), *base(r)))
    return [ordered[i : i + LINKED_TEMPLATE_SIZE] for i in range(0, len(ordered), LINKED_TEMPLATE_SIZE)]


def _local_dependencies(resource: ArmResource, members: set[tuple[str, str]]) -> Mapping[str, Any]:
    """A linked template only lists dependencies on resources it deploys itself (not even the factory); the
    templates before it are ordered by the master's chain of deployments."""
    if not isinstance(resource.body.get("dependsOn"), list):
        return resource.body
    # `dependsOn` lists the resource's dependencies in the order of `depends_on` (the factory first, when it is
    # deployed too); an entry may name a parameter instead of the object, so they are matched by position.
    entries = resource.body["dependsOn"]
    if len(entries) != len(resource.depends_on):
        keep = {_depends_on_for(key) for key in resource.depends_on if key in members and key[0] != FACTORY_TYPE}
        kept = [entry for entry in entries if entry in keep]
    else:
        kept = [
            entry
            for entry, key in zip(entries, resource.depends_on, strict=True)
            if key in members and key[0] != FACTORY_TYPE
        ]
    body = dict(resource.body)
    body["dependsOn"] = kept
    return body


def _depends_on_for(key: tuple[str, str]) -> str:
    resource_type, name = key
    if resource_type == FACTORY_TYPE:
        return "[variables('factoryId')]"
    segment = resource_type[len(FACTORY_TYPE) + 1 :]
    return f"[concat(variables('factoryId'), '/{segment}/{_arm_string(name)}')]"


def template_document(
    factory_name: str,
    parameters: Any,
    resources: list[Mapping[str, Any]],
    locale: str = "en",
    *,
    linked: bool = False,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "factoryName": {"type": "string", "metadata": MESSAGES[locale]["factoryName"], "defaultValue": factory_name}
    }
    for parameter in parameters:
        if parameter.name != "factoryName":
            params[parameter.name] = parameter.template_entry(linked=linked)
    return {
        "$schema": TEMPLATE_SCHEMA,
        "contentVersion": CONTENT_VERSION,
        "parameters": params,
        "variables": {"factoryId": FACTORY_ID},
        "resources": list(resources),
    }


def parameters_document(factory_name: str, parameters: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"factoryName": {"value": factory_name}}
    for parameter in parameters:
        if parameter.name != "factoryName":
            values[parameter.name] = {"value": parameter.file_value()}
    for name, value in (extra or {}).items():
        values[name] = {"value": value}
    return {"$schema": PARAMETERS_SCHEMA, "contentVersion": CONTENT_VERSION, "parameters": values}


def master_document(
    factory_name: str, parameters: Any, linked: list[dict[str, Any]], locale: str = "en"
) -> dict[str, Any]:
    document = template_document(factory_name, parameters, [], locale)
    document["parameters"]["containerUri"] = {"type": "string", "metadata": MESSAGES[locale]["containerUri"]}
    document["parameters"]["containerSasToken"] = {"type": "string", "metadata": MESSAGES[locale]["containerSasToken"]}
    resources = []
    for index, child in enumerate(linked):
        deployment = f"{factory_name}_ArmTemplate_{index}"
        resources.append(
            {
                "name": deployment,
                "type": "Microsoft.Resources/deployments",
                "apiVersion": DEPLOYMENTS_API_VERSION,
                "properties": {
                    "mode": "incremental",
                    "templateLink": {
                        "uri": f"[concat(parameters('containerUri'), '/ArmTemplate_{index}.json', "
                        f"parameters('containerSasToken'))]",
                        "contentVersion": CONTENT_VERSION,
                    },
                    "parameters": {name: {"value": f"[parameters('{name}')]"} for name in child["parameters"]},
                },
                "dependsOn": []
                if index == 0
                else [f"[resourceId('Microsoft.Resources/deployments', '{factory_name}_ArmTemplate_{index - 1}')]"],
            }
        )
    document["resources"] = resources
    return document


def master_parameters_document(factory_name: str, parameters: Any) -> dict[str, Any]:
    return parameters_document(factory_name, parameters, {"containerUri": "", "containerSasToken": ""})


def write_export(export: ArmExport, out_dir: str | os.PathLike[str], *, protected: Sequence[Protected] = ()) -> Path:
    """Write every file into a temporary folder beside `out_dir`, then swap it into place.

    A failure at any point leaves `out_dir` as it was. Files in `out_dir` that Publish does not write (a
    README, hand-made parameter files) are kept; stale linked templates from a bigger export are removed. A
    folder that is (or holds) a Git repository, the audit store or one of the `protected` paths (what the export
    read) is refused, with nothing written (see `portal.output_folder`).
    """
    files = [OutputFile(relative, functools.partial(write_adf, document)) for relative, document in export.documents()]
    return write_output_folder(
        out_dir, files, command="portal export-arm", protected=protected, own_files=_publish_files
    )


def _publish_files(folder: Path) -> list[str]:
    """The files in `folder` an export (ADF Publish) writes, by their names: an earlier export's own files."""
    found = [
        name
        for name in ("ARMTemplateForFactory.json", "ARMTemplateParametersForFactory.json")
        if (folder / name).is_file()
    ]
    for pattern in (
        "linkedTemplates/ArmTemplate_*.json",
        "linkedTemplates/ArmTemplateParameters_master.json",
        "globalParameters/*_GlobalParameters.json",
    ):
        found.extend(path.relative_to(folder).as_posix() for path in folder.glob(pattern))
    return found
