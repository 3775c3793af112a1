"""What an environment will receive: the template's resources with that environment's values, evaluated.

Every ARM expression in the template is evaluated offline (`portal.adf.expressions`); what cannot be evaluated
is an error, never passed through. Secrets stay secrets: they render as where they come from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.adf.arm import FACTORY_TYPE
from portal.adf.expressions import EvaluationContext, Secret, evaluate_value
from portal.adf.model import Kind
from portal.environments.config import CONFIG_FILE, Environment
from portal.environments.parameter_files import ParameterEntry, ParameterFile
from portal.errors import ErrorCode, FindingsError, Place, PortalError, Severity
from portal.output_folder import OutputFile, Protected, repository_protections, write_output_folder
from portal.secret_sources import EnvironmentVariable

if TYPE_CHECKING:
    from portal.environments.workspace import MappingWorkspace

_KIND_BY_TYPE = {kind.arm_type: kind for kind in Kind}


@dataclass(frozen=True)
class RenderedResource:
    type: str
    name: str  # as deployed: "<factory>/<object>"
    object_name: str  # "PL_Load", or "default/mpe" for a private endpoint
    properties: Any
    depends_on: tuple[str, ...]

    @property
    def kind_label(self) -> str:
        kind = _KIND_BY_TYPE.get(self.type)
        if kind is not None:
            return kind.label
        return "Factory" if self.type == FACTORY_TYPE else "Global parameters"

    @property
    def folder(self) -> str:
        """Where ADF Git integration would keep this object, so rendered files sit where people look."""
        kind = _KIND_BY_TYPE.get(self.type)
        if kind is Kind.MANAGED_PRIVATE_ENDPOINT:
            network, _, _ = self.object_name.partition("/")
            return f"managedVirtualNetwork/{network}/managedPrivateEndpoint"
        if kind is not None:
            return kind.value
        return "factory" if self.type == FACTORY_TYPE else "globalParameters"

    @property
    def file_name(self) -> str:
        return self.object_name.rsplit("/", 1)[-1] + ".json"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "properties": shown(self.properties),
            "dependsOn": list(self.depends_on),
        }


@dataclass(frozen=True)
class RenderedEnvironment:
    environment: str
    factory_name: str
    resources: tuple[RenderedResource, ...]
    parameter_file: ParameterFile  # the complete deployment parameter file for this environment
    secrets_from_environment: Mapping[str, str]

    def find(self, object_name: str, type_or_label: str | None = None) -> RenderedResource | None:
        for resource in self.resources:
            if resource.object_name == object_name and type_or_label in (None, resource.type, resource.kind_label):
                return resource
        return None


def shown(value: Any) -> Any:
    """A rendered value fit for display and files: secrets replaced by where they come from."""
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


def parameter_values(workspace: MappingWorkspace, env: Environment) -> tuple[dict[str, Any], ParameterFile]:
    """Each template parameter's value in `env` (secrets as `Secret`), and the deployment parameter file."""
    findings = [f for f in workspace.check(env.name) if f.severity is Severity.ERROR]
    if findings:
        raise FindingsError(findings)
    file = workspace.values(env)
    values: dict[str, Any] = {}
    entries: dict[str, ParameterEntry] = {}
    for parameter in workspace.export.parameters:
        name = parameter.name
        entry = file.get(name)
        if name == "factoryName":
            values[name] = env.data_factory.factory_name
            entries[name] = ParameterEntry(name, env.data_factory.factory_name)
        elif name in env.secrets_from_environment:
            variable = EnvironmentVariable(env.secrets_from_environment[name])
            values[name] = Secret(variable.describe(), variable)
        elif entry is not None and entry.reference is not None:
            values[name] = Secret(entry.reference.describe(), entry.reference)
            entries[name] = entry
        elif entry is not None:
            values[name] = entry.value
            entries[name] = entry
        elif parameter.has_default:
            # A default may itself be an expression; the evaluator resolves it lazily.
            values[name] = parameter.default
            entries[name] = ParameterEntry(name, parameter.default)
    return values, ParameterFile(file.path, entries, file.header, file.indent, file.final_newline)


