"""A Databricks workspace folder, read and changed through the official SDK (`databricks-sdk`'s WorkspaceClient).

Only the JSON workspace endpoints are used (`list`, `export`, `import`, `mkdirs`, `delete`): the SDK retries
those on 429 and 503 as long as the service's Retry-After says, while its multipart `upload` is never retried.
Calls are also paced below Databricks' documented per-workspace limits (import 30/s, delete 2/s), so a promotion
does not provoke the throttling it would then wait out.

Workspace paths are compared in one form, without the `/Workspace` prefix (`canonical_workspace_path`):
`/Workspace` is the root of the workspace file system, so `/Workspace/Shared/etl` and `/Shared/etl` are one folder,
the API takes both, and which of the two a listing answers with is not documented (the service has been recorded
answering either; see `portal.sandbox.workspace_api`). The target folder and every listed path are brought to that
form, so the prefix never makes a deployed object look missing or foreign.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal import safe_json
from portal.errors import ErrorCode, PortalError

MANIFEST_NAME = ".portal-manifest.json"
WORKSPACE_ROOT = "/Workspace"  # the workspace file system's root, accepted in front of every workspace path
MANIFEST_FORMAT = 1
DIRECTORY = "DIRECTORY"
FILE = "FILE"

# Databricks' documented per-workspace limits (requests per second); the portal stays at or below them.
IMPORTS_PER_SECOND = 30.0
EXPORTS_PER_SECOND = 60.0
DELETES_PER_SECOND = 2.0


def canonical_workspace_path(path: str) -> str:
    """`path` as the portal compares workspace paths: without the `/Workspace` prefix and a trailing slash
    (`/Workspace/Shared/etl/` -> `/Shared/etl`, `/Workspace` -> `/`). Only a first component spelled exactly
    `Workspace` is the prefix (workspace paths are case-sensitive); `/Shared/Workspace` stays as it is."""
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    if path == WORKSPACE_ROOT:
        return "/"
    return path[len(WORKSPACE_ROOT) :] if path.startswith(WORKSPACE_ROOT + "/") else path


@dataclass(frozen=True)
class LiveEntry:
    """One object in the workspace as a folder listing shows it."""

    path: str  # canonical (canonical_workspace_path)
    object_type: str  # NOTEBOOK, FILE, DIRECTORY, LIBRARY, REPO, DASHBOARD
    # Milliseconds since the epoch. The API documents it for files only ("Only applicable to files", ObjectInfo
    # in databricks-sdk's databricks/sdk/service/workspace.py): use it through `documented_modified_at`.
    modified_at: int | None
    language: str | None = None

    @property
    def is_directory(self) -> bool:
        return self.object_type == DIRECTORY

    @property
    def is_file(self) -> bool:
        return self.object_type == FILE

    @property
    def documented_modified_at(self) -> int | None:
        """`modified_at` where the API documents it (files), else None, even if the service sent one."""
        return self.modified_at if self.is_file else None


@dataclass(frozen=True)
class DeployedEntry:
    """What the manifest says the portal put at one path (relative to the target folder)."""

    hash: str
    kind: str  # "notebook" | "file"
    language: str | None = None
    format: str | None = None


@dataclass(frozen=True)
class Manifest:
    """The portal's record of what it deployed into a target folder, kept in the folder itself."""

    objects: Mapping[str, DeployedEntry]  # relative path → entry
    folders: tuple[str, ...]  # relative folders the portal made or needs
    snapshot: str | None = None  # the notebook set's manifest hash
    source_commit: str | None = None
    environment: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "portalManifest": MANIFEST_FORMAT,
            "environment": self.environment,
            "sourceCommit": self.source_commit,
            "snapshot": self.snapshot,
            "folders": list(self.folders),
            "objects": {
                path: {k: v for k, v in entry.__dict__.items() if v is not None}
                for path, entry in sorted(self.objects.items())
            },
        }

    @staticmethod
    def parse(data: bytes, where: str) -> Manifest:
        try:
            document = safe_json.loads(data.decode("utf-8"))
            if not isinstance(document, dict) or document.get("portalManifest") != MANIFEST_FORMAT:
                raise ValueError("not a portal manifest of format 1")
            objects = {
                str(path): DeployedEntry(
                    str(entry["hash"]), str(entry["kind"]), entry.get("language"), entry.get("format")
                )
                for path, entry in (document.get("objects") or {}).items()
            }
            folders = tuple(str(f) for f in document.get("folders") or ())
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PortalError(
                where,
                f"the portal's manifest cannot be read ({error})",
                hint="it is the portal's own file; delete it to let the portal adopt the folder anew "
                "(nothing will be pruned until the next promotion records a new one)",
                code=ErrorCode.MANIFEST,
            ) from error
        return Manifest(
            objects, folders, document.get("snapshot"), document.get("sourceCommit"), document.get("environment")
        )


