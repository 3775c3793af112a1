"""The Parameters and Templates pages, driven through the real app (`AppTest` on app.py) over the real demo.

The demo is built once per module; a test that commits works on its own copy. The ARM limits are checked on the
core function with a generated factory (a page run over 800 objects would only repeat it slower).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import git
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from portal.adf.arm import export_factory
from portal.adf.loader import load_factory
from portal.audit import AuditStore, audit_url
from portal.environments.render import render_environment
from portal.environments.workspace import MappingWorkspace
from portal.promotion.identity import Identity
from portal.usecases.demo import create_demo
from portal.usecases.edits import git_author
from ui import parameters as parameter_view, templates as template_view

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SAMPLE = "TR_Daily_properties_PL_Orchestrate_Daily_parameters_samplePercent"
EMAIL = "default_properties_alertEmail_value"
BLOB = "LS_Blob_connectionString"
TEST_FILE = "environments/test.parameters.json"
GOOD_VAULT = (
    "/subscriptions/6f1c9a2e-0d3b-4c5e-9a7f-1b2c3d4e5f02/resourceGroups/rg-retail-test/providers/"
    "Microsoft.KeyVault/vaults/kv-retail-test"
)


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory) -> Path:
    return create_demo(tmp_path_factory.mktemp("built") / "demo")


@pytest.fixture
def demo_copy(built_demo, tmp_path) -> Path:
    """A copy of the demo that a test may commit to."""
    return Path(shutil.copytree(built_demo, tmp_path / "demo", symlinks=True))


@pytest.fixture(autouse=True)
def fresh_caches():
    """The app caches the site it serves for the whole process: each test serves its own repository, and leaves no
    site behind for the tests after it."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def open_page(repo: Path, page: str, monkeypatch, *, demo: bool = True) -> AppTest:
    monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)
    if demo:
        monkeypatch.delenv("PORTAL_REPO", raising=False)
        monkeypatch.setenv("PORTAL_DEMO_DIR", str(repo))
    else:
        monkeypatch.setenv("PORTAL_REPO", str(repo))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def by_label(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r} among {[w.label for w in widgets]}"
    return found[0]


# The pages show what people wrote literally, escaped with backslashes (ui.markdown.literal): a reader sees
# `\:` as `:`.
MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    return MARKDOWN_ESCAPE.sub(r"\1", markdown)


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def commit_on_main(repo: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    with git.Repo(repo) as handle:
        handle.index.add(list(files))
        handle.index.commit(message, author=git.Actor("Test", "test@example.com"))


# --- Parameters ----------------------------------------------------------------------------------------------------


def test_parameters_are_grouped_by_kind_with_plain_labels_and_typed_widgets(built_demo, monkeypatch):
    at = open_page(built_demo, "pages/parameters.py", monkeypatch)

    assert [e.label for e in at.expander] == [
        "Factory (1)",
        "Linked service (5)",
        "Trigger (4)",
        "Global parameters (3)",
    ]
    trigger = at.expander[2]
    sample = by_label(
        trigger.number_input, "Trigger TR_Daily → pipelines → PL_Orchestrate_Daily → parameters → sample percent"
    )
    assert sample.value == 10  # the page opens on the first environment, dev, which keeps the default
    domain = by_label(at.expander[1].text_input, "Linked service LS_Databricks → domain")
    assert domain.value.startswith("https://adb-")
    assert by_label(at.text_input, "Data factory name (each environment's target factory)").disabled
    assert not errors(at)


def test_an_int_change_shows_the_diff_and_saving_commits_on_a_new_branch(demo_copy, monkeypatch):
    at = open_page(demo_copy, "pages/parameters.py", monkeypatch)
    at.selectbox(key="params_env").set_value("test").run()
    at.number_input(key=f"param:0:test:{SAMPLE}").set_value(75).run()

    diff = at.code[0]
    assert diff.language == "diff"
    assert '-            "value": 50' in diff.value and '+            "value": 75' in diff.value
    save = at.button(key="params_save")
    assert not save.disabled
    save.click().run()

    assert not at.exception and not errors(at), errors(at)
    assert any("Committed" in s.value and "params/test-" in s.value for s in at.success)
    with git.Repo(demo_copy) as repo:
        branch = next(h for h in repo.heads if h.name.startswith("params/test-"))
        commit = branch.commit
        edited = json.loads(commit.tree[TEST_FILE].data_stream.read())
        on_main = json.loads(repo.heads.main.commit.tree[TEST_FILE].data_stream.read())
        assert (commit.author.name, commit.author.email) == ("Dana", "dana@retail.example")
        assert repo.heads.main.commit == commit.parents[0]
    assert edited["parameters"][SAMPLE]["value"] == 75
    assert on_main["parameters"][SAMPLE]["value"] == 50  # main is untouched, and so is the working tree
    assert json.loads((demo_copy / TEST_FILE).read_text())["parameters"][SAMPLE]["value"] == 50
    workspace = MappingWorkspace.open(demo_copy)
    with AuditStore.open(audit_url(demo_copy, workspace.config.audit.url)) as store:
        events = store.events(kind="parameters edited")
    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.actor_verified, event.environment) == ("dana@retail.example", False, "test")
    assert event.data["commit"] == commit.hexsha and event.data["branch"] == branch.name
    # The form starts again from main's values.
    assert at.number_input(key=f"param:1:test:{SAMPLE}").value == 50


