"""Errors and findings that carry a place.

Every problem the portal reports names where it is (a file with line and column, or an object and property)
so the CLI and the pages can print it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


class ErrorCode(StrEnum):
    """The code of every finding and error: what the CLI prints in brackets, JSON and the audit trail carry (as the
    plain string, which a StrEnum is) and tests compare with. Each member's name is its value."""

    PORTAL = "PORTAL"  # the default: no more specific code
    OUT_DIR = "OUT_DIR"  # an output folder the export or render may not write (or a path outside it)

    # Reading the factory's Git JSON (portal.adf.loader)
    ADF_ROOT = "ADF_ROOT"
    GIT = "GIT"
    GIT_REF = "GIT_REF"
    GIT_PATH = "GIT_PATH"  # the ADF root folder is missing at the commit, or is no folder
    SYMLINK = "SYMLINK"  # a symbolic link in the repository (not followed)
    JSON_ENCODING = "JSON_ENCODING"
    JSON_SYNTAX = "JSON_SYNTAX"
    JSON_NESTING = "JSON_NESTING"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"  # a JSON file that holds no JSON object
    UNEXPECTED_PATH = "UNEXPECTED_PATH"  # an object file where ADF Git integration would not put it
    UNKNOWN_FOLDER = "UNKNOWN_FOLDER"
    MISSING_NAME = "MISSING_NAME"
    BAD_PROPERTIES = "BAD_PROPERTIES"
    OBJECT_FILE_NAME = "OBJECT_FILE_NAME"  # a file name that gives no object name ADF accepts
    FACTORY_NAME = "FACTORY_NAME"
    FACTORY_CHOICE = "FACTORY_CHOICE"  # several factory files: which one the export is for
    PUBLISH_CONFIG = "PUBLISH_CONFIG"  # publish_config.json
    PARAM_DEFINITION = "PARAM_DEFINITION"  # arm-template-parameters-definition.json

    # Checking the factory (portal.adf.validation)
    NAME_MISMATCH = "NAME_MISMATCH"  # the file name and the name inside differ
    NAME_CHARACTERS = "NAME_CHARACTERS"
    SERVICE_NAME = "SERVICE_NAME"  # a name the service refuses (length, characters)
    DUPLICATE_NAME = "DUPLICATE_NAME"
    WRONG_TYPE = "WRONG_TYPE"
    SYNAPSE_TYPE = "SYNAPSE_TYPE"
    MISSING_TYPE = "MISSING_TYPE"
    ACTIVITIES = "ACTIVITIES"  # a pipeline's activities are not a list of objects
    DANGLING_REFERENCE = "DANGLING_REFERENCE"
    REFERENCE_CASE = "REFERENCE_CASE"  # a reference that names its target in another letter case
    REFERENCE_CYCLE = "REFERENCE_CYCLE"
    SELF_CALL = "SELF_CALL"  # a pipeline that runs itself
    DATA_FLOW_SCRIPT = "DATA_FLOW_SCRIPT"  # a data flow script the portal cannot read
    GLOBAL_PARAMETER_NAME = "GLOBAL_PARAMETER_NAME"

    # Parameterization rules and the ARM export (portal.adf.parameterization, rules_editor, arm)
    PARAM_RULE = "PARAM_RULE"  # a parameterization rule that cannot be read
    UNKNOWN_RULE = "UNKNOWN_RULE"
    UNUSED_RULE = "UNUSED_RULE"  # a rule ADF ignores
    NO_RULES = "NO_RULES"  # a definition file that names no resource type of a data factory
    PARAMETER_CLASH = "PARAMETER_CLASH"  # two rules make the same template parameter
    RULE_TARGET = "RULE_TARGET"  # the resource type or property path a rule edit names
    RULE_CONFLICT = "RULE_CONFLICT"  # a rule edit that clashes with the definition's entries
    RULE_NOT_FOUND = "RULE_NOT_FOUND"
    ARM_PARAMETER_LIMIT = "ARM_PARAMETER_LIMIT"
    ARM_RESOURCE_LIMIT = "ARM_RESOURCE_LIMIT"
    ARM_SIZE_LIMIT = "ARM_SIZE_LIMIT"
    LOCALE = "LOCALE"
    EXPRESSION = "EXPRESSION"  # an ARM expression that cannot be parsed or evaluated offline

    # portal.yaml, parameter files and rendering an environment (portal.environments)
    CONFIG = "CONFIG"
    CONFIG_MISSING = "CONFIG_MISSING"
    CONFIG_SYNTAX = "CONFIG_SYNTAX"
    CONFIG_NESTING = "CONFIG_NESTING"
    UNKNOWN_ENVIRONMENT = "UNKNOWN_ENVIRONMENT"
    PARAMETER_FILE = "PARAMETER_FILE"
    STALE_PARAMETER = "STALE_PARAMETER"  # a value for a parameter the template no longer has
    NOT_SECRET = "NOT_SECRET"  # a secret's source given for a parameter that is not secure
    DOUBLE_VALUE = "DOUBLE_VALUE"  # a value in the parameter file and from an environment variable
    MISSING_VALUE = "MISSING_VALUE"
    FACTORY_NAME_MISMATCH = "FACTORY_NAME_MISMATCH"  # factoryName differs from the environment's target
    KEY_VAULT_REFERENCE = "KEY_VAULT_REFERENCE"
    PLAINTEXT_SECRET = "PLAINTEXT_SECRET"
    TYPE = "TYPE"  # a parameter value of the wrong type
    FORMAT = "FORMAT"  # a parameter value that looks mistyped (a warning with a hint)
    EXPRESSION_INJECTION = "EXPRESSION_INJECTION"  # a parameter value ARM would evaluate as an expression
    ENV_VARIABLE = "ENV_VARIABLE"
    RENDER = "RENDER"
    UNKNOWN_OBJECT = "UNKNOWN_OBJECT"
    UNKNOWN_PARAMETER = "UNKNOWN_PARAMETER"
    UNKNOWN_FILE = "UNKNOWN_FILE"

    # The data repository and edits committed to it
    REPO = "REPO"
    NO_FOLDER = "NO_FOLDER"
    BAD_PATH = "BAD_PATH"
    MAIN_BRANCH = "MAIN_BRANCH"  # which branch is the main one cannot be told
    BAD_AUTHOR = "BAD_AUTHOR"
    BAD_BASE = "BAD_BASE"  # the commit an edit is based on is no full commit id
    BAD_BRANCH = "BAD_BRANCH"
    BAD_MESSAGE = "BAD_MESSAGE"
    BASE_MOVED = "BASE_MOVED"  # the branch moved on since the edit began
    BRANCH_CHECKED_OUT = "BRANCH_CHECKED_OUT"  # a working tree that has the branch checked out is in the way
    BRANCH_EXISTS = "BRANCH_EXISTS"
    BRANCH_IS_MAIN = "BRANCH_IS_MAIN"
    DIRECT_COMMIT_REFUSED = "DIRECT_COMMIT_REFUSED"
    NOTHING_CHANGED = "NOTHING_CHANGED"
    PUSH_FAILED = "PUSH_FAILED"
    UNKNOWN_BRANCH = "UNKNOWN_BRANCH"
    UNKNOWN_REMOTE = "UNKNOWN_REMOTE"
    WORKTREE_NOT_UPDATED = "WORKTREE_NOT_UPDATED"  # committed, but a checked-out working tree kept the old files

    # Databricks notebooks (portal.databricks)
    NB_SOURCE_FOLDER = "NB_SOURCE_FOLDER"
    NB_PATH = "NB_PATH"
    NB_TARGET = "NB_TARGET"  # the workspace folder notebooks deploy to
    NB_COLLISION = "NB_COLLISION"  # two sources deploy to the same workspace path
    NB_LINK = "NB_LINK"
    NB_READ = "NB_READ"
    NB_SIZE = "NB_SIZE"
    NB_ENCODING = "NB_ENCODING"
    NB_LANGUAGE = "NB_LANGUAGE"
    NB_IPYNB = "NB_IPYNB"
    NOTEBOOK_PATH = "NOTEBOOK_PATH"  # the workspace holds a folder where a notebook deploys
    MANIFEST = "MANIFEST"  # the portal's manifest in the workspace

    # Plan and apply (portal.deploy)
    TARGET = "TARGET"  # the live factory or workspace cannot be read
    AUTH = "AUTH"
    NO_FACTORY = "NO_FACTORY"
    NO_DATABRICKS = "NO_DATABRICKS"
    PLAN_BLOCKED = "PLAN_BLOCKED"  # the plan has blockers: the service would refuse it
    PLAN_STALE = "PLAN_STALE"  # the target changed since the plan was made
    PLAN_CHANGED = "PLAN_CHANGED"  # the plan differs from the one shown
    SECRET_MISSING = "SECRET_MISSING"
    SECRET_SOURCE = "SECRET_SOURCE"
    DEPENDENCY_CYCLE = "DEPENDENCY_CYCLE"
    DOWNTIME = "DOWNTIME"  # triggers stayed stopped longer than deploy.trigger_downtime_seconds
    EVENT_SUBSCRIPTION = "EVENT_SUBSCRIPTION"  # a trigger's event subscription did not settle in time
    APPLY_FAILED = "APPLY_FAILED"

    # Promotions (portal.promotion)
    IDENTITY = "IDENTITY"
    SIGN_IN_REQUIRED = "SIGN_IN_REQUIRED"
    FORBIDDEN = "FORBIDDEN"  # the identity lacks the role
    SNAPSHOT = "SNAPSHOT"
    ORDER = "ORDER"  # the snapshot has not succeeded in the previous environment yet
    STATE = "STATE"  # the promotion is not in a state that allows this
    APPROVAL = "APPROVAL"  # not enough valid approvals
    OWN_PROMOTION = "OWN_PROMOTION"  # the requester cannot approve their own promotion
    ALREADY_VOTED = "ALREADY_VOTED"
    REASON = "REASON"  # a rejection needs a reason
    LOCKED = "LOCKED"  # another promotion holds the environment's lock
    LINE_STOPPED = "LINE_STOPPED"  # an admin stopped the line for the environment (or all)
    OUTSIDE_WINDOW = "OUTSIDE_WINDOW"  # outside the environment's release windows
    LOCK_CONTENDED = "LOCK_CONTENDED"
    LOCK_LOST = "LOCK_LOST"
    ROLLBACK = "ROLLBACK"  # nothing to roll back from or to
    SUPERSEDED = "SUPERSEDED"  # a newer promotion replaced this one
    NOT_FOUND = "NOT_FOUND"

    # The audit store (portal.audit)
    AUDIT_STORE = "AUDIT_STORE"
    AUDIT_DATA = "AUDIT_DATA"  # a value the store refuses to record
    AUDIT_KEY = "AUDIT_KEY"
    ANCHOR = "ANCHOR"  # anchoring the audit trail in Git
    CONFLICT = "CONFLICT"  # a record exists already or moved during its write
    TAMPERED = "TAMPERED"  # the audit trail does not verify
    BAD_FILTER = "BAD_FILTER"
    EXPORT_FORMAT = "EXPORT_FORMAT"

    DEMO_PATH = "DEMO_PATH"  # the demo needs a new or empty folder


