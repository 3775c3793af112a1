"""Roles per environment, checked in the core for every action (hiding a button is not security)."""

from __future__ import annotations

from enum import StrEnum

from portal.environments.config import ROLES, PortalConfig, Role
from portal.errors import ErrorCode, PortalError
from portal.promotion.identity import Identity


class Action(StrEnum):
    """What a person may ask the portal to do in an environment."""

    VIEW = "view"
    EDIT = "edit"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    APPROVE = "approve"
    REJECT = "reject"
    SKIP = "skip"  # skipping the order of environments (hotfix)
    RUN = "run"  # running an approved promotion: a promoter's or an approver's
    OVERRIDE = "override"  # promoting outside the release windows or past a stopped line, with a reason
    STOP_LINE = "stop the line"  # stopping (or restarting) all promotions to an environment


# What each action needs; admin may do everything.
ACTION_ROLES: dict[Action, tuple[Role, ...]] = {
    Action.VIEW: (Role.VIEWER, Role.EDITOR, Role.PROMOTER, Role.APPROVER),
    Action.EDIT: (Role.EDITOR,),
    Action.PROMOTE: (Role.PROMOTER,),
    Action.ROLLBACK: (Role.PROMOTER,),
    Action.APPROVE: (Role.APPROVER,),
    Action.REJECT: (Role.APPROVER,),
    Action.SKIP: (),  # admins only
    Action.RUN: (Role.PROMOTER, Role.APPROVER),
    Action.OVERRIDE: (),  # admins only
    Action.STOP_LINE: (),  # admins only
}

VERBS = {
    Action.ROLLBACK: "roll back",
    Action.SKIP: "skip the order",
    Action.OVERRIDE: "override the release windows or a stopped line",
}  # how an action reads in a sentence


def verb(action: Action) -> str:
    return VERBS.get(action, str(action))


class Forbidden(PortalError):
    def __init__(self, identity: Identity, action: Action, environment: str):
        needed = " or ".join(ACTION_ROLES[action] + (Role.ADMIN,))
        super().__init__(
            f"environment {environment}",
            f"{identity.describe()} may not {verb(action)} here",
            hint=f"needs the role {needed} (access.roles in portal.yaml)",
            code=ErrorCode.FORBIDDEN,
        )
        self.identity = identity
        self.action = action
        self.environment = environment


def roles_of(config: PortalConfig, identity: Identity, environment: str) -> set[Role]:
    """The roles `identity` has in `environment`: from the environment's entry and the "*" entry."""
    if not config.access.roles:
        return {Role.VIEWER, Role.EDITOR, Role.PROMOTER, Role.APPROVER}  # nothing configured: everyone; nobody is admin
    found: set[Role] = set()
    for scope in ("*", environment):
        for role, members in (config.access.roles.get(scope) or {}).items():
            if any(_member(m, identity) for m in members):
                found.add(Role(role))
    if Role.ADMIN in found:
        found.update(ROLES)
    return found


def _member(member: str, identity: Identity) -> bool:
    if member == "*":
        return True
    if member.startswith("group:"):
        return member[len("group:") :].lower() in {g.lower() for g in identity.groups}
    return member.lower() == identity.name.lower()


def allowed(config: PortalConfig, identity: Identity, action: Action, environment: str) -> bool:
    roles = roles_of(config, identity, environment)
    return Role.ADMIN in roles or any(r in roles for r in ACTION_ROLES[action])


def require(config: PortalConfig, identity: Identity, action: Action, environment: str) -> None:
    if not allowed(config, identity, action, environment):
        raise Forbidden(identity, action, environment)


def who_may(config: PortalConfig, action: Action, environment: str) -> list[str]:
    """The members named for an action in an environment (for "who may approve")."""
    if not config.access.roles:
        return ["anyone signed in (no access.roles configured)"]
    names: list[str] = []
    for scope in ("*", environment):
        for role, members in (config.access.roles.get(scope) or {}).items():
            if role in ACTION_ROLES[action] or role == Role.ADMIN:
                names.extend(m for m in members if m not in names)
    return names
