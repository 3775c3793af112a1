"""The Environments, Promote and Audit pages, through the whole app (app.py with its navigation) in Streamlit's
AppTest, on copies of the demo repository: real Git, the real audit store, deploys through the SDKs to the embedded
sandbox over HTTP. Roles are exercised with OIDC sign-in switched on (`[auth]` in the secrets) and `at.user`."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import git
import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from portal.audit import NewEvent
from portal.deploy.steps import plan_steps
from portal.errors import PortalError
from portal.promotion.identity import Identity, from_claims
from portal.promotion.service import AWAITING_APPROVAL, REJECTED, SUCCEEDED, Promotions
from portal.usecases import promotions as flow
from portal.usecases.demo import create_demo
from tests.mapping_repo import commit_all
from ui import environments as environment_view, promote as promote_view
from ui.common import when

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
DANA = Identity("dana@retail.example", (), False, "demo picker")  # who the demo picker starts with
RITA = "rita@retail.example"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test",
    "client_id": "portal",
    "client_secret": "test",
    "server_metadata_url": "https://login.example/.well-known/openid-configuration",
}


@pytest.fixture(autouse=True)
def navigation_only(monkeypatch):
    """AppTest 1.67 resets PagesManager.uses_pages_directory before every run, so with a pages/ folder next to
    app.py its second run would execute the page file alone (multipage v1), skipping app.py. A served app sets it
    to False for good at its first st.navigation call; so do we, for every run."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    return create_demo(tmp_path_factory.mktemp("pages") / "demo")


@pytest.fixture
def demo(demo_template, tmp_path, monkeypatch) -> Path:
    """A copy of the demo (Git data, audit store and sandbox state included); its sandbox is its own (one server
    per folder)."""
    root = tmp_path / "demo"
    shutil.copytree(demo_template, root, symlinks=True)
    monkeypatch.delenv("PORTAL_REPO", raising=False)
    monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)
    monkeypatch.setenv("PORTAL_DEMO_DIR", str(root))
    st.cache_resource.clear()  # app.py caches its site without arguments: this test's folder, not the last one
    yield root
    st.cache_resource.clear()


@pytest.fixture
def core(demo):
    promotions = Promotions.open(demo)
    yield promotions
    promotions.close()


def app(page: str | None = None, **setup) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in setup.items():
        setattr(at, name, value)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# The pages escape what people wrote with backslashes (ui.markdown.literal); a reader sees `\:` as `:`.
MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """Markdown text as its reader sees it."""
    return MARKDOWN_ESCAPE.sub(r"\1", markdown)


def texts(elements) -> list[str]:
    """What each element says, as its reader sees it."""
    return [shown(e.value) for e in elements]


def plan(at: AppTest, environment: str) -> None:
    at.selectbox(key="promote_env").set_value(environment).run()
    at.button(key="plan").click().run()
    assert not at.exception, [e.value for e in at.exception]


# --- Environments ---------------------------------------------------------------------------------------------


def test_environments_show_dev_deployed_and_no_drift_on_request(demo, core):
    at = app()

    matrix = at.dataframe[0].value.set_index("environment")
    dev = core.store.last_succeeded("dev")
    assert matrix.loc["dev", "snapshot"] == dev.snapshot_id
    assert matrix.loc["dev", "promoted by"] == "portal-demo"
    assert matrix.loc["dev", "deployed at"] == when(dev.finished_at) != ""
    assert matrix.loc["dev", "last promotion"] == f"succeeded ({dev.id})"
    assert matrix.loc["test", "snapshot"] == matrix.loc["prod", "snapshot"] == "—"  # nothing promoted yet
    assert matrix.loc["prod", "approvals"] == 1
    assert at.button(key="drift_test").disabled  # nothing promoted: nothing to compare
    assert not at.success  # no plan on load

    at.button(key="drift_dev").click().run()

    assert any(t.startswith("No drift: dev matches snapshot " + dev.snapshot_id) for t in texts(at.success))
    assert "dev" in at.session_state["drift_reports"]
    at.run()  # kept for the session, not planned again
    assert any(t.startswith("No drift: dev") for t in texts(at.success))


def test_environments_list_waiting_promotions_with_a_link_to_promote(demo, core):
    flow.promote(core, "test", DANA)
    waiting, _ = core.request("prod", DANA)

    at = app()

    matrix = at.dataframe[0].value.set_index("environment")
    assert matrix.loc["prod", "last promotion"] == f"awaiting approval ({waiting.id})"
    assert any(waiting.id in m for m in texts(at.markdown))
    assert [link.value for link in at.page_link] == ["Review, approve or reject on the Promote page"]