def test_what_people_typed_is_shown_literally_in_errors(demo_copy, monkeypatch):
    at = open_page(demo_copy, "pages/parameters.py", monkeypatch)
    at.selectbox(key="params_env").set_value("test").run()
    at.number_input(key=f"param:0:test:{SAMPLE}").set_value(75).run()
    typed = "![x](https://evil.example/x.png)"
    by_label(at.text_input, "Branch").input(typed).run()
    at.button(key="params_save").click().run()

    assert not at.exception
    raw = [e.value for e in at.error]
    assert raw and all("![" not in e and "](" not in e for e in raw), raw  # no image the browser would fetch
    assert any(f"{typed!r} is not a valid branch name" in shown(e) for e in raw), raw


def test_an_expression_is_refused_with_the_core_message_and_cannot_be_saved(built_demo, monkeypatch):
    at = open_page(built_demo, "pages/parameters.py", monkeypatch)
    at.selectbox(key="params_env").set_value("test").run()
    at.text_input(key=f"param:0:test:{EMAIL}").set_value("[concat('a', 'b')]").run()

    assert any(
        f"environment test → {EMAIL}" in e and "ARM would evaluate it as an expression" in e for e in errors(at)
    ), errors(at)
    assert at.button(key="params_save").disabled
    # A number field only yields numbers; text reaching the core for one is refused the same way.
    workspace = MappingWorkspace.open(built_demo, "main")
    fields = [f for group in parameter_view.parameter_form(workspace, "test") for f in group.fields]
    draft = parameter_view.draft_parameters(workspace, "test", fields, {SAMPLE: "many"})
    assert draft.errors[SAMPLE].what == "'many' is not a whole number" and not draft.can_save


def test_a_secret_offers_the_key_vault_picker_and_refuses_a_malformed_vault_id(demo_copy, monkeypatch):
    # A linked service whose connection string the default rules turn into a secure parameter.
    commit_on_main(
        demo_copy,
        {
            "adf/linkedService/LS_Blob.json": json.dumps(
                {
                    "name": "LS_Blob",
                    "properties": {
                        "type": "AzureBlobStorage",
                        "annotations": [],
                        "typeProperties": {"connectionString": "UseDevelopmentStorage=true"},
                    },
                },
                indent="\t",
            )
        },
        "Blob storage linked service",
    )
    at = open_page(demo_copy, "pages/parameters.py", monkeypatch)
    at.selectbox(key="params_env").set_value("test").run()
    key = f"param:0:test:{BLOB}"

    source = at.radio(key=f"{key}:source")
    assert source.label == "Linked service LS_Blob → connection string"
    assert source.value == parameter_view.KEY_VAULT
    # No field takes the secret's value: only where it comes from.
    assert not [w for w in at.text_input if w.label == source.label]
    assert any("is a secret and has no Key Vault reference" in e for e in errors(at))

    at.text_input(key=f"{key}:vault").set_value("kv-retail-test")
    at.text_input(key=f"{key}:secret").set_value("blob-connection").run()
    assert any(
        f"environment test → {BLOB}" in e and "the Key Vault id must be /subscriptions/<guid>" in e for e in errors(at)
    ), errors(at)
    assert at.button(key="params_save").disabled

    at.text_input(key=f"{key}:vault").set_value(GOOD_VAULT).run()
    assert not errors(at), errors(at)
    assert '"secretName": "blob-connection"' in at.code[0].value and "kv-retail-test" in at.code[0].value
    assert not at.button(key="params_save").disabled


