"""The notebook part of a plan: what promoting will change in an environment's workspace folder, path by path.

Git is the source of truth for the target folder: every notebook and file of the repository's notebook folder is
made to match, by content hash. The portal's manifest in the folder says what it deployed last time (path →
hash), so an unchanged notebook costs no call of its own, and only what the portal put there is ever pruned:
objects someone made by hand are left alone (and shown). The folders are listed once each (one call per folder,
not per notebook); a deployed notebook modified after the manifest was written is exported and hashed, which
tells a real edit (drift) from a save that changed nothing.
"""

from __future__ import annotations

import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping

from portal.databricks.notebooks import NotebookSet, NotebookSource, content_hash_of_export
from portal.databricks.workspace import DeployedEntry, LiveEntry, Manifest, WorkspaceTarget
from portal.errors import PortalError

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
        return {"create": len(self.creates), "update": len(self.updates), "delete": len(self.deletions),
                "unchanged": self.unchanged, "drift": len(self.drifted)}


@dataclass(frozen=True)
class PlannedNotebooks:
    """What apply needs beside the plan: the sources (with their content) and the manifest to record."""

    plan: NotebookPlan
    sources: Mapping[str, NotebookSource]  # workspace path → source
    manifest: Manifest = field(repr=False)


def plan_notebooks(notebooks: NotebookSet, target: WorkspaceTarget, *, environment: str,
                   source_commit: str | None, parallelism: int = 4) -> PlannedNotebooks:
    root = notebooks.target_folder
    where = f"workspace {target.host} → {root}"
    old = target.read_manifest() or Manifest({}, ())
    folders = sorted({root, *notebooks.folders, *(_join(root, f) for f in old.folders)})
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        listings = dict(zip(folders, pool.map(target.list_folder, folders)))
    live = {entry.path: entry for entries in listings.values() if entries for entry in entries}
    recorded = live.get(target.manifest_path)
    recorded_at = recorded.modified_at if recorded is not None and old.objects else None

    def edited(entry: LiveEntry) -> bool:
        # Modified after the manifest was written: someone (or a run that failed before recording) changed it.
        return recorded_at is None or (entry.modified_at or 0) > recorded_at

    def live_hash(source: NotebookSource) -> str | None:
        exported = target.export(source.workspace_path, source.export_format)
        return None if exported is None else content_hash_of_export(exported, source)

    # Deployed objects modified since the manifest was written are exported (in parallel) and hashed: a real edit
    # is drift, a save without a change is not.
    candidates = [s for s in notebooks.sources
                  if (current := live.get(s.workspace_path)) is not None and not current.is_directory
                  and _relative(root, s.workspace_path) in old.objects and edited(current)]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        found_hashes = dict(zip((s.workspace_path for s in candidates), pool.map(live_hash, candidates)))

    changes: list[NotebookChange] = []
    unchanged = 0
    # Once anything had to be exported, the manifest is written again: its time then covers those saves, so the
    # next plan does not export them once more.
    write_manifest = bool(candidates)
    for source in notebooks.sources:
        relative = _relative(root, source.workspace_path)
        deployed = old.objects.get(relative)
        current = live.get(source.workspace_path)

        def change(action: str, reason: str, drift: bool = False) -> NotebookChange:
            return NotebookChange(source.workspace_path, action, source.kind, source.language, source.repo_path,
                                  reason, drift)

        if current is not None and current.is_directory:
            raise PortalError(f"{where} → {source.workspace_path}",
                              f"is a folder in the workspace, but {source.repo_path} deploys a {source.kind} there",
                              hint="rename one of them", code="NOTEBOOK_PATH")
        found = found_hashes.get(source.workspace_path, deployed.hash if deployed else None)
        if current is None:
            changes.append(change(CREATE, "deleted in the workspace" if deployed else "new"))
        elif deployed is None:
            # Git is the source of truth for the folder: an object made by hand at a source path is replaced.
            changes.append(change(UPDATE, "replaces an object the portal did not deploy"))
        elif found != deployed.hash and found == source.content_hash:
            unchanged += 1  # already what Git has (a run that failed before recording it)
        elif found != deployed.hash:
            changes.append(change(UPDATE, "edited in the workspace since it was deployed; Git's version "
                                          "replaces it", drift=True))
        elif deployed.hash != source.content_hash:
            changes.append(change(UPDATE, "changed in Git"))
        else:
            unchanged += 1
        if deployed is None or deployed.hash != source.content_hash:
            write_manifest = True

    sources = {s.workspace_path: s for s in notebooks.sources}
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
        drift = edited(current) and _edited_content(target, path, deployed)
        changes.append(NotebookChange(path, DELETE, deployed.kind, deployed.language, None,
                                      "no longer in Git" + ("; it was edited in the workspace since it was deployed"
                                                            if drift else ""), drift))

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
        {_relative(root, s.workspace_path): DeployedEntry(s.content_hash, s.kind, s.language, s.import_format)
         for s in notebooks.sources},
        new_folders, notebooks.manifest_hash, source_commit, environment)
    plan = NotebookPlan(target.host, root, notebooks.source_folder, notebooks.manifest_hash,
                        tuple(sorted(changes, key=lambda c: c.path)), unchanged, to_create, to_delete, left_alone,
                        write_manifest or bool(changes))
    return PlannedNotebooks(plan, sources, manifest)


def _edited_content(target: WorkspaceTarget, path: str, deployed: DeployedEntry) -> bool:
    """Whether a deployed object about to be pruned differs from what the portal put there."""
    from portal.databricks.notebooks import normalised_hash

    export_format = "JUPYTER" if deployed.format == "JUPYTER" else "SOURCE"
    exported = target.export(path, export_format)
    if exported is None:
        return False
    return normalised_hash(exported, kind=deployed.kind, import_format=deployed.format or "SOURCE",
                           language=deployed.language) != deployed.hash


def _emptied_folders(root: str, old: Manifest, needed: set[str], listings: Mapping[str, list[LiveEntry] | None],
                     pruned: set[str]) -> tuple[str, ...]:
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