# --- Promote --------------------------------------------------------------------------------------------------


def test_promote_test_plans_runs_at_once_and_links_to_its_audit_trail(demo, core):
    at = app("pages/promote.py")

    plan(at, "prod")  # the core keeps the order: prod only after test
    at.button(key="request").click().run()
    assert any("has not succeeded in test yet" in e and "ORDER" in e for e in texts(at.error))
    assert not at.exception

    plan(at, "test")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["create (factory)"] == "28" and metrics["trigger changes"] == "2"
    assert metrics["create (notebooks)"] == "5"
    assert any(e.label.startswith("+ pipeline ") for e in at.expander)
    assert len(at.dataframe) >= 2  # trigger impact and notebooks
    # The steps the run will take, as `portal plan` prints them: the same list, from the same builders.
    shown = next(d.value for d in at.dataframe if "step" in d.value.columns)
    steps = plan_steps(flow.prepare(core, "test").plan)
    assert list(shown["step"]) == [f"{number}. {step.name}" for number, step in enumerate(steps, 1)]
    items = dict(zip(shown["step"].str.split(". ", n=1).str[1], shown["items"], strict=False))
    assert items["deploy"] == "28" and items["import notebooks"] == "5"

    at.button(key="request").click().run()

    assert not at.exception, [e.value for e in at.exception]
    promotion = core.store.promotions(environment="test", limit=1)[0]
    assert promotion.status == SUCCEEDED and promotion.requested_by == DANA.name
    assert texts(at.success) == [
        f"promotion {promotion.id} to test succeeded: 28 deployed, 0 deleted, "
        "2 triggers started, 5 notebooks imported, 0 pruned"
    ]
    assert [link.value for link in at.page_link] == [f"Audit trail of promotion {promotion.id}"]
    steps = "".join(texts(at.expander[0].markdown))
    assert "deploy 28/28" in steps and "start triggers 2/2" in steps

    at.query_params["promotion"] = promotion.id  # what the link carries
    at.switch_page("pages/audit.py").run()
    assert at.text_input(key="audit_promotion").value == promotion.id
    events = at.dataframe[0].value
    assert set(events["promotion"]) == {promotion.id} and events["kind"][0] == "promotion finished"
    count = core.store.count_events(promotion_id=promotion.id)
    assert f"{count} matching events; 1–50 shown, newest first." in texts(at.caption)


def test_prod_waits_the_requester_cannot_approve_another_person_approves_and_it_runs(demo, core):
    flow.promote(core, "test", DANA)
    at = app("pages/promote.py")
    plan(at, "prod")

    at.button(key="request").click().run()

    waiting = core.store.promotions(environment="prod", limit=1)[0]
    assert waiting.status == AWAITING_APPROVAL
    assert any(f"Promotion {waiting.id}" in i and "waits for approval" in i for i in texts(at.info))
    assert any(m.label == "create" and m.value == "28" for m in at.metric)  # the recorded plan summary

    at.text_input(key=f"comment_{waiting.id}").input("looks fine")
    at.button(key=f"approve_{waiting.id}").click().run()  # dana requested it
    assert any("cannot be approved by the person who requested it" in e for e in texts(at.error))
    assert core.store.promotion(waiting.id).status == AWAITING_APPROVAL
    assert core.store.events(kind="action refused", promotion_id=waiting.id)

    at.sidebar.selectbox[0].set_value(RITA).run()
    assert at.session_state["identity"].name == RITA
    at.button(key=f"approve_{waiting.id}").click().run()

    assert not at.exception, [e.value for e in at.exception]
    assert core.store.promotion(waiting.id).status == SUCCEEDED
    assert any(s.startswith(f"promotion {waiting.id} to prod succeeded") for s in texts(at.success))
    assert [a.actor for a in core.store.approvals(waiting.id)] == [RITA]
    assert not any((b.key or "").startswith("approve_") for b in at.button)  # nothing waits now


def test_an_approver_rejects_with_a_reason(demo, core):
    flow.promote(core, "test", DANA)
    waiting, _ = core.request("prod", DANA)
    at = app("pages/promote.py")
    at.sidebar.selectbox[0].set_value(RITA).run()

    at.button(key=f"reject_{waiting.id}").click().run()
    assert any("a rejection needs a reason" in e for e in texts(at.error))

    at.text_input(key=f"comment_{waiting.id}").input("not during the freeze")
    at.button(key=f"reject_{waiting.id}").click().run()

    assert core.store.promotion(waiting.id).status == REJECTED
    assert f"Promotion {waiting.id} to prod rejected: not during the freeze" in texts(at.main.warning)
    assert "No promotion waits for approval." in texts(at.caption)
    assert core.store.events(kind="promotion rejected", promotion_id=waiting.id)[0].actor == RITA