def test_the_rules_form_previews_the_parameter_a_rule_adds_and_saves_it(demo_copy, monkeypatch):
    at = open_page(demo_copy, "pages/parameters.py", monkeypatch)
    at.text_input(key="rule:0:path").set_value("properties..interval").run()
    assert any("rule target" in e and "segment 2" in e for e in errors(at)), errors(at)

    at.selectbox(key="rule:0:type").set_value("trigger")
    at.text_input(key="rule:0:path").set_value("properties.typeProperties.recurrence.interval")
    at.text_input(key="rule:0:name").set_value("-interval")
    at.selectbox(key="rule:0:ptype").set_value("int").run()

    preview = [c.value for c in at.code if c.language == "diff"]
    assert "+ TR_Daily_interval (int)" in preview[0]
    assert '"interval": "=:-interval:int"' in preview[1]  # the definition file's change
    assert not errors(at)
    at.button(key="rules_save").click().run()

    assert not errors(at) and any("rules/" in s.value for s in at.success)
    with git.Repo(demo_copy) as repo:
        branch = next(h for h in repo.heads if h.name.startswith("rules/"))
        definition = branch.commit.tree["adf/arm-template-parameters-definition.json"].data_stream.read()
    assert b'"=:-interval:int"' in definition
    workspace = MappingWorkspace.open(demo_copy)
    with AuditStore.open(audit_url(demo_copy, workspace.config.audit.url)) as store:
        [event] = store.events(kind="parameters edited")
    assert event.environment is None and event.data["branch"] == branch.name


def test_pages_need_sign_in_for_a_repository_with_real_targets(tmp_path, monkeypatch):
    # A real repository (its targets real Azure factories) served without sign-in configured: the frame stops before
    # any page, with no person picker (tests/test_trust.py does the same through PORTAL_DEMO_DIR).
    from tests.test_trust import real_repo

    repo = real_repo(tmp_path / "data")
    monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)
    monkeypatch.setenv("PORTAL_REPO", str(repo))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("needs sign-in" in e.value for e in at.error)
        assert not at.selectbox and not at.expander and not at.code and not at.dataframe
    finally:
        st.cache_resource.clear()


def test_a_broken_parameter_file_is_shown_with_its_place(demo_copy, monkeypatch):
    commit_on_main(demo_copy, {TEST_FILE: '{\n  "parameters": {\n'}, "Broken test values")
    at = open_page(demo_copy, "pages/parameters.py", monkeypatch)
    at.selectbox(key="params_env").set_value("test").run()

    assert any(e.startswith(f"{TEST_FILE}:3:") and "invalid JSON" in e for e in errors(at)), errors(at)


# --- Templates -----------------------------------------------------------------------------------------------------


