"""Checks on the values an environment gives the template's parameters, before anything is deployed.

Every finding names the environment and the parameter, and never shows a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from portal import safe_json
from portal.adf.expressions import json_type_name
from portal.adf.parameterization import TemplateParameter
from portal.environments.config import Environment
from portal.environments.parameter_files import ParameterEntry, ParameterFile
from portal.errors import ErrorCode, Finding, Place, PortalError, Severity
from portal.secret_sources import EnvironmentVariable, KeyVaultReference, SecretSource

MAX_PARAMETERS = 256
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
RESOURCE_ID = re.compile(
    r"^/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/[^/\s]+/[^/\s]+/[^\s]+$", re.IGNORECASE
)
# The last property name tells what form a value must have.
URL_PROPERTIES = {
    "url",
    "baseurl",
    "serviceendpoint",
    "functionappurl",
    "datalakestoreuri",
    "clusteruri",
    "environmenturl",
    "domain",
    "batchuri",
    "accountendpoint",
    "endpoint",
}
RESOURCE_ID_PROPERTIES = {"resourceid", "privatelinkresourceid"}
GUID_PROPERTIES = {"tenant", "subscriptionid", "hostsubscriptionid", "serviceprincipalid"}
KEY_VAULT_INPUT = re.compile(
    r"^(?:keyvault|kv):(?P<vault>/subscriptions/.+?/providers/Microsoft\.KeyVault/vaults/"
    r"[^/]+)/secrets/(?P<secret>[^/]+)(?:/(?P<version>[^/]+))?$",
    re.IGNORECASE,
)
ENV_INPUT = re.compile(r"^env:(?P<name>.+)$")

_PYTHON_TYPES = {"string": (str,), "int": (int,), "bool": (bool,), "object": (dict,), "array": (list,)}


def _where(env: Environment, name: str) -> Place:
    return Place(environment=env.name, object=name)


def type_problem(parameter: TemplateParameter, value: Any) -> str | None:
    expected = _PYTHON_TYPES.get(parameter.type)
    if expected is None:
        return None
    if parameter.type == "int" and isinstance(value, bool):
        return "must be a whole number, not true/false"
    if not isinstance(value, expected):
        return f"must be of type {parameter.type}, not {json_type_name(value)}"
    return None


def injection_problem(value: Any) -> str | None:
    """ARM evaluates a string that starts with '[' and ends with ']'; a value must not smuggle one in."""
    texts = [value] if isinstance(value, str) else list(_strings(value))
    for text in texts:
        if text.startswith("[") and text.endswith("]") and not text.startswith("[["):
            return (
                f"{_short(text)!r} starts with '[' and ARM would evaluate it as an expression; write '[[' to "
                "mean a literal '['"
            )
    return None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "…"


def format_hint(parameter: TemplateParameter, value: Any) -> str | None:
    if not isinstance(value, str) or not parameter.path or value.startswith("@"):
        return None  # dynamic content (`@pipeline()…`) is resolved at run time
    prop = str(parameter.path[-1]).lower()
    if prop == "value" and len(parameter.path) > 1:
        prop = str(parameter.path[-2]).lower()
    if prop in URL_PROPERTIES and not URL.match(value):
        return f"{_short(value)!r} does not look like a URL (https://…)"
    if prop in RESOURCE_ID_PROPERTIES and not RESOURCE_ID.match(value):
        return f"{_short(value)!r} does not look like an Azure resource id (/subscriptions/…/providers/…)"
    if prop in GUID_PROPERTIES and not GUID.match(value):
        return f"{_short(value)!r} does not look like a GUID"
    return None


def check_environment(
    env: Environment,
    parameters: Iterable[TemplateParameter],
    values: ParameterFile,
) -> list[Finding]:
    """All problems of one environment's values against the template parameters."""
    findings: list[Finding] = []
    by_name = {p.name: p for p in parameters}
    if len(by_name) > MAX_PARAMETERS:
        findings.append(
            Finding(
                ErrorCode.ARM_PARAMETER_LIMIT,
                f"environment {env.name}",
                f"the template has {len(by_name)} parameters; ARM allows at most {MAX_PARAMETERS}",
                hint="parameterize fewer properties in arm-template-parameters-definition.json",
            )
        )
    for name, entry in values.entries.items():
        parameter = by_name.get(name)
        where = _where(env, name)
        if parameter is None:
            findings.append(
                Finding(
                    ErrorCode.STALE_PARAMETER,
                    where,
                    "has a value but the template has no such parameter any more",
                    Severity.WARNING,
                    f"remove it (portal params remove-stale {env.name}); ARM refuses parameters "
                    "the template does not declare",
                )
            )
            continue
        findings.extend(_check_entry(env, parameter, entry))
    for name, variable in env.secrets_from_environment.items():
        parameter = by_name.get(name)
        if parameter is None:
            findings.append(
                Finding(
                    ErrorCode.STALE_PARAMETER,
                    f"portal.yaml: environments ({env.name}).secrets_from_environment",
                    f"{name!r} is not a template parameter",
                    Severity.WARNING,
                )
            )
        elif not parameter.secure:
            findings.append(
                Finding(
                    ErrorCode.NOT_SECRET,
                    _where(env, name),
                    f"is read from environment variable {variable} but is not a secure parameter",
                    Severity.WARNING,
                    "give it a plain value in the parameter file instead",
                )
            )
        if name in values.entries:
            findings.append(
                Finding(
                    ErrorCode.DOUBLE_VALUE,
                    _where(env, name),
                    f"has a value in {values.path} and comes from environment variable {variable}",
                    hint="keep one of them",
                )
            )
    for name, parameter in by_name.items():
        if name == "factoryName" or name in values.entries or name in env.secrets_from_environment:
            continue
        if parameter.secure or not parameter.has_default:
            findings.append(
                Finding(
                    ErrorCode.MISSING_VALUE,
                    _where(env, name),
                    "has no value and no default"
                    if not parameter.secure
                    else "is a secret and has no Key Vault reference or environment variable",
                    hint="set it in the parameter form or with `portal params set`",
                )
            )
    return findings


