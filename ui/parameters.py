"""The Parameters page's data: a form per environment (which widget a parameter gets, what it starts with, what a
typed value becomes for the core), the pending edit with its findings, and the parameterization rules form.

Every rule of what may be saved is the core's (`MappingWorkspace.set_values`, `check`, `change_rules`); the
edit is saved through `portal.usecases.edits`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal import safe_json
from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE
from portal.adf.model import Kind
from portal.adf.parameterization import ACTIONS
from portal.environments.catalogue import CatalogueEntry
from portal.environments.checks import check_environment
from portal.environments.config import CONFIG_FILE, parse_config
from portal.environments.parameter_files import parse_parameter_file
from portal.errors import ErrorCode, Finding, FindingsError, PortalError
from portal.secret_sources import EnvironmentVariable, KeyVaultReference, SecretSource

if TYPE_CHECKING:
    from portal.adf.rules_editor import Rule, RulePreview
    from portal.environments.workspace import Edit, MappingWorkspace


def edits_diff(edits: Iterable[Edit]) -> str:
    return "".join(edit.diff() for edit in edits)


# --- parameter forms -----------------------------------------------------------------------------------------------

# Which widget a parameter gets.
FIXED, SECRET, INT, BOOL, JSON, TEXT = "fixed", "secret", "int", "bool", "json", "text"
KEY_VAULT, ENVIRONMENT_VARIABLE, NO_SOURCE = "key-vault", "environment-variable", "none"


@dataclass(frozen=True)
class SecretPick:
    """Where a secret comes from, as the picker's fields hold it (strings as typed): never the secret itself."""

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

    def same_as(self, other: SecretPick) -> bool:
        def key(source: SecretPick) -> tuple[str, ...]:
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
    initial: Any  # int | None, bool, str (text and JSON), or a SecretPick

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

    def input_text(self, value: Any) -> str | SecretSource | None:
        """What `MappingWorkspace.set_values` takes for the widget's value: text, or for a secret its source as a
        value; None when it is unchanged.

        Raises PortalError (naming the environment and parameter) for a Key Vault reference of the wrong form."""
        if self.widget == FIXED:
            return None
        if self.widget == SECRET:
            pick = value if isinstance(value, SecretPick) else SecretPick()
            if pick.same_as(self.initial) or pick.is_blank():
                return None
            if pick.kind == ENVIRONMENT_VARIABLE:
                return EnvironmentVariable(pick.variable.strip())
            reference = KeyVaultReference(
                pick.vault_id.strip().rstrip("/"), pick.secret_name.strip(), pick.version.strip() or None
            )
            problems = reference.problems()
            if pick.version.strip() and not re.fullmatch(r"[0-9A-Za-z]{1,64}", pick.version.strip()):
                problems.append("a secret version is the 32-character id Key Vault gives it, letters and digits")
            if problems:
                raise PortalError(
                    f"environment {self.environment} → {self.name}",
                    "; ".join(problems),
                    code=ErrorCode.KEY_VAULT_REFERENCE,
                )
            return reference
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


def parameter_form(workspace: MappingWorkspace, env: str) -> list[FormGroup]:
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
                initial = SecretPick(ENVIRONMENT_VARIABLE, variable=variable)
            elif current is not None and current.reference is not None:
                ref = current.reference
                initial = SecretPick(KEY_VAULT, ref.vault_id, ref.secret_name, ref.secret_version or "")
            else:
                initial = SecretPick()
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
    inputs: tuple[tuple[str, str | SecretSource], ...]
    edits: tuple[Edit, ...]
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


def draft_parameters(
    workspace: MappingWorkspace, env: str, fields: Iterable[FormField], values: Mapping[str, Any]
) -> ParameterDraft:
    """Check the form's values (`values`: parameter → the widget's value) the way the CLI's `params set` does and
    prepare the edit of what changed; each refusal is kept with its field. Nothing is written."""
    environment = workspace.environment(env)
    inputs: list[tuple[str, str | SecretSource]] = []
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


