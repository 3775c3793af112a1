"""The Databricks Workspace API (REST 2.0) over one workspace's state, as the `databricks-sdk` WorkspaceClient uses it.

Endpoints: `/.well-known/databricks-config` (the SDK asks it, unauthenticated, whenever a client is created),
`/api/2.0/workspace/{get-status,list,mkdirs,import,export,delete}` and `/api/2.0/preview/scim/v2/Me`. Errors have
the service's shape, `{"error_code": ..., "message": ...}`, with the status that makes the SDK raise its typed
errors (NotFound, ResourceAlreadyExists, TooManyRequests, ...).

Notebooks are kept in Databricks source format: the language's header line (`# Databricks notebook source`, `--`
for SQL, `//` for Scala) and the cells after it. An import that already begins with the header does not get a
second one, so a SOURCE export returns exactly what a SOURCE import of an exported notebook sent.

Paths: `/Workspace` is the root of the workspace file system and the service takes every path with or without it,
so `/Workspace/Shared/etl` and `/Shared/etl` are one object here as well (each request's path is read without the
prefix; see `workspace_state.canonical_path`). Which form the `path` of a list or get-status answer has is not
documented (`ObjectInfo.path` is "The absolute path of the object"). The Databricks CLI's acceptance tests, recorded
against real workspaces (databricks/cli: acceptance/bundle/deploy/files/no-snapshot-sync and
acceptance/bundle/destroy/jobs-and-pipeline), show get-status answering `/Workspace/Users/...` when asked with that
form but `/Users/...` when asked `//Workspace/Users/...`: a client cannot count on getting back the form it sent.
Where the documentation is silent the sandbox takes the form strictest for the client: it always answers without
the prefix, so a client that compares the paths it is given with the ones it asked for, without bringing both to
one form first, fails here as soon as it uses the prefix. Error messages repeat the path as it was asked
(`Path (/Workspace/Shared/x) doesn't exist.`), as the service's do.

Times and sizes: `ObjectInfo.created_at`, `modified_at` and `size` are documented for files only ("Only
applicable to files", databricks-sdk `databricks/sdk/service/workspace.py`), so list and get-status give them for
FILE objects only; notebooks and folders are answered without them (the state still keeps every object's times).

Also the service's per-workspace rate limits (`WorkspaceLimits`, off unless the server is given some) and the
Databricks-shaped answers for faults the server injects.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import posixpath
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from portal.sandbox.api import ApiRequest
from portal.sandbox.credential import SANDBOX_TOKEN
from portal.sandbox.errors import ApiResponse
from portal.sandbox.workspace_state import (
    DIRECTORY,
    FILE,
    NOTEBOOK,
    ROOT,
    SANDBOX_USER,
    WorkspaceObject,
    WorkspaceState,
    canonical_path,
    content_bytes,
    now_ms,
    parent_of,
    with_content,
)

MAX_IMPORT_BYTES = 10 * 1024 * 1024  # the service's limit on an imported object ("10 MB")

# Language → (comment marker, file type of a SOURCE export).
_LANGUAGES = {"PYTHON": ("#", "py"), "SQL": ("--", "sql"), "SCALA": ("//", "scala"), "R": ("#", "r")}
_NOTEBOOK_EXTENSIONS = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R"}
_IMPORT_FORMATS = ("SOURCE", "JUPYTER", "AUTO", "RAW", "HTML", "DBC", "R_MARKDOWN")
_EMULATED_FORMATS = ("SOURCE", "JUPYTER", "AUTO", "RAW")
_DATABRICKS_NOTEBOOK_META = "application/vnd.databricks.v1+notebook"

_FAULT_CODES = {
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    408: "REQUEST_TIMEOUT",
}


def header_line(language: str) -> str:
    return f"{_LANGUAGES[language][0]} Databricks notebook source"


# -- errors ------------------------------------------------------------------------------------------------------


class DatabricksApiError(Exception):
    """A refusal the way the Databricks service words it: `{"error_code", "message"}` with an HTTP status."""

    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def response(self) -> ApiResponse:
        return ApiResponse(self.status, {"error_code": self.error_code, "message": self.message}, dict(self.headers))


def _invalid(message: str) -> DatabricksApiError:
    return DatabricksApiError(400, "INVALID_PARAMETER_VALUE", message)


def _missing(path: str) -> DatabricksApiError:
    return DatabricksApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")


def injected_error(status: int, headers: Mapping[str, str]) -> ApiResponse:
    """What a workspace answers for a fault the sandbox injects (429 keeps its Retry-After)."""
    code = _FAULT_CODES.get(status, "INJECTED_FAULT")
    return DatabricksApiError(status, code, f"Injected by the sandbox: HTTP {status}.", dict(headers)).response()


def unreadable_body() -> ApiResponse:
    return DatabricksApiError(400, "MALFORMED_REQUEST", "The request body could not be read.").response()


def internal_error(err: Exception) -> ApiResponse:
    return DatabricksApiError(500, "INTERNAL_ERROR", f"The sandbox failed: {err!r}").response()


# -- rate limits -------------------------------------------------------------------------------------------------


@dataclass
class WorkspaceLimits:
    """Requests per second one workspace accepts per endpoint, as the service documents them (None: no limit).

    A request beyond the limit answers 429 `REQUEST_LIMIT_EXCEEDED` with `Retry-After` in whole seconds. Each
    endpoint has a token bucket holding `burst_seconds` worth of requests (at least one).
    """

    import_per_second: float | None = 30
    export_per_second: float | None = 60
    list_per_second: float | None = 50
    delete_per_second: float | None = 2
    get_status_per_second: float | None = 100
    mkdirs_per_second: float | None = None
    burst_seconds: float = 1.0

    def rate(self, endpoint: str) -> float | None:
        return {
            "import": self.import_per_second,
            "export": self.export_per_second,
            "list": self.list_per_second,
            "delete": self.delete_per_second,
            "get-status": self.get_status_per_second,
            "mkdirs": self.mkdirs_per_second,
        }.get(endpoint)


class WorkspaceRateLimiter:
    """Token buckets of one workspace; a new `WorkspaceLimits` object starts with full buckets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits: WorkspaceLimits | None = None
        self._buckets: dict[str, tuple[float, float]] = {}  # endpoint → (tokens, when)

    def check(self, limits: WorkspaceLimits, method: str, path: str) -> int | None:
        """None when the request may go on, else the seconds to wait (for `Retry-After`, at least 1)."""
        endpoint = _workspace_endpoint(method, path)
        rate = limits.rate(endpoint) if endpoint else None
        if not endpoint or rate is None or rate <= 0:
            return None
        capacity = max(1.0, rate * limits.burst_seconds)
        with self._lock:
            if limits is not self._limits:
                self._limits, self._buckets = limits, {}
            now = self._clock()
            tokens, then = self._buckets.get(endpoint, (capacity, now))
            tokens = min(capacity, tokens + (now - then) * rate)
            if tokens >= 1:
                self._buckets[endpoint] = (tokens - 1, now)
                return None
            self._buckets[endpoint] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / rate))