class Place(str):
    """Where a problem is, as parts: a file (with line and column), the JSON path inside it, the environment and
    the object. It is also the text the CLI and the pages print (a `str`, so every `where` stays a string), e.g.
    `environment test → LS_Sql_connectionString`, `portal.yaml:3:7`, `pipeline PL_Load (properties.activities)`.
    Code that needs a part reads it (`error.place.environment`) instead of parsing the text back."""

    file: str | None
    line: int | None
    column: int | None
    json_path: str | None
    environment: str | None
    object: str | None

    def __new__(
        cls,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        json_path: str | None = None,
        environment: str | None = None,
        object: str | None = None,  # the object the problem is in ("pipeline PL_Load", a parameter)
    ) -> Place:
        named = [f"environment {environment}" if environment else None, object]
        text = " → ".join(part for part in named if part)
        if file:
            location = file
            if line is not None:
                location += f":{line}" + (f":{column}" if column is not None else "")
            text = f"{text} ({location})" if text else location
        if json_path:
            text = f"{text} ({json_path})" if text else json_path
        place = super().__new__(cls, text or "portal")
        place.file, place.line, place.column, place.json_path = file, line, column, json_path
        place.environment, place.object = environment, object
        return place

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by its parts (the text is made from them)
        return _place, (self.file, self.line, self.column, self.json_path, self.environment, self.object)


