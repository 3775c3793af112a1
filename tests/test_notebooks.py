"""Notebook sources from Git (portal.databricks.notebooks) and listing a folder of the repository (RepoSnapshot.files).

Every test works on a real Git repository in a temporary folder; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import random
import threading
from io import BytesIO
from pathlib import Path

import git
import pytest
from gitdb import IStream

from portal.databricks.notebooks import (
    DEFAULT_ALLOWED_ROOTS,
    NotebookSet,
    compute_manifest_hash,
    content_hash_of_export,
    load_notebooks,
    normalised_hash,
    source_header,
    split_cells,
)
from portal.databricks.workspace import canonical_workspace_path
from portal.environments.repository import RepoSnapshot
from portal.errors import FindingsError, PortalError

SEED = git.Actor("Seed Bot", "seed@example.com")  # a fixed identity: tests never depend on the user's Git config
TARGET = "/Shared/sales"

PY_NOTEBOOK = (
    "# Databricks notebook source\n"
    "# MAGIC %md\n"
    "# MAGIC # Transform sales\n"
    "\n"
    "# COMMAND ----------\n"
    "\n"
    "orders = spark.read.table('orders')\n"
    "\n"
    "# COMMAND ----------\n"
    "\n"
    "display(orders)\n"
)
SQL_NOTEBOOK = "-- Databricks notebook source\nSELECT 1\n\n-- COMMAND ----------\n\nSELECT 2\n"
SCALA_NOTEBOOK = "// Databricks notebook source\nval x = 1\n\n// COMMAND ----------\n\nprintln(x)\n"
R_NOTEBOOK = "# Databricks notebook source\nx <- 1\n\n# COMMAND ----------\n\nprint(x)\n"


def ipynb(language_metadata: dict | None = None, cells: list | None = None, nbformat: int = 4) -> str:
    return json.dumps(
        {
            "cells": cells
            if cells is not None
            else [
                {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "Some text"]},
                {
                    "cell_type": "code",
                    "execution_count": 3,
                    "metadata": {},
                    "outputs": [{"output_type": "stream"}],
                    "source": "print(1)\n",
                },
            ],
            "metadata": language_metadata if language_metadata is not None else {},
            "nbformat": nbformat,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for path, content in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


def commit_all(repo: git.Repo, message: str = "change") -> str:
    repo.git.add(A=True)
    return repo.index.commit(message, author=SEED, committer=SEED).hexsha


def make_repo(tmp_path: Path, files: dict[str, str | bytes]) -> git.Repo:
    repo = git.Repo.init(tmp_path / "repo")
    repo.git.config("core.autocrlf", "false")
    write(Path(repo.working_tree_dir), files)
    commit_all(repo, "seed")
    return repo


def at_head(repo: git.Repo) -> RepoSnapshot:
    return RepoSnapshot.open(repo.working_tree_dir, ref="HEAD")


def working_tree(repo: git.Repo) -> RepoSnapshot:
    return RepoSnapshot.open(repo.working_tree_dir)


def load(repo: git.Repo, folder: str = "notebooks", target: str = TARGET, **kwargs) -> NotebookSet:
    return load_notebooks(at_head(repo), folder, target, **kwargs)


def problems(call, *args, **kwargs) -> list:
    with pytest.raises(FindingsError) as caught:
        call(*args, **kwargs)
    return caught.value.findings


def finding_for(findings: list, where: str):
    matching = [f for f in findings if f.where == where]
    assert matching, f"no finding names {where}: {[str(f) for f in findings]}"
    return matching[0]


# --- RepoSnapshot.files ----------------------------------------------------------------------------------------


def test_files_lists_a_folder_at_a_commit_and_in_the_working_tree(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/a.py": "a",
            "notebooks/sub/deeper/b.sql": "b",
            "notebooks/sub/c.txt": "c",
            "other/d.py": "d",
        },
    )
    root = Path(repo.working_tree_dir)
    write(root, {"notebooks/uncommitted.py": "new"})

    committed = at_head(repo).files("notebooks")
    on_disk = working_tree(repo).files("notebooks")

    assert committed == ["notebooks/a.py", "notebooks/sub/c.txt", "notebooks/sub/deeper/b.sql"]
    assert on_disk == sorted(committed + ["notebooks/uncommitted.py"])
    assert at_head(repo).files("") == committed + ["other/d.py"]
    assert ".git" not in {p.split("/")[0] for p in working_tree(repo).files(".")}


def test_files_at_an_older_commit_and_missing_folders(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/a.py": "a"})
    first = repo.head.commit.hexsha
    write(Path(repo.working_tree_dir), {"notebooks/b.py": "b"})
    commit_all(repo)

    assert RepoSnapshot.open(repo.working_tree_dir, ref=first).files("notebooks") == ["notebooks/a.py"]
    assert at_head(repo).files("notebooks/") == ["notebooks/a.py", "notebooks/b.py"]
    with pytest.raises(PortalError) as at_commit:
        at_head(repo).files("missing")
    assert at_commit.value.where == "missing@HEAD" and "does not exist" in at_commit.value.what
    with pytest.raises(PortalError) as on_disk:
        working_tree(repo).files("missing")
    assert on_disk.value.where == "missing"
    with pytest.raises(PortalError) as a_file:
        at_head(repo).files("notebooks/a.py")
    assert "not a folder" in a_file.value.what


def test_files_lists_links_without_following_them_in_both_views(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/a.py": "a", "shared/lib/x.py": "x"})
    root = Path(repo.working_tree_dir)
    os.symlink("../shared/lib", root / "notebooks" / "lib")  # a link to a folder is one entry, not its contents
    os.symlink("a.py", root / "notebooks" / "alias.py")
    commit_all(repo)

    expected = ["notebooks/a.py", "notebooks/alias.py", "notebooks/lib"]
    assert at_head(repo).files("notebooks") == expected
    assert working_tree(repo).files("notebooks") == expected
    assert at_head(repo).link_target("notebooks/lib") == "../shared/lib"
    assert working_tree(repo).link_target("notebooks/alias.py") == "a.py"
    assert at_head(repo).link_target("notebooks/a.py") is None


def test_a_snapshot_reads_from_many_threads(tmp_path):
    files = {f"notebooks/n{i}.py": f"content {i}" for i in range(40)}
    repo = make_repo(tmp_path, files)
    snapshot = at_head(repo)
    results: dict[str, bytes | None] = {}

    def read(paths):
        for path in paths:
            results[path] = snapshot.read(path)

    names = list(files)
    threads = [threading.Thread(target=read, args=(names[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {path: text.encode() for path, text in files.items()}


# --- what is a notebook ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "language", "workspace_name"),
    [
        ("etl.py", PY_NOTEBOOK, "PYTHON", "etl"),
        ("report.sql", SQL_NOTEBOOK, "SQL", "report"),
        ("job.scala", SCALA_NOTEBOOK, "SCALA", "job"),
        ("stats.r", R_NOTEBOOK, "R", "stats"),
        ("Stats.R", R_NOTEBOOK, "R", "Stats"),
        ("Upper.PY", PY_NOTEBOOK, "PYTHON", "Upper"),
    ],
)
def test_each_language_header_makes_a_source_notebook(tmp_path, name, content, language, workspace_name):
    repo = make_repo(tmp_path, {f"notebooks/{name}": content})

    (source,) = load(repo).sources

    assert source.kind == "notebook" and source.is_notebook
    assert source.language == language
    assert source.import_format == "SOURCE" and source.export_format == "SOURCE"
    assert source.workspace_path == f"{TARGET}/notebooks/{workspace_name}"
    assert source.content == content.encode() and source.size == len(content.encode())
    assert source.cell_count() == len(split_cells(content, language)) >= 2
    body = source.import_body()
    assert body["format"] == "SOURCE" and body["language"] == language and body["overwrite"] is True


def test_files_without_the_header_are_plain_files_deployed_as_they_are(tmp_path):
    binary = bytes(range(256)) * 4
    repo = make_repo(
        tmp_path,
        {
            "notebooks/helpers.py": "def helper():\n    return 1\n",
            "notebooks/README.md": "# Notebooks\n",
            "notebooks/config.json": '{"a": 1}\n',
            "notebooks/lib/tool.whl": binary,
            "notebooks/Makefile": "all:\n",
        },
    )

    notebooks = load(repo)

    assert [(s.workspace_path, s.kind, s.language, s.import_format) for s in notebooks.sources] == [
        (f"{TARGET}/notebooks/Makefile", "file", None, "RAW"),
        (f"{TARGET}/notebooks/README.md", "file", None, "RAW"),
        (f"{TARGET}/notebooks/config.json", "file", None, "RAW"),
        (f"{TARGET}/notebooks/helpers.py", "file", None, "RAW"),
        (f"{TARGET}/notebooks/lib/tool.whl", "file", None, "RAW"),
    ]
    assert notebooks.by_path[f"{TARGET}/notebooks/lib/tool.whl"].content == binary
    assert notebooks.by_path[f"{TARGET}/notebooks/helpers.py"].cell_count() is None
    assert "language" not in notebooks.by_path[f"{TARGET}/notebooks/helpers.py"].import_body()


def test_header_with_trailing_text_or_indentation_is_no_header(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/a.py": "# Databricks notebook source  \nx = 1\n",
            "notebooks/b.py": " # Databricks notebook source\nx = 1\n",
        },
    )

    assert {s.kind for s in load(repo).sources} == {"file"}


@pytest.mark.parametrize(
    ("metadata", "language"),
    [
        (
            {
                "application/vnd.databricks.v1+notebook": {"language": "sql", "notebookName": "x"},
                "language_info": {"name": "python"},
            },
            "SQL",
        ),
        ({"language_info": {"name": "R"}}, "R"),
        ({"kernelspec": {"name": "scala", "language": "scala", "display_name": "Scala"}}, "SCALA"),
        ({}, "PYTHON"),
    ],
)
def test_jupyter_notebooks_are_imported_as_jupyter_with_their_language(tmp_path, metadata, language):
    repo = make_repo(tmp_path, {"notebooks/explore.ipynb": ipynb(metadata)})

    (source,) = load(repo).sources

    assert (source.kind, source.language, source.import_format) == ("notebook", language, "JUPYTER")
    assert source.workspace_path == f"{TARGET}/notebooks/explore"
    assert source.export_format == "JUPYTER"
    assert source.cell_count() == 2
    assert "language" not in source.import_body()


def test_hidden_files_and_folders_are_skipped_and_listed(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/a.py": PY_NOTEBOOK,
            "notebooks/.gitkeep": "",
            "notebooks/.secrets/token.txt": "x",
            "notebooks/sub/.DS_Store": b"\x00\x01",
        },
    )

    notebooks = load(repo)

    assert [s.repo_path for s in notebooks.sources] == ["notebooks/a.py"]
    assert notebooks.skipped == ("notebooks/.gitkeep", "notebooks/.secrets/token.txt", "notebooks/sub/.DS_Store")


# --- workspace paths and folders ---------------------------------------------------------------------------------


def test_nested_folders_map_below_the_target_folder_parents_first(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/transform_sales.py": PY_NOTEBOOK,
            "notebooks/helpers/dates.py": PY_NOTEBOOK,
            "notebooks/reports/daily/kpis.sql": SQL_NOTEBOOK,
            "notebooks/reports/readme.txt": "read me",
            "notebooks/zeta/z.scala": SCALA_NOTEBOOK,
        },
    )

    notebooks = load(repo)

    assert [s.workspace_path for s in notebooks.sources] == [
        f"{TARGET}/notebooks/helpers/dates",
        f"{TARGET}/notebooks/reports/daily/kpis",
        f"{TARGET}/notebooks/reports/readme.txt",
        f"{TARGET}/notebooks/transform_sales",
        f"{TARGET}/notebooks/zeta/z",
    ]
    assert notebooks.folders == (
        TARGET,
        f"{TARGET}/notebooks",
        f"{TARGET}/notebooks/helpers",
        f"{TARGET}/notebooks/reports",
        f"{TARGET}/notebooks/reports/daily",
        f"{TARGET}/notebooks/zeta",
    )
    for i, folder in enumerate(notebooks.folders):
        parent = folder.rsplit("/", 1)[0]
        assert folder == TARGET or parent in notebooks.folders[:i]
    assert set(notebooks.by_path) == {s.workspace_path for s in notebooks.sources}
    assert notebooks.commit == repo.head.commit.hexsha and notebooks.ref == "HEAD"


def test_base_folder_maps_the_folder_contents_straight_into_the_target(tmp_path):
    repo = make_repo(tmp_path, {"src/notebooks/etl.py": PY_NOTEBOOK, "src/notebooks/sub/x.sql": SQL_NOTEBOOK})

    direct = load(repo, "src/notebooks", base_folder="src/notebooks")
    from_src = load(repo, "src/notebooks", base_folder="src")

    assert [s.workspace_path for s in direct.sources] == [f"{TARGET}/etl", f"{TARGET}/sub/x"]
    assert [s.workspace_path for s in from_src.sources] == [f"{TARGET}/notebooks/etl", f"{TARGET}/notebooks/sub/x"]
    assert direct.manifest_hash != from_src.manifest_hash
    findings = problems(load, repo, "src/notebooks", base_folder="other")
    assert "neither the source folder nor one of its parents" in findings[0].what


def test_the_repository_top_can_be_the_source_folder(tmp_path):
    repo = make_repo(tmp_path, {"etl.py": PY_NOTEBOOK, "lib/util.py": "x = 1\n"})

    notebooks = load(repo, "")

    assert [s.workspace_path for s in notebooks.sources] == [f"{TARGET}/etl", f"{TARGET}/lib/util.py"]


# --- hashes ------------------------------------------------------------------------------------------------------


def test_crlf_and_lf_hash_the_same_and_content_changes_do_not(tmp_path):
    crlf = PY_NOTEBOOK.replace("\n", "\r\n")
    changed = PY_NOTEBOOK.replace("display(orders)", "display(orders.limit(10))")
    repo = make_repo(
        tmp_path,
        {
            "notebooks/lf.py": PY_NOTEBOOK,
            "notebooks/crlf.py": crlf,
            "notebooks/changed.py": changed,
            "notebooks/lf.txt": "a\nb\n",
            "notebooks/crlf.txt": "a\r\nb\r\n\r\n",
        },
    )

    notebooks = load(repo)
    by_repo = {s.repo_path: s for s in notebooks.sources}

    assert by_repo["notebooks/crlf.py"].kind == "notebook"
    assert by_repo["notebooks/crlf.py"].content_hash == by_repo["notebooks/lf.py"].content_hash
    assert by_repo["notebooks/crlf.py"].content != by_repo["notebooks/lf.py"].content  # uploaded as committed
    assert by_repo["notebooks/changed.py"].content_hash != by_repo["notebooks/lf.py"].content_hash
    assert by_repo["notebooks/crlf.txt"].content_hash == by_repo["notebooks/lf.txt"].content_hash
    assert len(by_repo["notebooks/lf.py"].content_hash) == 64


def test_the_workspace_export_hashes_like_the_git_file(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/etl.py": PY_NOTEBOOK,
            "notebooks/bare.py": "print(1)\n",
            "notebooks/one.sql": "-- Databricks notebook source\nSELECT 1",
        },
    )
    notebooks = load(repo)
    etl = notebooks.by_path[f"{TARGET}/notebooks/etl"]
    one = notebooks.by_path[f"{TARGET}/notebooks/one"]
    bare = notebooks.by_path[f"{TARGET}/notebooks/bare.py"]

    # What export(format=SOURCE) returns: exactly one header line, cells in Databricks' layout, no final newline.
    exported = (
        b"# Databricks notebook source\n# MAGIC %md\n# MAGIC # Transform sales\n\n# COMMAND ----------\n\n"
        b"orders = spark.read.table('orders')\n\n# COMMAND ----------\n\ndisplay(orders)"
    )
    assert content_hash_of_export(exported, etl) == etl.content_hash
    # Blank lines around a separator are layout, not content; the export of a one-cell notebook has no newline.
    squeezed = PY_NOTEBOOK.replace("\n\n# COMMAND ----------\n\n", "\n# COMMAND ----------\n").encode()
    assert content_hash_of_export(squeezed, etl) == etl.content_hash
    assert content_hash_of_export(b"-- Databricks notebook source\nSELECT 1\n", one) == one.content_hash
    # The same body without a header (a notebook uploaded without one) hashes the same as well.
    assert content_hash_of_export(PY_NOTEBOOK.split("\n", 1)[1].encode(), etl) == etl.content_hash
    # Any change inside a cell, a cell more, or a cell less is a difference.
    assert content_hash_of_export(exported.replace(b"orders)", b"orders )"), etl) != etl.content_hash
    assert content_hash_of_export(exported + b"\n\n# COMMAND ----------\n\nx = 1", etl) != etl.content_hash
    assert content_hash_of_export(exported.replace(b"# COMMAND ----------\n\n", b"", 1), etl) != etl.content_hash
    # A plain file's export is its bytes.
    assert content_hash_of_export(b"print(1)\n", bare) == bare.content_hash
    assert content_hash_of_export(b"print(2)\n", bare) != bare.content_hash


def test_jupyter_hash_ignores_outputs_and_metadata_but_not_sources(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/explore.ipynb": ipynb({"language_info": {"name": "python"}})})
    (source,) = load(repo).sources
    exported = json.dumps(
        {
            "cells": [
                {
                    "cell_type": "markdown",
                    "metadata": {"application/vnd.databricks.v1+cell": {}},
                    "source": "# Title\nSome text",
                },
                {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["print(1)"]},
            ],
            "metadata": {"application/vnd.databricks.v1+notebook": {"language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 0,
        }
    )

    assert content_hash_of_export(exported.encode(), source) == source.content_hash
    assert content_hash_of_export(exported.replace("print(1)", "print(2)").encode(), source) != source.content_hash
    assert content_hash_of_export(b"not json", source) != source.content_hash


def test_normalised_hash_is_total_and_kind_aware():
    assert normalised_hash(b"\xff\xfe", kind="file", import_format="RAW") != normalised_hash(
        b"\xff\xfd", kind="file", import_format="RAW"
    )
    text = b"SELECT 1\n"
    assert normalised_hash(text, kind="notebook", import_format="SOURCE", language="SQL") == normalised_hash(
        b"-- Databricks notebook source\r\nSELECT 1", kind="notebook", import_format="SOURCE", language="SQL"
    )
    with pytest.raises(ValueError):
        normalised_hash(text, kind="notebook", import_format="SOURCE")


def test_manifest_hash_is_stable_order_independent_and_follows_content(tmp_path):
    files = {"notebooks/a.py": PY_NOTEBOOK, "notebooks/b/c.sql": SQL_NOTEBOOK, "notebooks/d.txt": "d"}
    repo = make_repo(tmp_path, files)
    first = load(repo)

    assert load(repo).manifest_hash == first.manifest_hash
    shuffled = list(first.sources)
    random.Random(7).shuffle(shuffled)
    assert compute_manifest_hash(shuffled, TARGET) == first.manifest_hash
    # The same content for another environment's folder: the same manifest.
    assert load(repo, target="/Shared/sales-prod").manifest_hash == first.manifest_hash
    # The working tree without changes equals the commit; a change in any file changes the manifest.
    assert load_notebooks(working_tree(repo), "notebooks", TARGET).manifest_hash == first.manifest_hash
    assert first.manifest() == {s.workspace_path: s.content_hash for s in first.sources}
    write(Path(repo.working_tree_dir), {"notebooks/d.txt": "D"})
    commit_all(repo)
    assert load(repo).manifest_hash != first.manifest_hash


def test_split_cells_and_headers():
    assert source_header("SQL") == "-- Databricks notebook source"
    assert source_header("scala") == "// Databricks notebook source"
    assert split_cells(PY_NOTEBOOK, "PYTHON") == [
        "# MAGIC %md\n# MAGIC # Transform sales",
        "orders = spark.read.table('orders')",
        "display(orders)",
    ]
    assert split_cells("x = 1\n", "PYTHON") == ["x = 1"]
    with pytest.raises(ValueError):
        source_header("JULIA")


# --- bad input ---------------------------------------------------------------------------------------------------


def test_non_utf8_source_notebook_is_an_error_naming_the_file(tmp_path):
    repo = make_repo(
        tmp_path, {"notebooks/latin.py": "# Databricks notebook source\nname = 'Müller'\n".encode("latin-1")}
    )

    finding = finding_for(problems(load, repo), "notebooks/latin.py@HEAD")

    assert finding.code == "NB_ENCODING" and "not UTF-8" in finding.what


def test_oversized_files_are_errors(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/big.py": PY_NOTEBOOK + "#" * 500, "notebooks/small.py": PY_NOTEBOOK})

    findings = problems(load, repo, max_bytes=400)

    assert [f.where for f in findings] == ["notebooks/big.py@HEAD"]
    assert findings[0].code == "NB_SIZE" and "over the import limit of 400 bytes" in findings[0].what


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        ("{not json", "NB_IPYNB", "not valid JSON"),
        ('{"cells": "x", "metadata": {}, "nbformat": 4}', "NB_IPYNB", "not a Jupyter notebook"),
        ('["a list"]', "NB_IPYNB", "not a Jupyter notebook"),
        (ipynb({}, nbformat=3), "NB_IPYNB", "nbformat 3"),
        (ipynb({"language_info": {"name": "julia"}}), "NB_LANGUAGE", "julia notebook"),
    ],
)
def test_bad_jupyter_notebooks_are_errors(tmp_path, content, code, words):
    repo = make_repo(tmp_path, {"notebooks/bad.ipynb": content})

    finding = finding_for(problems(load, repo), "notebooks/bad.ipynb@HEAD")

    assert finding.code == code and words in finding.what


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("report.sql", PY_NOTEBOOK, "Python or R notebook header"),
        ("etl.py", SQL_NOTEBOOK, "SQL notebook header"),
        ("notes.txt", PY_NOTEBOOK, "'.txt' is no notebook language's extension"),
        ("NOTEBOOK", SCALA_NOTEBOOK, "a name without extension has no notebook language's extension"),
    ],
)
def test_a_notebook_header_that_does_not_fit_the_extension_is_an_error(tmp_path, name, content, words):
    repo = make_repo(tmp_path, {f"notebooks/{name}": content})

    finding = finding_for(problems(load, repo), f"notebooks/{name}@HEAD")

    assert finding.code == "NB_LANGUAGE" and words in finding.what


def test_a_byte_order_mark_before_the_header_is_an_error(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/bom.py": b"\xef\xbb\xbf" + PY_NOTEBOOK.encode()})

    finding = finding_for(problems(load, repo), "notebooks/bom.py@HEAD")

    assert "byte order mark" in finding.what


def test_two_sources_on_one_workspace_path_name_both_files(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/sales.py": PY_NOTEBOOK,
            "notebooks/sales.sql": SQL_NOTEBOOK,
            "notebooks/kpis.py": PY_NOTEBOOK,
            "notebooks/kpis/daily.sql": SQL_NOTEBOOK,
            "notebooks/explore.ipynb": ipynb(),
            "notebooks/explore.py": "print('a plain file')\n",
        },
    )

    findings = problems(load, repo)
    text = "\n".join(str(f) for f in findings)

    assert all(f.code == "NB_COLLISION" for f in findings)
    sales = finding_for(findings, "notebooks/sales.py@HEAD")
    assert sales.what == "deploys to /Shared/sales/notebooks/sales, and so does notebooks/sales.sql@HEAD"
    assert "notebooks/kpis.py@HEAD" in text and "notebooks/kpis/daily.sql@HEAD needs as a folder" in text
    assert "notebooks/explore.ipynb@HEAD" in text and "notebooks/explore.py@HEAD" in text
    assert len(findings) == 3


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("Shared/sales", "must be an absolute workspace path"),
        ("/Shared/../Users/x", "'..'"),
        ("/Shared/./sales", "'.'"),
        ("/Shared//sales", "empty path component"),
        ("/Shared/sa\nles", "control character"),
        ("/Shared", "not below an allowed root"),
        ("/", "not below an allowed root"),
        ("/Repos/team/project", "not below an allowed root"),
        ("/SharedStuff/x", "not below an allowed root"),
    ],
)
def test_bad_target_folders_are_errors(tmp_path, target, words):
    repo = make_repo(tmp_path, {"notebooks/a.py": PY_NOTEBOOK})

    findings = problems(load, repo, target=target, target_where="portal.yml: environments[test].databricks")

    assert findings[0].code == "NB_TARGET" and words in findings[0].what
    assert findings[0].where == "portal.yml: environments[test].databricks"


def test_allowed_roots_decide_where_a_target_may_be(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/a.py": PY_NOTEBOOK})

    assert "/Workspace/Shared" in DEFAULT_ALLOWED_ROOTS
    # Kept without the /Workspace prefix (the workspace file system's root): the same folder as /Users/...
    assert load(repo, target="/Workspace/Users/me@example.com/sales/").target_folder == "/Users/me@example.com/sales"
    assert load(repo, target="/Repos/team/project", allowed_roots=("/",)).sources
    assert problems(load, repo, target="/Shared/sales", allowed_roots=("/Projects",))[0].code == "NB_TARGET"


def test_a_target_folder_with_the_workspace_prefix_is_the_same_folder(tmp_path):
    repo = make_repo(
        tmp_path, {"notebooks/a.py": PY_NOTEBOOK, "notebooks/sub/b.sql": SQL_NOTEBOOK, "notebooks/conf.yml": "a: 1\n"}
    )

    plain, prefixed = load(repo, target="/Shared/sales"), load(repo, target="/Workspace/Shared/sales")

    assert prefixed.target_folder == plain.target_folder == "/Shared/sales"
    assert (
        prefixed.folders == plain.folders == ("/Shared/sales", "/Shared/sales/notebooks", "/Shared/sales/notebooks/sub")
    )
    assert (
        [s.workspace_path for s in prefixed.sources]
        == [s.workspace_path for s in plain.sources]
        == ["/Shared/sales/notebooks/a", "/Shared/sales/notebooks/conf.yml", "/Shared/sales/notebooks/sub/b"]
    )
    assert prefixed.manifest_hash == plain.manifest_hash
    # The allowed roots are compared in that form too, whichever form either side is written in.
    assert load(repo, target="/Shared/sales", allowed_roots=("/Workspace/Shared",)).target_folder == "/Shared/sales"
    assert load(repo, target="/Workspace/Shared/sales", allowed_roots=("/Shared",)).sources
    for target in ("/Workspace/Repos/team/project", "/Workspace", "/Workspace/Shared", "/Workspace/"):
        assert problems(load, repo, target=target)[0].code == "NB_TARGET", target
    # Only the first component, spelled exactly so, is the prefix.
    assert load(repo, target="/Shared/Workspace/sales").target_folder == "/Shared/Workspace/sales"
    assert problems(load, repo, target="/workspace/Shared/sales")[0].code == "NB_TARGET"


def test_canonical_workspace_paths():
    assert [
        canonical_workspace_path(p)
        for p in (
            "/Workspace/Shared/etl",
            "/Workspace/Shared/etl/",
            "/Shared/etl",
            "/Workspace",
            "/Workspace/",
            "/",
            "/Workspace/Workspace/x",
            "/WorkspaceX/y",
            "/Shared/Workspace/z",
            "/workspace/Shared",
        )
    ] == [
        "/Shared/etl",
        "/Shared/etl",
        "/Shared/etl",
        "/",
        "/",
        "/",
        "/Workspace/x",
        "/WorkspaceX/y",
        "/Shared/Workspace/z",
        "/workspace/Shared",
    ]


def test_a_missing_source_folder_names_the_folder_and_the_ref(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/a.py": PY_NOTEBOOK})
    repo.create_tag("v1")

    at_tag = problems(load_notebooks, RepoSnapshot.open(repo.working_tree_dir, ref="v1"), "notbooks", TARGET)
    on_disk = problems(load_notebooks, working_tree(repo), "notbooks", TARGET)

    assert at_tag[0].where == "notbooks@v1" and at_tag[0].code == "NB_SOURCE_FOLDER"
    assert at_tag[0].what == f"the notebook source folder does not exist at commit {repo.head.commit.hexsha}"
    assert on_disk[0].where == "notbooks" and "working tree" in on_disk[0].what
    assert problems(load, repo, "../elsewhere")[0].code == "NB_SOURCE_FOLDER"


def store(repo: git.Repo, kind: str, data: bytes) -> bytes:
    return repo.odb.store(IStream(kind, len(data), BytesIO(data))).binsha


def tree(repo: git.Repo, entries: list[tuple[int, str, bytes]]) -> bytes:
    # Git orders tree entries by name, a folder's name as if it ended with "/".
    def key(entry):
        mode, name, _ = entry
        return name.encode() + (b"/" if mode == 0o40000 else b"")

    data = b"".join(b"%o %s\x00%s" % (mode, name.encode(), sha) for mode, name, sha in sorted(entries, key=key))
    return store(repo, "tree", data)


def test_crafted_tree_entries_that_escape_the_folder_are_errors(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/ok.py": PY_NOTEBOOK})
    blob = store(repo, "blob", PY_NOTEBOOK.encode())
    escape = tree(repo, [(0o100644, "evil.py", blob)])
    notebooks = tree(
        repo,
        [
            (0o100644, "ok.py", blob),
            (0o40000, "..", escape),
            (0o100644, "back\\slash.py", blob),
            (0o100644, "bell\x07.py", blob),
        ],
    )
    top = tree(repo, [(0o40000, "notebooks", notebooks)])
    crafted = git.Commit.create_from_tree(
        repo, git.Tree(repo, top), "crafted", parent_commits=[repo.head.commit], author=SEED, committer=SEED
    )

    snapshot = RepoSnapshot.open(repo.working_tree_dir, ref=crafted.hexsha)
    findings = problems(load_notebooks, snapshot, "notebooks", TARGET)

    assert {f.where for f in findings} == {
        f"notebooks/../evil.py@{crafted.hexsha}",
        f"notebooks/back\\slash.py@{crafted.hexsha}",
        f"notebooks/bell\x07.py@{crafted.hexsha}",
    }
    assert all(f.code == "NB_PATH" for f in findings)
    assert any("'..'" in f.what for f in findings) and any("backslash" in f.what for f in findings)


def test_links_inside_the_repository_are_followed_and_links_outside_are_errors(tmp_path):
    repo = make_repo(tmp_path, {"shared/common.py": PY_NOTEBOOK, "notebooks/a.py": PY_NOTEBOOK})
    root = Path(repo.working_tree_dir)
    outside = tmp_path / "outside.py"
    outside.write_text(PY_NOTEBOOK, encoding="utf-8")
    os.symlink("../shared/common.py", root / "notebooks" / "common.py")
    commit_all(repo)

    for snapshot in (at_head(repo), working_tree(repo)):
        common = load_notebooks(snapshot, "notebooks", TARGET).by_path[f"{TARGET}/notebooks/common"]
        assert common.content == PY_NOTEBOOK.encode() and common.repo_path == "notebooks/common.py"

    os.symlink(str(outside), root / "notebooks" / "absolute.py")
    os.symlink("../../outside.py", root / "notebooks" / "relative.py")
    os.symlink("../.git/config", root / "notebooks" / "gitconfig.py")
    os.symlink("missing.py", root / "notebooks" / "dangling.py")
    os.symlink("../shared", root / "notebooks" / "folder")
    expected = {
        "absolute.py": "outside the repository",
        "relative.py": "outside the repository",
        "gitconfig.py": "hidden file or folder",
        "dangling.py": "no file in the repository",
        "folder": "no file in the repository",
    }

    findings = problems(load_notebooks, working_tree(repo), "notebooks", TARGET)
    for name, words in expected.items():
        assert words in finding_for(findings, f"notebooks/{name}").what
    commit_all(repo)
    findings = problems(load, repo)
    for name, words in expected.items():
        finding = finding_for(findings, f"notebooks/{name}@HEAD")
        assert finding.code == "NB_LINK" and words in finding.what


def test_a_link_through_a_linked_folder_out_of_the_repository_is_caught_on_disk(tmp_path):
    repo = make_repo(tmp_path, {"notebooks/a.py": PY_NOTEBOOK})
    root = Path(repo.working_tree_dir)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.py").write_text(PY_NOTEBOOK, encoding="utf-8")
    os.symlink(str(tmp_path / "elsewhere"), root / "door")  # outside the notebook folder, so never listed itself
    os.symlink("../door/x.py", root / "notebooks" / "x.py")  # lexically inside the repository

    finding = finding_for(problems(load_notebooks, working_tree(repo), "notebooks", TARGET), "notebooks/x.py")

    assert "outside the repository" in finding.what


def test_every_problem_is_reported_at_once_and_nothing_is_returned(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "notebooks/good.py": PY_NOTEBOOK,
            "notebooks/latin.py": b"# Databricks notebook source\n\xe9\n",
            "notebooks/bad.ipynb": "{",
            "notebooks/x.py": PY_NOTEBOOK,
            "notebooks/x.scala": SCALA_NOTEBOOK,
        },
    )

    with pytest.raises(FindingsError) as caught:
        load(repo, target="relative/target")

    codes = sorted(f.code for f in caught.value.findings)
    assert codes == ["NB_COLLISION", "NB_ENCODING", "NB_IPYNB", "NB_TARGET"]
    assert "(and 3 more)" in str(caught.value)
