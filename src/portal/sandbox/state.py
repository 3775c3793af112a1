"""The sandbox's resources: JSON documents keyed by ARM id, each mirrored to its own file.

A resource with id `/subscriptions/S/resourceGroups/R/providers/Microsoft.DataFactory/factories/F/pipelines/P`
lives in `subscriptions/S/resourceGroups/R/factories/F/pipelines/P.json` (the factory itself in
`.../factories/F.json`), so a restarted server sees the same factories and people can read the folder.
Lookups ignore case, as the service does; one lock guards memory and disk together.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from portal.sandbox.service_options import ServiceOptions

Document = dict[str, Any]

_PROVIDER_SEGMENTS = ("providers", "microsoft.datafactory")
# Below a factory but not one of its entities (the 5,000 of the Data Factory limits): pipeline runs.
_NOT_ENTITIES = frozenset({"pipelineruns"})


def new_etag() -> str:
    """A fresh version stamp; every write of a document gets one, as the service's etags change per write."""
    return str(uuid.uuid4())


def _key(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()


class SandboxState:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.lock = threading.RLock()  # re-entrant: API handlers hold it across several calls below
        self.options = ServiceOptions()  # the emulated service's settings (write throttling, run outcomes)
        self._docs: dict[str, Document] = {}
        self._entities: dict[str, int] = {}  # factory key → entities below it (kept as documents come and go)
        self._load()

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, resource_id: str) -> Document | None:
        """A copy, so callers can change it freely and `put` it back."""
        with self.lock:
            doc = self._docs.get(_key(resource_id))
            return copy.deepcopy(doc) if doc is not None else None

    def children(self, parent_id: str, collection: str) -> list[Document]:
        """The direct children of `parent_id` in `collection`, sorted by name (a stable order for paging).

        Not copied (callers copy the few they hand out: a page is 50 of maybe thousands); stored documents are
        replaced on write, never changed in place."""
        prefix = f"{_key(parent_id)}/{collection.lower()}/"
        with self.lock:
            found = [d for k, d in self._docs.items() if k.startswith(prefix) and "/" not in k[len(prefix) :]]
        return sorted(found, key=lambda d: str(d.get("name", "")).lower())

    def descendants(self, parent_id: str) -> Iterator[Document]:
        """Every resource below `parent_id` (not copied: for read-only scans while holding the lock)."""
        prefix = _key(parent_id) + "/"
        return (d for k, d in list(self._docs.items()) if k.startswith(prefix))

    def count_entities(self, factory_id: str) -> int:
        """The factory's entities: every object below it (private endpoints included), but not its runs."""
        with self.lock:
            return self._entities.get(_key(factory_id), 0)

    def factories(self, scope_id: str) -> list[Document]:
        """The factories of a subscription or resource group, sorted by name."""
        prefix = _key(scope_id) + "/"
        with self.lock:
            found = [copy.deepcopy(d) for k, d in self._docs.items() if k.startswith(prefix) and _is_factory_key(k)]
        return sorted(found, key=lambda d: str(d.get("name", "")).lower())

    # -- writing ---------------------------------------------------------------------------------------------

    def put(self, doc: Document) -> None:
        key = _key(doc["id"])
        with self.lock:
            write_json_atomic(_file(self._folder(doc["id"])), doc)
            if key not in self._docs:
                self._count(key, 1)
            self._docs[key] = copy.deepcopy(doc)

    def delete(self, resource_id: str) -> bool:
        """Remove a resource and everything below it; False when it was not there."""
        key = _key(resource_id)
        with self.lock:
            doc = self._docs.get(key)
            if doc is None:
                return False
            folder = self._folder(doc["id"])
            for child in [k for k in self._docs if k.startswith(key + "/")]:
                self._count(child, -1)
                del self._docs[child]
            self._count(key, -1)
            del self._docs[key]
            _file(folder).unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            return True

    # -- files -----------------------------------------------------------------------------------------------

    def _folder(self, resource_id: str) -> Path:
        """Where a resource's children live; the resource itself is the same path plus `.json`."""
        segments = resource_id.strip("/").split("/")
        lowered = [s.lower() for s in segments]
        for i in range(len(lowered) - 1):
            if (lowered[i], lowered[i + 1]) == _PROVIDER_SEGMENTS:
                del segments[i : i + 2]
                break
        # Quoting keeps any name a safe file name; ids carry the names, so loading never relies on file names.
        return self.root.joinpath(*(_file_segment(s) for s in segments))

    def _load(self) -> None:
        top = self.root / "subscriptions"
        if not top.is_dir():
            return
        for path in sorted(top.rglob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise ValueError(f"{path}: not a sandbox resource document ({err})") from err
            if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
                raise ValueError(f"{path}: not a sandbox resource document (no id)")
            self._docs[_key(doc["id"])] = doc
            self._count(_key(doc["id"]), 1)

    def _count(self, key: str, delta: int) -> None:
        factory = _entity_factory(key)
        if factory is not None:
            self._entities[factory] = self._entities.get(factory, 0) + delta


def _is_factory_key(key: str) -> bool:
    parts = key.strip("/").split("/")
    # subscriptions/S/resourcegroups/R/providers/microsoft.datafactory/factories/F
    return len(parts) == 8 and parts[4:7] == ["providers", "microsoft.datafactory", "factories"]


def _entity_factory(key: str) -> str | None:
    """The factory key an entity key is below (None: not an entity, e.g. a factory or a pipeline run)."""
    parts = key.strip("/").split("/")
    if len(parts) < 10 or parts[4:7] != ["providers", "microsoft.datafactory", "factories"]:
        return None
    if parts[8] in _NOT_ENTITIES:
        return None
    if parts[8] == "managedvirtualnetworks" and len(parts) not in (10, 12):
        return None
    return "/" + "/".join(parts[:8])


_MAX_SEGMENT = 120  # bytes; file systems allow 255 per name, and names may have 260 characters, quoted longer


def _file_segment(segment: str) -> str:
    """A file name for one id segment: quoted, and shortened with a digest when too long."""
    quoted = quote(segment, safe=" -_")
    if len(quoted) <= _MAX_SEGMENT:
        return quoted
    digest = hashlib.sha256(segment.encode("utf-8")).hexdigest()[:16]
    return f"{quoted[: _MAX_SEGMENT - 17]}~{digest}"


def _file(folder: Path) -> Path:
    return folder.with_name(folder.name + ".json")


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write through a temporary file and os.replace, so a reader or a crash never sees half a document.

    No fsync: the sandbox trades durability across power loss for speed in tests and benchmarks.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
