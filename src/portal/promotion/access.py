"""Roles per environment, checked in the core for every action (hiding a button is not security)."""

from __future__ import annotations

from portal.environments.config import ROLES, PortalConfig
from portal.errors import PortalError
from portal.promotion.identity import Identity

# What each action needs; admin may do everything.
ACTION_ROLES = {
    "view": ("viewer", "editor", "promoter", "approver"),
    "edit": ("editor",),
    "promote": ("promoter",),
    "rollback": ("promoter",),
    "approve": ("approver",),
    "reject": ("approver",),
    "skip": (),  # skipping an environment (hotfix): admins only
}

VERBS = {"rollback": "roll back", "skip": "skip the order"}  # how an action reads in a sentence


def verb(action: str) -> str:
    return VERBS.get(action, action)


class Forbidden(PortalError):
    def __init__(self, identity: Identity, action: str, environment: str):
        needed = " or ".join(ACTION_ROLES[action] + ("admin",))
        super().__init__(f"environment {environment}", f"{identity.describe()} may not {verb(action)} here",
                         hint=f"needs the role {needed} (access.roles in portal.yaml)", code="FORBIDDEN")
        self.identity = identity
        self.action = action
        self.environment = environment


def roles_of(config: PortalConfig, identity: Identity, environment: str) -> set[str]:
    """The roles `identity` has in `environment`: from the environment's entry and the "*" entry."""
    if not config.access.roles:
        return {"viewer", "editor", "promoter", "approver"}  # nothing configured: everyone, but nobody is admin
    found: set[str] = set()
    for scope in ("*", environment):
        for role, members in (config.access.roles.get(scope) or {}).items():
            if any(_member(m, identity) for m in members):
                found.add(role)
    if "admin" in found:
        found.update(ROLES)
    return found


def _member(member: str, identity: Identity) -> bool:
    if member == "*":
        return True
    if member.startswith("group:"):
        return member[len("group:"):].lower() in {g.lower() for g in identity.groups}
    return member.lower() == identity.name.lower()


def allowed(config: PortalConfig, identity: Identity, action: str, environment: str) -> bool:
    roles = roles_of(config, identity, environment)
    return "admin" in roles or any(r in roles for r in ACTION_ROLES[action])


def require(config: PortalConfig, identity: Identity, action: str, environment: str) -> None:
    if not allowed(config, identity, action, environment):
        raise Forbidden(identity, action, environment)


def who_may(config: PortalConfig, action: str, environment: str) -> list[str]:
    """The members named for an action in an environment (for "who may approve")."""
    if not config.access.roles:
        return ["anyone signed in (no access.roles configured)"]
    names: list[str] = []
    for scope in ("*", environment):
        for role, members in (config.access.roles.get(scope) or {}).items():
            if role in ACTION_ROLES[action] or role == "admin":
                names.extend(m for m in members if m not in names)
    return names