def _pending_findings(workspace: MappingWorkspace, env: str, edits: Sequence[Edit]) -> list[Finding]:
    """The environment's findings as they would be after the edits."""
    if not edits:
        return workspace.check(env)
    environment = workspace.environment(env)
    after = {edit.path: edit.after for edit in edits}
    config_after = after.get(CONFIG_FILE)
    if config_after is not None:
        environment = parse_config(config_after).environment(env)
    path = environment.parameter_file_path
    file_after = after.get(path)
    try:
        values = (
            parse_parameter_file(file_after.encode("utf-8"), path)
            if file_after is not None
            else workspace.values(environment)
        )
    except FindingsError as error:
        return list(error.findings)
    return check_environment(environment, workspace.export.parameters, values)


def findings_by_parameter(
    findings: Iterable[Finding], env: str
) -> tuple[dict[str, tuple[Finding, ...]], list[Finding]]:
    """Findings that name one parameter of `env` (for the field), and the rest (for the page)."""
    by_name: dict[str, list[Finding]] = {}
    other: list[Finding] = []
    for finding in findings:
        place = finding.place
        if place is not None and place.environment == env and place.object and not place.file:
            by_name.setdefault(place.object, []).append(finding)
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

    def rule(self) -> Rule:
        from portal.adf.rules_editor import Rule, RuleTarget

        target = RuleTarget.parse(self.resource_type, self.path.strip(), self.subtype.strip() or None)
        return Rule(target, self.action, self.name.strip(), self.type.strip() or None, self.naming.strip() or None)


_RULE_TYPE_WORDS = {kind.arm_type.lower(): kind.label for kind in Kind}
_RULE_TYPE_WORDS[FACTORY_TYPE.lower()] = "Factory"
_RULE_TYPE_WORDS[GLOBAL_PARAMETERS_TYPE.lower()] = "Global parameters"


def rule_rows(workspace: MappingWorkspace) -> list[dict[str, str]]:
    """The rules in force, one row each, in file order."""
    return [
        {
            "resource type": _RULE_TYPE_WORDS.get(rule.target.resource_type.lower(), rule.target.resource_type),
            "subtype": rule.target.subtype or "",
            "path": rule.target.dotted,
            "rule": rule.text(),
            "naming": rule.naming or "",
        }
        for rule in workspace.rules()
    ]


@dataclass(frozen=True)
class RuleDraft:
    edits: tuple[Edit, ...]
    preview: RulePreview

    @property
    def diff(self) -> str:
        return edits_diff(self.edits)

    @property
    def lines(self) -> list[str]:
        """What the change does to the template's parameters: `+ name (type)`, `- name`, `~ name (old → new)`."""
        preview = self.preview
        return (
            [f"+ {p.name} ({p.type})" for p in preview.added]
            + [f"- {p.name}" for p in preview.removed]
            + [f"~ {new.name} ({old.type} → {new.type})" for old, new in preview.changed]
        )

    @property
    def can_save(self) -> bool:
        return bool(self.edits)


def draft_rule_change(
    workspace: MappingWorkspace, *, add: RuleForm | None = None, remove_index: int | None = None
) -> RuleDraft:
    """Add a rule and/or remove the `remove_index`-th rule of `rule_rows`, with the preview of the parameters
    the new rules yield. Nothing is written; a rule of the wrong form is a PortalError naming its field."""
    remove = None
    if remove_index is not None:
        rules = workspace.rules()
        if not 0 <= remove_index < len(rules):
            raise PortalError("rules", f"there is no rule number {remove_index + 1}", code=ErrorCode.PARAM_RULE)
        remove = rules[remove_index].target
    edits, preview = workspace.change_rules(add=add.rule() if add is not None else None, remove=remove)
    return RuleDraft(tuple(edits), preview)