def _place(*parts: Any) -> Place:
    file, line, column, json_path, environment, object_ = parts
    return Place(file=file, line=line, column=column, json_path=json_path, environment=environment, object=object_)


@dataclass(frozen=True)
class Finding:
    """One problem found in a factory: what is wrong, where (text, or a `Place` with its parts), and how to fix
    it."""

    code: ErrorCode
    where: str
    what: str
    severity: Severity = Severity.ERROR
    hint: str | None = None

    @property
    def place(self) -> Place | None:
        return self.where if isinstance(self.where, Place) else None

    def __str__(self) -> str:
        return f"{self.severity.value}: {describe(self)} [{self.code}]"


class PortalError(Exception):
    """An error with a place, raised when work cannot go on."""

    def __init__(self, where: str, what: str, hint: str | None = None, code: ErrorCode = ErrorCode.PORTAL):
        self.where = where
        self.what = what
        self.hint = hint
        self.code = code
        super().__init__(str(self))

    @property
    def place(self) -> Place | None:
        return self.where if isinstance(self.where, Place) else None

    def __str__(self) -> str:
        return describe(self)

    def as_finding(self) -> Finding:
        return Finding(code=self.code, where=self.where, what=self.what, hint=self.hint)


def describe(problem: PortalError | Finding) -> str:
    """One problem in one line, the one way the CLI and the pages say it: where it is, what is wrong, and the hint
    (never a traceback)."""
    text = f"{problem.where}: {problem.what}"
    return text + (f" — {problem.hint}" if problem.hint else "")


def findings_of(error: PortalError) -> list[Finding]:
    """An error as its findings: several for a FindingsError, else the one."""
    return list(error.findings) if isinstance(error, FindingsError) else [error.as_finding()]


class FindingsError(PortalError):
    """Several findings of severity error at once (for example, a factory that does not load)."""

    def __init__(self, findings: list[Finding]):
        self.findings = list(findings)
        first = self.findings[0]
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        super().__init__(first.where, first.what + more, first.hint, first.code)