def _workspace_endpoint(method: str, path: str) -> str | None:
    """`import`, `export`, ... for a Workspace API call, else None."""
    prefix = "/api/2.0/workspace/"
    trimmed = path.rstrip("/")
    if not trimmed.startswith(prefix):
        return None
    name = trimmed[len(prefix) :]
    expected = {
        "import": "POST",
        "mkdirs": "POST",
        "delete": "POST",
        "export": "GET",
        "list": "GET",
        "get-status": "GET",
    }.get(name)
    return name if expected == method else None


def rate_limited(retry_after: int) -> ApiResponse:
    return DatabricksApiError(
        429,
        "REQUEST_LIMIT_EXCEEDED",
        "The workspace's request limit for this API was exceeded. Please try again later or try a faster operation.",
        {"Retry-After": str(retry_after)},
    ).response()


# -- the API -----------------------------------------------------------------------------------------------------


class WorkspaceApi:
    def __init__(self, state: WorkspaceState, base_url: Callable[[], str]) -> None:
        self.state = state
        self.base_url = base_url  # a callable: the port is known only once the listener listens
        self._routes: dict[tuple[str, str], Callable[[ApiRequest], ApiResponse]] = {
            ("GET", "/api/2.0/workspace/get-status"): self._get_status,
            ("GET", "/api/2.0/workspace/list"): self._list,
            ("POST", "/api/2.0/workspace/mkdirs"): self._mkdirs,
            ("POST", "/api/2.0/workspace/import"): self._import,
            ("GET", "/api/2.0/workspace/export"): self._export,
            ("POST", "/api/2.0/workspace/delete"): self._delete,
            ("GET", "/api/2.0/preview/scim/v2/Me"): self._me,
        }

    def handle(self, request: ApiRequest) -> ApiResponse:
        try:
            path = request.path.rstrip("/") or "/"
            if request.method == "GET" and path == "/.well-known/databricks-config":
                return self._host_metadata()
            _authorize(request)
            handler = self._routes.get((request.method, path))
            if handler is None:
                raise DatabricksApiError(
                    404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {request.path}'"
                )
            with self.state.lock:
                return handler(request)
        except DatabricksApiError as err:
            return err.response()

    # -- discovery and identity ------------------------------------------------------------------------------

    def _host_metadata(self) -> ApiResponse:
        # What an Azure workspace answers; the SDK fills `workspace_id` (then sent as X-Databricks-Workspace-Id)
        # and `cloud` from it. No token is needed: the SDK asks before it authenticates.
        return ApiResponse(
            200,
            {
                "oidc_endpoint": f"{self.base_url()}/oidc",
                "workspace_id": self.state.workspace_id,
                "cloud": "azure",
            },
        )

    def _me(self, request: ApiRequest) -> ApiResponse:
        user = {
            "id": str(1_000_000_000_000_000 + int(self.state.workspace_id) % 1_000_000_000_000),
            "userName": SANDBOX_USER,
            "displayName": "Sandbox User",
            "name": {"givenName": "Sandbox", "familyName": "User"},
            "emails": [{"value": SANDBOX_USER, "type": "work", "primary": True}],
            "active": True,
            "groups": [],
            "entitlements": [],
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
            ],
        }
        return ApiResponse(200, user, {"x-databricks-org-id": self.state.workspace_id})

    # -- reading ---------------------------------------------------------------------------------------------

    def _get_status(self, request: ApiRequest) -> ApiResponse:
        asked = request.query.get("path")
        return ApiResponse(200, _object_info(self._existing(_path(asked), asked)))

    def _list(self, request: ApiRequest) -> ApiResponse:
        # `notebooks_modified_after` is accepted and ignored; the service does not page this list.
        asked = request.query.get("path")
        path = _path(asked)
        obj = self._existing(path, asked)
        if obj["object_type"] != DIRECTORY:
            return ApiResponse(200, {"objects": [_object_info(obj)]})  # "or the object if it is not a directory"
        objects = [_object_info(child) for child in self.state.children(path)]
        return ApiResponse(200, {"objects": objects} if objects else {})

    def _export(self, request: ApiRequest) -> ApiResponse:
        asked = request.query.get("path")
        path = _path(asked)
        fmt = request.query.get("format") or "SOURCE"
        if fmt not in _IMPORT_FORMATS:
            raise _invalid(f"Invalid export format: {fmt}.")
        obj = self._existing(path, asked)
        if obj["object_type"] == DIRECTORY:
            raise _invalid(f"Path ({path}) is a directory; the sandbox exports notebooks and files only.")
        if fmt not in _EMULATED_FORMATS:
            raise _invalid(f"The sandbox does not emulate the {fmt} export format.")
        if obj["object_type"] == NOTEBOOK:
            data, file_type = _export_notebook(obj, fmt)
        else:
            if fmt == "JUPYTER":
                raise _invalid(f"Path ({path}) is a file, not a notebook: it cannot be exported as JUPYTER.")
            data, file_type = content_bytes(obj), posixpath.splitext(path)[1].lstrip(".")
        if request.query.get("direct_download", "").lower() == "true":
            name = posixpath.basename(path) + (f".{file_type}" if obj["object_type"] == NOTEBOOK else "")
            return ApiResponse(
                200,
                data,
                {
                    "Content-Type": "application/octet-stream",
                    "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                },
            )
        body = {"content": base64.b64encode(data).decode("ascii")}
        if file_type:
            body["file_type"] = file_type
        return ApiResponse(200, body)

    # -- writing ---------------------------------------------------------------------------------------------

    def _mkdirs(self, request: ApiRequest) -> ApiResponse:
        path = _path(_json_body(request).get("path"))
        self._make_folders(path)
        return ApiResponse(200, {})

    def _make_folders(self, path: str) -> None:
        prefixes = []
        current = path
        while current != ROOT:
            prefixes.append(current)
            current = parent_of(current)
        now = now_ms()
        for prefix in reversed(prefixes):
            existing = self.state.get(prefix)
            if existing is None:
                self.state.put(
                    {
                        "path": prefix,
                        "object_type": DIRECTORY,
                        "object_id": self.state.new_object_id(),
                        "created_at": now,
                        "modified_at": now,
                    }
                )
            elif existing["object_type"] != DIRECTORY:
                raise DatabricksApiError(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    f"Cannot create the folder ({path}): a {existing['object_type'].lower()} exists at {prefix}.",
                )

    def _import(self, request: ApiRequest) -> ApiResponse:
        fields, data = _import_fields(request)
        path = _path(fields.get("path"))
        fmt = str(fields.get("format") or "SOURCE")
        if fmt not in _IMPORT_FORMATS:
            raise _invalid(f"Invalid import format: {fmt}.")
        if fmt not in _EMULATED_FORMATS:
            raise _invalid(f"The sandbox does not emulate the {fmt} import format.")
        language = fields.get("language")
        if language is not None and language not in _LANGUAGES:
            raise _invalid(f"Invalid language: {language}.")
        if len(data) > MAX_IMPORT_BYTES:
            raise DatabricksApiError(
                400,
                "MAX_NOTEBOOK_SIZE_EXCEEDED",
                f"File size imported is ({len(data)} bytes), exceeded max size ({MAX_IMPORT_BYTES} bytes)",
            )
        path, kind, language, stored = _interpret(path, fmt, language, data)
        if path == ROOT:
            raise _invalid("Cannot import over the root folder.")
        parent = parent_of(path)
        folder = self.state.get(parent)
        if folder is None:
            raise DatabricksApiError(404, "RESOURCE_DOES_NOT_EXIST", f"The parent folder ({parent}) does not exist.")
        if folder["object_type"] != DIRECTORY:
            raise _invalid(f"The parent ({parent}) is a {folder['object_type'].lower()}, not a folder.")
        existing = self.state.get(path)
        if existing is not None and (not _truthy(fields.get("overwrite")) or existing["object_type"] == DIRECTORY):
            raise DatabricksApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
        now = now_ms()
        obj: WorkspaceObject = {"path": path, "object_type": kind}
        if existing is not None and existing["object_type"] == kind:
            # An overwrite keeps the object (its id and creation time) and moves modified_at on, always forward.
            obj["object_id"] = existing["object_id"]
            obj["created_at"] = existing.get("created_at", now)
            obj["modified_at"] = max(now, int(existing.get("modified_at", 0)) + 1)
        else:
            obj["object_id"] = self.state.new_object_id()
            obj["created_at"] = obj["modified_at"] = now
        if language is not None:
            obj["language"] = language
        self.state.put(with_content(obj, stored))
        return ApiResponse(200, {})

    def _delete(self, request: ApiRequest) -> ApiResponse:
        body = _json_body(request)
        asked = body.get("path")
        path = _path(asked)
        if path == ROOT:
            raise _invalid("The root folder cannot be deleted.")
        obj = self._existing(path, asked)
        if obj["object_type"] == DIRECTORY and self.state.has_children(path) and not _truthy(body.get("recursive")):
            raise DatabricksApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty.")
        self.state.delete(path)
        return ApiResponse(200, {})

    def _existing(self, path: str, asked: Any = None) -> WorkspaceObject:
        """The object at `path`; a 404 naming the path as the request spelled it (`asked`) when there is none."""
        obj = self.state.get(path)
        if obj is None:
            raise _missing(asked if isinstance(asked, str) and asked else path)
        return obj


# -- requests ----------------------------------------------------------------------------------------------------


def _authorize(request: ApiRequest) -> None:
    header = request.headers.get("authorization")
    if not header:
        raise DatabricksApiError(
            401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API."
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != SANDBOX_TOKEN:
        raise DatabricksApiError(401, "UNAUTHENTICATED", "Invalid access token.")


def _path(value: Any) -> str:
    """A workspace path, normalised: absolute, no empty, `.` or `..` segment, no trailing slash, and without the
    `/Workspace` prefix (`/Workspace/Shared/x` is `/Shared/x`)."""
    if value is None or value == "":
        raise _invalid("Missing required field: path")
    if not isinstance(value, str):
        raise _invalid(f"Invalid path: {value!r}")
    if not value.startswith("/"):
        raise _invalid(f"Path ({value}) doesn't start with '/'")
    segments = [s for s in value.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise _invalid(f"Path ({value}) is not a valid workspace path.")
    return canonical_path("/" + "/".join(segments))


def _json_body(request: ApiRequest) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise DatabricksApiError(400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request.") from None
    if not isinstance(body, dict):
        raise DatabricksApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
    return body


def _import_fields(request: ApiRequest) -> tuple[dict[str, Any], bytes]:
    """The fields of an import and its content, from a JSON body (base64 `content`) or a multipart form
    (`w.workspace.upload` posts the content as a file part and the other fields as form fields)."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        parts = _multipart(content_type, request.body)
        data = parts.pop("content", b"")
        return {name: value.decode("utf-8", "replace") for name, value in parts.items()}, data
    fields = _json_body(request)
    content = fields.get("content") or ""
    if not isinstance(content, str):
        raise _invalid("The content must be a base64-encoded string.")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("The content is not valid base64.") from None
    return fields, data


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    boundary = None
    for param in content_type.split(";")[1:]:
        key, _, given = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = given.strip().strip('"')
    if not boundary:
        raise DatabricksApiError(400, "MALFORMED_REQUEST", "The multipart body has no boundary.")
    fields: dict[str, bytes] = {}
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        name = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, rest = line.partition(":")
            if header.strip().lower() == "content-disposition":
                for param in rest.split(";"):
                    key, _, val = param.strip().partition("=")
                    if key.lower() == "name":
                        name = val.strip().strip('"')
        if name is not None:
            fields[name] = value.removesuffix(b"\r\n")
    return fields


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# -- objects and formats -----------------------------------------------------------------------------------------


def _object_info(obj: WorkspaceObject) -> dict[str, Any]:
    info: dict[str, Any] = {
        "object_type": obj["object_type"],
        "path": obj["path"],
        "object_id": obj["object_id"],
        "resource_id": str(obj["object_id"]),
    }
    if obj["object_type"] == NOTEBOOK:
        info["language"] = obj["language"]
    if obj["object_type"] == FILE:  # "Only applicable to files" (ObjectInfo): notebooks and folders have none
        info["created_at"] = obj["created_at"]
        info["modified_at"] = obj["modified_at"]
        info["size"] = len(content_bytes(obj))
    return info


def _interpret(path: str, fmt: str, language: str | None, data: bytes) -> tuple[str, str, str | None, bytes]:
    """(path, object type, language, content to store) for an import; notebooks are stored as source."""
    if fmt == "RAW":
        return path, FILE, None, data
    if fmt == "SOURCE":
        if language is None:
            raise _invalid("The language field is required to import a notebook in SOURCE format.")
        return path, NOTEBOOK, language, _normalised_source(language, _text(data))
    if fmt == "JUPYTER":
        language, source = _source_from_ipynb(data)
        return path, NOTEBOOK, language, source
    # AUTO: a notebook when the extension and the content say so (the extension is then dropped), else a file.
    stem, ext = posixpath.splitext(path)
    if ext.lower() == ".ipynb":
        try:
            language, source = _source_from_ipynb(data)
        except DatabricksApiError:
            return path, FILE, None, data
        return stem, NOTEBOOK, language, source
    detected = _detect_header(data, _NOTEBOOK_EXTENSIONS.get(ext.lower()))
    if detected is None:
        return path, FILE, None, data
    target = stem if ext.lower() in _NOTEBOOK_EXTENSIONS else path
    return target, NOTEBOOK, detected, _normalised_source(detected, _text(data))


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("The notebook source is not UTF-8 text.") from None


def _detect_header(data: bytes, by_extension: str | None) -> str | None:
    """The language of a Databricks source file (its first line is a header), else None."""
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").rstrip()
    if by_extension is not None and first == header_line(by_extension):
        return by_extension
    for language in ("PYTHON", "SQL", "SCALA"):
        if first == header_line(language):
            return language
    return None


def _normalised_source(language: str, text: str) -> bytes:
    """The notebook in source format with exactly one header line, whether or not the import had one."""
    header = header_line(language)
    text = text.lstrip("\ufeff")
    first, _, rest = text.partition("\n")
    body = rest if first.rstrip() == header else text
    return f"{header}\n{body}".encode()


def _cells(obj: WorkspaceObject) -> tuple[str, list[str]]:
    """The language and the cells of a stored notebook."""
    language = obj["language"]
    marker = _LANGUAGES[language][0]
    text = content_bytes(obj).decode("utf-8")
    body = text.partition("\n")[2]
    separator = f"{marker} COMMAND ----------"
    cells: list[str] = []
    current: list[str] = []
    for line in body.split("\n"):
        if line.rstrip() == separator:
            cells.append("\n".join(current).strip("\n"))
            current = []
        else:
            current.append(line)
    cells.append("\n".join(current).strip("\n"))
    return language, [c for c in cells if c] or [""]


def _export_notebook(obj: WorkspaceObject, fmt: str) -> tuple[bytes, str]:
    language = obj["language"]
    if fmt in ("SOURCE", "AUTO"):
        return content_bytes(obj), _LANGUAGES[language][1]
    if fmt == "RAW":
        raise _invalid(f"Path ({obj['path']}) is a notebook: export it as SOURCE or JUPYTER, not RAW.")
    marker = _LANGUAGES[language][0]
    magic = f"{marker} MAGIC"
    cells = []
    _, sources = _cells(obj)
    for source in sources:
        lines = source.split("\n")
        if all(line.startswith(magic) for line in lines):
            lines = [line[len(magic) :].removeprefix(" ") for line in lines]
        kind = "markdown" if lines[0].strip() == "%md" or lines[0].startswith("%md ") else "code"
        if kind == "markdown":
            lines[0] = lines[0][3:].lstrip()
            if not lines[0]:
                lines = lines[1:]
        text = "\n".join(lines)
        cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    name = posixpath.basename(obj["path"])
    notebook = {
        "cells": cells,
        "metadata": {
            _DATABRICKS_NOTEBOOK_META: {"language": language.lower(), "notebookName": name},
            "language_info": {"name": language.lower()},
        },
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False).encode("utf-8"), "ipynb"


def _source_from_ipynb(data: bytes) -> tuple[str, bytes]:
    """The language and Databricks source of a Jupyter notebook (code cells as code, markdown as `%md` cells)."""
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _invalid("The content is not a Jupyter notebook (.ipynb JSON).") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise _invalid("The content is not a Jupyter notebook: it has no cells.")
    language = _ipynb_language(notebook.get("metadata"))
    marker = _LANGUAGES[language][0]
    cells = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            text = "%md\n" + text if text else "%md"
        if text.startswith("%"):
            text = "\n".join(f"{marker} MAGIC {line}".rstrip() for line in text.split("\n"))
        cells.append(text.strip("\n"))
    body = f"\n\n{marker} COMMAND ----------\n\n".join(cells)
    return language, f"{header_line(language)}\n{body}".encode()


def _ipynb_language(metadata: Any) -> str:
    if not isinstance(metadata, dict):
        return "PYTHON"
    candidates = [
        (metadata.get(_DATABRICKS_NOTEBOOK_META) or {}).get("language"),
        (metadata.get("language_info") or {}).get("name"),
        (metadata.get("kernelspec") or {}).get("language"),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.upper() in _LANGUAGES:
            return candidate.upper()
    return "PYTHON"