def test_roll_back_dev_from_the_page_after_planning_it(demo, core):
    first = core.store.last_succeeded("dev")  # the demo promoted dev once
    pipeline = sorted((demo / "adf" / "pipeline").glob("*.json"))[0]
    document = json.loads(pipeline.read_text())
    document["properties"]["description"] = "second version"
    pipeline.write_text(json.dumps(document, indent=4))
    repo = git.Repo(demo)
    repo.index.add([str(pipeline.relative_to(demo))])
    actor = git.Actor("Dana", DANA.name)
    repo.index.commit("second version", author=actor, committer=actor)
    second = flow.promote(core, "dev", DANA)
    assert second.snapshot_id != first.snapshot_id
    at = app("pages/promote.py")

    at.selectbox(key="rollback_env").set_value("test").run()
    assert "test has no successful promotion to roll back from." in texts(at.caption)
    assert not any(b.key == "rollback_plan" for b in at.button)

    at.selectbox(key="rollback_env").set_value("dev").run()
    assert any(
        f"runs snapshot `{second.snapshot_id}`" in m and f"promotes snapshot `{first.snapshot_id}`" in m
        for m in texts(at.markdown)
    )
    at.button(key="rollback_plan").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["update (factory)"] == "1" and metrics["create (factory)"] == "0"
    assert any(shown(e.label) == f"~ pipeline {pipeline.stem} (update)" for e in at.expander)

    at.button(key="rollback_request").click().run()

    assert not at.exception, [e.value for e in at.exception]
    back = core.store.last_succeeded("dev")
    assert back.is_rollback and back.snapshot_id == first.snapshot_id and back.requested_by == DANA.name
    assert any(s.startswith(f"promotion {back.id} to dev succeeded: 1 deployed") for s in texts(at.success))
    assert any(f"runs snapshot `{first.snapshot_id}`" in m for m in texts(at.markdown))  # and could go forward


def test_without_the_audit_store_the_promotion_pages_say_why_and_the_others_still_open(demo, monkeypatch):
    monkeypatch.setenv("PORTAL_AUDIT_URL", "postgresql+psycopg://portal:s3cret@127.0.0.1:1/audit")  # nothing listens

    for page in (None, "pages/promote.py", "pages/audit.py"):
        at = app(page)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith(
            "postgresql+psycopg://portal:***@127.0.0.1:1/audit: cannot open the audit store"
        )
        assert "s3cret" not in errors[0] and not at.title  # stopped before the page
    templates = app("pages/templates.py")
    assert not templates.error and [t.value for t in templates.title] == ["Templates"]


# --- Audit ----------------------------------------------------------------------------------------------------


def test_audit_filters_paginates_shows_artifacts_verifies_exports_and_finds_tampering(demo, core):
    core.store.append_many(
        [
            NewEvent(
                kind="parameters edited",
                actor="bulk@retail.example",
                actor_verified=False,
                environment="test",
                summary=f"edit {n}",
                data={"n": n},
            )
            for n in range(250)
        ]
    )
    at = app("pages/audit.py")
    total = core.store.count_events()
    assert f"{total} matching events; 1–50 shown, newest first." in texts(at.caption)
    assert len(at.dataframe[0].value) == 50

    at.selectbox(key="audit_env").set_value("test").run()
    at.text_input(key="audit_actor").input("bulk@retail.example").run()
    at.selectbox(key="audit_page_size").set_value(100).run()
    assert "250 matching events; 1–100 shown, newest first." in texts(at.caption)
    at.number_input(key="audit_page").set_value(3).run()
    assert "250 matching events; 201–250 shown, newest first." in texts(at.caption)
    page = at.dataframe[0].value
    assert list(page["summary"]) == [f"edit {n}" for n in range(49, -1, -1)]
    at.selectbox(key="audit_kind").set_value("promotion step").run()  # another filter: none match, page 1
    assert "0 matching events; 0–0 shown, newest first." in texts(at.caption)

    at.selectbox(key="audit_kind").set_value("promotion requested").run()
    at.selectbox(key="audit_env").set_value("(any)").run()
    at.text_input(key="audit_actor").input("").run()
    assert len(at.dataframe[0].value) == 1  # the demo's request of dev
    names = [shown(b.label) for b in at.download_button]
    assert len(names) == 5 and any("ARMTemplateForFactory.json" in n for n in names)
    assert any(".portal-manifest.json" in n for n in names)

    at.button(key="verify").click().run()
    assert texts(at.success) == [f"Chain intact: {total} events verified."]

    at.selectbox(key="audit_format").set_value("jsonl").run()
    at.button(key="export").click().run()
    export = at.session_state["audit_export"]
    lines = [json.loads(line) for line in export["data"].decode().splitlines()]
    assert export["count"] == len(lines) == 1 and lines[0]["kind"] == "promotion requested"
    assert [b.label for b in at.download_button][-1] == "Download 1 events (jsonl)"

    with sqlite3.connect(demo / ".git" / "portal" / "audit.db") as db:
        db.execute("UPDATE audit_events SET summary = 'nothing happened' WHERE seq = 7")
    at.button(key="verify").click().run()
    assert any(e.startswith("Chain BROKEN at event 7:") for e in texts(at.error))


