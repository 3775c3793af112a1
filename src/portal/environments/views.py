"""What the portal's Parameters and Templates pages show and do, as plain data.

The pages lay out widgets and call these; every rule (which widget a parameter gets, what a typed value becomes,
what may be saved, who the Git author is, what the download holds) lives here, below the UI framework.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from portal import safe_json
from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE, ArmExport, write_export
from portal.adf.model import Kind
from portal.adf.parameterization import ACTIONS
from portal.adf.validation import written_limit_findings
from portal.environments.catalogue import CatalogueEntry
from portal.environments.checks import check_environment
from portal.environments.config import CONFIG_FILE, parse_config
from portal.environments.parameter_files import KeyVaultReference, parse_parameter_file
from portal.environments.render import RenderedEnvironment, compare, shown, write_rendered
from portal.errors import Finding, FindingsError, PortalError, Severity

if TYPE_CHECKING:
    from portal.adf.rules_editor import Rule, RulePreview
    from portal.environments.git_store import Author, CommitResult
    from portal.environments.workspace import Edit, MappingWorkspace
    from portal.promotion.identity import Identity


def _line(finding: Finding) -> str:
    return f"{finding.where}: {finding.what}" + (f" — {finding.hint}" if finding.hint else "")


def error_lines(error: PortalError) -> list[str]:
    """A core error as lines naming the file or field, one per finding (never a traceback)."""
    findings = error.findings if isinstance(error, FindingsError) else [error.as_finding()]
    return [_line(f) for f in findings]


def findings_text(findings: Iterable[Finding]) -> list[tuple[Severity, str]]:
    return [(f.severity, _line(f)) for f in findings]


# --- the commit the pages read ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MainHead:
    branch: str
    commit: str


def main_head(repo_root: str | os.PathLike[str]) -> MainHead:
    """The main branch (from trusted settings, see `portal.environments.trusted`) and the commit it is at: what the
    pages show and edits build on, so an edit saved later is refused if someone moved the branch in between."""
    from portal.environments.trusted import trusted_main

    main = trusted_main(repo_root)
    return MainHead(main.branch, main.commit)


# --- who commits ---------------------------------------------------------------------------------------------------

_NOT_IN_GIT_IDENTITY = re.compile(r"[<>\n\r\0]")


def git_author(identity: "Identity", display_name: str | None = None) -> "Author":
    """The Git author of an edit made in the portal: the signed-in user (their name from the sign-in when given), or
    in the demo the picked person."""
    from portal.environments.git_store import Author
    from portal.session import DEMO_PEOPLE

    login = _NOT_IN_GIT_IDENTITY.sub("", identity.name).strip()
    if not login:
        raise PortalError("author", "the signed-in identity has no name", code="BAD_AUTHOR")
    # A service principal signs in by app id: Git still needs an address-shaped email.
    email = login if "@" in login else f"{login}@portal.invalid"
    demo_name = DEMO_PEOPLE.get(identity.name, "").split(",")[0].strip()
    name = _NOT_IN_GIT_IDENTITY.sub("", display_name or "").strip() or demo_name or login.split("@")[0]
    return Author(name, email)


def edit_branch(prefix: str, environment: str | None = None, now: datetime | None = None) -> str:
    """`params/test-20250101-120000` or `rules/20250101-120000`, as the CLI names its branches."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"{prefix}/{environment}-{stamp}" if environment else f"{prefix}/{stamp}"


@dataclass(frozen=True)
class SavedEdit:
    commit: "CommitResult"
    author: "Author"

    @property
    def author_text(self) -> str:
        return f"{self.author.name} <{self.author.email}>"


def save_edit(workspace: "MappingWorkspace", edits: Sequence["Edit"], identity: "Identity", *,
              environment: str | None, branch: str | None = None, message: str | None = None,
              display_name: str | None = None, branch_prefix: str = "params") -> SavedEdit:
    """Commit the edits on a new branch (named like the CLI's when not given), authored by `identity`, and record
    the edit in the audit trail as the CLI does."""
    from portal.audit import AuditStore, audit_url
    from portal.promotion.service import Promotions

    author = git_author(identity, display_name)
    branch = (branch or "").strip() or edit_branch(branch_prefix, environment)
    result = workspace.save(edits, author=author, branch=branch, message=(message or "").strip() or None)
    # The portal knows who signed in, so the trail records that identity (verified or not), not just Git's word.
    root = workspace.snapshot.root
    promotions = Promotions(root, AuditStore.open(audit_url(root, workspace.config.audit.url)))
    try:
        promotions.record_parameter_edit(identity, environment, commit=result.commit, branch=result.branch,
                                         changes=[line for edit in edits for line in edit.changes])
    finally:
        promotions.close()
    return SavedEdit(result, author)


