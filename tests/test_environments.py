"""Environments and parameter mappings: configuration, parameter files, catalogue, checks and edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from portal.cli import main
from portal.environments.config import parse_config
from portal.environments.parameter_files import ParameterEntry, parse_parameter_file
from portal.environments.workspace import MappingWorkspace
from portal.errors import FindingsError, PortalError, Severity
from portal.secret_sources import EnvironmentVariable, KeyVaultReference
from tests.mapping_repo import CONFIG, KV_TEST, make_repo, write_json

URL = "LS_Lake_properties_typeProperties_url"
BATCH = "TR_Daily_properties_PL_Load_parameters_batchSize"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    make_repo(tmp_path / "data")
    return tmp_path / "data"


def codes(findings, env: str | None = None) -> list[tuple[str, str]]:
    return [(f.code, f.where) for f in findings if env is None or f"environment {env} " in f.where]


# --- configuration ----------------------------------------------------------------------------------------------


def test_configuration_reads_ordered_environments() -> None:
    config = parse_config(CONFIG)
    assert config.names == ["dev", "test", "prod"]
    assert config.environment("prod").protection.approvals_required == 2
    assert config.environment("test").databricks.target_folder == "/Shared/sales/test"
    assert config.environment("test").parameter_file_path == "environments/test.parameters.json"


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (
            ("factory_name: adf-sales-test", "factory_name: -bad-"),
            "environments[1] (test).data_factory.factory_name",
            "3-63 letters",
        ),
        (
            ("subscription_id: 2222", "subscription_id: x2222"),
            "environments[1] (test).data_factory.subscription_id",
            "GUID",
        ),
        (
            ("location: westeurope\n    databricks", "location: westeurope\n    colour: blue\n    databricks"),
            "environments[1] (test).colour",
            "not a known setting",
        ),
        (
            ("target_folder: /Shared/sales/test", "target_folder: Shared/x"),
            "environments[1] (test).databricks.target_folder",
            "absolute workspace path",
        ),
        (
            ("approvals_required: 2", "approvals_required: -1"),
            "environments[2] (prod).protection.approvals_required",
            "greater than or equal to 0",
        ),
    ],
)
def test_configuration_errors_name_the_field(change: tuple[str, str], where: str, words: str) -> None:
    with pytest.raises(FindingsError) as info:
        parse_config(CONFIG.replace(*change))
    finding = info.value.findings[0]
    assert finding.where == f"portal.yaml: {where}"
    assert words in finding.what


def test_configuration_syntax_error_has_line_and_column() -> None:
    with pytest.raises(FindingsError) as info:
        parse_config(CONFIG.replace("  - name: prod", "  - name: [prod"))
    # The parser notices the unclosed list where the next line starts.
    assert info.value.findings[0].where == "portal.yaml:24:5"


def test_duplicate_environment_is_refused() -> None:
    with pytest.raises(FindingsError, match="environment 'dev' is defined twice"):
        parse_config(CONFIG.replace("name: test", "name: dev"))


def test_unknown_environment_lists_the_known_ones(repo: Path) -> None:
    workspace = MappingWorkspace.open(repo)
    with pytest.raises(PortalError) as info:
        workspace.environment("staging")
    assert info.value.code == "UNKNOWN_ENVIRONMENT" and "dev, test, prod" in info.value.hint


# --- parameter files --------------------------------------------------------------------------------------------


def test_parameter_file_round_trip_keeps_layout_and_unknown_keys() -> None:
    text = (
        '{\n\t"$schema": "x",\n\t"contentVersion": "1.0.0.0",\n\t"extra": 1,\n\t"parameters": {\n'
        '\t\t"a": {\n\t\t\t"value": "b",\n\t\t\t"metadata": {"note": "kept"}\n\t\t}\n\t}\n}'
    )
    parsed = parse_parameter_file(text.encode(), "p.json")
    assert parsed.indent == "\t" and not parsed.final_newline
    assert json.loads(parsed.to_json()) == json.loads(text)
    changed = parsed.with_entry(ParameterEntry("a", "c", raw=parsed.get("a").raw))
    assert json.loads(changed.to_json())["parameters"]["a"] == {"value": "c", "metadata": {"note": "kept"}}


@settings(deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcXYZ_", min_size=1, max_size=8),
        st.recursive(
            st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none()),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
            max_leaves=6,
        ),
        max_size=6,
    )
)
def test_parameter_file_round_trip_of_any_values(values: dict) -> None:
    document = {
        "$schema": "s",
        "contentVersion": "1.0.0.0",
        "parameters": {name: {"value": value} for name, value in values.items()},
    }
    parsed = parse_parameter_file(json.dumps(document, indent=4).encode(), "p.json")
    assert json.loads(parsed.to_json()) == document
    assert parse_parameter_file(parsed.to_json().encode(), "p.json") == parsed


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"a": {"value": 1, "reference": {}}}, 'either "value" or a Key Vault "reference"'),
        ({"a": {"reference": {"secretName": "x"}}}, "a reference must be"),
        ({"a": 5}, 'either "value"'),
    ],
)
def test_malformed_parameter_file_names_the_parameter(parameters: dict, words: str) -> None:
    with pytest.raises(FindingsError) as info:
        parse_parameter_file(json.dumps({"parameters": parameters}).encode(), "env.json")
    assert info.value.findings[0].where == "env.json (parameters.a)" and words in info.value.findings[0].what


def test_invalid_json_in_a_parameter_file(repo: Path) -> None:
    (repo / "environments" / "test.parameters.json").write_text('{"parameters": {,}}')
    findings = MappingWorkspace.open(repo).check("test")
    assert [(f.code, f.where) for f in findings] == [("PARAMETER_FILE", "environments/test.parameters.json:1:17")]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def commit_all_of(repo: Path) -> None:
    import git

    git_repo = git.Repo(repo)
    git_repo.git.add(A=True)  # links are committed as links
    git_repo.index.commit("as it is")
    git_repo.close()


def test_nesting_without_end_in_a_parameter_file_or_portal_yaml_names_the_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parameters = repo / "environments" / "test.parameters.json"
    parameters.write_text('{"parameters": {"' + BATCH + '": {"value": ' + nested(100_000) + "}}}")
    for command in (
        ["params", "validate", "test"],
        ["params", "show", "test"],
        ["render", "test", "--out", str(tmp_path / "out")],
    ):
        assert main([*command, "--repo", str(repo)]) == 1, command
        assert "environments/test.parameters.json: is nested deeper than 100 levels" in capsys.readouterr().err
    parameters.write_text('{"parameters": {"' + BATCH + '": {"value": ' + nested(150) + "}}}")  # json reads it
    assert main(["params", "validate", "test", "--repo", str(repo)]) == 1
    assert "environments/test.parameters.json: is nested deeper than 100 levels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

    config = (repo / "portal.yaml").read_text()

    def block(depth: int) -> str:  # a mapping in a mapping …, by indentation
        return "".join(f"\n{'  ' * (i + 1)}k{i}:" for i in range(depth)) + " 1"

    for deep in (nested(100_000), nested(150), block(150), block(3_000)):
        (repo / "portal.yaml").write_text(config + "extra: " + deep + "\n")
        assert main(["params", "validate", "--repo", str(repo)]) == 1
        assert "portal.yaml: is nested deeper than 100 levels" in capsys.readouterr().err


def test_a_typed_json_value_nested_without_end_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import git

    trigger = repo / "adf" / "trigger" / "TR_Daily.json"
    document = json.loads(trigger.read_text())
    document["properties"]["pipelines"][0]["parameters"]["batchSize"] = [1, 2]  # an array parameter
    write_json(trigger, document)
    commit_all_of(repo)
    for depth in (100_000, 150):
        assert main(["params", "set", "test", BATCH, nested(depth), "--repo", str(repo), "--author", "A <a@b.c>"]) == 1
        assert f"environment test → {BATCH}: the value is nested deeper than 100 levels" in capsys.readouterr().err
    assert [h.name for h in git.Repo(repo).heads] == ["main"]


def test_symbolic_links_to_portal_yaml_or_parameter_files_are_refused_in_both_views(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(repo / "portal.yaml", outside / "portal.yaml")
    shutil.copytree(repo / "environments", outside / "environments")
    (outside / "environments" / "test.parameters.json").write_text('{"parameters": {}}')

    def refused(*words: str) -> None:
        for ref in ([], ["--ref", "HEAD"]):
            assert main(["params", "validate", "test", "--repo", str(repo), *ref]) == 1
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1, err
            for word in words:
                assert word in err, err

    (repo / "portal.yaml").unlink()
    (repo / "portal.yaml").symlink_to(outside / "portal.yaml")
    commit_all_of(repo)
    refused("portal.yaml", f"is a symbolic link (to {str(outside / 'portal.yaml')!r})")

    (repo / "portal.yaml").unlink()
    shutil.copy(outside / "portal.yaml", repo / "portal.yaml")
    (repo / "environments" / "test.parameters.json").unlink()
    (repo / "environments" / "test.parameters.json").symlink_to("../../outside/environments/test.parameters.json")
    commit_all_of(repo)
    refused("environments/test.parameters.json", "is a symbolic link (to '../../outside/environments/")

    shutil.rmtree(repo / "environments")
    (repo / "environments").symlink_to(outside / "environments", target_is_directory=True)
    commit_all_of(repo)
    refused("error: environments", "is a symbolic link (to", "on the way to environments/test.parameters.json")


# --- catalogue --------------------------------------------------------------------------------------------------


def test_catalogue_explains_each_parameter(repo: Path) -> None:
    entries = {e.name: e for e in MappingWorkspace.open(repo).catalogue()}
    assert entries[URL].source == "Linked service LS_Lake → URL"
    assert entries["LS_Sql_connectionString"].source == "Linked service LS_Sql → connection string"
    assert entries[BATCH].source == "Trigger TR_Daily → pipelines → PL_Load → parameters → batch size"
    assert entries[URL].default == "https://lakedev.dfs.core.windows.net/" and not entries[URL].required
    secret = entries["LS_Lake_accountKey"]
    assert secret.secret and secret.required and secret.default is None
    assert secret.values["test"].display == "Key Vault kv-test / lake-key"
    assert secret.values["prod"].kind == "missing"
    assert entries[URL].values["test"].value == "https://laketest.dfs.core.windows.net/"
    assert entries[URL].values["prod"].kind == "default"
    assert entries["factoryName"].values["prod"].value == "adf-sales-prod"


def test_params_show_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "show", "test", "--json", "--repo", str(repo)]) == 0
    shown = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert set(shown[URL]) >= {"name", "type", "source", "value", "required", "secret"}
    assert shown[URL]["value"] == "https://laketest.dfs.core.windows.net/"
    assert shown[BATCH]["value"] == 500 and shown[BATCH]["type"] == "int"
    assert shown["LS_Lake_accountKey"]["value"] is None and shown["LS_Lake_accountKey"]["secret"] is True
    assert shown["LS_Lake_accountKey"]["display"] == "Key Vault kv-test / lake-key"


# --- checks -----------------------------------------------------------------------------------------------------


def set_test_values(repo: Path, parameters: dict) -> None:
    write_json(repo / "environments" / "test.parameters.json", {"parameters": parameters})


KV_REF = {"reference": {"keyVault": {"id": KV_TEST}, "secretName": "s"}}


def test_each_check(repo: Path) -> None:
    set_test_values(
        repo,
        {
            URL: {"value": "not a url"},
            BATCH: {"value": "500"},
            "LS_Lake_accountKey": {"value": "hunter2"},
            "LS_Sql_connectionString": {"reference": {"keyVault": {"id": "/bad"}, "secretName": "no spaces!"}},
            "LS_Gone_properties_typeProperties_url": {"value": "https://x"},
            "factoryName": {"value": "adf-other"},
        },
    )
    findings = MappingWorkspace.open(repo).check("test")
    assert sorted(codes(findings)) == sorted(
        [
            ("FACTORY_NAME_MISMATCH", "environment test → factoryName"),
            ("FORMAT", f"environment test → {URL}"),
            ("KEY_VAULT_REFERENCE", "environment test → LS_Sql_connectionString"),
            ("KEY_VAULT_REFERENCE", "environment test → LS_Sql_connectionString"),
            ("PLAINTEXT_SECRET", "environment test → LS_Lake_accountKey"),
            ("STALE_PARAMETER", "environment test → LS_Gone_properties_typeProperties_url"),
            ("TYPE", f"environment test → {BATCH}"),
        ]
    )
    by_code = {f.code: f for f in findings}
    assert "hunter2" not in "".join(str(f) for f in findings)
    assert by_code["TYPE"].what == "must be of type int, not string"
    assert by_code["STALE_PARAMETER"].severity is Severity.WARNING
    assert by_code["FORMAT"].severity is Severity.WARNING


def test_missing_values_and_expressions(repo: Path) -> None:
    set_test_values(repo, {URL: {"value": "[concat('https://', 'evil')]"}, "LS_Lake_accountKey": KV_REF})
    findings = MappingWorkspace.open(repo).check("test")
    assert sorted(codes(findings)) == [
        ("EXPRESSION_INJECTION", f"environment test → {URL}"),
        ("MISSING_VALUE", "environment test → LS_Sql_connectionString"),
    ]
    set_test_values(
        repo, {URL: {"value": "[[literal]"}, "LS_Lake_accountKey": KV_REF, "LS_Sql_connectionString": KV_REF}
    )
    # A literal '[' (written '[[') is no expression; it only fails to look like a URL.
    assert [f.code for f in MappingWorkspace.open(repo).check("test")] == ["FORMAT"]


def test_validate_cli_exit_codes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "validate", "test", "--repo", str(repo)]) == 1
    assert "LS_Sql_connectionString" in capsys.readouterr().err
    set_test_values(repo, {"LS_Lake_accountKey": KV_REF, "LS_Sql_connectionString": KV_REF})
    assert main(["params", "validate", "test", "--repo", str(repo)]) == 0
    assert main(["params", "validate", "nope", "--repo", str(repo)]) == 1


# --- edits ------------------------------------------------------------------------------------------------------


def test_typed_input_becomes_a_typed_value(repo: Path) -> None:
    workspace = MappingWorkspace.open(repo)
    [edit] = workspace.set_values("test", [(BATCH, "1000"), (URL, "https://new.dfs.core.windows.net/")])
    after = json.loads(edit.after)["parameters"]
    assert after[BATCH] == {"value": 1000} and after[URL]["value"] == "https://new.dfs.core.windows.net/"
    assert edit.changes == (f"test: set {BATCH} (new value)", f"test: set {URL} (new value)")
    assert '+        "' in edit.diff() or '+\t\t"' in edit.diff()


@pytest.mark.parametrize(
    ("name", "text", "code"),
    [
        (BATCH, "many", "TYPE"),
        (URL, "[parameters('x')]", "EXPRESSION_INJECTION"),
        ("LS_Sql_connectionString", "Server=s;Password=hunter2", "PLAINTEXT_SECRET"),
        ("LS_Sql_connectionString", "keyvault:/subscriptions/x/vaults/v/secrets/s", "PLAINTEXT_SECRET"),
        ("LS_Sql_connectionString", "env:1BAD", "ENV_VARIABLE"),
        ("factoryName", "adf-x", "FACTORY_NAME"),
        ("No_such_parameter", "1", "UNKNOWN_PARAMETER"),
    ],
)
def test_bad_input_is_refused_and_never_echoed(repo: Path, name: str, text: str, code: str) -> None:
    with pytest.raises(PortalError) as info:
        MappingWorkspace.open(repo).set_values("test", [(name, text)])
    assert info.value.code == code
    if code == "PLAINTEXT_SECRET":
        assert "hunter2" not in str(info.value) and "test" in info.value.where


def test_secret_as_key_vault_reference_or_environment_variable(repo: Path) -> None:
    workspace = MappingWorkspace.open(repo)
    [edit] = workspace.set_values("test", [("LS_Sql_connectionString", f"keyvault:{KV_TEST}/secrets/sql-conn")])
    assert json.loads(edit.after)["parameters"]["LS_Sql_connectionString"] == {
        "reference": {"keyVault": {"id": KV_TEST}, "secretName": "sql-conn"}
    }
    assert edit.changes == ("test: set LS_Sql_connectionString (Key Vault kv-test / sql-conn)",)
    edits = workspace.set_values("test", [("LS_Lake_accountKey", "env:LAKE_KEY")])
    by_path = {e.path: e for e in edits}
    assert "LAKE_KEY" in by_path["portal.yaml"].after
    assert "# Environments of the sales data platform" in by_path["portal.yaml"].after  # comments kept
    assert "LS_Lake_accountKey" not in json.loads(by_path["environments/test.parameters.json"].after)["parameters"]


def test_a_secret_source_given_as_a_value_edits_as_its_text_form_does(repo: Path) -> None:
    """The portal's picker hands the core a source as a value; the CLI types it. Both make the same edit, and a
    source for a parameter that is not secure is refused, naming it."""
    workspace = MappingWorkspace.open(repo)
    reference = KeyVaultReference(KV_TEST, "sql-conn", "0123abcd")
    typed = workspace.set_values("test", [("LS_Sql_connectionString", f"keyvault:{KV_TEST}/secrets/sql-conn/0123abcd")])
    given = workspace.set_values("test", [("LS_Sql_connectionString", reference)])
    assert [(e.path, e.after, e.changes) for e in given] == [(e.path, e.after, e.changes) for e in typed]
    from_variable = workspace.set_values("test", [("LS_Lake_accountKey", EnvironmentVariable("LAKE_KEY"))])
    assert [(e.path, e.after) for e in from_variable] == [
        (e.path, e.after) for e in workspace.set_values("test", [("LS_Lake_accountKey", "env:LAKE_KEY")])
    ]
    with pytest.raises(PortalError) as bad_name:
        workspace.set_values("test", [("LS_Lake_accountKey", EnvironmentVariable("1-not-a-name"))])
    assert bad_name.value.code == "ENV_VARIABLE" and "LS_Lake_accountKey" in bad_name.value.where
    with pytest.raises(PortalError) as not_secure:
        workspace.set_values("test", [(BATCH, reference)])
    assert not_secure.value.code == "TYPE" and BATCH in not_secure.value.where


def test_remove_stale(repo: Path) -> None:
    set_test_values(repo, {URL: {"value": "https://a.b/"}, "Old_one": {"value": 1}})
    workspace = MappingWorkspace.open(repo)
    assert workspace.stale("test") == ["Old_one"]
    [edit] = workspace.remove_stale("test")
    assert list(json.loads(edit.after)["parameters"]) == [URL]
    assert edit.changes == ("test: remove stale Old_one",)


# --- saving as commits ------------------------------------------------------------------------------------------


def test_params_set_commits_on_a_new_branch(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import git

    git_repo = git.Repo(repo)
    head_before = git_repo.head.commit.hexsha
    assert (
        main(
            [
                "params",
                "set",
                "test",
                BATCH,
                "750",
                "--repo",
                str(repo),
                "--branch",
                "params/batch",
                "--author",
                "Ann Analyst <ann@example.com>",
            ]
        )
        == 0
    )
    assert "on branch params/batch" in capsys.readouterr().out
    commit = git_repo.heads["params/batch"].commit
    assert commit.parents[0].hexsha == head_before
    assert (commit.author.name, commit.author.email) == ("Ann Analyst", "ann@example.com")
    assert commit.message.splitlines()[0] == f"test: set {BATCH} (new value)"
    stored = json.loads((commit.tree / "environments/test.parameters.json").data_stream.read())
    assert stored["parameters"][BATCH] == {"value": 750}
    # The working tree and HEAD are as they were.
    assert git_repo.head.commit.hexsha == head_before
    assert BATCH not in (repo / "environments" / "test.parameters.json").read_text()
    # Reading the new branch shows the new value.
    workspace = MappingWorkspace.open(repo, "params/batch")
    assert {e.name: e for e in workspace.catalogue()}[BATCH].values["test"].value == 750
    # And the audit trail says who changed what, in which commit.
    from portal.promotion.service import Promotions

    promotions = Promotions.open(repo)
    try:
        [event] = promotions.store.events(kind="parameters edited")
        assert (event.actor, event.actor_verified, event.environment) == ("ann@example.com", False, "test")
        assert event.data["commit"] == commit.hexsha and event.data["branch"] == "params/batch"
        assert event.data["changes"] == [f"test: set {BATCH} (new value)"]
    finally:
        promotions.close()


def test_a_moved_base_is_refused(repo: Path) -> None:
    import git

    from portal.environments.git_store import Author

    workspace = MappingWorkspace.open(repo)
    edits = workspace.set_values("test", [(BATCH, "1")])
    # Someone else commits to main after this edit began.
    (repo / "README.md").write_text("other change")
    git_repo = git.Repo(repo)
    git_repo.index.add(["README.md"])
    git_repo.index.commit("someone else")
    with pytest.raises(PortalError) as info:
        workspace.save(edits, author=Author("Ann", "ann@example.com"), branch="params/late")
    assert info.value.code == "BASE_MOVED"
    assert "params/late" not in [h.name for h in git_repo.heads]


def test_direct_commits_only_where_allowed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["params", "set", "test", BATCH, "9", "--repo", str(repo), "--direct", "--author", "A <a@b.c>"]
    assert main(args) == 1
    assert "direct commits to main are not allowed" in capsys.readouterr().err
    from portal.environments.git_store import Author

    workspace = MappingWorkspace.open(repo)
    with pytest.raises(PortalError) as info:
        workspace.save(workspace.set_values("test", [(BATCH, "9")]), author=Author("A", "a@b.c"))
    assert info.value.code == "DIRECT_COMMIT_REFUSED"
    # Where portal.yaml allows it, the commit goes straight to main.
    (repo / "portal.yaml").write_text(
        CONFIG.replace("  main_branch: main", "  main_branch: main\n  allow_direct_commits: true")
    )
    import git

    git_repo = git.Repo(repo)
    git_repo.index.add(["portal.yaml"])
    git_repo.index.commit("allow direct commits")
    assert main(args) == 0
    assert '"value": 9' in (repo / "environments" / "test.parameters.json").read_text()


def test_branch_given_as_a_full_ref_or_naming_main(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import git

    git_repo = git.Repo(repo)
    head = git_repo.heads["main"].commit.hexsha
    author = ["--author", "A <a@b.c>", "--repo", str(repo)]
    for branch in ("refs/heads/main", "main"):
        assert main(["params", "set", "test", BATCH, "9", "--branch", branch, *author]) == 1
        err = capsys.readouterr().err
        assert f"{branch!r} is the main branch 'main'" in err and "--direct" in err
    assert main(["params", "set", "test", BATCH, "9", "--branch", "bad..name", *author]) == 1
    assert "'bad..name' is not a valid branch name" in capsys.readouterr().err
    assert (
        main(
            [
                "rules",
                "add",
                "trigger",
                "properties.typeProperties.recurrence.interval",
                "--branch",
                "refs/heads/main",
                *author,
            ]
        )
        == 1
    )
    assert "is the main branch" in capsys.readouterr().err
    assert [ref.path for ref in git_repo.refs] == ["refs/heads/main"]  # no refs/heads/refs/heads/main
    assert git_repo.heads["main"].commit.hexsha == head

    assert main(["params", "set", "test", BATCH, "9", "--branch", "refs/heads/params/nine", *author]) == 0
    assert "on branch params/nine " in capsys.readouterr().out
    assert sorted(ref.path for ref in git_repo.refs) == ["refs/heads/main", "refs/heads/params/nine"]


def test_plaintext_secret_never_reaches_git(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import git

    assert (
        main(
            [
                "params",
                "set",
                "test",
                "LS_Sql_connectionString",
                "Password=hunter2",
                "--repo",
                str(repo),
                "--author",
                "A <a@b.c>",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "hunter2" not in err and "plain text is refused" in err
    git_repo = git.Repo(repo)
    assert [h.name for h in git_repo.heads] == ["main"]
    assert "hunter2" not in git_repo.git.log("--all", "-p")


# --- parameterization rules through the workspace ---------------------------------------------------------------


def test_rules_add_previews_and_commits(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import git

    args = [
        "rules",
        "add",
        "trigger",
        "properties.typeProperties.recurrence.interval",
        "--name=-interval",
        "--type",
        "int",
        "--repo",
        str(repo),
        "--author",
        "Rita Rules <rita@example.com>",
    ]
    assert main([*args, "--preview"]) == 0
    assert "+ TR_Daily_interval (int)" in capsys.readouterr().out
    assert [h.name for h in git.Repo(repo).heads] == ["main"]  # a preview commits nothing
    assert main([*args, "--branch", "rules/interval"]) == 0
    commit = git.Repo(repo).heads["rules/interval"].commit
    definition = json.loads((commit.tree / "adf/arm-template-parameters-definition.json").data_stream.read())
    triggers = definition["Microsoft.DataFactory/factories/triggers"]
    assert triggers["properties"]["typeProperties"]["recurrence"] == {"interval": "=:-interval:int"}
    # ADF's default rules came along: a custom file replaces the default, so they must be kept.
    assert (
        definition["Microsoft.DataFactory/factories/linkedServices"]["*"]["properties"]["typeProperties"]["url"] == "="
    )
    workspace = MappingWorkspace.open(repo, "rules/interval")
    assert "TR_Daily_interval" in {p.name for p in workspace.parameters}


def test_rules_remove_lists_the_parameters_that_go(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from portal.adf.rules_editor import RuleTarget

    workspace = MappingWorkspace.open(repo)
    edits, preview = workspace.change_rules(remove=RuleTarget.parse("linkedService", "properties.typeProperties.url"))
    assert [p.name for p in preview.removed] == [URL]
    assert edits[0].path == "adf/arm-template-parameters-definition.json" and edits[0].before is None
    assert main(["rules", "remove", "linkedService", "properties.typeProperties.nothing", "--repo", str(repo)]) == 1
    assert "nothing at" in capsys.readouterr().err
