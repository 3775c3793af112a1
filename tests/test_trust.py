"""What decides who may do what is read only from where a requester cannot edit it (issue 12, items 2-4 and the
look-alike names of item 10): the main branch's committed portal.yaml, the main branch's name from trusted settings,
the person picker only where every target is the sandbox, one person however their name is spelt."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from portal.environments.trusted import (
    MAIN_BRANCH_VARIABLE,
    trusted_config,
    trusted_main,
)
from portal.errors import PortalError
from portal.promotion.access import allowed
from portal.promotion.cli_identity import identity_for_cli
from portal.promotion.identity import Identity, person_key, unverified
from portal.promotion.service import APPROVED, AWAITING_APPROVAL, Promotions
from portal.usecases.promotions import promote
from portal.usecases.session import identity_of, portal_site, sign_in_required
from tests.mapping_repo import CONFIG, commit_all, write_factory
from tests.test_promotions import ALICE, BOB, config as sandbox_config

ROOT = Path(__file__).resolve().parents[1]


def real_repo(root: Path) -> Path:
    """A committed data repository whose environments are real Azure factories."""
    git.Repo.init(root, initial_branch="main").close()
    write_factory(root / "adf")
    (root / "portal.yaml").write_text(CONFIG)
    commit_all(root, "real targets")
    return root


def sandbox_repo_with(root: Path, text: str) -> Path:
    git.Repo.init(root, initial_branch="main").close()
    write_factory(root / "adf")
    (root / "portal.yaml").write_text(text)
    (root / ".gitignore").write_text(".sandbox/\n")
    commit_all(root, "sandbox targets")
    return root


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAIN_BRANCH_VARIABLE, raising=False)
    monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)


# --- item 2: naming oneself ----------------------------------------------------------------------------------------


def test_a_working_tree_edit_to_sandbox_does_not_let_anyone_name_themselves(tmp_path: Path) -> None:
    root = real_repo(tmp_path / "data")
    # The requester edits the working tree only: every target "sandbox".
    edited = CONFIG.replace(
        "      location: westeurope\n", "      location: westeurope\n      auth: sandbox\n      sandbox: .sandbox\n"
    )
    (root / "portal.yaml").write_text(edited)
    assert "auth: sandbox" in (root / "portal.yaml").read_text()
    for environment in ("prod", None):
        with pytest.raises(PortalError) as refused:
            identity_for_cli(root, environment, "rita@retail.example")
        assert refused.value.code == "IDENTITY" and "only possible in sandbox" in refused.value.what


def test_naming_oneself_needs_every_target_on_the_sandbox(tmp_path: Path) -> None:
    # dev on the sandbox, prod real: naming oneself for dev is refused too (the same name could then approve prod).
    text = sandbox_config().replace(
        "      subscription_id: 33333333-3333-3333-3333-333333333333\n"
        "      resource_group: rg-prod\n      factory_name: adf-sales-prod\n"
        "      location: westeurope\n      auth: sandbox\n      sandbox: .sandbox\n",
        "      subscription_id: 33333333-3333-3333-3333-333333333333\n"
        "      resource_group: rg-prod\n      factory_name: adf-sales-prod\n"
        "      location: westeurope\n",
    )
    assert text.count("auth: sandbox") == 2
    root = sandbox_repo_with(tmp_path / "data", text)
    with pytest.raises(PortalError) as refused:
        identity_for_cli(root, "dev", "rita@retail.example")
    assert refused.value.code == "IDENTITY"
    all_sandbox = sandbox_repo_with(tmp_path / "all", sandbox_config())
    named = identity_for_cli(all_sandbox, "dev", "rita@retail.example")
    assert named.name == "rita@retail.example" and not named.verified


# --- item 3: the main branch ----------------------------------------------------------------------------------------


def _branch_granting_admin(root: Path, branch: str) -> None:
    """A local branch whose portal.yaml names itself the main branch and makes alice admin; checked out."""
    repo = git.Repo(root)
    try:
        repo.git.checkout("-b", branch)
        text = sandbox_config().replace("version: 1\n", f"version: 1\ngit:\n  main_branch: {branch}\n")
        text = text.replace(
            "admin: ['group:platform-admins']", "admin: ['group:platform-admins', 'alice@retail.example']"
        )
        (root / "portal.yaml").write_text(text)
        repo.git.add(A=True)
        repo.index.commit("alice is admin now")
    finally:
        repo.close()


def test_a_local_branch_naming_itself_main_grants_nothing(tmp_path: Path) -> None:
    root = sandbox_repo_with(tmp_path / "data", sandbox_config())
    _branch_granting_admin(root, "evil")
    git.Repo(root).create_tag("main", ref="evil")  # and a tag that would shadow the branch name
    assert "main_branch: evil" in (root / "portal.yaml").read_text()  # the working tree says so
    promotions = Promotions.open(root)
    try:
        assert promotions.main_branch() == "main"
        rules = promotions.main_config()
        assert rules.git.main_branch == "main"
        assert not allowed(rules, ALICE, "skip", "prod")  # no admin from the local branch
        main_commit = git.Repo(root).commit("refs/heads/main").hexsha
        assert promotions.workspace_at().snapshot.commit == main_commit  # not the tag's commit
    finally:
        promotions.close()


def test_the_main_branch_comes_from_the_remote_or_the_portal_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = sandbox_repo_with(tmp_path / "origin", sandbox_config())
    clone = tmp_path / "clone"
    git.Repo.clone_from(origin, clone).close()
    found = trusted_main(clone)
    assert (found.branch, found.source) == ("main", "origin/HEAD")
    _branch_granting_admin(clone, "evil")
    assert trusted_main(clone).branch == "main"  # checking out another branch changes nothing
    monkeypatch.setenv(MAIN_BRANCH_VARIABLE, "evil")  # the portal's own settings do decide
    assert trusted_main(clone).branch == "evil" and trusted_config(clone).git.main_branch == "evil"


def test_portal_yaml_on_main_must_agree_with_the_trusted_main_branch(tmp_path: Path) -> None:
    text = sandbox_config().replace("version: 1\n", "version: 1\ngit:\n  main_branch: develop\n")
    root = sandbox_repo_with(tmp_path / "data", text)
    with pytest.raises(PortalError) as refused:
        trusted_config(root)
    assert refused.value.code == "MAIN_BRANCH" and "'develop'" in refused.value.what
    assert "PORTAL_MAIN_BRANCH=develop" in refused.value.hint


def test_without_main_or_master_the_portal_asks_for_the_setting(tmp_path: Path) -> None:
    root = tmp_path / "data"
    git.Repo.init(root, initial_branch="trunk").close()
    (root / "portal.yaml").write_text(sandbox_config())
    commit_all(root)
    with pytest.raises(PortalError) as refused:
        trusted_main(root)
    assert refused.value.code == "MAIN_BRANCH" and MAIN_BRANCH_VARIABLE in refused.value.hint


# --- item 4: the person picker ----------------------------------------------------------------------------------------


def test_a_real_repository_in_the_demo_folder_gets_no_person_picker(tmp_path: Path) -> None:
    root = real_repo(tmp_path / "data")
    site = portal_site({"PORTAL_DEMO_DIR": str(root)})
    assert site.demo and not site.sandbox_only
    assert identity_of(None, demo_person="rita@retail.example", site=site) is None
    refusal = sign_in_required(site, signs_in=False)
    assert refusal is not None and refusal.code == "SIGN_IN_REQUIRED"
    assert sign_in_required(site, signs_in=True) is None


def test_the_portal_refuses_to_open_a_real_repository_without_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    root = real_repo(tmp_path / "data")
    monkeypatch.setenv("PORTAL_DEMO_DIR", str(root))
    monkeypatch.delenv("PORTAL_REPO", raising=False)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        assert not at.exception
        assert any("needs sign-in" in e.value for e in at.error)
        assert not at.selectbox  # no "Act as" picker
        assert "identity" not in at.session_state
    finally:
        st.cache_resource.clear()


# --- item 10: look-alike names ----------------------------------------------------------------------------------------


def test_one_person_however_the_name_is_spelt() -> None:
    assert (
        person_key("bob@retail.example")
        == person_key("B\u200bob@Retail.example\u2060")
        == person_key("ｂｏｂ@retail.example")
    )
    with pytest.raises(PortalError) as refused:
        unverified("ri\u200bta@retail.example", allowed=True)
    assert refused.value.code == "IDENTITY" and "U+200B" in refused.value.what


def test_a_look_alike_name_is_no_second_approver(tmp_path: Path) -> None:
    from portal.sandbox import sandbox_for
    from tests.mapping_repo import sandbox_repo
    from tests.test_promotions import SUBS

    parameters = {}
    for env, sub in SUBS.items():
        kv = {
            "reference": {
                "keyVault": {
                    "id": f"/subscriptions/{sub}/resourceGroups/rg-{env}/providers/Microsoft.KeyVault/vaults/kv-{env}"
                },
                "secretName": "lake-key",
            }
        }
        parameters[env] = {"LS_Lake_accountKey": kv, "LS_Sql_connectionString": kv}
    text = sandbox_config().replace("approvals_required: 1", "approvals_required: 2")
    root = sandbox_repo(tmp_path / "data", text, parameters)
    server = sandbox_for(root / ".sandbox")
    for env, sub in SUBS.items():
        server.client(sub).factories.create_or_update(f"rg-{env}", f"adf-sales-{env}", {"location": "westeurope"})
    promotions = Promotions.open(root)
    try:
        promote(promotions, "dev", ALICE)
        promote(promotions, "test", ALICE)
        waiting = promote(promotions, "prod", ALICE)
        assert promotions.approve(waiting.id, BOB).status == AWAITING_APPROVAL
        twin = Identity("BOB@retail.example", BOB.groups, True, "test")
        assert promotions.approve(waiting.id, twin).status == AWAITING_APPROVAL  # the same person again
        assert len(promotions.valid_approvals(promotions.store.promotion(waiting.id))) == 1
        hidden = Identity("b\u200bob@retail.example", BOB.groups, True, "test")
        with pytest.raises(PortalError) as refused:
            promotions.approve(waiting.id, hidden)
        assert refused.value.code == "IDENTITY"
        own = Identity("alice\u200b@retail.example", ("release-managers",), True, "test")
        with pytest.raises(PortalError):
            promotions.approve(waiting.id, own)
        carol = Identity("carol@retail.example", ("release-managers",), True, "test")
        assert promotions.approve(waiting.id, carol).status == APPROVED
    finally:
        promotions.close()


def test_a_remote_without_a_default_branch_leaves_the_only_local_main(tmp_path: Path) -> None:
    root = sandbox_repo_with(tmp_path / "data", sandbox_config())
    git.Repo(root).create_remote("origin", str(tmp_path / "nowhere"))  # added by hand: no origin/HEAD
    found = trusted_main(root)
    assert (found.branch, found.source) == ("main", "the only local 'main' branch")
