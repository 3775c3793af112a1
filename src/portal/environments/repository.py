"""Reading the data repository (ADF JSON, portal configuration, parameter files) at one commit or from disk.

A snapshot at a commit opens the Git repository once, on its first read, and keeps it (with the commit's tree)
for its own lifetime; reads through it are serialised by a lock, because GitPython's object reader is not safe
to share between threads.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from portal import git_repo
from portal.adf.loader import NOT_A_REPOSITORY_FOR_REF
from portal.errors import ErrorCode, PortalError


@dataclass(frozen=True)
class RepoSnapshot:
    """The repository as one commit holds it (`ref` given) or as the working tree has it."""

    root: Path
    ref: str | None = None
    commit: str | None = None  # the resolved hexsha when reading a commit, or HEAD's for the working tree

    @staticmethod
    def open(repo_dir: str | os.PathLike[str] = ".", ref: str | None = None) -> RepoSnapshot:
        root = Path(repo_dir).resolve()
        if not root.is_dir():
            raise PortalError(str(root), "repository folder does not exist", code=ErrorCode.REPO)
        commit = None
        repo = _git_repo(root, required=ref is not None)
        if repo is not None:
            top = Path(repo.working_tree_dir or root).resolve()
            if ref is not None:
                commit = git_repo.resolve_commit(repo, ref).hexsha
            elif repo.head.is_valid():
                commit = repo.head.commit.hexsha
            root = top
        snapshot = RepoSnapshot(root=root, ref=ref, commit=commit)
        if ref is not None:
            # The repository is open already: keep it for the snapshot's reads instead of opening it again.
            snapshot.__dict__["_commit_view"] = _CommitView(repo, commit)
        return snapshot

    def read(self, path: str, *, follow_links: bool = False) -> bytes | None:
        """A file's bytes, or None when it does not exist (at the commit, or on disk).

        A symbolic link on the way (the file itself or a folder above it) is a PortalError (SYMLINK) naming it,
        in both views alike: on disk it could lead anywhere, and at a commit Git holds only the target's path. Only
        a caller that checks links itself (the notebook reader) passes `follow_links=True`.
        """
        rel = _safe_relative(path)
        if self.ref is None:
            full = self.root / rel
            if not follow_links:
                current = self.root
                for part in PurePosixPath(rel).parts:
                    current = current / part
                    if current.is_symlink():
                        link = current.relative_to(self.root).as_posix()
                        raise _link_error(self.describe(link), link, os.readlink(current), rel)
            return full.read_bytes() if full.is_file() else None
        view = self._commit_view
        with view.lock:
            if not follow_links:
                parts = PurePosixPath(rel).parts
                for depth in range(1, len(parts) + 1):
                    item = view.entry("/".join(parts[:depth]))
                    if item is None:
                        return None
                    if item.type == "blob" and item.mode == _GIT_LINK_MODE:
                        raise _link_error(
                            self.describe(item.path),
                            item.path,
                            item.data_stream.read().decode("utf-8", "surrogateescape"),
                            rel,
                        )
                    if item.type != "tree" and depth < len(parts):
                        return None
            item = view.entry(rel)
            return item.data_stream.read() if item is not None and item.type == "blob" else None

    def files(self, folder: str) -> list[str]:
        """The repository-relative POSIX paths of every file below `folder` (recursively), sorted.

        `folder` is repository-relative; "" or "." is the repository's top. At a commit the list comes from the
        commit's tree; for the working tree from the disk, where `.git` and nested repositories (folders with a
        `.git` of their own, which a commit holds as submodule links) are skipped. Symbolic links are listed as
        files in both views (Git stores a link as a blob holding its target; see `link_target`) and never followed.
        A folder that does not exist (or is a file) is a PortalError naming it.
        """
        rel = _safe_relative(folder) if folder not in ("", ".", "/") else ""
        rel = "" if rel == "." else rel
        if self.ref is not None:
            return self._files_at_commit(folder, rel)
        base = self.root / rel if rel else self.root
        if base.is_symlink() or not base.is_dir():
            what = "is not a folder" if base.exists() or base.is_symlink() else "folder does not exist"
            raise PortalError(self.describe(folder or "."), f"{what} in the working tree", code=ErrorCode.NO_FOLDER)
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            kept = []
            for name in dirnames:
                full = here / name
                if full.is_symlink():
                    found.append(full.relative_to(self.root).as_posix())
                elif name != ".git" and not (full / ".git").exists():
                    kept.append(name)
            dirnames[:] = kept
            for name in filenames:
                full = here / name
                if name == ".git":
                    continue
                mode = full.lstat().st_mode
                if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                    found.append(full.relative_to(self.root).as_posix())
        return sorted(found)

    def _files_at_commit(self, folder: str, rel: str) -> list[str]:
        view = self._commit_view
        with view.lock:
            top = view.tree if not rel else view.entry(rel)
            if top is None or top.type != "tree":
                what = "is a file, not a folder" if top is not None else "folder does not exist"
                raise PortalError(
                    self.describe(folder or "."), f"{what} at commit {self.commit}", code=ErrorCode.NO_FOLDER
                )
            blobs = top.traverse(predicate=lambda item, _depth: item.type == "blob")
            return sorted(blob.path for blob in blobs)

    def link_target(self, path: str) -> str | None:
        """The target of a symbolic link (as stored, not resolved), or None when `path` is no link."""
        rel = _safe_relative(path)
        if self.ref is None:
            full = self.root / rel
            return os.readlink(full) if full.is_symlink() else None
        view = self._commit_view
        with view.lock:
            item = view.entry(rel)
            if item is None or item.type != "blob" or item.mode != _GIT_LINK_MODE:
                return None
            return item.data_stream.read().decode("utf-8", "surrogateescape")

    def describe(self, path: str) -> str:
        return f"{path}@{self.ref}" if self.ref else path

    @cached_property
    def _commit_view(self) -> _CommitView:
        # cached_property stores into the instance's __dict__ directly, which a frozen dataclass (without slots)
        # allows; the cache is no field, so equality, hashing and repr ignore it.
        return _CommitView(_git_repo(self.root, required=True), self.commit)

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles carry the fields only; the open repository is made again when needed.
        return {k: v for k, v in self.__dict__.items() if k != "_commit_view"}


_GIT_LINK_MODE = 0o120000


class _CommitView:
    """One open repository and the tree of one of its commits."""

    def __init__(self, repo: Any, commit: str | None):
        self.repo = repo
        self.tree = repo.commit(commit).tree
        self.lock = threading.Lock()

    def entry(self, rel: str) -> Any | None:
        try:
            return self.tree / rel
        except KeyError:
            return None


def _link_error(where: str, link: str, target: str, path: str) -> PortalError:
    inside = "" if link == path else f", on the way to {path}"
    return PortalError(
        where,
        f"is a symbolic link (to {target!r}){inside}: the portal does not follow links in the "
        "repository, which can lead out of it",
        hint="commit the file itself",
        code=ErrorCode.SYMLINK,
    )


def _safe_relative(path: str) -> str:
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise PortalError(path, "must be a path inside the repository", code=ErrorCode.BAD_PATH)
    return pure.as_posix()


def _git_repo(root: Path, *, required: bool):
    """The repository holding `root`; without one, reading the working tree still works."""
    try:
        return git_repo.open_repo(root, what=NOT_A_REPOSITORY_FOR_REF)
    except PortalError:
        if required:
            raise
        return None
