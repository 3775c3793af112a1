"""The sandbox's Databricks workspaces, always through the real `databricks.sdk.WorkspaceClient` over HTTP.

- notebooks in every language round-trip (mkdirs, import, list, get-status, export with exactly one header), as do
  Jupyter notebooks, workspace files (RAW, AUTO, the SDK's multipart upload) and downloads;
- `/Workspace/...` and `/...` name one object (import through one form, read and delete through the other), and
  answers give paths without the prefix; creation and modification times and sizes are given for files only, as
  the API documents (notebooks and folders have none);
- the service's rules: no silent overwrite, a parent folder must exist, a non-empty folder needs `recursive`,
  the 10 MB limit, bad parameters, 401 without the token, unknown endpoints;
- state survives a restart, and two hosts are two workspaces with their own counters;
- injected faults answer the Databricks way and the SDK retries them; the request limits (429 with
  Retry-After) are retried too; the `.well-known/databricks-config` probe is answered at once.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    NotFound,
    ResourceAlreadyExists,
    TooManyRequests,
    Unauthenticated,
)
from databricks.sdk.service.workspace import (
    ExportFormat,
    ImportFormat,
    Language,
    ObjectType,
)

from portal.sandbox import (
    SANDBOX_TOKEN,
    FaultRule,
    Faults,
    SandboxServer,
    WorkspaceLimits,
)

HOST = "https://adb-1111111111111111.1.azuredatabricks.net"
OTHER_HOST = "https://adb-2222222222222222.2.azuredatabricks.net"
HOSTNAME = "adb-1111111111111111.1.azuredatabricks.net"
IMPORT = "/api/2.0/workspace/import"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "sandbox") as running:
        yield running


@pytest.fixture
def w(server: SandboxServer) -> Any:
    return server.workspace_client(HOST)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode("utf-8") if isinstance(text, str) else text).decode("ascii")


def exported(w: Any, path: str, fmt: ExportFormat = ExportFormat.SOURCE) -> str:
    return base64.b64decode(w.workspace.export(path, format=fmt).content).decode("utf-8")


def import_source(w: Any, path: str, text: str, language: Language = Language.PYTHON, **kwargs: Any) -> None:
    w.workspace.import_(path, content=b64(text), format=ImportFormat.SOURCE, language=language, **kwargs)


def raw_request(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    """A request without the SDK: status, headers and the JSON body."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"null")


AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


# -- notebooks and files -------------------------------------------------------------------------------------------


SOURCES = {
    # language: (what is imported, what SOURCE export returns, file type)
    Language.PYTHON: (
        "# Databricks notebook source\nprint(1)\n\n# COMMAND ----------\n\nprint(2)\n",
        "# Databricks notebook source\nprint(1)\n\n# COMMAND ----------\n\nprint(2)\n",
        "py",
    ),
    Language.SQL: ("SELECT 1\n", "-- Databricks notebook source\nSELECT 1\n", "sql"),
    Language.SCALA: (
        "// Databricks notebook source\nval x = 1\n",
        "// Databricks notebook source\nval x = 1\n",
        "scala",
    ),
    Language.R: ("x <- 1\n", "# Databricks notebook source\nx <- 1\n", "r"),
}