def render_environment(workspace: MappingWorkspace, env_name: str) -> RenderedEnvironment:
    """The resources `env_name` receives; refuses (with the findings) while its values have errors."""
    env = workspace.environment(env_name)
    values, parameter_file = parameter_values(workspace, env)
    template = workspace.export.template
    context = EvaluationContext(
        parameters=values,
        variables=template["variables"],
        subscription_id=env.data_factory.subscription_id,
        resource_group=env.data_factory.resource_group,
        location=env.data_factory.location,
        deployment_name=f"{env.data_factory.factory_name}_portal",
    )
    resources = []
    for arm, body in zip(workspace.export.resources, template["resources"], strict=True):
        where = Place(environment=env.name, object=f"{arm.key[0].rsplit('/', 1)[-1]} {arm.key[1]}")
        name = evaluate_value(body["name"], context, f"{where}.name")
        properties = evaluate_value(body.get("properties", {}), context, f"{where}.properties")
        depends = evaluate_value(body.get("dependsOn", []), context, f"{where}.dependsOn")
        if not isinstance(depends, list):
            raise PortalError(where, "dependsOn does not evaluate to a list", code=ErrorCode.RENDER)
        resources.append(
            RenderedResource(arm.key[0], str(name), arm.key[1], properties, tuple(str(d) for d in depends))
        )
    return RenderedEnvironment(
        env.name, env.data_factory.factory_name, tuple(resources), parameter_file, dict(env.secrets_from_environment)
    )


@dataclass(frozen=True)
class ComparisonRow:
    path: str
    values: Mapping[str, Any]  # environment → displayed value (absent: the property is not there)

    @property
    def differs(self) -> bool:
        seen = [json.dumps(v, sort_keys=True) for v in self.values.values()]
        return len(set(seen)) > 1 or len(seen) < 1


MISSING = "— absent —"


def compare(
    renders: Mapping[str, RenderedEnvironment], object_name: str, type_or_label: str | None = None
) -> list[ComparisonRow]:
    """One object's rendered properties side by side across environments, one row per property path."""
    flat: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for env, rendered in renders.items():
        resource = rendered.find(object_name, type_or_label)
        if resource is None:
            continue
        for path, value in _flatten(shown(resource.properties), "properties").items():
            if path not in flat:
                flat[path] = {}
                order.append(path)
            flat[path][env] = value
    if not order:
        raise PortalError(
            f"object {object_name!r}", "is in none of the rendered environments", code=ErrorCode.UNKNOWN_OBJECT
        )
    return [ComparisonRow(path, {env: flat[path].get(env, MISSING) for env in renders}) for path in order]


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flatten(child, f"{prefix}.{key}"))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for index, child in enumerate(value):
            out.update(_flatten(child, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


RENDER_MANIFEST = ".portal-render.json"


def write_rendered(
    rendered: RenderedEnvironment, out_dir: str | os.PathLike[str], *, workspace: MappingWorkspace | None = None
) -> Path:
    """`out_dir/<folder>/<object>.json` per resource, `parameters.json` (deployable with Azure's tooling) and
    `secrets-from-environment.json`; written to a temporary folder and moved into place.

    Files of the user's in `out_dir` are kept: `.portal-render.json` lists the files a render wrote, and only
    those are replaced (or removed, when this render no longer has them). A folder that is (or holds) a Git
    repository or an audit store, or is (or holds) what the render read from `workspace` (the data repository,
    its ADF root folder, portal.yaml, the parameter files), is refused with nothing written (`portal.output_folder`).
    """

    def text(content: str):
        return lambda handle: handle.write(content)

    files = [
        OutputFile(
            f"{resource.folder}/{resource.file_name}",
            text(json.dumps(resource.as_json(), indent=4, ensure_ascii=False) + "\n"),
        )
        for resource in rendered.resources
    ]
    files.append(OutputFile("parameters.json", text(rendered.parameter_file.to_json())))
    files.append(
        OutputFile(
            "secrets-from-environment.json", text(json.dumps(dict(rendered.secrets_from_environment), indent=4) + "\n")
        )
    )
    protected = _read_by(workspace) if workspace is not None else []
    return write_output_folder(out_dir, files, command="portal render", protected=protected, manifest=RENDER_MANIFEST)


def _read_by(workspace: MappingWorkspace) -> list[Protected]:
    root = workspace.snapshot.root
    adf = workspace.config.adf.root_folder.strip("/")
    return [
        *repository_protections(root),
        Protected(root / adf, "the ADF root folder"),
        Protected(root / CONFIG_FILE, "the portal configuration"),
        *(
            Protected(root / env.parameter_file_path, f"the parameter file of {env.name}")
            for env in workspace.config.environments
        ),
    ]
