"""The one seam to Git: the only module of the portal that imports GitPython and opens a repository.

Everything else asks here: open the repository that holds a folder (with the clear error its caller names when
there is none), resolve a ref to a commit, find the common Git folder, list the refs one may promote, create a
repository, and the few plumbing helpers the commit writer (`portal.environments.git_store`) runs Git with. Callers
may go on using the `git.Repo` (and commit, tree) objects these functions return; they only never import GitPython
themselves (tests/test_git_repo.py checks it).

GitPython is imported inside each function, never when this module is imported: the folder export (`portal.adf`)
imports this module through the loader, and must keep working where Git is not installed (GitPython's import
fails without a `git` executable). `python -X importtime -c "import portal.adf"` lists no `git`.

This module imports nothing of the portal but `portal.errors` (the bottom layer of pyproject's contract).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from portal.errors import ErrorCode, PortalError

if TYPE_CHECKING:
    import git

__all__ = [
    "GitRef",
    "PushResult",
    "commit_paths",
    "common_dir",
    "find_commit",
    "git_command",
    "git_executable",
    "init_repo",
    "open_repo",
    "push",
    "tree_blobs",
    "recent_refs",
    "resolve_commit",
    "symbolic_target",
]

NOT_A_REPOSITORY = "is not a Git repository"


# --- opening ---------------------------------------------------------------------------------------------------


def open_repo(
    path: str | os.PathLike[str],
    *,
    search_parents: bool = True,
    what: str = NOT_A_REPOSITORY,
    code: ErrorCode = ErrorCode.GIT,
) -> git.Repo:
    """The Git repository at `path`, or a PortalError(`str(path)`, `what`, code=`code`) when there is none.

    With `search_parents` (the default) it is the repository that *contains* `path`: a file, or a path that does
    not exist yet, is looked up from its folder, and the folders above are searched. Without it, `path` must be
    the repository itself (its top folder, or a bare repository's folder). The caller closes the repository
    (`with open_repo(...) as repo:`); it holds Git processes open until then.
    """
    import git  # GitPython; imported here so folder exports work without Git installed (see the docstring above)

    try:
        if not search_parents:
            return git.Repo(path)
        start = Path(path).resolve()
        return git.Repo(start if start.is_dir() else start.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise PortalError(str(path), what, code=code) from exc


def common_dir(path: str | os.PathLike[str]) -> Path | None:
    """The common Git folder (shared by all worktrees) of the repository containing `path`; None where `path` is
    in no Git repository, or Git cannot be used here at all."""
    try:
        import git

        repo = git.Repo(path, search_parent_directories=True)
    except Exception:  # noqa: BLE001 - not a repository, or no Git installed (GitPython's import fails then)
        return None
    try:
        return Path(repo.common_dir).resolve()
    finally:
        repo.close()


def init_repo(path: str | os.PathLike[str], initial_branch: str = "main") -> git.Repo:
    """A new, empty repository at `path` whose first commit will be on `initial_branch`."""
    import git

    return git.Repo.init(path, initial_branch=initial_branch)


def commit_paths(repo: git.Repo, paths: Iterable[str], message: str, *, author_name: str, author_email: str) -> str:
    """Stage `paths` (relative to the working tree) and commit them with this author as author and committer;
    the new commit's id."""
    import git

    repo.index.add(list(paths))
    actor = git.Actor(author_name, author_email)
    return repo.index.commit(message, author=actor, committer=actor).hexsha


# --- refs ------------------------------------------------------------------------------------------------------


def find_commit(repo: git.Repo, ref: str) -> git.Commit | None:
    """The commit `ref` names (a branch, tag, full ref, commit id, `HEAD~2` ...), or None when it names none."""
    import git

    try:
        commit = repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError):
        return None
    # GitPython hands out the all-zero id unchecked; it is Git's "no object", never a commit.
    return None if commit.binsha == git.Object.NULL_BIN_SHA else commit


def resolve_commit(repo: git.Repo, ref: str) -> git.Commit:
    """The commit `ref` names, or a PortalError (GIT_REF) that quotes the ref."""
    commit = find_commit(repo, ref)
    if commit is None:
        top = repo.working_tree_dir or repo.git_dir
        raise PortalError(f"{top}@{ref}", f"Git ref {ref!r} does not name a commit", code=ErrorCode.GIT_REF)
    return commit