def edits_diff(edits: Iterable["Edit"]) -> str:
    return "".join(edit.diff() for edit in edits)


# --- parameter forms -----------------------------------------------------------------------------------------------

# Which widget a parameter gets.
FIXED, SECRET, INT, BOOL, JSON, TEXT = "fixed", "secret", "int", "bool", "json", "text"
KEY_VAULT, ENVIRONMENT_VARIABLE, NO_SOURCE = "key-vault", "environment-variable", "none"


@dataclass(frozen=True)
class SecretSource:
    """Where a secret comes from, as the picker's fields hold it: never the secret itself."""

    kind: str = NO_SOURCE  # KEY_VAULT, ENVIRONMENT_VARIABLE or NO_SOURCE
    vault_id: str = ""
    secret_name: str = ""
    version: str = ""
    variable: str = ""

    def is_blank(self) -> bool:
        if self.kind == KEY_VAULT:
            return not (self.vault_id.strip() or self.secret_name.strip() or self.version.strip())
        if self.kind == ENVIRONMENT_VARIABLE:
            return not self.variable.strip()
        return True

    def same_as(self, other: "SecretSource") -> bool:
        def key(source: SecretSource) -> tuple[str, ...]:
            if source.is_blank():
                return (NO_SOURCE,)
            if source.kind == KEY_VAULT:
                return (KEY_VAULT, source.vault_id.strip(), source.secret_name.strip(), source.version.strip())
            return (ENVIRONMENT_VARIABLE, source.variable.strip())
        return key(self) == key(other)


@dataclass(frozen=True)
class FormField:
    """One parameter in an environment's form: the widget it gets and the value the widget starts with."""

    entry: CatalogueEntry
    environment: str
    widget: str
    initial: Any  # int | None, bool, str (text and JSON), or a SecretSource

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def label(self) -> str:
        return self.entry.source

    @property
    def help(self) -> str:
        flags = [self.entry.type]
        flags += [flag for flag, on in (("required", self.entry.required), ("secret", self.entry.secret)) if on]
        rule = f"; rule {self.entry.rule}" if self.entry.rule else ""
        return f"Template parameter `{self.name}` ({', '.join(flags)}){rule}"

    @property
    def now(self) -> str:
        """What the environment gives the parameter today, in words (a secret only as its source)."""
        return self.entry.values[self.environment].display

    def input_text(self, value: Any) -> str | None:
        """The text `MappingWorkspace.set_values` takes for the widget's value; None when it is unchanged.

        Raises PortalError (naming the environment and parameter) for a Key Vault reference of the wrong form."""
        if self.widget == FIXED:
            return None
        if self.widget == SECRET:
            source = value if isinstance(value, SecretSource) else SecretSource()
            if source.same_as(self.initial) or source.is_blank():
                return None
            if source.kind == ENVIRONMENT_VARIABLE:
                return f"env:{source.variable.strip()}"
            reference = KeyVaultReference(source.vault_id.strip().rstrip("/"), source.secret_name.strip(),
                                          source.version.strip() or None)
            problems = reference.problems()
            if source.version.strip() and not re.fullmatch(r"[0-9A-Za-z]{1,64}", source.version.strip()):
                problems.append("a secret version is the 32-character id Key Vault gives it, letters and digits")
            if problems:
                raise PortalError(f"environment {self.environment} → {self.name}", "; ".join(problems),
                                  code="KEY_VAULT_REFERENCE")
            version = f"/{reference.secret_version}" if reference.secret_version else ""
            return f"keyvault:{reference.vault_id}/secrets/{reference.secret_name}{version}"
        if self.widget == INT:
            if value is None or (value == self.initial and not isinstance(value, bool)):
                return None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return value if isinstance(value, str) else str(value)
        if self.widget == BOOL:
            return None if bool(value) == self.initial else ("true" if value else "false")
        text = "" if value is None else str(value)
        if self.widget == JSON:
            try:
                if safe_json.loads(text) == safe_json.loads(self.initial or "null"):
                    return None
            except (json.JSONDecodeError, safe_json.NestingError):
                pass  # the core says what is wrong with it
            return None if text.strip() == (self.initial or "").strip() else text
        return None if text == self.initial else text


