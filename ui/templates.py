"""The Templates page's data: the export as files, the rendered environments side by side, and the download."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE, ArmExport, write_export
from portal.adf.model import Kind
from portal.adf.validation import written_limit_findings
from portal.environments.render import (
    RenderedEnvironment,
    compare,
    shown,
    write_rendered,
)
from portal.errors import ErrorCode, Finding, PortalError

if TYPE_CHECKING:
    from portal.environments.workspace import MappingWorkspace


# --- templates -----------------------------------------------------------------------------------------------------

MAIN_TEMPLATE = "ARMTemplateForFactory.json"
PARAMETERS_FILE = "ARMTemplateParametersForFactory.json"


@dataclass(frozen=True)
class ExportFile:
    path: str  # as `portal export-arm` writes it, relative to its --out folder
    role: str  # in words
    text: str
    parameters: int
    resources: int
    size: int  # bytes

    @property
    def linked(self) -> bool:
        return self.path.startswith("linkedTemplates/")


@dataclass(frozen=True)
class ExportBundle:
    """The ARM export of one commit as `portal export-arm` writes it, with ARM's limits checked on the files."""

    factory_name: str
    files: tuple[ExportFile, ...]
    limits: tuple[Finding, ...]  # over 256 parameters, 800 resources or 4 MB

    def file(self, path: str) -> ExportFile:
        for item in self.files:
            if item.path == path:
                return item
        raise PortalError(path, "is not a file of the export", code=ErrorCode.UNKNOWN_FILE)

    @property
    def linked_templates(self) -> list[ExportFile]:
        return [f for f in self.files if f.linked]

    @property
    def main(self) -> ExportFile:
        return self.file(MAIN_TEMPLATE)


def _role(path: str) -> str:
    if path == MAIN_TEMPLATE:
        return "the template"
    if path == PARAMETERS_FILE:
        return "the template's parameter file (dev values)"
    if path.endswith("ArmTemplate_master.json"):
        return "linked templates: the master that deploys them in order"
    if path.endswith("ArmTemplateParameters_master.json"):
        return "linked templates: the master's parameter file"
    found = re.fullmatch(r"linkedTemplates/ArmTemplate_(\d+)\.json", path)
    if found:
        return f"linked template {int(found.group(1)) + 1}"
    if path.startswith("globalParameters/"):
        return "the global parameters"
    return path


def export_bundle(export: ArmExport) -> ExportBundle:
    """Write the export as `portal export-arm` does (to a temporary folder) and read it back with its measures and
    ARM's limit findings (the same check as the export command's)."""
    with tempfile.TemporaryDirectory(prefix="portal-export-") as folder:
        target = write_export(export, Path(folder) / "arm")
        limits = written_limit_findings(export, target)
        files = []
        for path, document in export.documents():
            data = (target / path).read_bytes()
            files.append(
                ExportFile(
                    path,
                    _role(path),
                    data.decode("utf-8"),
                    len(document.get("parameters", {})) if isinstance(document, dict) else 0,
                    len(document.get("resources", [])) if isinstance(document, dict) else 0,
                    len(data),
                )
            )
    return ExportBundle(export.factory_name, tuple(files), tuple(limits))


def export_zip(bundle: ExportBundle, renders: Iterable[RenderedEnvironment] = ()) -> bytes:
    """The export's files as `portal export-arm` writes them, and for each rendered environment the files
    `portal render ENV` writes, under `rendered/<env>/`; as the bytes of a zip file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in bundle.files:
            archive.writestr(item.path, item.text.encode("utf-8"))
        for rendered in renders:
            with tempfile.TemporaryDirectory(prefix="portal-render-") as folder:
                written = write_rendered(rendered, Path(folder) / rendered.environment)
                for path in sorted(p for p in written.rglob("*") if p.is_file()):
                    archive.write(path, f"rendered/{rendered.environment}/{path.relative_to(written).as_posix()}")
    return buffer.getvalue()


def template_objects(workspace: MappingWorkspace) -> list[tuple[str, str]]:
    """Every resource of the template as (kind in words, object name), in template order: what can be compared."""
    labels = {kind.arm_type: kind.label for kind in Kind}
    labels[FACTORY_TYPE] = "Factory"
    labels[GLOBAL_PARAMETERS_TYPE] = "Global parameters"
    return [(labels.get(resource.key[0], resource.key[0]), resource.key[1]) for resource in workspace.export.resources]


def rendered_rows(rendered: RenderedEnvironment) -> list[dict[str, str]]:
    return [
        {"kind": r.kind_label, "object": r.object_name, "deployed as": r.name, "file": f"{r.folder}/{r.file_name}"}
        for r in rendered.resources
    ]


def secret_rows(rendered: RenderedEnvironment, workspace: MappingWorkspace) -> list[dict[str, str]]:
    """Where each secure parameter of the environment comes from (never its value)."""
    rows = []
    for parameter in workspace.export.parameters:
        if not parameter.secure:
            continue
        variable = rendered.secrets_from_environment.get(parameter.name)
        entry = rendered.parameter_file.get(parameter.name)
        source = (
            f"environment variable {variable}"
            if variable
            else entry.reference.describe()
            if entry is not None and entry.reference is not None
            else "— missing —"
        )
        rows.append({"parameter": parameter.name, "comes from": source})
    return rows


def resource_document(rendered: RenderedEnvironment, kind: str, object_name: str) -> dict[str, Any]:
    """One rendered resource as `portal render` writes it (secrets shown as their source)."""
    resource = rendered.find(object_name, kind)
    if resource is None:
        raise PortalError(
            f"environment {rendered.environment} → {kind} {object_name}",
            "is not in the rendered environment",
            code=ErrorCode.UNKNOWN_OBJECT,
        )
    return resource.as_json()


DIFFERS = "differs"


def comparison_table(renders: Mapping[str, RenderedEnvironment], kind: str, object_name: str) -> list[dict[str, Any]]:
    """One object's rendered properties side by side, one row per property path, each value as display text,
    with a `differs` column that is True where the environments disagree."""
    rows = []
    for row in compare(renders, object_name, kind):
        line: dict[str, Any] = {"property": row.path}
        for env, value in row.values.items():
            value = shown(value)
            line[env] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        line[DIFFERS] = row.differs
        rows.append(line)
    return rows


@dataclass(frozen=True)
class LimitSummary:
    parameters: int
    resources: int
    size: int

    def describe(self) -> str:
        from portal.adf.validation import (
            MAX_PARAMETERS,
            MAX_RESOURCES,
            MAX_TEMPLATE_BYTES,
        )

        return (
            f"{self.parameters} parameters (ARM allows {MAX_PARAMETERS}), {self.resources} resources "
            f"({MAX_RESOURCES}), {self.size / (1024 * 1024):.2f} MB "
            f"({MAX_TEMPLATE_BYTES // (1024 * 1024)} MB)"
        )


def limit_summary(bundle: ExportBundle) -> LimitSummary:
    main = bundle.main
    return LimitSummary(main.parameters, main.resources, main.size)