def symbolic_target(repo: git.Repo, ref: str) -> str | None:
    """The full name of the ref the symbolic ref `ref` points at (e.g. `refs/remotes/origin/HEAD` →
    `refs/remotes/origin/main`), or None when there is no such symbolic ref. Read from the ref files: no Git
    process is started (this runs on every page's access check)."""
    import git

    try:
        return str(git.SymbolicReference(repo, ref).reference.path)
    except (TypeError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class GitRef:
    """One thing one may promote, as `recent_refs` lists it."""

    kind: Literal["branch", "tag", "commit"]
    name: str  # the branch's or tag's short name; a commit's full id
    commit: str  # the full id of the commit it names
    subject: str  # the first line of that commit's message ("" when it has none)
    author: str  # the commit's author's name
    committed: datetime  # when it was committed, in UTC


def recent_refs(repo_root: str | os.PathLike[str], main_branch: str, recent: int = 15) -> tuple[GitRef, ...]:
    """The refs of the repository at `repo_root`, in the order a person picks from: the main branch first, then
    the other (local) branches and the tags by name, then the main branch's `recent` newest commits, newest first.

    The main branch is read as `refs/heads/<main_branch>`, so a tag of the same name cannot shadow it. A ref that
    does not name a commit (the main branch missing) is a PortalError (GIT_REF)."""
    with open_repo(repo_root) as repo:
        main_ref = f"refs/heads/{main_branch}"
        refs = [_git_ref("branch", main_branch, resolve_commit(repo, main_ref))]
        refs += [
            _git_ref("branch", branch.name, branch.commit)
            for branch in sorted(repo.heads, key=lambda b: b.name)
            if branch.name != main_branch
        ]
        refs += [_git_ref("tag", tag.name, tag.commit) for tag in sorted(repo.tags, key=lambda t: t.name)]
        refs += [_git_ref("commit", commit.hexsha, commit) for commit in repo.iter_commits(main_ref, max_count=recent)]
        return tuple(refs)


def _git_ref(kind: Literal["branch", "tag", "commit"], name: str, commit: git.Commit) -> GitRef:
    message = str(commit.message).strip()
    return GitRef(
        kind=kind,
        name=name,
        commit=commit.hexsha,
        subject=message.splitlines()[0] if message else "",
        author=str(commit.author.name),
        committed=datetime.fromtimestamp(commit.committed_date, UTC),
    )


# --- running Git ---------------------------------------------------------------------------------------------------


def git_executable() -> str:
    """The `git` program GitPython runs (GIT_PYTHON_GIT_EXECUTABLE when set)."""
    import git

    return git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"


def git_command(working_dir: str | os.PathLike[str]) -> git.Git:
    """A runner of `git` commands in `working_dir` (e.g. a linked worktree), without opening a repository."""
    import git

    return git.Git(str(working_dir))


@dataclass(frozen=True)
class PushResult:
    """What `push` reports. `error` is Git's own words when the push did not get to the remote's answer
    (unreachable, authentication, timeout); otherwise `refused` are the summaries of the refs the remote refused
    (or could not update) and `pushed` how many refs it answered for."""

    error: str | None
    refused: tuple[str, ...] = ()
    pushed: int = 0
    remote_lines: tuple[str, ...] = ()  # the "remote: ..." lines a hook printed


def push(repo: git.Repo, remote: str, refspec: str, *, timeout_s: float) -> PushResult:
    """Push `refspec` to `remote`, never waiting for a password prompt, killed after `timeout_s`. A refused push
    does not raise: it is in the result."""
    import git

    progress = git.RemoteProgress()  # collects the "remote: ..." lines hooks print
    try:
        with repo.git.custom_environment(GIT_TERMINAL_PROMPT="0"):
            infos = repo.remote(remote).push(refspec, progress=progress, kill_after_timeout=timeout_s)
    except git.GitCommandError as exc:
        return PushResult(error=str(exc.stderr).strip())
    # A rejected push does not raise in GitPython: the refusal is in each PushInfo's flags.
    failed = git.PushInfo.ERROR | git.PushInfo.REJECTED | git.PushInfo.REMOTE_REJECTED | git.PushInfo.REMOTE_FAILURE
    return PushResult(
        error=None,
        refused=tuple(info.summary.strip() for info in infos if info.flags & failed),
        pushed=len(infos),
        remote_lines=tuple(line for line in progress.other_lines if line.startswith("remote:")),
    )


def tree_blobs(tree: git.Tree) -> Iterator[git.Blob]:
    """Every blob (file or symbolic link) below `tree`, depth first; submodules, a repository of their own, are
    not entered."""
    import git

    for item in tree.traverse(prune=lambda entry, _depth: getattr(entry, "type", None) == "submodule"):
        if isinstance(item, git.Blob):
            yield item