def test_templates_page_shows_the_export_the_rendered_environment_and_the_comparison(built_demo, monkeypatch):
    at = open_page(built_demo, "pages/templates.py", monkeypatch)
    assert not errors(at) and not at.warning

    template = json.loads(at.code[0].value)
    assert template["$schema"].endswith("deploymentTemplate.json#") and len(template["resources"]) == 28
    files = at.dataframe[0].value
    assert {
        "ARMTemplateForFactory.json",
        "ARMTemplateParametersForFactory.json",
        "linkedTemplates/ArmTemplate_0.json",
        "linkedTemplates/ArmTemplate_master.json",
    } <= set(files["file"])
    assert any("ArmTemplate_1.json" in m.value for m in at.markdown)
    at.selectbox(key="templates_file").set_value("linkedTemplates/ArmTemplate_master.json").run()
    assert "Microsoft.Resources/deployments" in at.code[0].value

    # The rendered test environment: its own values, secrets only as their source.
    assert at.selectbox(key="templates_env").value == "test"
    assert "LS_Databricks" in set(at.dataframe[1].value["object"])
    at.selectbox(key="templates_resource").set_value(("Linked service", "LS_Databricks")).run()
    rendered = at.json[0].value
    assert "adb-2222222222222222" in rendered and "databricks-token" in rendered

    at.selectbox(key="compare_object").set_value(("Linked service", "LS_Databricks")).run()
    table = at.dataframe[-1].value.set_index("property")
    assert list(table.columns) == ["test", "prod", "differs"]
    domain = table.loc["properties.typeProperties.domain"]
    assert domain["differs"] and "adb-2222" in domain["test"] and "adb-3333" in domain["prod"]
    assert not table.loc["properties.type"]["differs"]

    assert [b.label for b in at.get("download_button")] == ["Download the export as a zip"]


def test_the_zip_holds_the_export_as_export_arm_writes_it_and_the_rendered_environments(built_demo):
    workspace = MappingWorkspace.open(built_demo, "main")
    bundle = template_view.export_bundle(workspace.export)

    data = template_view.export_zip(bundle, [render_environment(workspace, "test")])

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        template = archive.read("ARMTemplateForFactory.json").decode("utf-8")
    assert names[:2] == ["ARMTemplateForFactory.json", "ARMTemplateParametersForFactory.json"]
    assert {
        "linkedTemplates/ArmTemplate_master.json",
        "rendered/test/parameters.json",
        "rendered/test/linkedService/LS_Databricks.json",
    } <= set(names)
    assert template == workspace.export.files()["ARMTemplateForFactory.json"]


def test_limit_warnings_come_from_the_export_files(tmp_path):
    adf = tmp_path / "adf"
    (adf / "factory").mkdir(parents=True)
    (adf / "factory" / "adf-big.json").write_text(json.dumps({"name": "adf-big", "location": "westeurope"}))
    (adf / "pipeline").mkdir()
    for index in range(801):
        (adf / "pipeline" / f"PL_{index:03}.json").write_text(
            json.dumps({"name": f"PL_{index:03}", "properties": {"activities": [], "annotations": []}})
        )

    bundle = template_view.export_bundle(export_factory(load_factory(adf)))

    assert [(f.code, f.where) for f in bundle.limits] == [("ARM_RESOURCE_LIMIT", "ARMTemplateForFactory.json")]
    assert "801 resources" in bundle.limits[0].what and "800" in bundle.limits[0].what
    assert template_view.limit_summary(bundle).resources == 801


def test_the_templates_page_warns_over_a_limit(demo_copy, monkeypatch):
    commit_on_main(
        demo_copy,
        {
            f"adf/pipeline/PL_Gen_{index:03}.json": json.dumps(
                {"name": f"PL_Gen_{index:03}", "properties": {"activities": [], "annotations": []}}
            )
            for index in range(780)
        },
        "Many pipelines",
    )
    at = open_page(demo_copy, "pages/templates.py", monkeypatch)

    assert [shown(w.value) for w in at.warning] == [
        "ARMTemplateForFactory.json: the template has 808 resources; ARM allows at most 800 — deploy the linked "
        "templates (linkedTemplates/ArmTemplate_master.json) instead; they stay under the limit"
    ]


def test_the_git_author_is_the_identity(tmp_path):
    demo = git_author(Identity("rita@retail.example", (), False, "demo picker"))
    signed_in = git_author(Identity("ana@contoso.com", (), True, "oidc"), "Ana <Admin>")
    application = git_author(Identity("00000000-0000-0000-0000-00000000000a", (), True, "oidc"))
    assert (demo.name, demo.email) == ("Rita", "rita@retail.example")
    assert (signed_in.name, signed_in.email) == ("Ana Admin", "ana@contoso.com")
    assert application.email.endswith("@portal.invalid")