# --- what people wrote is shown as text, never as Markdown -------------------------------------------------------

EVIL = "![x](https://evil.example/x.png) [Sign in](https://evil.example/login)"
EVIL_NAME = "[Sign in](https://evil.example/login)"


def markdown_sources(at: AppTest) -> list[str]:
    """The source of everything the page renders as Markdown: bodies of text elements and widget labels."""
    sources = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader", "toast"):
        sources += [e.value for e in at.get(kind)]
    for kind in (
        "button",
        "download_button",
        "expander",
        "status",
        "metric",
        "page_link",
        "selectbox",
        "text_input",
        "number_input",
        "date_input",
    ):
        sources += [e.label for e in at.get(kind) if isinstance(getattr(e, "label", None), str)]
    return sources


def assert_no_markdown_of_theirs(at: AppTest) -> list[str]:
    sources = markdown_sources(at)
    for source in sources:
        assert "![" not in source and "](" not in source and "[Sign in]" not in source, source
    return sources


def test_reasons_names_and_comments_are_shown_literally_on_every_page(demo, core):
    rita = Identity(RITA, (), False, "demo picker")
    mallory = Identity(EVIL_NAME, (), False, "demo picker")
    flow.promote(core, "test", DANA)
    first, _ = core.request("prod", mallory)
    core.reject(first.id, rita, EVIL)
    waiting, _ = core.request("prod", mallory)

    at = app("pages/audit.py")
    at.selectbox(key="audit_kind").set_value("promotion rejected").run()
    assert list(at.dataframe[0].value["summary"]) == [EVIL]  # a dataframe shows it as it is
    assert EVIL in [t.value for t in at.text]  # the event in full: st.text, no Markdown
    assert_no_markdown_of_theirs(at)
    at.selectbox(key="audit_kind").set_value("promotion requested").run()
    header = [m for m in markdown_sources(at) if "promotion requested" in shown(m)][0]
    assert f"· {EVIL_NAME} (unverified)" in shown(header)  # the reader sees the name as written
    assert_no_markdown_of_theirs(at)

    environments = app()
    assert any(f"requested by {EVIL_NAME} at" in shown(m) for m in assert_no_markdown_of_theirs(environments))

    promote = app("pages/promote.py")
    promote.sidebar.selectbox[0].set_value(RITA).run()
    assert any(f"requested by **{EVIL_NAME}** at" in shown(m) for m in assert_no_markdown_of_theirs(promote))
    promote.text_input(key=f"comment_{waiting.id}").input(EVIL)
    promote.button(key=f"reject_{waiting.id}").click().run()
    assert not promote.exception, [e.value for e in promote.exception]
    assert core.store.promotion(waiting.id).status == REJECTED
    assert f"Promotion {waiting.id} to prod rejected: {EVIL}" in texts(promote.main.warning)
    assert_no_markdown_of_theirs(promote)


# --- roles ----------------------------------------------------------------------------------------------------

ROLES = """access:
  roles:
    "*":
      viewer: ["*"]
      promoter: ["group:data-engineers"]
    prod:
      approver: ["group:release-managers"]
"""


