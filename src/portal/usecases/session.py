"""What the web portal needs before any page: which data repository it serves, and who is using it.

With nothing configured the portal opens on the demo repository (made on first use, with its sandbox), so the
README's one start command shows the whole flow. A real deployment names its repository in PORTAL_REPO and signs
users in with OIDC (Streamlit's `st.login`); the pages hand the signed-in user's claims to `identity_of`. Without
sign-in, only a repository whose every target is the sandbox (by its main branch's committed portal.yaml) may be
used, as one of the demo's named people, clearly not authenticated; any other repository needs sign-in, whatever
folder it was found in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal.errors import ErrorCode, PortalError
from portal.promotion.identity import Identity, from_claims

REPO_VARIABLE = "PORTAL_REPO"
DEMO_VARIABLE = "PORTAL_DEMO_DIR"
DEFAULT_DEMO_DIR = Path.home() / ".portal" / "demo"
# The demo's people: pick one to act as (no sign-in). They are not verified, and the trail says so.
DEMO_PEOPLE = {
    "dana@retail.example": "Dana, data engineer",
    "rita@retail.example": "Rita, release manager",
    "omar@retail.example": "Omar, operations",
}

_DEMO_LOCK = threading.Lock()


@dataclass(frozen=True)
class PortalSite:
    """The repository the portal serves, and whether it is the demo."""

    repo_root: Path
    demo: bool
    # Every target of the main branch's committed portal.yaml is the sandbox: only then may people be picked
    # instead of signing in (nothing real can be reached with a picked name).
    sandbox_only: bool = False

    @property
    def label(self) -> str:
        return f"demo repository {self.repo_root}" if self.demo else str(self.repo_root)


def portal_site(environ: Mapping[str, str] | None = None) -> PortalSite:
    """PORTAL_REPO when set; otherwise the demo repository, made on first use."""
    env = os.environ if environ is None else environ
    configured = env.get(REPO_VARIABLE, "").strip()
    if configured:
        root = Path(configured).expanduser().resolve()
        if not (root / "portal.yaml").is_file():
            raise PortalError(
                f"{REPO_VARIABLE}={configured}",
                "has no portal.yaml: it is not a data repository",
                hint="point it at the repository's top folder",
                code=ErrorCode.REPO,
            )
        return PortalSite(root, demo=False, sandbox_only=_sandbox_only(root))
    root = Path(env.get(DEMO_VARIABLE, "") or DEFAULT_DEMO_DIR).expanduser().resolve()
    with _DEMO_LOCK:
        if not (root / "portal.yaml").is_file():
            from portal.usecases.demo import create_demo

            if root.exists() and any(root.iterdir()):
                raise PortalError(
                    str(root),
                    "is not empty and holds no demo repository",
                    hint=f"set {DEMO_VARIABLE} to an empty folder",
                    code=ErrorCode.REPO,
                )
            create_demo(root)
    return PortalSite(root, demo=True, sandbox_only=_sandbox_only(root))


def _sandbox_only(root: Path) -> bool:
    from portal.environments.trusted import trusted_config

    return trusted_config(root).sandbox_only


def sign_in_required(site: PortalSite, signs_in: bool) -> PortalError | None:
    """Why the portal must not open without sign-in, or None: a repository with real targets needs it."""
    if signs_in or site.sandbox_only:
        return None
    return PortalError(
        site.label,
        "deploys to real Data Factory or Databricks targets, so the portal needs sign-in",
        hint="configure OIDC sign-in ([auth] in .streamlit/secrets.toml; see the README)",
        code=ErrorCode.SIGN_IN_REQUIRED,
    )


def identity_of(user: Mapping[str, Any] | None, *, demo_person: str | None, site: PortalSite) -> Identity | None:
    """Who is using the portal: the OIDC user when signed in; without sign-in, where every target is the sandbox,
    the chosen demo person (unverified); otherwise nobody (the page asks to sign in)."""
    if user and user.get("is_logged_in"):
        return from_claims(user, "oidc")
    if site.sandbox_only and demo_person:
        if demo_person not in DEMO_PEOPLE:
            raise PortalError(
                "demo person", f"{demo_person!r} is not one of the demo's people", code=ErrorCode.IDENTITY
            )
        return Identity(demo_person, (), False, "demo picker")
    return None