@dataclass(frozen=True)
class FormGroup:
    kind: str  # "Linked service", "Trigger", "Global parameters", …
    fields: tuple[FormField, ...]


def _widget(entry: CatalogueEntry) -> str:
    if entry.name == "factoryName":
        return FIXED
    if entry.secret:
        return SECRET
    return {"int": INT, "bool": BOOL, "object": JSON, "array": JSON}.get(entry.type, TEXT)


def parameter_form(workspace: "MappingWorkspace", env: str) -> list[FormGroup]:
    """The environment's parameters grouped by resource kind (in the template's order), each with its widget and
    the value it starts with: the environment's own value, else the dev default."""
    environment = workspace.environment(env)
    values = workspace.values(environment)
    groups: dict[str, list[FormField]] = {}
    for entry in workspace.catalogue():
        widget = _widget(entry)
        shown_value = entry.values[environment.name]
        plain = shown_value.value if shown_value.kind in ("value", "default", "target") else None
        initial: Any
        if widget == SECRET:
            current = values.get(entry.name)
            variable = environment.secrets_from_environment.get(entry.name)
            if variable:
                initial = SecretSource(ENVIRONMENT_VARIABLE, variable=variable)
            elif current is not None and current.reference is not None:
                ref = current.reference
                initial = SecretSource(KEY_VAULT, ref.vault_id, ref.secret_name, ref.secret_version or "")
            else:
                initial = SecretSource()
        elif widget == INT:
            initial = plain if isinstance(plain, int) and not isinstance(plain, bool) else None
        elif widget == BOOL:
            initial = plain if isinstance(plain, bool) else False
        elif widget == JSON:
            initial = "" if plain is None else json.dumps(plain, indent=2, ensure_ascii=False)
        else:
            initial = "" if plain is None else plain if isinstance(plain, str) else json.dumps(plain)
        groups.setdefault(entry.object_kind, []).append(FormField(entry, environment.name, widget, initial))
    return [FormGroup(kind, tuple(fields)) for kind, fields in groups.items()]


@dataclass(frozen=True)
class ParameterDraft:
    """The pending edit of one environment's values: what it changes and what is wrong with it."""

    environment: str
    inputs: tuple[tuple[str, str], ...]
    edits: tuple["Edit", ...]
    errors: Mapping[str, PortalError]  # parameter → why its input is refused
    findings: Mapping[str, tuple[Finding, ...]]  # parameter → findings on the values after the edit
    other_findings: tuple[Finding, ...]  # findings that belong to no field of the form

    @property
    def can_save(self) -> bool:
        return bool(self.edits) and not self.errors

    @property
    def diff(self) -> str:
        return edits_diff(self.edits)

    @property
    def changes(self) -> list[str]:
        return [line for edit in self.edits for line in edit.changes]


def draft_parameters(workspace: "MappingWorkspace", env: str, fields: Iterable[FormField],
                     values: Mapping[str, Any]) -> ParameterDraft:
    """Check the form's values (`values`: parameter → the widget's value) the way the CLI's `params set` does and
    prepare the edit of what changed; each refusal is kept with its field. Nothing is written."""
    environment = workspace.environment(env)
    inputs: list[tuple[str, str]] = []
    errors: dict[str, PortalError] = {}
    for form_field in fields:
        if form_field.name not in values:
            continue
        try:
            text = form_field.input_text(values[form_field.name])
            if text is None:
                continue
            workspace.set_values(environment.name, [(form_field.name, text)])
        except PortalError as error:
            errors[form_field.name] = error
            continue
        inputs.append((form_field.name, text))
    edits = workspace.set_values(environment.name, inputs) if inputs else []
    findings = _pending_findings(workspace, environment.name, edits)
    by_field, other = findings_by_parameter(findings, environment.name)
    return ParameterDraft(environment.name, tuple(inputs), tuple(edits), errors, by_field, tuple(other))