def test_notebooks_in_every_language_round_trip(w: Any) -> None:
    w.workspace.mkdirs("/Shared/etl/notebooks")  # parents are created as well
    w.workspace.mkdirs("/Shared/etl/notebooks")  # and an existing folder is fine
    for language, (text, _, _) in SOURCES.items():
        import_source(w, f"/Shared/etl/notebooks/nb_{language.value.lower()}", text, language)

    listed = list(w.workspace.list("/Shared/etl/notebooks"))
    assert [(o.path, o.object_type, o.language) for o in listed] == [
        (f"/Shared/etl/notebooks/nb_{language.value.lower()}", ObjectType.NOTEBOOK, language)
        for language in sorted(SOURCES, key=lambda lang: lang.value.lower())
    ]
    assert [(o.path, o.object_type) for o in w.workspace.list("/Shared/etl")] == [
        ("/Shared/etl/notebooks", ObjectType.DIRECTORY)
    ]

    for language, (_text, source, file_type) in SOURCES.items():
        path = f"/Shared/etl/notebooks/nb_{language.value.lower()}"
        answer = w.workspace.export(path, format=ExportFormat.SOURCE)
        assert answer.file_type == file_type
        assert base64.b64decode(answer.content).decode("utf-8") == source  # exactly one header line
        assert source.count("Databricks notebook source") == 1
        # Re-importing an export changes nothing: the basis of planning by content hash.
        import_source(w, path, source, language, overwrite=True)
        assert exported(w, path) == source

    info = w.workspace.get_status("/Shared/etl/notebooks/nb_python")
    assert (info.object_type, info.language, info.path) == (
        ObjectType.NOTEBOOK,
        Language.PYTHON,
        "/Shared/etl/notebooks/nb_python",
    )
    assert isinstance(info.object_id, int) and info.resource_id == str(info.object_id)
    assert (info.created_at, info.modified_at, info.size) == (None, None, None)  # documented for files only
    folder = w.workspace.get_status("/Shared/etl/notebooks/")  # a trailing slash names the same folder
    assert (folder.object_type, folder.path, folder.language) == (ObjectType.DIRECTORY, "/Shared/etl/notebooks", None)
    # A new workspace has the folders of a real one, the sandbox user's home among them.
    home = f"/Users/{w.current_user.me().user_name}"
    assert home == "/Users/sandbox-user@example.com"
    assert w.workspace.get_status(home).object_type == ObjectType.DIRECTORY
    assert [o.path for o in w.workspace.list("/")] == ["/Shared", "/Users"]


def test_an_existing_path_is_replaced_only_with_overwrite(w: Any) -> None:
    w.workspace.mkdirs("/Shared/etl")
    import_source(w, "/Shared/etl/load", "print('v1')\n")
    before = w.workspace.get_status("/Shared/etl/load")

    with pytest.raises(ResourceAlreadyExists, match=r"Path \(/Shared/etl/load\) already exists"):
        import_source(w, "/Shared/etl/load", "print('v2')\n")
    with pytest.raises(ResourceAlreadyExists):
        import_source(w, "/Shared/etl/load", "print('v2')\n", overwrite=False)
    assert exported(w, "/Shared/etl/load") == "# Databricks notebook source\nprint('v1')\n"

    import_source(w, "/Shared/etl/load", "print('v2')\n", overwrite=True)
    after = w.workspace.get_status("/Shared/etl/load")
    assert exported(w, "/Shared/etl/load") == "# Databricks notebook source\nprint('v2')\n"
    assert after.object_id == before.object_id  # the same object (a notebook shows no times; see below for files)
    # A folder is never overwritten by an import.
    with pytest.raises(ResourceAlreadyExists):
        import_source(w, "/Shared/etl", "print(1)\n", overwrite=True)


