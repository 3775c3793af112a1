"""The portal's configuration in the data repository (`portal.yaml`): where the factory lives, the ordered
environments with their targets, protection and parameter files, and how edits reach Git.

It is versioned and reviewed like code; the schema below checks it and every problem names its field.
"""

from __future__ import annotations

import io
import re
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from portal.environments.repository import RepoSnapshot
from portal.environments.windows import parse_rule
from portal.errors import ErrorCode, Finding, FindingsError, Place, PortalError
from portal.safe_json import NestingError, check_depth, check_text_depth
from portal.secret_sources import ENVIRONMENT_VARIABLE_NAME

CONFIG_FILE = "portal.yaml"

GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Data factory names: 3-63 letters, digits and hyphens, starting and ending with a letter or digit.
FACTORY_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{1,61})[A-Za-z0-9]$"
ENVIRONMENT_NAME = r"^[a-z][a-z0-9-]{0,31}$"
ENV_VAR = ENVIRONMENT_VARIABLE_NAME.pattern


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFactoryTarget(_Strict):
    subscription_id: str = Field(pattern=GUID)
    resource_group: str = Field(min_length=1, max_length=90, pattern=r"^[-\w._()]+$")
    factory_name: str = Field(pattern=FACTORY_NAME)
    location: str = Field(min_length=1, pattern=r"^[a-z0-9]+$")
    # How the deploy signs in: azure-identity's DefaultAzureCredential chain (environment, workload identity,
    # managed identity, Azure CLI …), one of its members explicitly, or the embedded sandbox.
    auth: Literal["default", "service-principal", "managed-identity", "workload-identity", "azure-cli", "sandbox"] = (
        "default"
    )
    # For auth "sandbox": the sandbox's state folder, relative to the repository.
    sandbox: str | None = None

    @model_validator(mode="after")
    def _sandbox_folder(self) -> DataFactoryTarget:
        if (self.auth == "sandbox") != (self.sandbox is not None):
            raise ValueError("auth: sandbox and a sandbox folder go together")
        if self.sandbox is not None and (self.sandbox.startswith("/") or ".." in self.sandbox.split("/")):
            raise ValueError("sandbox must be a folder inside the repository")
        return self

    @property
    def factory_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{self.factory_name}"
        )