def _pending_findings(workspace: "MappingWorkspace", env: str, edits: Sequence["Edit"]) -> list[Finding]:
    """The environment's findings as they would be after the edits."""
    if not edits:
        return workspace.check(env)
    environment = workspace.environment(env)
    after = {edit.path: edit.after for edit in edits}
    if CONFIG_FILE in after and after[CONFIG_FILE] is not None:
        environment = parse_config(after[CONFIG_FILE]).environment(env)
    path = environment.parameter_file_path
    try:
        values = (parse_parameter_file(after[path].encode("utf-8"), path) if after.get(path) is not None
                  else workspace.values(environment))
    except FindingsError as error:
        return list(error.findings)
    return check_environment(environment, workspace.export.parameters, values)


def findings_by_parameter(findings: Iterable[Finding], env: str) -> tuple[dict[str, tuple[Finding, ...]],
                                                                           list[Finding]]:
    """Findings that name one parameter of `env` (for the field), and the rest (for the page)."""
    prefix = f"environment {env} → "
    by_name: dict[str, list[Finding]] = {}
    other: list[Finding] = []
    for finding in findings:
        if finding.where.startswith(prefix):
            by_name.setdefault(finding.where[len(prefix):], []).append(finding)
        else:
            other.append(finding)
    return {name: tuple(found) for name, found in by_name.items()}, other


# --- parameterization rules ----------------------------------------------------------------------------------------

# Resource types a rule may target, as the rules editor takes them (short name → words).
RULE_RESOURCE_TYPES: Mapping[str, str] = {
    **{kind.value: kind.label for kind in Kind},
    "factory": "Factory",
    "globalParameters": "Global parameters",
}
_ACTION_WORDS = {
    "=": "= keep the current value as the parameter's default",
    "-": "- no default: every environment must give a value",
    "|": "| a secret (Key Vault secret name / secure string)",
}
RULE_ACTIONS: Mapping[str, str] = {action: _ACTION_WORDS[action] for action in ACTIONS}
RULE_PARAMETER_TYPES = ("", "string", "int", "bool", "object", "array", "secureString", "secureObject")


@dataclass(frozen=True)
class RuleForm:
    """A rule as a form holds it: plain strings, blank for 'not given'."""

    resource_type: str
    path: str
    subtype: str = ""
    action: str = "="
    name: str = ""
    type: str = ""
    naming: str = ""

    def rule(self) -> "Rule":
        from portal.adf.rules_editor import Rule, RuleTarget

        target = RuleTarget.parse(self.resource_type, self.path.strip(), self.subtype.strip() or None)
        return Rule(target, self.action, self.name.strip(), self.type.strip() or None,
                    self.naming.strip() or None)


_RULE_TYPE_WORDS = {kind.arm_type.lower(): kind.label for kind in Kind}
_RULE_TYPE_WORDS[FACTORY_TYPE.lower()] = "Factory"
_RULE_TYPE_WORDS[GLOBAL_PARAMETERS_TYPE.lower()] = "Global parameters"


def rule_rows(workspace: "MappingWorkspace") -> list[dict[str, str]]:
    """The rules in force, one row each, in file order."""
    return [{"resource type": _RULE_TYPE_WORDS.get(rule.target.resource_type.lower(), rule.target.resource_type),
             "subtype": rule.target.subtype or "", "path": rule.target.dotted, "rule": rule.text(),
             "naming": rule.naming or ""}
            for rule in workspace.rules()]


@dataclass(frozen=True)
class RuleDraft:
    edits: tuple["Edit", ...]
    preview: "RulePreview"

    @property
    def diff(self) -> str:
        return edits_diff(self.edits)

    @property
    def lines(self) -> list[str]:
        """What the change does to the template's parameters: `+ name (type)`, `- name`, `~ name (old → new)`."""
        preview = self.preview
        return ([f"+ {p.name} ({p.type})" for p in preview.added]
                + [f"- {p.name}" for p in preview.removed]
                + [f"~ {new.name} ({old.type} → {new.type})" for old, new in preview.changed])

    @property
    def can_save(self) -> bool:
        return bool(self.edits)


