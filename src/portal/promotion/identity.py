"""Who is acting: the signed-in user of the portal, the principal of the CLI's Azure credential, or, in sandbox and
demo mode only, a name given on the command line (recorded as unverified)."""

from __future__ import annotations

import base64
import json
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.errors import ErrorCode, PortalError

USER_VARIABLE = "PORTAL_USER"
ARM_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class Identity:
    name: str  # e-mail / UPN for a user, the app id for a service principal, the given name when unverified
    groups: tuple[str, ...] = ()  # group claims (Entra ID object ids or names)
    verified: bool = False  # True when a sign-in (OIDC, Azure token) vouches for it
    source: str = ""  # "oidc", "azure credential", "--as", "PORTAL_USER"

    def describe(self) -> str:
        return self.name if self.verified else f"{self.name} (unverified, {self.source})"


def person_key(name: str) -> str:
    """One spelling per person, for every comparison of who is who (requester vs approver, distinct approvers):
    Unicode compatibility form (NFKC), invisible format and control characters (zero-width spaces and joiners,
    bidi marks) dropped, case folded. "rita@x" and "ri\u200bta@X" are the same person."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(c for c in folded if unicodedata.category(c) not in ("Cf", "Cc")).strip().casefold()


def invisible_characters(name: str) -> list[str]:
    """The code points of `name` that do not show (format and control characters), as U+XXXX."""
    return [f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in ("Cf", "Cc")]


def from_claims(claims: Mapping[str, Any], source: str) -> Identity:
    """An identity from token or OIDC claims: users by their sign-in name, service principals by app id."""
    name = next((str(claims[k]) for k in ("preferred_username", "upn", "unique_name", "email") if claims.get(k)), None)
    if name is None:
        app = claims.get("appid") or claims.get("azp") or claims.get("oid") or claims.get("sub")
        if not app:
            raise PortalError("sign-in", "the token names no user or application", code=ErrorCode.IDENTITY)
        name = str(app)
    groups = claims.get("groups") or ()
    roles = claims.get("roles") or ()  # app roles: a service principal's "groups"
    return Identity(name, tuple(str(g) for g in [*groups, *roles]), True, source)


def claims_of_token(token: str) -> dict[str, Any]:
    """The payload of a JWT access token, read (not verified: it came from our own credential just now)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, UnicodeError) as error:
        raise PortalError(
            "sign-in", "the Azure credential returned a token that is not a JWT", code=ErrorCode.IDENTITY
        ) from error
    if not isinstance(claims, dict):
        raise PortalError("sign-in", "the Azure credential returned a token without claims", code=ErrorCode.IDENTITY)
    return claims


def from_azure_credential(credential: Any) -> Identity:
    """The principal behind an azure-identity credential (the CI pipeline's service principal, or `az login`)."""
    token = credential.get_token(ARM_SCOPE).token
    return from_claims(claims_of_token(token), "azure credential")


def unverified(name: str | None, *, allowed: bool) -> Identity:
    """A name from `--as` or PORTAL_USER: only where no real sign-in exists (the sandbox), and marked so."""
    given = name or os.environ.get(USER_VARIABLE)
    source = "--as" if name else USER_VARIABLE
    if not allowed:
        raise PortalError(
            "--as / PORTAL_USER",
            "naming yourself is only possible in sandbox and demo mode",
            hint="sign in with the environment's Azure credential",
            code=ErrorCode.IDENTITY,
        )
    if not given or not given.strip():
        raise PortalError(
            "identity",
            "who is acting? give --as NAME or set PORTAL_USER (sandbox and demo mode)",
            code=ErrorCode.IDENTITY,
        )
    hidden = invisible_characters(given)
    if hidden:
        # A name that looks like someone else's must not pass for another person (e.g. a second approver).
        raise PortalError(
            source,
            f"the name contains invisible characters ({', '.join(hidden)})",
            hint="type the name without them",
            code=ErrorCode.IDENTITY,
        )
    return Identity(given.strip(), (), False, source)