def test_a_jupyter_notebook_is_imported_as_a_notebook(w: Any) -> None:
    ipynb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "Some text"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "outputs": [],
                "source": ["x = 1\n", "print(x)"],
            },
            {"cell_type": "code", "metadata": {}, "execution_count": 2, "outputs": [], "source": "%sql\nSELECT 1"},
        ],
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    w.workspace.mkdirs("/Shared/jupyter")
    w.workspace.import_("/Shared/jupyter/explore", content=b64(json.dumps(ipynb)), format=ImportFormat.JUPYTER)
    info = w.workspace.get_status("/Shared/jupyter/explore")
    assert (info.object_type, info.language) == (ObjectType.NOTEBOOK, Language.PYTHON)
    assert exported(w, "/Shared/jupyter/explore") == (
        "# Databricks notebook source\n"
        "# MAGIC %md\n# MAGIC # Title\n# MAGIC Some text\n\n"
        "# COMMAND ----------\n\n"
        "x = 1\nprint(x)\n\n"
        "# COMMAND ----------\n\n"
        "# MAGIC %sql\n# MAGIC SELECT 1"
    )
    answer = w.workspace.export("/Shared/jupyter/explore", format=ExportFormat.JUPYTER)
    assert answer.file_type == "ipynb"
    back = json.loads(base64.b64decode(answer.content))
    assert [(c["cell_type"], "".join(c["source"])) for c in back["cells"]] == [
        ("markdown", "# Title\nSome text"),
        ("code", "x = 1\nprint(x)"),
        ("code", "%sql\nSELECT 1"),
    ]
    assert back["metadata"]["language_info"]["name"] == "python"

    # The language comes from the notebook's metadata.
    scala = {
        "cells": [{"cell_type": "code", "source": "val x = 1"}],
        "metadata": {"language_info": {"name": "scala"}},
        "nbformat": 4,
        "nbformat_minor": 2,
    }
    w.workspace.import_("/Shared/jupyter/scala", content=b64(json.dumps(scala)), format=ImportFormat.JUPYTER)
    assert w.workspace.get_status("/Shared/jupyter/scala").language == Language.SCALA
    assert exported(w, "/Shared/jupyter/scala") == "// Databricks notebook source\nval x = 1"
    with pytest.raises(InvalidParameterValue):
        w.workspace.import_("/Shared/jupyter/bad", content=b64("not json"), format=ImportFormat.JUPYTER)


def test_files_raw_auto_and_the_sdk_upload(w: Any) -> None:
    w.workspace.mkdirs("/Shared/app")
    settings = b"retries: 3\nname: etl\n"
    w.workspace.import_("/Shared/app/settings.yml", content=b64(settings), format=ImportFormat.RAW)
    info = w.workspace.get_status("/Shared/app/settings.yml")
    assert (info.object_type, info.size, info.language) == (ObjectType.FILE, len(settings), None)
    answer = w.workspace.export("/Shared/app/settings.yml", format=ExportFormat.AUTO)
    assert (base64.b64decode(answer.content), answer.file_type) == (settings, "yml")
    assert w.workspace.download("/Shared/app/settings.yml").read() == settings  # direct_download=true: raw bytes

    # AUTO: a .py with the notebook header becomes a notebook without its extension; without it, a file.
    notebook = "# Databricks notebook source\nprint('job')\n"
    w.workspace.import_("/Shared/app/job.py", content=b64(notebook), format=ImportFormat.AUTO)
    w.workspace.import_("/Shared/app/helper.py", content=b64("def f():\n    return 1\n"), format=ImportFormat.AUTO)
    assert [(o.path, o.object_type) for o in w.workspace.list("/Shared/app")] == [
        ("/Shared/app/helper.py", ObjectType.FILE),
        ("/Shared/app/job", ObjectType.NOTEBOOK),
        ("/Shared/app/settings.yml", ObjectType.FILE),
    ]
    assert exported(w, "/Shared/app/job") == notebook
    assert w.workspace.download("/Shared/app/job").read() == notebook.encode("utf-8")

    # The SDK's upload posts a multipart form; binary content survives it.
    blob = bytes(range(256)) * 4
    w.workspace.upload("/Shared/app/blob.bin", blob, format=ImportFormat.RAW)
    assert w.workspace.download("/Shared/app/blob.bin").read() == blob
    w.workspace.upload("/Shared/app/notebook.sql", b"SELECT 2\n")  # SOURCE, the language from the extension
    info = w.workspace.get_status("/Shared/app/notebook.sql")
    assert (info.object_type, info.language) == (ObjectType.NOTEBOOK, Language.SQL)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload("/Shared/app/blob.bin", b"again", format=ImportFormat.RAW)
    w.workspace.upload("/Shared/app/blob.bin", b"again", format=ImportFormat.RAW, overwrite=True)
    assert w.workspace.download("/Shared/app/blob.bin").read() == b"again"
    # A file is no notebook: no JUPYTER export; a folder exports not at all here.
    with pytest.raises(InvalidParameterValue):
        w.workspace.export("/Shared/app/settings.yml", format=ExportFormat.JUPYTER)
    with pytest.raises(BadRequest):
        w.workspace.export("/Shared/app")


