"""The one bearer token the sandbox accepts, and a credential that hands it to the SDK."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

SANDBOX_TOKEN = "portal-sandbox-token"

# Far ahead, so azure-core's bearer policy never tries to refresh during a run.
_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


def _expires_on() -> int:
    return int(time.time()) + _LIFETIME_SECONDS


class SandboxCredential:
    """A `TokenCredential` (and `SupportsTokenInfo`, which newer azure-core prefers) for the sandbox only."""

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(SANDBOX_TOKEN, _expires_on())

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        return AccessTokenInfo(SANDBOX_TOKEN, _expires_on())

    def close(self) -> None:
        """Nothing to release; present because credentials are often used as context managers."""
