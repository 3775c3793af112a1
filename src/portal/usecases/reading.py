"""What the pages open to read: the promotions of a repository, the repository at a commit, an environment as it
would be deployed. The pages cache these per commit (a commit never changes)."""

from __future__ import annotations

import os

from portal.environments.render import RenderedEnvironment, render_environment
from portal.environments.workspace import MappingWorkspace
from portal.promotion.service import Promotions


def open_promotions(repo_root: str | os.PathLike[str]) -> Promotions:
    """The promotions of the data repository, with its audit store (where the main branch's portal.yaml says)."""
    return Promotions.open(repo_root)


def workspace_at(repo_root: str | os.PathLike[str], commit: str | None = None) -> MappingWorkspace:
    """The data repository at `commit` (None: the working tree), parsed once."""
    return MappingWorkspace.open(repo_root, commit)


def rendered(workspace: MappingWorkspace, environment: str) -> RenderedEnvironment:
    """What `environment` receives: the templates with its parameter values (secrets only as their source)."""
    return render_environment(workspace, environment)