def test_the_workspace_prefix_names_the_same_objects(w: Any) -> None:
    # `/Workspace` is the workspace file system's root: `/Workspace/Shared/x` and `/Shared/x` are one object.
    w.workspace.mkdirs("/Workspace/Shared/etl")
    import_source(w, "/Workspace/Shared/etl/load", "print('v1')\n")
    w.workspace.upload("/Workspace/Shared/etl/settings.yml", b"retries: 3\n", format=ImportFormat.RAW)

    # Read through the other form; answers carry paths without the prefix, whichever form was asked.
    for folder in ("/Shared/etl", "/Workspace/Shared/etl"):
        assert [(o.path, o.object_type) for o in w.workspace.list(folder)] == [
            ("/Shared/etl/load", ObjectType.NOTEBOOK),
            ("/Shared/etl/settings.yml", ObjectType.FILE),
        ]
    short, long = w.workspace.get_status("/Shared/etl/load"), w.workspace.get_status("/Workspace/Shared/etl/load")
    assert short.object_id == long.object_id and short.path == long.path == "/Shared/etl/load"
    assert exported(w, "/Shared/etl/load") == "# Databricks notebook source\nprint('v1')\n"
    assert w.workspace.download("/Shared/etl/settings.yml").read() == b"retries: 3\n"
    assert [o.path for o in w.workspace.list("/Workspace/Shared/etl", recursive=True)] == [
        "/Shared/etl/load",
        "/Shared/etl/settings.yml",
    ]

    # One object: no second one is made through the other form, and an overwrite through it replaces the first.
    with pytest.raises(ResourceAlreadyExists):
        import_source(w, "/Shared/etl/load", "print('v2')\n")
    import_source(w, "/Shared/etl/load", "print('v2')\n", overwrite=True)
    assert exported(w, "/Workspace/Shared/etl/load") == "# Databricks notebook source\nprint('v2')\n"
    assert w.workspace.get_status("/Workspace/Shared/etl/load").object_id == short.object_id

    # The prefix is the root itself, not a folder in it.
    assert [o.path for o in w.workspace.list("/")] == ["/Shared", "/Users"]
    root = w.workspace.get_status("/Workspace")
    assert (root.object_type, root.path) == (ObjectType.DIRECTORY, "/")
    assert [o.path for o in w.workspace.list("/Workspace")] == ["/Shared", "/Users"]
    # Only the first component is the prefix (and only spelled so): these are ordinary folders.
    w.workspace.mkdirs("/Shared/Workspace/deeper")
    w.workspace.mkdirs("/Shared/workspace")
    assert [o.path for o in w.workspace.list("/Shared")] == ["/Shared/Workspace", "/Shared/etl", "/Shared/workspace"]
    with pytest.raises(NotFound):
        w.workspace.get_status("/Workspace/deeper")

    # Delete through one form, gone in both; the error repeats the path as it was asked.
    w.workspace.delete("/Shared/etl/load")
    with pytest.raises(NotFound, match=r"Path \(/Workspace/Shared/etl/load\) doesn't exist\."):
        w.workspace.get_status("/Workspace/Shared/etl/load")
    w.workspace.delete("/Workspace/Shared/etl", recursive=True)
    for gone in ("/Shared/etl", "/Shared/etl/settings.yml", "/Workspace/Shared/etl"):
        with pytest.raises(NotFound):
            w.workspace.get_status(gone)
    with pytest.raises(InvalidParameterValue):
        w.workspace.delete("/Workspace", recursive=True)  # the root, under its other name


