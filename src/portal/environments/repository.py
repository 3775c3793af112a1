"""Reading the data repository (ADF JSON, portal configuration, parameter files) at one commit or from disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from portal.adf.loader import open_repository, resolve_commit
from portal.errors import PortalError


@dataclass(frozen=True)
class RepoSnapshot:
    """The repository as one commit holds it (`ref` given) or as the working tree has it."""

    root: Path
    ref: str | None = None
    commit: str | None = None  # the resolved hexsha when reading a commit, or HEAD's for the working tree

    @staticmethod
    def open(repo_dir: str | os.PathLike[str] = ".", ref: str | None = None) -> "RepoSnapshot":
        root = Path(repo_dir).resolve()
        if not root.is_dir():
            raise PortalError(str(root), "repository folder does not exist", code="REPO")
        commit = None
        repo = _git_repo(root, required=ref is not None)
        if repo is not None:
            top = Path(repo.working_tree_dir or root).resolve()
            if ref is not None:
                commit = resolve_commit(repo, ref).hexsha
            elif repo.head.is_valid():
                commit = repo.head.commit.hexsha
            root = top
        return RepoSnapshot(root=root, ref=ref, commit=commit)

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or None when it does not exist (at the commit, or on disk)."""
        rel = _safe_relative(path)
        if self.ref is None:
            full = self.root / rel
            return full.read_bytes() if full.is_file() else None
        repo = _git_repo(self.root, required=True)
        tree = repo.commit(self.commit).tree
        try:
            blob = tree / rel
        except KeyError:
            return None
        return blob.data_stream.read() if blob.type == "blob" else None

    def describe(self, path: str) -> str:
        return f"{path}@{self.ref}" if self.ref else path


def _safe_relative(path: str) -> str:
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise PortalError(path, "must be a path inside the repository", code="BAD_PATH")
    return pure.as_posix()


def _git_repo(root: Path, *, required: bool):
    """The repository holding `root`; without one, reading the working tree still works."""
    try:
        return open_repository(root)
    except PortalError:
        if required:
            raise
        return None
