"""Who runs a CLI command: the principal of the environment's Azure credential (a user after `az login`, or the
CI pipeline's service principal); only where every target is the sandbox may a name be given instead."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from portal.errors import PortalError
from portal.promotion.identity import USER_VARIABLE, Identity, from_azure_credential, unverified


def identity_for_cli(repo_root: Path, environment: str | None, as_name: str | None) -> Identity:
    from portal.deploy.target import credential_for
    from portal.environments.workspace import MappingWorkspace

    config = MappingWorkspace.open(repo_root).config
    envs = [config.environment(environment)] if environment else list(config.environments)
    sandbox_only = all(e.data_factory.auth == "sandbox" and (e.databricks is None or e.databricks.auth == "sandbox")
                       for e in envs)
    if sandbox_only:
        name = as_name or os.environ.get(USER_VARIABLE) or _login_name()
        identity = unverified(name, allowed=True)
        return identity if as_name or os.environ.get(USER_VARIABLE) else Identity(identity.name, (), False,
                                                                                   "login name")
    if as_name:
        unverified(as_name, allowed=False)  # raises: naming yourself is for the sandbox only
    target = envs[0].data_factory
    try:
        return from_azure_credential(credential_for(target.auth))
    except PortalError:
        raise
    except Exception as error:  # noqa: BLE001 - any sign-in failure: say it in one line
        raise PortalError(f"sign-in ({target.auth})", f"cannot tell who you are: {error}".splitlines()[0],
                          hint="sign in (az login, or the pipeline's credential) and try again", code="IDENTITY") \
            from error


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