def test_times_and_sizes_are_given_for_files_only(w: Any) -> None:
    # ObjectInfo documents created_at, modified_at and size as "Only applicable to files".
    w.workspace.mkdirs("/Shared/app")
    import_source(w, "/Shared/app/job", "print(1)\n")
    w.workspace.import_("/Shared/app/settings.yml", content=b64("a: 1\n"), format=ImportFormat.RAW)
    by_path = {o.path: o for o in w.workspace.list("/Shared/app")}
    for info in (
        by_path["/Shared/app/job"],
        w.workspace.get_status("/Shared/app/job"),
        w.workspace.get_status("/Shared/app"),
    ):
        assert (info.created_at, info.modified_at, info.size) == (None, None, None), info
    for info in (by_path["/Shared/app/settings.yml"], w.workspace.get_status("/Shared/app/settings.yml")):
        assert info.created_at and info.modified_at >= info.created_at and info.size == 5

    # An overwrite keeps the file (its id and creation time) and moves modified_at on.
    before = w.workspace.get_status("/Shared/app/settings.yml")
    w.workspace.import_("/Shared/app/settings.yml", content=b64("a: 22\n"), format=ImportFormat.RAW, overwrite=True)
    after = w.workspace.get_status("/Shared/app/settings.yml")
    assert (after.object_id, after.created_at, after.size) == (before.object_id, before.created_at, 6)
    assert after.modified_at > before.modified_at
    # Overwritten, a notebook still shows no time.
    import_source(w, "/Shared/app/job", "print(2)\n", overwrite=True)
    assert w.workspace.get_status("/Shared/app/job").modified_at is None


def test_delete_recursive_and_not(w: Any) -> None:
    w.workspace.mkdirs("/Shared/old/deeper")
    import_source(w, "/Shared/old/deeper/nb", "print(1)\n")
    w.workspace.mkdirs("/Shared/empty")

    with pytest.raises(BadRequest) as refused:
        w.workspace.delete("/Shared/old")
    assert refused.value.error_code == "DIRECTORY_NOT_EMPTY"
    assert w.workspace.get_status("/Shared/old/deeper/nb").object_type == ObjectType.NOTEBOOK

    w.workspace.delete("/Shared/old/deeper/nb")  # an object, no recursive needed
    w.workspace.delete("/Shared/empty")  # an empty folder neither
    import_source(w, "/Shared/old/deeper/nb", "print(1)\n")
    w.workspace.delete("/Shared/old", recursive=True)
    for gone in ("/Shared/old", "/Shared/old/deeper", "/Shared/old/deeper/nb", "/Shared/empty"):
        with pytest.raises(NotFound):
            w.workspace.get_status(gone)
    assert [o.path for o in w.workspace.list("/Shared")] == []
    with pytest.raises(NotFound, match=r"Path \(/Shared/old\) doesn't exist"):
        w.workspace.delete("/Shared/old", recursive=True)


def test_missing_paths_parents_and_bad_parameters(w: Any) -> None:
    with pytest.raises(NotFound, match=r"Path \(/Shared/nope\) doesn't exist\."):
        w.workspace.get_status("/Shared/nope")
    with pytest.raises(NotFound):
        list(w.workspace.list("/Shared/nope"))
    with pytest.raises(NotFound):
        w.workspace.export("/Shared/nope")
    with pytest.raises(NotFound, match=r"The parent folder \(/Shared/a/b\) does not exist\."):
        import_source(w, "/Shared/a/b/nb", "print(1)\n")  # as the service: no parent is created on import

    import_source(w, "/Shared/nb", "print(1)\n")
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs("/Shared/nb/sub")  # a notebook is in the way
    assert [o.path for o in w.workspace.list("/Shared/nb")] == ["/Shared/nb"]  # the object itself

    def post(body: dict[str, Any]) -> None:
        w.api_client.do("POST", IMPORT, body=body)

    with pytest.raises(InvalidParameterValue, match="language"):
        post({"path": "/Shared/x", "format": "SOURCE", "content": b64("print(1)")})
    with pytest.raises(InvalidParameterValue, match="language"):
        post({"path": "/Shared/x", "format": "SOURCE", "language": "COBOL", "content": b64("print(1)")})
    with pytest.raises(InvalidParameterValue, match="format"):
        post({"path": "/Shared/x", "format": "PDF", "language": "PYTHON", "content": b64("print(1)")})
    with pytest.raises(InvalidParameterValue, match="base64"):
        post({"path": "/Shared/x", "format": "SOURCE", "language": "PYTHON", "content": "***"})
    with pytest.raises(InvalidParameterValue, match="doesn't start with '/'"):
        post({"path": "Shared/x", "format": "SOURCE", "language": "PYTHON", "content": b64("print(1)")})
    with pytest.raises(NotFound) as unknown:
        w.api_client.do("GET", "/api/2.0/clusters/list")
    assert unknown.value.error_code == "ENDPOINT_NOT_FOUND"


