"""The objects of one emulated Databricks workspace (folders, notebooks, files), each mirrored to its own file.

A workspace configured as `https://adb-1111111111111111.1.azuredatabricks.net` lives in
`<state>/databricks/adb-1111111111111111.1.azuredatabricks.net/`:

    workspace.json                      the host and its workspace id
    tree/                               the workspace's folders, as folders (names percent-quoted)
      Shared/
        #directory.json                 the folder /Shared itself
        etl/
          #directory.json
          load#notebook.json            the notebook /Shared/etl/load
          settings.yml#file.json        the workspace file /Shared/etl/settings.yml

Every object document holds `path`, `object_type`, `object_id`, `created_at` and `modified_at` (ms since the
epoch; kept for every object, though the API shows the two times for files only, as it documents); a notebook adds
`language` and `content` (its source exactly as a SOURCE export returns it), a file its bytes as `content` (UTF-8
text) or `content_base64`. Quoting escapes `#` in names, so a document name never meets a folder name. The
documents' `path` is what counts when loading; the file names only make the folder readable.
One lock guards memory and disk together; a restarted server sees the same objects.

Paths are kept in one form only, without the `/Workspace` prefix: `/Workspace` is the root of the workspace file
system, so `/Workspace/Shared/etl` and `/Shared/etl` name one object (`canonical_path`). A state folder written
before this rule, holding a separate `tree/Workspace/` copy, is folded into the one tree when it is loaded.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from portal.sandbox.state import write_json_atomic

WorkspaceObject = dict[str, Any]

DIRECTORY = "DIRECTORY"
NOTEBOOK = "NOTEBOOK"
FILE = "FILE"

ROOT = "/"
# The workspace file system's root as the service also accepts it in front of every path (`/Workspace/Users/...`).
WORKSPACE_ROOT_ALIAS = "Workspace"
SANDBOX_USER = "sandbox-user@example.com"
# Folders a new workspace starts with, as a real one does (the user's home included).
_INITIAL_FOLDERS = ("/Users", f"/Users/{SANDBOX_USER}", "/Shared")

_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
_AZURE_HOST = re.compile(r"^adb-(\d+)\.\d+\.azuredatabricks\.net$")
_FIRST_OBJECT_ID = 1_000_000_000_000_000  # ids look like the service's: 16 digits and more
_SAFE = " -_.@+,=()~!$'&;"  # kept as they are in file names; `#`, `%`, `/` and the rest are quoted
_DOC_SUFFIX = {DIRECTORY: "#directory.json", NOTEBOOK: "#notebook.json", FILE: "#file.json"}


def workspace_hostname(host: str) -> str:
    """The lower-case host name of a workspace URL (`https://adb-1.1.azuredatabricks.net/` or just the name)."""
    text = host.strip()
    name = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
    if not _HOSTNAME.match(name):
        raise ValueError(f"not a workspace host: {host!r}")
    return name


def workspace_id_for(hostname: str) -> str:
    """The workspace id an Azure host carries (`adb-<id>.<n>.azuredatabricks.net`), else a stable made-up one."""
    match = _AZURE_HOST.match(hostname)
    if match:
        return match.group(1)
    digest = int(hashlib.sha256(hostname.encode("utf-8")).hexdigest(), 16)
    return str(_FIRST_OBJECT_ID + digest % _FIRST_OBJECT_ID)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def canonical_path(path: str) -> str:
    """`path` (absolute, normalised) without the `/Workspace` prefix: `/Workspace/Shared/x` -> `/Shared/x`,
    `/Workspace` -> `/`. Only a first segment spelled exactly `Workspace` is the alias (paths are case-sensitive);
    `/Shared/Workspace/x` is an ordinary folder named Workspace."""
    if path == "/" + WORKSPACE_ROOT_ALIAS:
        return ROOT
    prefix = "/" + WORKSPACE_ROOT_ALIAS + "/"
    return path[len(prefix) - 1 :] if path.startswith(prefix) else path


def parent_of(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def content_bytes(obj: WorkspaceObject) -> bytes:
    """The stored content of a notebook or file as bytes."""
    if "content_base64" in obj:
        return base64.b64decode(obj["content_base64"])
    return str(obj.get("content", "")).encode("utf-8")


def with_content(obj: WorkspaceObject, data: bytes) -> WorkspaceObject:
    """`obj` holding `data`: as text when it is UTF-8 (readable on disk), else as base64."""
    obj.pop("content", None)
    obj.pop("content_base64", None)
    try:
        obj["content"] = data.decode("utf-8")
    except UnicodeDecodeError:
        obj["content_base64"] = base64.b64encode(data).decode("ascii")
    return obj


class WorkspaceState:
    """The objects of one workspace by path (paths are absolute, normalised, compared with case; every method takes
    a path with or without the `/Workspace` prefix and keeps it without)."""

    def __init__(self, root: str | os.PathLike[str], hostname: str) -> None:
        self.root = Path(root)
        self.hostname = hostname
        self.lock = threading.RLock()  # re-entrant: the API holds it across several calls below
        self._objects: dict[str, WorkspaceObject] = {}
        self._children: dict[str, set[str]] = {ROOT: set()}
        self._last_id = _FIRST_OBJECT_ID
        self.workspace_id = self._load_or_create()

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, path: str) -> WorkspaceObject | None:
        """The object at `path` (the root folder included); not copied: replace it with `put`, never change it."""
        path = canonical_path(path)
        if path == ROOT:
            return {"path": ROOT, "object_type": DIRECTORY, "object_id": 0}
        with self.lock:
            return self._objects.get(path)

    def children(self, path: str) -> list[WorkspaceObject]:
        """The direct children of the folder at `path`, sorted by path."""
        path = canonical_path(path)
        with self.lock:
            names = sorted(self._children.get(path, ()))
            return [self._objects[name] for name in names]

    def has_children(self, path: str) -> bool:
        path = canonical_path(path)
        with self.lock:
            return bool(self._children.get(path))

    def __len__(self) -> int:
        with self.lock:
            return len(self._objects)

    # -- writing ---------------------------------------------------------------------------------------------

    def new_object_id(self) -> int:
        with self.lock:
            self._last_id += 1
            return self._last_id

    def put(self, obj: WorkspaceObject) -> None:
        """Store `obj` (its parent folder must be there); replaces the object at its path, of any type."""
        path = canonical_path(obj["path"])
        if path == ROOT:
            raise ValueError("the root folder is not stored")
        obj = {**obj, "path": path}
        with self.lock:
            old = self._objects.get(path)
            if old is not None and old["object_type"] != obj["object_type"]:
                self._doc_file(old).unlink(missing_ok=True)
            stored = copy.deepcopy(obj)
            write_json_atomic(self._doc_file(stored), stored)
            self._objects[path] = stored
            self._children.setdefault(parent_of(path), set()).add(path)
            if stored["object_type"] == DIRECTORY:
                self._children.setdefault(path, set())

    def delete(self, path: str) -> bool:
        """Remove the object at `path` and everything below it; False when it was not there."""
        path = canonical_path(path)
        with self.lock:
            obj = self._objects.get(path)
            if obj is None:
                return False
            for below in [p for p in self._objects if p.startswith(path + "/")]:
                del self._objects[below]
                self._children.pop(below, None)
            del self._objects[path]
            self._children.pop(path, None)
            self._children.get(parent_of(path), set()).discard(path)
            if obj["object_type"] == DIRECTORY:
                shutil.rmtree(self._folder(path), ignore_errors=True)
            else:
                self._doc_file(obj).unlink(missing_ok=True)
            return True

    # -- files -----------------------------------------------------------------------------------------------

    def _folder(self, path: str) -> Path:
        segments = [s for s in path.split("/") if s]
        return (self.root / "tree").joinpath(*(quote(s, safe=_SAFE) for s in segments))

    def _doc_file(self, obj: WorkspaceObject) -> Path:
        path, kind = obj["path"], obj["object_type"]
        if kind == DIRECTORY:
            return self._folder(path) / _DOC_SUFFIX[DIRECTORY]
        folder = self._folder(parent_of(path))
        return folder / (quote(path.rsplit("/", 1)[1], safe=_SAFE) + _DOC_SUFFIX.get(kind, "#object.json"))

    def _load_or_create(self) -> str:
        manifest = self.root / "workspace.json"
        if manifest.is_file():
            try:
                info = json.loads(manifest.read_text(encoding="utf-8"))
                workspace_id = str(info["workspace_id"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{manifest}: not a sandbox workspace description ({err})") from err
            self._load_tree()
            return workspace_id
        workspace_id = workspace_id_for(self.hostname)
        write_json_atomic(manifest, {"host": f"https://{self.hostname}", "workspace_id": workspace_id})
        created = now_ms()
        for path in _INITIAL_FOLDERS:
            self.put(
                {
                    "path": path,
                    "object_type": DIRECTORY,
                    "object_id": self.new_object_id(),
                    "created_at": created,
                    "modified_at": created,
                }
            )
        return workspace_id

    def _load_tree(self) -> None:
        tree = self.root / "tree"
        if not tree.is_dir():
            return
        found: list[WorkspaceObject] = []
        for file in tree.rglob("*#*.json"):
            try:
                obj = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise ValueError(f"{file}: not a sandbox workspace object ({err})") from err
            if not isinstance(obj, dict) or not isinstance(obj.get("path"), str) or "object_type" not in obj:
                raise ValueError(f"{file}: not a sandbox workspace object (no path or object_type)")
            found.append(obj)
        # Objects an older sandbox kept below a `/Workspace/...` path of their own are the same objects as those
        # without the prefix: they are folded in (where both exist, the one without the prefix is kept).
        aliased = [obj for obj in found if canonical_path(obj["path"]) != obj["path"]]
        found = [obj for obj in found if canonical_path(obj["path"]) == obj["path"]]
        kept = {obj["path"] for obj in found}
        folded: list[WorkspaceObject] = []
        for obj in aliased:
            path = canonical_path(obj["path"])
            if path != ROOT and path not in kept:
                kept.add(path)
                folded.append({**obj, "path": path})
        found += folded
        for obj in sorted(found, key=lambda o: o["path"].count("/")):  # folders before what they hold
            path = obj["path"]
            self._objects[path] = obj
            self._children.setdefault(parent_of(path), set()).add(path)
            if obj["object_type"] == DIRECTORY:
                self._children.setdefault(path, set())
            self._last_id = max(self._last_id, int(obj.get("object_id", 0)))
        if aliased:
            for obj in sorted(folded, key=lambda o: o["path"].count("/")):
                write_json_atomic(self._doc_file(obj), obj)
            shutil.rmtree(tree / WORKSPACE_ROOT_ALIAS, ignore_errors=True)
