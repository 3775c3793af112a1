"""Who runs a CLI command: the principal of the environment's Azure credential (a user after `az login`, or the
CI pipeline's service principal); only where every target is the sandbox may a name be given instead.

Both the targets and that rule come from portal.yaml as committed on the trusted main branch: a working-tree edit
saying `auth: sandbox` must not let anyone name themselves while the real targets stay reachable."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from portal.errors import ErrorCode, PortalError
from portal.promotion.identity import (
    USER_VARIABLE,
    Identity,
    from_azure_credential,
    unverified,
)

if TYPE_CHECKING:
    from portal.environments.config import PortalConfig


def identity_for_cli(
    repo_root: Path, environment: str | None, as_name: str | None, config: PortalConfig | None = None
) -> Identity:
    """`config` is the main branch's committed configuration (the caller usually has it already)."""
    from portal.deploy.target import credential_for
    from portal.environments.trusted import trusted_config

    config = config or trusted_config(repo_root)
    envs = [config.environment(environment)] if environment else list(config.environments)
    if config.sandbox_only:
        name = as_name or os.environ.get(USER_VARIABLE) or _login_name()
        identity = unverified(name, allowed=True)
        return (
            identity if as_name or os.environ.get(USER_VARIABLE) else Identity(identity.name, (), False, "login name")
        )
    if as_name:
        unverified(as_name, allowed=False)  # raises: naming yourself is for the sandbox only
    target = envs[0].data_factory
    try:
        return from_azure_credential(credential_for(target.auth))
    except PortalError:
        raise
    except Exception as error:  # noqa: BLE001 - any sign-in failure: say it in one line
        raise PortalError(
            f"sign-in ({target.auth})",
            f"cannot tell who you are: {error}".splitlines()[0],
            hint="sign in (az login, or the pipeline's credential) and try again",
            code=ErrorCode.IDENTITY,
        ) from error


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