def test_imports_above_10_mb_are_refused(w: Any) -> None:
    w.workspace.mkdirs("/Shared/big")
    limit = 10 * 1024 * 1024
    w.workspace.import_("/Shared/big/ok.bin", content=b64(b"x" * limit), format=ImportFormat.RAW)
    assert w.workspace.get_status("/Shared/big/ok.bin").size == limit
    with pytest.raises(BadRequest) as refused:
        w.workspace.import_("/Shared/big/too.bin", content=b64(b"x" * (limit + 1)), format=ImportFormat.RAW)
    assert refused.value.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    with pytest.raises(NotFound):
        w.workspace.get_status("/Shared/big/too.bin")


# -- access, persistence, several workspaces ---------------------------------------------------------------------


def test_a_wrong_or_missing_token_is_refused(server: SandboxServer) -> None:
    intruder = server.workspace_client(HOST, token="not-the-token")  # creating it asks no token
    with pytest.raises(Unauthenticated, match="Invalid access token"):
        intruder.workspace.get_status("/Shared")
    base = server.workspace(HOST)
    status, _, body = raw_request(f"{base}/api/2.0/workspace/get-status?path=/Shared")
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    status, _, body = raw_request(f"{base}/api/2.0/workspace/get-status?path=/Shared", headers=AUTH)
    assert (status, body["object_type"]) == (200, "DIRECTORY")


def test_workspace_state_survives_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    with SandboxServer(folder) as first:
        w = first.workspace_client(HOST)
        w.workspace.mkdirs("/Shared/etl")
        import_source(w, "/Shared/etl/load", "print('kept')\n")
        w.workspace.import_("/Shared/etl/data.bin", content=b64(b"\xff\x00\xfe"), format=ImportFormat.RAW)
        before = w.workspace.get_status("/Shared/etl/load")
        data_before = w.workspace.get_status("/Shared/etl/data.bin")
    # A folder people can read: one JSON document per object, in the workspace's own tree.
    root = folder / "databricks" / HOSTNAME
    assert json.loads((root / "workspace.json").read_text())["workspace_id"] == "1111111111111111"
    document = json.loads((root / "tree" / "Shared" / "etl" / "load#notebook.json").read_text())
    # The state keeps every object's times, though the API shows them for files only.
    assert document["created_at"] <= document["modified_at"]
    assert {k: v for k, v in document.items() if k not in ("created_at", "modified_at")} == {
        "path": "/Shared/etl/load",
        "object_type": "NOTEBOOK",
        "object_id": before.object_id,
        "language": "PYTHON",
        "content": "# Databricks notebook source\nprint('kept')\n",
    }
    assert (root / "tree" / "Shared" / "etl" / "#directory.json").is_file()
    assert "content_base64" in json.loads((root / "tree" / "Shared" / "etl" / "data.bin#file.json").read_text())

    with SandboxServer(folder) as second:
        w = second.workspace_client(HOST)
        after = w.workspace.get_status("/Shared/etl/load")
        assert after.object_id == before.object_id
        data_after = w.workspace.get_status("/Shared/etl/data.bin")
        assert (data_after.object_id, data_after.created_at, data_after.modified_at) == (
            data_before.object_id,
            data_before.created_at,
            data_before.modified_at,
        )
        assert exported(w, "/Shared/etl/load") == "# Databricks notebook source\nprint('kept')\n"
        assert w.workspace.download("/Shared/etl/data.bin").read() == b"\xff\x00\xfe"
        import_source(w, "/Shared/etl/new", "print(2)\n")
        assert w.workspace.get_status("/Shared/etl/new").object_id > before.object_id  # ids never repeat
        w.workspace.delete("/Shared/etl", recursive=True)
    assert not (root / "tree" / "Shared" / "etl").exists()


