"""A snapshot: the immutable thing a promotion moves up the environments.

It is named by what it deploys — the source commit, the hash of the exported ARM template and the hash of the
notebook set — so the same content is the same snapshot in every environment. What differs per environment (its
parameter file, its rendered resources) is recorded with each promotion, as content-addressed artifacts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.errors import ErrorCode, PortalError

if TYPE_CHECKING:
    from portal.environments.workspace import MappingWorkspace


@dataclass(frozen=True)
class SnapshotContent:
    id: str
    source_commit: str
    template_hash: str
    notebook_hash: str | None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot_of(workspace: MappingWorkspace) -> SnapshotContent:
    """The snapshot a workspace read at a commit represents."""
    commit = workspace.snapshot.commit
    if workspace.snapshot.ref is None or commit is None:
        raise PortalError(
            str(workspace.snapshot.root),
            "a promotion needs a commit, not the working tree",
            hint="promote a branch or commit (--ref), by default the main branch",
            code=ErrorCode.SNAPSHOT,
        )
    template_hash = sha256(canonical_json(workspace.export.template))
    notebook_hash = _notebook_hash(workspace)
    identity = canonical_json({"commit": commit, "template": template_hash, "notebooks": notebook_hash})
    return SnapshotContent(sha256(identity)[:16], commit, template_hash, notebook_hash)


def _notebook_hash(workspace: MappingWorkspace) -> str | None:
    from portal.databricks.notebooks import load_notebooks

    targets = [env.databricks for env in workspace.config.environments if env.databricks is not None]
    if not targets:
        return None
    settings = workspace.config.databricks
    # The notebook set's hash is over paths relative to the target folder, so any environment's folder gives it.
    notebooks = load_notebooks(
        workspace.snapshot,
        settings.source_folder,
        targets[0].target_folder,
        allowed_roots=settings.allowed_roots,
        base_folder=settings.source_folder,
    )
    return notebooks.manifest_hash
