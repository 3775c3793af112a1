"""Who is acting: token claims, and names given by hand only where every target is the sandbox."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import git
import pytest

from portal.errors import PortalError
from portal.promotion.access import allowed, roles_of
from portal.promotion.cli_identity import identity_for_cli
from portal.promotion.identity import claims_of_token, from_claims
from tests.mapping_repo import CONFIG, commit_all, write_factory


def jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.signature"


def test_a_user_token_names_the_user_and_carries_groups() -> None:
    identity = from_claims(
        claims_of_token(jwt({"upn": "ann@contoso.com", "groups": ["g-1", "g-2"], "oid": "0000"})), "azure credential"
    )
    assert (identity.name, identity.groups, identity.verified) == ("ann@contoso.com", ("g-1", "g-2"), True)


def test_a_pipeline_token_names_its_application_and_app_roles() -> None:
    identity = from_claims(
        claims_of_token(jwt({"appid": "11111111-aaaa", "roles": ["Portal.Promoter"]})), "azure credential"
    )
    assert (identity.name, identity.groups) == ("11111111-aaaa", ("Portal.Promoter",))


def test_a_token_that_is_no_jwt_is_refused_clearly() -> None:
    with pytest.raises(PortalError) as refused:
        claims_of_token("not-a-token")
    assert refused.value.code == "IDENTITY" and "not a JWT" in refused.value.what


def test_naming_yourself_is_only_for_the_sandbox(tmp_path: Path) -> None:
    root = tmp_path / "data"
    git.Repo.init(root, initial_branch="main").close()
    write_factory(root / "adf")
    (root / "portal.yaml").write_text(CONFIG)  # real Azure targets
    commit_all(root, "real targets")
    with pytest.raises(PortalError) as refused:
        identity_for_cli(root, "test", "mallory")
    assert refused.value.code == "IDENTITY" and "only possible in sandbox and demo mode" in refused.value.what


def test_roles_come_from_members_and_group_claims(tmp_path: Path) -> None:
    from portal.environments.config import PortalConfig

    config = PortalConfig.model_validate(
        {
            "environments": [
                {
                    "name": "prod",
                    "data_factory": {
                        "subscription_id": "33333333-3333-3333-3333-333333333333",
                        "resource_group": "rg",
                        "factory_name": "adf-prod",
                        "location": "westeurope",
                    },
                }
            ],
            "access": {
                "roles": {
                    "*": {"viewer": ["*"]},
                    "prod": {"approver": ["group:g-release"], "promoter": ["ann@contoso.com"]},
                }
            },
        }
    )
    ann = from_claims({"upn": "Ann@Contoso.com"}, "oidc")
    release = from_claims({"upn": "rita@contoso.com", "groups": ["G-Release"]}, "oidc")
    assert roles_of(config, ann, "prod") == {"viewer", "promoter"}
    assert allowed(config, release, "approve", "prod") and not allowed(config, release, "promote", "prod")
    assert not allowed(config, ann, "skip", "prod")