class DatabricksTarget(_Strict):
    host: str = Field(pattern=r"^https://[^/\s]+/?$")
    # The workspace folder the repository's notebook folder is deployed into (its contents go right below it).
    target_folder: str = Field(pattern=r"^/\S.*$")
    # How the deploy signs in (databricks-sdk): a personal access token from DATABRICKS_TOKEN, an Azure service
    # principal (ARM_TENANT_ID, ARM_CLIENT_ID, ARM_CLIENT_SECRET), the Azure CLI, or the embedded sandbox.
    auth: Literal["pat", "azure-service-principal", "azure-cli", "sandbox"] = "azure-cli"
    # For auth "sandbox": the sandbox's state folder, relative to the repository.
    sandbox: str | None = None

    @field_validator("target_folder")
    @classmethod
    def _no_parent_steps(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return value.rstrip("/") or "/"

    @model_validator(mode="after")
    def _sandbox_folder(self) -> DatabricksTarget:
        if (self.auth == "sandbox") != (self.sandbox is not None):
            raise ValueError("auth: sandbox and a sandbox folder go together")
        if self.sandbox is not None and (self.sandbox.startswith("/") or ".." in self.sandbox.split("/")):
            raise ValueError("sandbox must be a folder inside the repository")
        return self


class Protection(_Strict):
    # Distinct approvers (never the requester) a promotion to this environment needs before it runs.
    approvals_required: int = Field(default=0, ge=0, le=10)
    # An approval older than this no longer counts.
    approval_expiry_hours: float = Field(default=72, gt=0, le=24 * 90)


class DeploySettings(_Strict):
    # Objects in the live factory that the source no longer has are deleted only when this is on.
    delete_removed: bool = False
    # After a deployment, triggers take the state the source says (`runtimeState`) or the one they had before.
    trigger_state: Literal["source", "previous"] = "source"
    parallelism: int = Field(default=4, ge=1, le=32)
    # What apply checks before writing: that nothing the plan changes (writes, deletes, starts or stops) moved
    # since the plan, or that nothing at all in the live factory moved (reads the whole factory again).
    stale_check: Literal["changed-objects", "whole-factory"] = "changed-objects"
    # The longest the triggers a deploy stops may stay stopped while it writes: once spent, retries stop, the deploy
    # fails and the triggers are started again (a permanent 500 must not keep schedules down for minutes).
    trigger_downtime_seconds: int = Field(default=300, ge=10, le=86400)


class Window(_Strict):
    # An RFC 5545 recurrence rule's parts, e.g. FREQ=WEEKLY;BYDAY=MO,TU,WE,TH;BYHOUR=9;BYMINUTE=0
    rule: str = Field(min_length=1)
    duration_minutes: int = Field(ge=1, le=31 * 24 * 60)


class Windows(_Strict):
    # The windows' wall clock (an IANA zone, e.g. Europe/Amsterdam).
    time_zone: str = "UTC"
    allow: list[Window] = []
    deny: list[Window] = []
    # A request outside the windows: recorded and run once a window opens ("wait"), or refused ("refuse").
    outside: Literal["wait", "refuse"] = "wait"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (an IANA name such as Europe/Amsterdam)") from None
        return value

    @model_validator(mode="after")
    def _rules(self) -> Windows:
        for kind, windows in (("allow", self.allow), ("deny", self.deny)):
            for index, window in enumerate(windows):
                try:
                    parse_rule(window.rule, self.time_zone)
                except ValueError as error:
                    raise ValueError(
                        f"{kind}[{index}].rule {window.rule!r} is not a recurrence rule: {error}"
                    ) from None
        return self


class Environment(_Strict):
    name: str = Field(pattern=ENVIRONMENT_NAME)
    data_factory: DataFactoryTarget
    databricks: DatabricksTarget | None = None
    protection: Protection = Protection()
    deploy: DeploySettings = DeploySettings()
    windows: Windows | None = None
    # ARM deployment parameter file (the format of ARMTemplateParametersForFactory.json), repository-relative.
    parameters_file: str | None = None
    # Secure parameters read from an environment variable at deploy time: parameter name → variable name.
    secrets_from_environment: dict[str, str] = {}

    @field_validator("secrets_from_environment")
    @classmethod
    def _variable_names(cls, value: dict[str, str]) -> dict[str, str]:
        for parameter, variable in value.items():
            if not re.match(ENV_VAR, variable):
                raise ValueError(f"{parameter}: {variable!r} is not an environment variable name")
        return value

    @field_validator("parameters_file")
    @classmethod
    def _inside_repository(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.replace("\\", "/").split("/")):
            raise ValueError("must be a path inside the repository")
        return value

    @property
    def parameter_file_path(self) -> str:
        return self.parameters_file or f"environments/{self.name}.parameters.json"


class AdfSource(_Strict):
    root_folder: str = "adf"
    factory_name: str | None = None


class GitSettings(_Strict):
    main_branch: str = "main"
    allow_direct_commits: bool = False
    push: bool = False
    remote: str = "origin"


class DatabricksSource(_Strict):
    # The repository folder whose notebooks and files go to each environment's `databricks.target_folder`.
    source_folder: str = "notebooks"
    # Target folders must lie strictly below one of these workspace folders.
    allowed_roots: tuple[str, ...] = ("/Shared", "/Users", "/Workspace/Shared", "/Workspace/Users")

    @field_validator("source_folder")
    @classmethod
    def _inside_repository(cls, value: str) -> str:
        parts = value.replace("\\", "/").strip("/").split("/")
        if value.startswith("/") or ".." in parts:
            raise ValueError("must be a folder inside the repository")
        return "/".join(p for p in parts if p not in ("", "."))

    @field_validator("allowed_roots")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for root in value:
            if not root.startswith("/") or ".." in root.split("/"):
                raise ValueError(f"{root!r} must be an absolute workspace folder without '..'")
        return tuple(r.rstrip("/") or "/" for r in value)


class Role(StrEnum):
    """What a member may do in an environment (access.roles); admin may do everything."""

    VIEWER = "viewer"
    EDITOR = "editor"
    PROMOTER = "promoter"
    APPROVER = "approver"
    ADMIN = "admin"


ROLES = tuple(Role)
# A member: a user (as the sign-in names them: e-mail / UPN, or a service principal's app id), "group:<Entra ID group
# object id or name>" as the token's group claims carry it, or "*" for everyone signed in.
MEMBER = r"^(\*|group:\S+|[^\s:]\S*)$"


class Access(_Strict):
    # Roles per environment name, or "*" for every environment: role → members. Without this section everyone
    # signed in may view, edit, promote and approve (never their own promotion), and nobody is admin.
    roles: dict[str, dict[Role, list[str]]] = {}

    @field_validator("roles")
    @classmethod
    def _members(cls, value: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        for scope, roles in value.items():
            for role, members in roles.items():
                for member in members:
                    if not re.match(MEMBER, member):
                        raise ValueError(f"{scope}.{role}: {member!r} is not a user, 'group:NAME' or '*'")
        return value


class AuditSettings(_Strict):
    # SQLAlchemy URL of the audit store; default: PORTAL_AUDIT_URL, else SQLite in .portal/audit.db of the repository.
    # A password belongs in PORTAL_AUDIT_URL (an environment variable), never in this file.
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is not None and re.match(r"^[\w+]+://[^/@:]+:[^/@]+@", value):
            raise ValueError("must not hold a password (use the PORTAL_AUDIT_URL environment variable)")
        return value


class PromotionSettings(_Strict):
    # A running promotion holds its environment's lock for this long and renews it as it goes; a crashed run's lock
    # is taken over after it ran out.
    lock_lease_seconds: float = Field(default=300, ge=5, le=24 * 3600)


class Notice(StrEnum):
    """What a notification channel may be told about."""

    APPROVAL_NEEDED = "approval needed"
    PROMOTION_SUCCEEDED = "promotion succeeded"
    PROMOTION_FAILED = "promotion failed"


class NotificationChannel(_Strict):
    # A name for the trail and messages ("release-team"); the channel's address is never written anywhere.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    # The environment variable holding the channel's Apprise URL (Teams, Slack, e-mail, a webhook …): the URL
    # carries the channel's secret, so it never goes into portal.yaml.
    url_from_env: str = Field(pattern=ENV_VAR)
    events: list[Notice] = Field(min_length=1)
    # Only these environments (default: all).
    environments: list[str] = []
    # For e-mail (mailto:/mailtos:): "approval needed" goes to the people who may approve, as access.roles names
    # them by address (groups cannot be mailed).
    to_approvers: bool = False


class PortalConfig(_Strict):
    version: Literal[1] = 1
    adf: AdfSource = AdfSource()
    databricks: DatabricksSource = DatabricksSource()
    access: Access = Access()
    audit: AuditSettings = AuditSettings()
    promotion: PromotionSettings = PromotionSettings()
    git: GitSettings = GitSettings()
    notifications: list[NotificationChannel] = []
    environments: list[Environment] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> PortalConfig:
        seen: set[str] = set()
        files: set[str] = set()
        for env in self.environments:
            if env.name in seen:
                raise ValueError(f"environment {env.name!r} is defined twice")
            if env.parameter_file_path in files:
                raise ValueError(f"two environments share the parameter file {env.parameter_file_path}")
            seen.add(env.name)
            files.add(env.parameter_file_path)
        for scope in self.access.roles:
            if scope != "*" and scope not in seen:
                raise ValueError(f"access.roles names the environment {scope!r}, which is not defined")
        channels: set[str] = set()
        for channel in self.notifications:
            if channel.name in channels:
                raise ValueError(f"notifications: the channel {channel.name!r} is defined twice")
            channels.add(channel.name)
            for name in channel.environments:
                if name not in seen:
                    raise ValueError(
                        f"notifications ({channel.name}) names the environment {name!r}, which is not defined"
                    )
        return self

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise PortalError(
            f"environment {name!r}",
            "is not configured",
            hint="environments in portal.yaml: " + ", ".join(e.name for e in self.environments),
            code=ErrorCode.UNKNOWN_ENVIRONMENT,
        )

    @property
    def names(self) -> list[str]:
        return [env.name for env in self.environments]

    @property
    def sandbox_only(self) -> bool:
        """Every target (factories and workspaces) is the embedded sandbox: only then may people name themselves
        instead of signing in, since nothing real can be reached."""
        return all(
            env.data_factory.auth == "sandbox" and (env.databricks is None or env.databricks.auth == "sandbox")
            for env in self.environments
        )


def parse_config(text: bytes | str, where: str = CONFIG_FILE) -> PortalConfig:
    """Parse and check the configuration; every problem becomes a finding naming its line or field."""
    try:
        check_text_depth(text if isinstance(text, str) else text.decode("utf-8", "replace"))
        data = load_yaml(text)
        check_depth(data)
    except (RecursionError, NestingError):
        raise FindingsError([Finding(ErrorCode.CONFIG_NESTING, where, str(NestingError()))]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        place = Place(file=where, line=mark.line + 1, column=mark.column + 1) if mark else where
        raise FindingsError([Finding(ErrorCode.CONFIG_SYNTAX, place, f"invalid YAML: {exc.problem}")]) from exc
    except YAMLError as exc:
        raise FindingsError([Finding(ErrorCode.CONFIG_SYNTAX, where, f"invalid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise FindingsError([Finding(ErrorCode.CONFIG, where, "must be a mapping with an `environments` list")])
    try:
        return PortalConfig.model_validate(data)
    except ValidationError as exc:
        raise FindingsError([_finding(where, error, data) for error in exc.errors()]) from exc


def load_yaml(text: bytes | str) -> Any:
    """Round-trip loading (ruamel.yaml), so an edit written back keeps the file's comments and order."""
    return YAML(typ="rt").load(text)


def dump_yaml(data: Any) -> str:
    stream = io.StringIO()
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never re-wrap lines the author wrote
    yaml.dump(data, stream)
    return stream.getvalue()


def with_secret_variable(text: bytes | str, environment: str, parameter: str, variable: str | None) -> str:
    """portal.yaml with one secret's environment variable set (or removed, `variable=None`), all else kept."""
    data = load_yaml(text)
    for env in data.get("environments") or []:
        if env.get("name") == environment:
            mapping = env.get("secrets_from_environment")
            if variable is None:
                if mapping and parameter in mapping:
                    del mapping[parameter]
            else:
                if mapping is None:
                    env["secrets_from_environment"] = mapping = {}
                mapping[parameter] = variable
            return dump_yaml(data)
    raise PortalError(f"environment {environment!r}", "is not configured", code=ErrorCode.UNKNOWN_ENVIRONMENT)


def load_config(snapshot: RepoSnapshot) -> PortalConfig:
    data = snapshot.read(CONFIG_FILE)
    if data is None:
        raise PortalError(
            snapshot.describe(CONFIG_FILE),
            "not found: the repository has no portal configuration",
            hint="add portal.yaml (see the README's Configuration section)",
            code=ErrorCode.CONFIG_MISSING,
        )
    return parse_config(data, snapshot.describe(CONFIG_FILE))


def _finding(where: str, error: Any, data: Any) -> Finding:
    field = ""
    node = data
    for part in error["loc"]:
        if isinstance(part, int):
            field += f"[{part}]"
            name = (
                node[part].get("name")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            if isinstance(name, str):
                field += f" ({name})"
        else:
            field += f".{part}" if field else str(part)
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
    message = error["msg"]
    if error["type"] == "string_pattern_mismatch":
        message = f"{error.get('input')!r} has the wrong form ({_pattern_words(error['ctx']['pattern'])})"
    elif error["type"] == "extra_forbidden":
        message = "is not a known setting (check the spelling)"
    return Finding(ErrorCode.CONFIG, f"{where}: {field or '(top)'}", message)


def _has(node: Any, part: Any) -> bool:
    return part in node if isinstance(node, dict) else isinstance(part, int) and part < len(node)


def _pattern_words(pattern: str) -> str:
    return {
        GUID: "a GUID such as 00000000-0000-0000-0000-000000000000",
        FACTORY_NAME: "3-63 letters, digits and hyphens, starting and ending with a letter or digit",
        ENVIRONMENT_NAME: "lower-case letters, digits and hyphens, starting with a letter",
        r"^[-\w._()]+$": "letters, digits, '-', '_', '.', '(' and ')'",
        r"^https://[^/\s]+/?$": "https://<workspace host>",
        r"^/\S.*$": "an absolute workspace path such as /Shared/etl",
    }.get(pattern, f"expected {pattern}")
