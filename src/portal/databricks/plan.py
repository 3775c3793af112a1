"""The notebook part of a plan: what promoting will change in an environment's workspace folder, path by path.

Git is the source of truth for the target folder: every notebook and file of the repository's notebook folder is
made to match, by content hash. The portal's manifest in the folder says what it deployed last time (path →
hash), and only what the portal put there is ever pruned: objects someone made by hand are left alone (and shown).
The folders are listed once each (one call per folder, not per object). Paths are compared without the
`/Workspace` prefix (`workspace.canonical_workspace_path`), so `/Workspace/Shared/etl` plans as `/Shared/etl`.

Drift (an edit in the workspace since the portal deployed an object) is decided by content: a deployed object is
exported and hashed (in parallel) unless the listing alone proves it unchanged. Only a FILE can be proved so: the
Workspace API documents `modified_at` for files only ("Only applicable to files", ObjectInfo in databricks-sdk's
`databricks/sdk/service/workspace.py`), and a file whose `modified_at` is not after the manifest's own (the manifest
is a file too, written last by every promotion) was not written since. Notebooks carry no documented `modified_at`,
so every deployed notebook is exported on every plan; a missing time never counts as "not edited".

The manifest is rewritten when what it records changes, and also when a file was saved after it without a change
(exported, same hash): the rewrite moves the manifest's time past that save, so later plans skip the export again.
An export alone never asks for a rewrite otherwise (notebooks are exported every time whatever the manifest's
time), so the plan right after a promotion, and every plan after it while nothing changes, is empty.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from portal.databricks.notebooks import (
    FILE,
    NotebookSet,
    NotebookSource,
    content_hash_of_export,
    normalised_hash,
)
from portal.databricks.workspace import (
    DeployedEntry,
    LiveEntry,
    Manifest,
    WorkspaceTarget,
    canonical_workspace_path,
)
from portal.errors import ErrorCode, PortalError

CREATE, UPDATE, DELETE, UNCHANGED = "create", "update", "delete", "unchanged"


@dataclass(frozen=True)
class NotebookChange:
    path: str  # workspace path
    action: str
    kind: str  # "notebook" | "file"
    language: str | None = None
    repo_path: str | None = None  # where it comes from (None for a deletion)
    reason: str = ""
    drift: bool = False  # edited in the workspace since the portal deployed it

    @property
    def label(self) -> str:
        return f"{self.kind} {self.path}"


@dataclass(frozen=True)
class NotebookPlan:
    host: str
    target_folder: str
    source_folder: str
    snapshot: str  # the source set's manifest hash
    changes: tuple[NotebookChange, ...]  # creates, updates and deletions, by path
    unchanged: int
    folders_to_create: tuple[str, ...]  # the deepest missing folders (mkdirs makes their parents)
    folders_to_delete: tuple[str, ...]  # emptied folders the portal made, deepest first
    left_alone: tuple[str, ...]  # objects in the folder the portal did not deploy
    write_manifest: bool

    @property
    def creates(self) -> list[NotebookChange]:
        return [c for c in self.changes if c.action == CREATE]

    @property
    def updates(self) -> list[NotebookChange]:
        return [c for c in self.changes if c.action == UPDATE]

    @property
    def deletions(self) -> list[NotebookChange]:
        return [c for c in self.changes if c.action == DELETE]

    @property
    def drifted(self) -> list[NotebookChange]:
        return [c for c in self.changes if c.drift]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.folders_to_create or self.folders_to_delete or self.write_manifest)

    def counts(self) -> dict[str, int]:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "delete": len(self.deletions),
            "unchanged": self.unchanged,
            "drift": len(self.drifted),
        }


@dataclass(frozen=True)
class PlannedNotebooks:
    """What apply needs beside the plan: the sources (with their content) and the manifest to record."""

    plan: NotebookPlan
    sources: Mapping[str, NotebookSource]  # workspace path → source
    manifest: Manifest = field(repr=False)


def plan_notebooks(
    notebooks: NotebookSet,
    target: WorkspaceTarget,
    *,
    environment: str,
    source_commit: str | None,
    parallelism: int = 4,
) -> PlannedNotebooks:
    root = canonical_workspace_path(notebooks.target_folder)
    where = f"workspace {target.host} → {root}"
    old = target.read_manifest() or Manifest({}, ())
    folders = sorted({root, *notebooks.folders, *(_join(root, f) for f in old.folders)})
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        listings = dict(zip(folders, pool.map(target.list_folder, folders), strict=True))
    live = {entry.path: entry for entries in listings.values() if entries for entry in entries}
    recorded = live.get(target.manifest_path)
    # When the manifest (a FILE: its modified_at is documented) was last written.
    recorded_at = recorded.documented_modified_at if recorded is not None and old.objects else None
    sources = {s.workspace_path: s for s in notebooks.sources}

    def saved_after_manifest(entry: LiveEntry, deployed: DeployedEntry) -> bool | None:
        """For a deployed file: whether its documented modified_at is after the manifest's (True) or not (False).
        None when the listing cannot tell: a notebook (no documented modified_at), a time missing on either side,
        or an object no longer of the kind deployed."""
        modified = entry.documented_modified_at
        if deployed.kind != FILE or recorded_at is None or modified is None:
            return None
        return modified > recorded_at

    # Every deployed object still there is exported and hashed, unless the listing proves it unchanged (a file not
    # modified after the manifest). Sources and objects about to be pruned alike; all in parallel.
    checks: list[tuple[str, str, Callable[[bytes], str]]] = []
    deployed: DeployedEntry | None  # each loop below names the manifest's entry so; a source may have none
    refresh = False  # a file saved after the manifest gets exported: rewriting the manifest spares later plans that
    for relative, deployed in old.objects.items():
        path = _join(root, relative)
        current = live.get(path)
        if current is None or current.is_directory:
            continue
        after = saved_after_manifest(current, deployed)
        if after is False:
            continue
        refresh = refresh or bool(after)
        source = sources.get(path)
        if source is not None:
            checks.append((path, source.export_format, partial(content_hash_of_export, source=source)))
        else:
            checks.append((path, _export_format(deployed), partial(_deployed_hash, deployed=deployed)))

    def check(item: tuple[str, str, Callable[[bytes], str]]) -> str | None:
        path, export_format, hash_of = item
        exported = target.export(path, export_format)
        return None if exported is None else hash_of(exported)

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        found_hashes = dict(zip((path for path, _, _ in checks), pool.map(check, checks), strict=True))
    for path, found in found_hashes.items():
        if found is None:
            live.pop(path, None)  # gone between the listing and the export

    changes: list[NotebookChange] = []
    unchanged = 0
    write_manifest = refresh
    for source in notebooks.sources:
        relative = _relative(root, source.workspace_path)
        deployed = old.objects.get(relative)
        current = live.get(source.workspace_path)

        if current is not None and current.is_directory:
            raise PortalError(
                f"{where} → {source.workspace_path}",
                f"is a folder in the workspace, but {source.repo_path} deploys a {source.kind} there",
                hint="rename one of them",
                code=ErrorCode.NOTEBOOK_PATH,
            )
        found = found_hashes.get(source.workspace_path, deployed.hash if deployed else None)
        if current is None:
            changes.append(_change(source, CREATE, "deleted in the workspace" if deployed else "new"))
        elif deployed is None:
            # Git is the source of truth for the folder: an object made by hand at a source path is replaced.
            changes.append(_change(source, UPDATE, "replaces an object the portal did not deploy"))
        elif found != deployed.hash and found == source.content_hash:
            unchanged += 1  # already what Git has (a run that failed before recording it)
        elif found != deployed.hash:
            changes.append(
                _change(
                    source,
                    UPDATE,
                    "edited in the workspace since it was deployed; Git's version replaces it",
                    drift=True,
                )
            )
        elif deployed.hash != source.content_hash:
            changes.append(_change(source, UPDATE, "changed in Git"))
        else:
            unchanged += 1
        if deployed is None or deployed.hash != source.content_hash:
            write_manifest = True

    pruned: set[str] = set()
    for relative, deployed in sorted(old.objects.items()):
        path = _join(root, relative)
        if path in sources:
            continue
        write_manifest = True
        current = live.get(path)
        if current is None or current.is_directory:
            continue  # already gone: only the manifest forgets it
        pruned.add(path)
        drift = path in found_hashes and found_hashes[path] != deployed.hash
        changes.append(
            NotebookChange(
                path,
                DELETE,
                deployed.kind,
                deployed.language,
                None,
                "no longer in Git" + ("; it was edited in the workspace since it was deployed" if drift else ""),
                drift,
            )
        )

    needed = set(notebooks.folders) | {root}
    missing = [f for f in sorted(needed, key=_depth) if listings.get(f) is None]
    # mkdirs makes the parents too: one call per deepest missing folder.
    to_create = tuple(f for f in missing if not any(other.startswith(f + "/") for other in missing))
    to_delete = _emptied_folders(root, old, needed, listings, pruned)
    managed = set(sources) | {_join(root, r) for r in old.objects} | {target.manifest_path} | set(folders)
    left_alone = tuple(sorted(p for p, e in live.items() if p not in managed and not e.is_directory))
    new_folders = tuple(sorted(_relative(root, f) for f in needed if f != root))
    if set(new_folders) != set(old.folders):
        write_manifest = True
    manifest = Manifest(
        {
            _relative(root, s.workspace_path): DeployedEntry(s.content_hash, s.kind, s.language, s.import_format)
            for s in notebooks.sources
        },
        new_folders,
        notebooks.manifest_hash,
        source_commit,
        environment,
    )
    plan = NotebookPlan(
        target.host,
        root,
        notebooks.source_folder,
        notebooks.manifest_hash,
        tuple(sorted(changes, key=lambda c: c.path)),
        unchanged,
        to_create,
        to_delete,
        left_alone,
        write_manifest or bool(changes),
    )
    return PlannedNotebooks(plan, sources, manifest)


def _change(source: NotebookSource, action: str, reason: str, drift: bool = False) -> NotebookChange:
    return NotebookChange(source.workspace_path, action, source.kind, source.language, source.repo_path, reason, drift)


def _export_format(deployed: DeployedEntry) -> str:
    """The export format to compare a deployed object with its manifest hash (as `NotebookSource.export_format`)."""
    return "JUPYTER" if deployed.format == "JUPYTER" else "SOURCE"


def _deployed_hash(exported: bytes, deployed: DeployedEntry) -> str:
    """The hash of an export of a deployed object Git no longer has, made as its manifest hash was."""
    return normalised_hash(
        exported, kind=deployed.kind, import_format=deployed.format or "SOURCE", language=deployed.language
    )


def _emptied_folders(
    root: str, old: Manifest, needed: set[str], listings: Mapping[str, list[LiveEntry] | None], pruned: set[str]
) -> tuple[str, ...]:
    """Folders the portal made that Git no longer needs and that hold nothing but what is pruned, deepest first."""
    gone: set[str] = set()
    for folder in sorted((_join(root, f) for f in old.folders), key=_depth, reverse=True):
        if folder in needed or listings.get(folder) is None:
            continue
        if all(e.path in pruned or e.path in gone for e in listings[folder] or []):
            gone.add(folder)
    return tuple(sorted(gone, key=_depth, reverse=True))


def _relative(root: str, path: str) -> str:
    return posixpath.relpath(path, root) if path != root else ""


def _join(root: str, relative: str) -> str:
    return root if relative in ("", ".") else f"{root}/{relative}"


def _depth(path: str) -> tuple[int, str]:
    return (path.count("/"), path)