def _check_entry(env: Environment, parameter: TemplateParameter, entry: ParameterEntry) -> list[Finding]:
    where = _where(env, parameter.name)
    if parameter.name == "factoryName" and entry.has_value and entry.value != env.data_factory.factory_name:
        return [
            Finding(
                ErrorCode.FACTORY_NAME_MISMATCH,
                where,
                f"is {entry.value!r} in the parameter file but the environment's target factory is "
                f"{env.data_factory.factory_name!r}",
                hint="remove it: the target decides",
            )
        ]
    if entry.reference is not None:
        found = [Finding(ErrorCode.KEY_VAULT_REFERENCE, where, problem) for problem in entry.reference.problems()]
        if not parameter.secure:
            found.append(
                Finding(
                    ErrorCode.NOT_SECRET,
                    where,
                    "is a Key Vault reference but not a secure parameter",
                    Severity.WARNING,
                    "ARM passes Key Vault secrets only to secure parameters",
                )
            )
        return found
    if parameter.secure:
        return [
            Finding(
                ErrorCode.PLAINTEXT_SECRET,
                where,
                "is a secret given as plain text; the value is not shown",
                hint="use a Key Vault reference (keyvault:<vault id>/secrets/<name>) or an environment "
                "variable (env:NAME), and change the exposed secret",
            )
        ]
    found = []
    problem = type_problem(parameter, entry.value)
    if problem:
        found.append(Finding(ErrorCode.TYPE, where, problem))
    injection = injection_problem(entry.value)
    if injection:
        found.append(Finding(ErrorCode.EXPRESSION_INJECTION, where, injection))
    hint = format_hint(parameter, entry.value)
    if hint and not problem and not injection:
        found.append(Finding(ErrorCode.FORMAT, where, hint, Severity.WARNING))
    return found


def secret_source_of(text: str) -> SecretSource | None:
    """The source a person typed for a secret (`keyvault:<vault id>/secrets/<name>[/<version>]` or `env:NAME`,
    as the CLI takes it), or None when the text is neither (it may be the secret itself)."""
    vault = KEY_VAULT_INPUT.match(text.strip())
    if vault:
        return KeyVaultReference(vault["vault"], vault["secret"], vault["version"])
    variable = ENV_INPUT.match(text.strip())
    return EnvironmentVariable(variable["name"]) if variable else None


def parse_input(
    parameter: TemplateParameter, given: str | SecretSource, env: Environment
) -> ParameterEntry | EnvironmentVariable:
    """A value given by a person (CLI text, a form field's value, or a secret's source as a value) → a parameter
    file entry, or for a secret read from the environment, the variable. Refuses what must never be written to
    Git."""
    where = _where(env, parameter.name)
    if not isinstance(given, str) and not parameter.secure:
        raise PortalError(
            where, f"is not a secure parameter: it takes a value, not {given.describe()}", code=ErrorCode.TYPE
        )
    if parameter.secure:
        source = secret_source_of(given) if isinstance(given, str) else given
        if isinstance(source, KeyVaultReference):
            problems = source.problems()
            if problems:
                raise PortalError(where, "; ".join(problems), code=ErrorCode.KEY_VAULT_REFERENCE)
            return ParameterEntry(parameter.name, reference=source)
        if isinstance(source, EnvironmentVariable):
            if source.problems():
                raise PortalError(
                    where, f"{source.name!r} is not an environment variable name", code=ErrorCode.ENV_VARIABLE
                )
            return source
        # The text is not echoed: it may be the secret itself.
        raise PortalError(
            where,
            "is a secret: plain text is refused and was not written anywhere",
            hint="give keyvault:/subscriptions/…/providers/Microsoft.KeyVault/vaults/<vault>/secrets/"
            "<name> or env:VARIABLE_NAME",
            code=ErrorCode.PLAINTEXT_SECRET,
        )
    text = given if isinstance(given, str) else ""  # a source was refused above for a plain parameter
    value: Any
    if parameter.type == "string":
        value = text
    elif parameter.type == "int":
        try:
            value = int(text.strip())
        except ValueError:
            raise PortalError(where, f"{_short(text)!r} is not a whole number", code=ErrorCode.TYPE) from None
    elif parameter.type == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise PortalError(where, f"{_short(text)!r} is not true or false", code=ErrorCode.TYPE)
        value = lowered == "true"
    else:
        try:
            value = safe_json.loads(text)
        except json.JSONDecodeError as exc:
            raise PortalError(
                where, f"is of type {parameter.type}: give JSON ({exc.msg})", code=ErrorCode.TYPE
            ) from None
        except safe_json.NestingError as exc:
            raise PortalError(where, f"the value {exc}", code=ErrorCode.TYPE) from None
    entry = ParameterEntry(parameter.name, value)
    for problem, code in (
        (type_problem(parameter, value), ErrorCode.TYPE),
        (injection_problem(value), ErrorCode.EXPRESSION_INJECTION),
    ):
        if problem:
            raise PortalError(where, problem, code=code)
    return entry