class Pacer:
    """Starts calls no faster than `rate` per second, across threads."""

    def __init__(self, rate: float):
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


class WorkspaceTarget:
    """One environment's target folder in one workspace."""

    def __init__(self, client: Any, host: str, target_folder: str):
        self.client = client
        self.host = host
        self.target_folder = canonical_workspace_path(target_folder)
        self._imports = Pacer(IMPORTS_PER_SECOND)
        self._exports = Pacer(EXPORTS_PER_SECOND)
        self._deletes = Pacer(DELETES_PER_SECOND)

    @property
    def manifest_path(self) -> str:
        return f"{self.target_folder}/{MANIFEST_NAME}"

    # -- reading -------------------------------------------------------------------------------------------------

    def list_folder(self, path: str) -> list[LiveEntry] | None:
        """The direct children of a folder, or None when the folder does not exist."""
        from databricks.sdk.errors import NotFound

        try:
            items = list(self.client.workspace.list(path))
        except NotFound:
            return None
        return [
            LiveEntry(
                canonical_workspace_path(str(i.path)),
                _enum_value(i.object_type),
                i.modified_at,
                _enum_value(i.language) or None,
            )
            for i in items
        ]

    def export(self, path: str, export_format: str) -> bytes | None:
        """The content of one object as `export_format` returns it, or None when it is not there."""
        from databricks.sdk.errors import NotFound
        from databricks.sdk.service.workspace import ExportFormat

        self._exports.wait()
        try:
            response = self.client.workspace.export(path, format=ExportFormat(export_format))
        except NotFound:
            return None
        return base64.b64decode(response.content or "")

    def read_manifest(self) -> Manifest | None:
        data = self.export(self.manifest_path, "SOURCE")
        return None if data is None else Manifest.parse(data, f"workspace {self.host} → {self.manifest_path}")

    # -- writing -------------------------------------------------------------------------------------------------

    def mkdirs(self, path: str) -> None:
        self.client.workspace.mkdirs(path)

    def import_object(self, path: str, content: bytes, import_format: str, language: str | None) -> None:
        from databricks.sdk.service.workspace import ImportFormat, Language

        self._imports.wait()
        self.client.workspace.import_(
            path,
            content=base64.b64encode(content).decode("ascii"),
            format=ImportFormat(import_format),
            language=Language(language) if language else None,
            overwrite=True,
        )

    def delete(self, path: str, *, recursive: bool = False) -> None:
        from databricks.sdk.errors import NotFound

        self._deletes.wait()
        with contextlib.suppress(NotFound):  # already gone: what a delete wants
            self.client.workspace.delete(path, recursive=recursive)

    def write_manifest(self, manifest: Manifest) -> None:
        content = json.dumps(manifest.to_json(), indent=2, sort_keys=False).encode("utf-8") + b"\n"
        self.import_object(self.manifest_path, content, "RAW", None)


def _enum_value(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


# --- clients ------------------------------------------------------------------------------------------------------

_SDK_AUTH = {"pat": "pat", "azure-service-principal": "azure-client-secret", "azure-cli": "azure-cli"}


_CLIENTS: dict[tuple[str, str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def workspace_client_for(target: Any, repo_root: Path) -> Any:
    """The SDK client for an environment's Databricks target (the sandbox's workspace when the target says so),
    made once per workspace and sign-in: creating one asks the host for its configuration."""
    sandbox = str((repo_root / target.sandbox).resolve()) if target.auth == "sandbox" else ""
    key = (target.host.rstrip("/"), target.auth, sandbox)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = _new_client(target, repo_root)
        return client


def _new_client(target: Any, repo_root: Path) -> Any:
    if target.auth == "sandbox":
        # Imported on use: the emulator's web stack takes a quarter of a second to import; real targets never
        # need it.
        from portal.sandbox import sandbox_for

        return sandbox_for(repo_root / target.sandbox).workspace_client(target.host)
    from databricks.sdk import WorkspaceClient

    # The SDK reads the secrets themselves from its environment variables (DATABRICKS_TOKEN, ARM_CLIENT_SECRET …).
    return WorkspaceClient(host=target.host, auth_type=_SDK_AUTH[target.auth])


def workspace_target_for(target: Any, repo_root: Path) -> WorkspaceTarget:
    return WorkspaceTarget(workspace_client_for(target, repo_root), target.host.rstrip("/"), target.target_folder)