def draft_rule_change(workspace: "MappingWorkspace", *, add: RuleForm | None = None,
                      remove_index: int | None = None) -> RuleDraft:
    """Add a rule and/or remove the `remove_index`-th rule of `rule_rows`, with the preview of the parameters
    the new rules yield. Nothing is written; a rule of the wrong form is a PortalError naming its field."""
    remove = None
    if remove_index is not None:
        rules = workspace.rules()
        if not 0 <= remove_index < len(rules):
            raise PortalError("rules", f"there is no rule number {remove_index + 1}", code="PARAM_RULE")
        remove = rules[remove_index].target
    edits, preview = workspace.change_rules(add=add.rule() if add is not None else None, remove=remove)
    return RuleDraft(tuple(edits), preview)


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
        raise PortalError(path, "is not a file of the export", code="UNKNOWN_FILE")

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
            files.append(ExportFile(path, _role(path), data.decode("utf-8"),
                                    len(document.get("parameters", {})) if isinstance(document, dict) else 0,
                                    len(document.get("resources", [])) if isinstance(document, dict) else 0,
                                    len(data)))
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


def template_objects(workspace: "MappingWorkspace") -> list[tuple[str, str]]:
    """Every resource of the template as (kind in words, object name), in template order: what can be compared."""
    labels = {kind.arm_type: kind.label for kind in Kind}
    labels[FACTORY_TYPE] = "Factory"
    labels[GLOBAL_PARAMETERS_TYPE] = "Global parameters"
    return [(labels.get(resource.key[0], resource.key[0]), resource.key[1]) for resource in workspace.export.resources]


def rendered_rows(rendered: RenderedEnvironment) -> list[dict[str, str]]:
    return [{"kind": r.kind_label, "object": r.object_name, "deployed as": r.name,
             "file": f"{r.folder}/{r.file_name}"} for r in rendered.resources]


def secret_rows(rendered: RenderedEnvironment, workspace: "MappingWorkspace") -> list[dict[str, str]]:
    """Where each secure parameter of the environment comes from (never its value)."""
    rows = []
    for parameter in workspace.export.parameters:
        if not parameter.secure:
            continue
        variable = rendered.secrets_from_environment.get(parameter.name)
        entry = rendered.parameter_file.get(parameter.name)
        source = (f"environment variable {variable}" if variable
                  else entry.reference.describe() if entry is not None and entry.reference is not None
                  else "— missing —")
        rows.append({"parameter": parameter.name, "comes from": source})
    return rows


def resource_document(rendered: RenderedEnvironment, kind: str, object_name: str) -> dict[str, Any]:
    """One rendered resource as `portal render` writes it (secrets shown as their source)."""
    resource = rendered.find(object_name, kind)
    if resource is None:
        raise PortalError(f"environment {rendered.environment} → {kind} {object_name}",
                          "is not in the rendered environment", code="UNKNOWN_OBJECT")
    return resource.as_json()


DIFFERS = "differs"


def comparison_table(renders: Mapping[str, RenderedEnvironment], kind: str,
                     object_name: str) -> list[dict[str, Any]]:
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
        from portal.adf.validation import MAX_PARAMETERS, MAX_RESOURCES, MAX_TEMPLATE_BYTES

        return (f"{self.parameters} parameters (ARM allows {MAX_PARAMETERS}), {self.resources} resources "
                f"({MAX_RESOURCES}), {self.size / (1024 * 1024):.2f} MB "
                f"({MAX_TEMPLATE_BYTES // (1024 * 1024)} MB)")


def limit_summary(bundle: ExportBundle) -> LimitSummary:
    main = bundle.main
    return LimitSummary(main.parameters, main.resources, main.size)


__all__ = [
    "DIFFERS", "ENVIRONMENT_VARIABLE", "KEY_VAULT", "RULE_ACTIONS", "RULE_PARAMETER_TYPES", "RULE_RESOURCE_TYPES",
    "ExportBundle", "ExportFile", "FormField", "FormGroup", "LimitSummary", "MainHead", "ParameterDraft", "RuleDraft",
    "RuleForm", "SavedEdit", "SecretSource", "comparison_table", "draft_parameters", "draft_rule_change",
    "edit_branch", "edits_diff", "error_lines", "export_bundle", "export_zip", "findings_by_parameter",
    "findings_text", "git_author", "limit_summary", "main_head", "parameter_form", "rendered_rows",
    "resource_document", "rule_rows", "save_edit", "secret_rows", "template_objects",
]