def test_without_the_role_the_buttons_are_disabled_and_the_core_refuses(demo, core):
    text = (demo / "portal.yaml").read_text()
    (demo / "portal.yaml").write_text(text.replace("environments:", ROLES + "environments:", 1))
    repo = git.Repo(demo)
    repo.index.add(["portal.yaml"])
    actor = git.Actor("Platform", "platform@retail.example")
    repo.index.commit("access roles", author=actor, committer=actor)
    engineer = {"is_logged_in": True, "email": "erin@retail.example", "groups": ["data-engineers"]}
    viewer = {"is_logged_in": True, "email": "victor@retail.example", "groups": ["readers"]}
    for environment in ("dev", "test"):  # a new commit is a new snapshot: up the order again
        flow.promote(core, environment, from_claims(engineer, "oidc"))
    waiting, _ = core.request("prod", from_claims(engineer, "oidc"))

    signed_out = app("pages/promote.py", secrets={"auth": AUTH}, user={"is_logged_in": False})
    assert "Sign in (in the sidebar) to promote, approve or reject." in texts(signed_out.info)
    assert not any(b.key == "plan" for b in signed_out.button)

    at = app("pages/promote.py", secrets={"auth": AUTH}, user=viewer)
    assert at.session_state["identity"].verified
    plan(at, "test")  # reading is allowed
    assert at.button(key="request").disabled
    assert any("needs the role promoter or admin" in c for c in texts(at.caption))
    assert at.button(key=f"approve_{waiting.id}").disabled and at.button(key=f"reject_{waiting.id}").disabled
    at.selectbox(key="rollback_env").set_value("dev").run()
    at.button(key="rollback_plan").click().run()
    assert at.button(key="rollback_request").disabled
    assert any("You may not roll back in dev" in c for c in texts(at.caption))

    # A disabled button is a courtesy: the core refuses the same request, and records it.
    with pytest.raises(PortalError, match="may not promote"):
        core.request("test", from_claims(viewer, "oidc"))
    with pytest.raises(PortalError, match="may not approve"):
        core.approve(waiting.id, from_claims(viewer, "oidc"))
    refused = core.store.events(kind="action refused", actor="victor@retail.example")
    assert {e.data["action"] for e in refused} == {"promote", "approve"}

    approver = app(
        "pages/promote.py",
        secrets={"auth": AUTH},
        user={"is_logged_in": True, "email": "rita@retail.example", "groups": ["release-managers"]},
    )
    assert not approver.button(key=f"approve_{waiting.id}").disabled


# --- the views the pages use -----------------------------------------------------------------------------------


def test_run_progress_follows_a_real_run(demo, core):
    drawn = []
    progress = promote_view.RunProgress(lambda p: drawn.append(p.fraction))
    flow.promote(core, "test", DANA, sink=progress)

    lines = dict((text.split(" ")[0], state) for state, text in progress.lines())
    assert progress.finished and progress.fraction == 1.0 and progress.label == "finished"
    assert lines["deploy"] == "done" and set(lines.values()) == {"done"}
    assert drawn and drawn[-1] == 1.0


def test_the_matrix_names_a_run_still_going_behind_a_newer_request(demo, core):
    flow.promote(core, "test", DANA)
    first, _ = core.request("prod", DANA)
    core.store.update_promotion(first.id, first.version, status="running")  # as while its run goes on
    second, _ = core.request("prod", DANA)

    prod = {row.environment: row for row in environment_view.environment_rows(core)}["prod"]

    assert prod.as_table_row()["last promotion"] == f"awaiting approval ({second.id}); {first.id} running"


def test_times_read_in_utc_to_the_second():
    assert when("2026-11-24T00:05:55.943+00:00") == "2026-11-24 00:05:55 UTC"
    assert when("2026-11-24T01:05:55+01:00") == "2026-11-24 00:05:55 UTC"
    assert when(None) == "" and when("yesterday") == "yesterday"


def test_snapshot_choices_start_with_the_main_branch(demo, core):
    repo = git.Repo(demo)
    repo.create_head("params/test-change")
    choices = promote_view.snapshot_choices(core)
    assert choices[0].ref is None and choices[0].label.startswith("main (main branch)")
    assert any(c.ref == "params/test-change" for c in choices)
    assert any(c.ref == repo.head.commit.hexsha for c in choices)


def test_a_request_outside_the_release_windows_is_held_and_says_so(demo, core):
    config = demo / "portal.yaml"
    text = config.read_text()
    closed = "    windows:\n      deny:\n        - rule: FREQ=DAILY\n          duration_minutes: 1440\n"
    assert "  - name: test\n" in text
    config.write_text(text.replace("  - name: test\n", "  - name: test\n" + closed, 1))
    commit_all(demo, "test takes no promotions")
    flow.promote(core, "dev", DANA)  # the new snapshot reaches test only after dev
    at = app("pages/promote.py")
    plan(at, "test")
    at.button(key="request").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not texts(at.error), texts(at.error)
    (held,) = core.store.promotions(environment="test", limit=1)
    assert held.status == "approved"  # recorded, not run
    assert any(f"{held.id} is approved and held" in i and "outside its release windows" in i for i in texts(at.info))
    at.switch_page("pages/environments.py").run()
    matrix = at.dataframe[0].value.set_index("environment")
    assert matrix.loc["test", "releases"] == "closed (no window opens within 400 days)"
    assert matrix.loc["dev", "releases"] == "any time"