def test_an_older_state_with_a_separate_workspace_tree_is_folded_in(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    with SandboxServer(folder) as first:
        w = first.workspace_client(HOST)
        w.workspace.mkdirs("/Shared/kept")
        import_source(w, "/Shared/kept/nb", "print('canonical')\n")
    # What an older sandbox wrote for objects made through `/Workspace/...`: a tree of their own.
    tree = folder / "databricks" / HOSTNAME / "tree"
    documents = {
        "Workspace/#directory.json": {"path": "/Workspace", "object_type": "DIRECTORY", "object_id": 7},
        "Workspace/Shared/#directory.json": {"path": "/Workspace/Shared", "object_type": "DIRECTORY", "object_id": 8},
        "Workspace/Shared/old/#directory.json": {
            "path": "/Workspace/Shared/old",
            "object_type": "DIRECTORY",
            "object_id": 9,
        },
        "Workspace/Shared/old/nb#notebook.json": {
            "path": "/Workspace/Shared/old/nb",
            "object_type": "NOTEBOOK",
            "object_id": 10,
            "language": "PYTHON",
            "content": "# Databricks notebook source\nprint('old')\n",
        },
        "Workspace/Shared/kept/nb#notebook.json": {
            "path": "/Workspace/Shared/kept/nb",
            "object_type": "NOTEBOOK",
            "object_id": 11,
            "language": "PYTHON",
            "content": "# Databricks notebook source\nprint('alias')\n",
        },
    }
    for name, document in documents.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(json.dumps(document))
    with SandboxServer(folder) as second:
        w = second.workspace_client(HOST)
        assert exported(w, "/Shared/old/nb") == "# Databricks notebook source\nprint('old')\n"
        assert exported(w, "/Workspace/Shared/kept/nb") == "# Databricks notebook source\nprint('canonical')\n"
        assert [o.path for o in w.workspace.list("/Shared")] == ["/Shared/kept", "/Shared/old"]
    assert not (tree / "Workspace").exists()
    assert (tree / "Shared" / "old" / "nb#notebook.json").is_file()


def test_two_hosts_are_two_workspaces(server: SandboxServer) -> None:
    first, second = server.workspace_client(HOST), server.workspace_client(OTHER_HOST)
    assert server.workspace(HOST) == server.workspace(HOST + "/")  # one listener per host
    assert server.workspace(HOST) != server.workspace(OTHER_HOST)
    server.stats.reset()
    import_source(first, "/Shared/only_here", "print(1)\n")
    with pytest.raises(NotFound):
        second.workspace.get_status("/Shared/only_here")
    assert first.config.workspace_id == "1111111111111111"  # from the host's .well-known answer
    assert second.config.workspace_id == "2222222222222222"

    # Counts per workspace, by the configured host or its name.
    one, two = server.stats.workspace(HOST), server.stats.workspace("adb-2222222222222222.2.azuredatabricks.net")
    assert (one.writes, one.reads, one.calls("POST", IMPORT)) == (1, 0, 1)
    assert (two.writes, two.reads, two.calls("GET", "/api/2.0/workspace/get-status")) == (0, 1, 1)
    assert server.stats.total == 2  # the top-level counts cover every listener
    assert server.stats.workspace("https://adb-3.3.azuredatabricks.net").total == 0


def test_creating_a_client_asks_the_well_known_config_once(server: SandboxServer) -> None:
    base = server.workspace(HOST)
    status, _, body = raw_request(f"{base}/.well-known/databricks-config")  # no token needed
    assert status == 200
    assert body == {"oidc_endpoint": f"{base}/oidc", "workspace_id": "1111111111111111", "cloud": "azure"}
    server.stats.reset()
    for _ in range(3):
        server.workspace_client(HOST)
    counts = server.stats.workspace(HOST)
    assert counts.calls("GET", "/.well-known/databricks-config") == 3
    assert counts.total == 3  # nothing else is asked before the first call


# -- faults, retries and request limits ----------------------------------------------------------------------------


def test_a_429_storm_on_import_is_retried_by_the_sdk(server: SandboxServer, w: Any) -> None:
    w.workspace.mkdirs("/Shared/etl")
    rule = FaultRule(method="POST", path_contains="/workspace/import", status=429, times=2)
    server.faults = Faults(rules=[rule])
    server.stats.reset()
    import_source(w, "/Shared/etl/load", "print(1)\n")  # 429, 429, then through (the SDK waits Retry-After)
    assert exported(w, "/Shared/etl/load") == "# Databricks notebook source\nprint(1)\n"
    assert rule.times == 0
    counts = server.stats.workspace(HOST)
    assert (counts.calls("POST", IMPORT), counts.faults_injected) == (3, 2)
    assert server.stats.faults_injected == 2


def test_injected_faults_answer_the_databricks_way(server: SandboxServer, w: Any) -> None:
    base = server.workspace(HOST)
    server.faults = Faults(
        rules=[
            FaultRule(method="GET", path_contains="get-status", status=429, times=1, retry_after_ms=1500),
            FaultRule(method="GET", path_contains="get-status", status=503, times=1),
        ]
    )
    status, headers, body = raw_request(f"{base}/api/2.0/workspace/get-status?path=/Shared", headers=AUTH)
    assert (status, headers["Retry-After"], body["error_code"]) == (429, "2", "REQUEST_LIMIT_EXCEEDED")
    status, _, body = raw_request(f"{base}/api/2.0/workspace/get-status?path=/Shared", headers=AUTH)
    assert (status, body["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")

    # The SDK's multipart upload is not retried (its form is no seekable stream): the 429 reaches the caller.
    w.workspace.mkdirs("/Shared/app")
    server.faults = Faults(rules=[FaultRule(method="POST", path_contains="/workspace/import", status=429)])
    with pytest.raises(TooManyRequests) as throttled:
        w.workspace.upload("/Shared/app/x.txt", b"x", format=ImportFormat.RAW)
    assert (throttled.value.error_code, throttled.value.retry_after_secs) == ("REQUEST_LIMIT_EXCEEDED", 1)


def test_the_delete_rate_limit_answers_429_and_the_sdk_retries(server: SandboxServer, w: Any) -> None:
    w.workspace.mkdirs("/Shared/prune")
    for n in range(4):
        import_source(w, f"/Shared/prune/nb{n}", "print(1)\n")
    server.workspace_limits = WorkspaceLimits(delete_per_second=2)  # switched on while running
    server.stats.reset()
    for n in range(4):  # two go through at once, the third waits out a Retry-After of 1 s
        w.workspace.delete(f"/Shared/prune/nb{n}")
    assert [o.path for o in w.workspace.list("/Shared/prune")] == []
    counts = server.stats.workspace(HOST)
    assert counts.rate_limited >= 1
    assert counts.calls("POST", "/api/2.0/workspace/delete") == 4 + counts.rate_limited
    assert server.stats.rate_limited == counts.rate_limited == counts.faults_injected
    assert counts.by_endpoint.get("GET /api/2.0/workspace/list") == 1  # 50/s: far from its limit

    base = server.workspace(HOST)
    server.workspace_limits = WorkspaceLimits(get_status_per_second=1)
    url = f"{base}/api/2.0/workspace/get-status?path=/Shared"
    assert raw_request(url, headers=AUTH)[0] == 200
    status, headers, body = raw_request(url, headers=AUTH)
    assert (status, headers["Retry-After"], body["error_code"]) == (429, "1", "REQUEST_LIMIT_EXCEEDED")
    server.workspace_limits = None  # off again
    assert raw_request(url, headers=AUTH)[0] == 200
