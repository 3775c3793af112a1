"""Edits made through the portal, saved as Git commits without a checkout.

Several users' edits may be in flight at once, and the repository the portal reads may be someone's checkout, so
nothing here touches a working tree, an index or HEAD while building a commit:

- blobs are written with `git hash-object -w --no-filters` (the exact bytes, as the portal read them from blobs);
- the tree is built in a temporary index file (GIT_INDEX_FILE) with `read-tree`, `update-index --index-info` and
  `write-tree`, and the commit with `commit-tree`;
- the branch moves with `git update-ref <ref> <new> <old>`, a compare-and-swap: an edit based on a commit that is no
  longer the branch's head is refused (BASE_MOVED) even when another writer gets in between the check and the move.

The one exception is a direct commit to a branch that a working tree has checked out: that working tree must be
clean, and after the ref moved it is brought along with `git read-tree -m -u <old> <new>`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal import git_repo
from portal.errors import ErrorCode, PortalError

if TYPE_CHECKING:
    import git

__all__ = ["Author", "CommitResult", "FileChange", "commit_changes", "head_of"]

# Pushing must never wait for a password prompt on a server, nor forever on a dead remote.
PUSH_TIMEOUT_S = 300.0

_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 repositories
_REGULAR, _EXECUTABLE = "100644", "100755"
_MODE_NAMES = {"120000": "a symbolic link", "160000": "a submodule"}


@dataclass(frozen=True)
class FileChange:
    path: str  # repository-relative, forward slashes
    content: bytes | None  # None deletes the file


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    @staticmethod
    def parse(text: str) -> Author:
        """`Name <email>`, as Git writes authors."""
        match = re.fullmatch(r"\s*(.+?)\s*<([^<>\s]+@[^<>\s]+)>\s*", text)
        if not match:
            raise PortalError("author", f'{text!r} is not "Name <email>"', code=ErrorCode.BAD_AUTHOR)
        return Author(match.group(1), match.group(2))

    @staticmethod
    def from_git_config(repo_dir: str | os.PathLike[str]) -> Author:
        """The repository's configured Git user, for edits made on this machine."""
        repo = git_repo.open_repo(repo_dir)
        try:
            reader = repo.config_reader()
            name = str(reader.get_value("user", "name", default=""))
            email = str(reader.get_value("user", "email", default=""))
        finally:
            repo.close()
        if not name or not email:
            raise PortalError(
                "author",
                "none given and no Git user configured",
                hint='pass --author "Name <email>"',
                code=ErrorCode.BAD_AUTHOR,
            )
        return Author(name, email)


@dataclass(frozen=True)
class CommitResult:
    branch: str
    commit: str  # full hexsha
    base: str  # the hexsha the edit was based on
    pushed: bool


def head_of(repo_dir: str | os.PathLike[str], branch: str) -> str:
    """The hexsha `refs/heads/<branch>` points at; an edit started now is based on it."""
    with _open(repo_dir) as repo:
        return _head(repo, branch, f"{repo_dir}@{branch}")


def commit_changes(
    repo_dir: str | os.PathLike[str],
    changes: Sequence[FileChange],
    *,
    base_branch: str,
    expected_base: str,
    author: Author,
    message: str,
    branch: str | None = None,
    allow_direct: bool = False,
    push: bool = False,
    remote: str = "origin",
) -> CommitResult:
    """Commit `changes` on top of `expected_base`: on the new branch `branch`, or directly on `base_branch`.

    Everything that can be checked is checked before anything is written; the ref moves last, atomically.
    """
    where = f"{repo_dir}@{base_branch}"
    _check_message(message, where)
    _check_author(author, where)
    checked = _checked_changes(changes, where)
    if branch is None and not allow_direct:
        raise PortalError(
            where,
            f"direct commits to {base_branch} are not allowed",
            hint=f"the configuration does not allow direct commits to {base_branch}; "
            "a branch will be created instead if you give one",
            code=ErrorCode.DIRECT_COMMIT_REFUSED,
        )
    repo = _open(repo_dir)
    try:
        if branch is not None:
            branch = _new_branch_name(repo, branch, base_branch, f"{repo_dir}@{branch}")
        if push and remote not in {r.name for r in repo.remotes}:
            raise PortalError(
                where, f"the repository has no remote {remote!r}; nothing was committed", code=ErrorCode.UNKNOWN_REMOTE
            )

        base = expected_base.strip().lower()
        if not _FULL_SHA.fullmatch(base):
            raise PortalError(
                where,
                f"expected base {expected_base!r} is not a full commit id",
                hint="pass the hexsha head_of returned when the edit began",
                code=ErrorCode.BAD_BASE,
            )
        current = _head(repo, base_branch, where)
        if current != base:
            raise _base_moved(where, base_branch, base, current)

        target = branch if branch is not None else base_branch
        ref = f"refs/heads/{target}"
        if branch is not None and _ref(repo, ref) is not None:
            raise _branch_exists(repo_dir, branch)
        # A new branch is checked out nowhere; a direct commit must keep the checkouts of base_branch consistent.
        checkouts = [] if branch is not None else _checkouts_ready(repo, base_branch, base, checked, where)

        identity = _identity_env(author)
        commit = _write_commit(repo, base, checked, identity, message, where)
        subject = message.strip().splitlines()[0].strip()
        old = base if branch is None else "0" * len(base)  # all zeros: the ref must not exist yet
        status, _, err = _run(repo.git, "update-ref", "-m", f"portal: {subject}", ref, commit, old, env=identity)
        if status != 0:
            now = _ref(repo, ref)
            if branch is not None and now is not None:
                raise _branch_exists(repo_dir, branch)
            if branch is None and now != base:
                raise _base_moved(where, base_branch, base, now)
            raise PortalError(f"{repo_dir}@{target}", f"could not move the branch: {err}", code=ErrorCode.GIT)
        _follow(repo, checkouts, ref, base, commit, subject, identity, where)

        if push:
            _push(repo, remote, target, commit, f"{repo_dir}@{target}")
        return CommitResult(branch=target, commit=commit, base=base, pushed=push)
    finally:
        repo.close()  # ends GitPython's persistent cat-file processes; a portal server runs for long


# --- checks ----------------------------------------------------------------------------------------------------


def _check_message(message: str, where: str) -> None:
    first = message.split("\n", 1)[0].strip()
    if not first or "\0" in message:
        raise PortalError(
            where, "the commit message needs a first line that says what changed", code=ErrorCode.BAD_MESSAGE
        )


def _check_author(author: Author, where: str) -> None:
    # Git strips or refuses these in identities; better to say so than to commit a mangled name.
    for value in (author.name, author.email):
        if not value.strip() or any(c in value for c in "<>\n\0"):
            raise PortalError(
                where,
                f"author {author.name!r} <{author.email}> is not a usable Git identity",
                code=ErrorCode.BAD_AUTHOR,
            )


def _checked_changes(changes: Sequence[FileChange], where: str) -> list[FileChange]:
    seen: set[str] = set()
    for change in changes:
        problem = _path_problem(change.path)
        if problem is None and change.path in seen:
            problem = "is changed twice in the same edit"
        if problem is not None:
            raise PortalError(
                f"{where}:{change.path}",
                problem,
                hint="give a repository-relative path with forward slashes",
                code=ErrorCode.BAD_PATH,
            )
        seen.add(change.path)
    return list(changes)


def _path_problem(path: str) -> str | None:
    """Why `path` cannot be written, or None. Git would silently skip most of these ("Ignoring path")."""
    if not path:
        return "is empty"
    if "\\" in path or "\0" in path:
        return "contains a backslash or NUL"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "is absolute: it must stay inside the repository"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "has an empty, '.' or '..' part: it must stay inside the repository"
        if part.lower() == ".git":
            return "is inside .git"
    return None


def _new_branch_name(repo: git.Repo, name: str, base_branch: str, where: str) -> str:
    """The short name of the branch an edit creates: `refs/heads/X` is X; never the main branch itself (that is a
    direct commit), never another kind of ref, and only what `git check-ref-format --branch` accepts."""
    short = name[len("refs/heads/") :] if name.startswith("refs/heads/") else name
    if short.startswith("refs/") or short in ("refs", "HEAD"):
        raise PortalError(
            where,
            f"{name!r} is not a branch name: it names a ref outside refs/heads",
            hint="give the branch's short name, e.g. params/test-change",
            code=ErrorCode.BAD_BRANCH,
        )
    _check_branch_name(repo, short, where)
    if short == base_branch:
        raise PortalError(
            where,
            f"{name!r} is the main branch {base_branch!r}: an edit is committed on a new branch",
            hint="give a new branch name, or commit to the main branch with --direct where portal.yaml allows it",
            code=ErrorCode.BRANCH_IS_MAIN,
        )
    return short


def _check_branch_name(repo: git.Repo, name: str, where: str) -> None:
    # --branch also refuses names starting with "-" and HEAD; it expands @{-1}, hence the comparison.
    status, out, err = _run(repo.git, "check-ref-format", "--branch", name)
    if status != 0 or out != name:
        raise PortalError(
            where,
            f"{name!r} is not a valid branch name",
            hint="use letters, digits, '-', '_', '.' and '/' (no spaces, '..' or '~^:?*[\\')",
            code=ErrorCode.BAD_BRANCH,
        )


def _base_moved(where: str, branch: str, expected: str, current: str | None) -> PortalError:
    now = current[:8] if current else "deleted"
    return PortalError(
        where,
        f"{branch} is now at {now}, not at {expected[:8]} where the edit began: "
        "someone else changed it since the edit began",
        hint=f"reload {branch} and redo the edit",
        code=ErrorCode.BASE_MOVED,
    )


def _branch_exists(repo_dir: str | os.PathLike[str], branch: str) -> PortalError:
    return PortalError(
        f"{repo_dir}@{branch}",
        f"branch {branch} already exists",
        hint="choose another branch name",
        code=ErrorCode.BRANCH_EXISTS,
    )


# --- Git ---------------------------------------------------------------------------------------------------------


def _open(repo_dir: str | os.PathLike[str]) -> git.Repo:
    return git_repo.open_repo(repo_dir, search_parents=False)  # "<repo_dir>: is not a Git repository" (GIT)


def _run(
    # GitPython accepts env, istream and with_exceptions, but its overloads of `execute` leave them out.
    cmd: Any,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> tuple[int, str, str]:
    """Run `git <args>` where `cmd` works; return status, stdout and stderr (never raises on a failed command)."""
    command = [git_repo.git_executable(), *args]
    if stdin is None:
        status, out, err = cmd.execute(command, env=dict(env or {}), with_extended_output=True, with_exceptions=False)
    else:
        with tempfile.TemporaryFile() as istream:  # GitPython's istream must be a real file: it becomes stdin
            istream.write(stdin)
            istream.seek(0)
            status, out, err = cmd.execute(
                command, istream=istream, env=dict(env or {}), with_extended_output=True, with_exceptions=False
            )
    return status, str(out), str(err)


def _out(
    repo: git.Repo, *args: str, where: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> str:
    status, out, err = _run(repo.git, *args, env=env, stdin=stdin)
    if status != 0:
        raise PortalError(where, f"git {args[0]} failed: {err.strip()}", code=ErrorCode.GIT)
    return out


def _ref(repo: git.Repo, ref: str) -> str | None:
    # show-ref --verify takes the full ref name literally (rev-parse would also try refs/heads/refs/heads/...).
    status, out, _ = _run(repo.git, "show-ref", "--verify", "--hash", ref)
    return out.strip() if status == 0 else None


def _head(repo: git.Repo, branch: str, where: str) -> str:
    status, out, _ = _run(repo.git, "check-ref-format", "--branch", branch)
    sha = _ref(repo, f"refs/heads/{branch}") if status == 0 and out == branch else None
    if sha is None:
        raise PortalError(where, f"there is no branch {branch!r}", code=ErrorCode.UNKNOWN_BRANCH)
    return sha


def _identity_env(author: Author) -> dict[str, str]:
    # Git's raw date format, "<epoch seconds> <+hhmm>", carries the local UTC offset.
    now = datetime.now().astimezone()
    date = f"{int(now.timestamp())} {now.strftime('%z')}"
    return {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": author.name,
        "GIT_COMMITTER_EMAIL": author.email,
        "GIT_COMMITTER_DATE": date,
    }


def _write_commit(
    repo: git.Repo, base: str, changes: list[FileChange], identity: Mapping[str, str], message: str, where: str
) -> str:
    """The commit of `changes` on top of `base`, built in a temporary index; no ref moves yet."""
    with tempfile.TemporaryDirectory(prefix="portal-commit-") as tmp:
        # A temporary index (not GitPython's IndexFile.from_tree, which moves .git/index aside meanwhile).
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _out(repo, "read-tree", base, where=where, env=index)
        files = _index_files(repo, index, where)
        planned = _plan(files, changes, where)

        writes = [c for c in changes if c.content is not None]
        blob_paths = []
        for number, change in enumerate(writes):
            blob_path = os.path.join(tmp, f"blob-{number}")
            Path(blob_path).write_bytes(change.content or b"")
            blob_paths.append(blob_path)
        shas = (
            _out(
                repo,
                "hash-object",
                "-w",
                "--no-filters",
                "--stdin-paths",
                where=where,
                stdin="".join(p + "\n" for p in blob_paths).encode(),
            ).split()
            if writes
            else []
        )

        zero = "0" * len(base)
        lines = [f"0 {zero}\t{c.path}" for c in changes if c.content is None]  # mode 0 removes the entry
        for change, sha in zip(writes, shas, strict=False):
            mode = planned[change.path][0]
            planned[change.path] = (mode, sha)
            lines.append(f"{mode} {sha}\t{change.path}")
        _out(
            repo,
            "update-index",
            "-z",
            "--index-info",
            where=where,
            env=index,
            stdin="".join(line + "\0" for line in lines).encode(),
        )
        # update-index skips paths it refuses with only a warning: make sure the index is what was planned.
        refused = sorted(set(planned) ^ set(_index_files(repo, index, where)))
        if refused:
            raise PortalError(f"{where}:{refused[0]}", "Git refuses this path", code=ErrorCode.BAD_PATH)
        tree = _out(repo, "write-tree", where=where, env=index).strip()

    if tree == _out(repo, "rev-parse", f"{base}^{{tree}}", where=where).strip():
        raise PortalError(
            where, "the edit changes nothing: the files already have this content", code=ErrorCode.NOTHING_CHANGED
        )
    message_file = None
    try:
        with tempfile.NamedTemporaryFile("wb", prefix="portal-message-", delete=False) as handle:
            handle.write(message.rstrip().encode() + b"\n")
            message_file = handle.name
        return _out(repo, "commit-tree", tree, "-p", base, "-F", message_file, where=where, env=identity).strip()
    finally:
        if message_file:
            os.unlink(message_file)


def _index_files(repo: git.Repo, env: Mapping[str, str], where: str) -> dict[str, tuple[str, str]]:
    """path → (mode, sha) of every entry in the index `env` names."""
    files: dict[str, tuple[str, str]] = {}
    for record in _out(repo, "ls-files", "-s", "-z", where=where, env=env).split("\0"):
        if record:
            info, path = record.split("\t", 1)
            mode, sha, _stage = info.split(" ")
            files[path] = (mode, sha)
    return files


def _plan(files: dict[str, tuple[str, str]], changes: list[FileChange], where: str) -> dict[str, tuple[str, str]]:
    """The files after `changes` (written ones with their mode and a placeholder sha); refuses what Git would
    do silently: replacing a folder by a file or a file by a folder, or rewriting a symlink or submodule."""
    planned = dict(files)

    def refuse(path: str, what: str) -> PortalError:
        return PortalError(f"{where}:{path}", what, code=ErrorCode.BAD_PATH)

    for change in changes:
        if change.content is None and planned.pop(change.path, None) is None:
            raise refuse(change.path, "is not a file, so it cannot be deleted")
    folders = {parent for path in planned for parent in _parents(path)}
    for change in changes:
        if change.content is None:
            continue
        path = change.path
        if path in folders:
            raise refuse(path, "is a folder: a file cannot replace it")
        for parent in _parents(path):
            if parent in planned:
                raise refuse(path, f"{parent} is a file, so nothing can be written under it")
        mode = planned.get(path, (_REGULAR, ""))[0]
        if mode in _MODE_NAMES:
            raise refuse(path, f"is {_MODE_NAMES[mode]}: the portal writes only regular files")
        planned[path] = (_EXECUTABLE if mode == _EXECUTABLE else _REGULAR, "")
        folders.update(_parents(path))
    return planned


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


# --- working trees -----------------------------------------------------------------------------------------------


def _checkouts_ready(repo: git.Repo, branch: str, base: str, changes: list[FileChange], where: str) -> list[Path]:
    """The checkouts of `branch`, once sure each can follow a commit of `changes` (else BRANCH_CHECKED_OUT)."""
    checkouts = _checkouts(repo, branch)
    for checkout in checkouts:
        if _is_dirty(checkout):
            raise PortalError(
                where,
                f"{branch} is checked out in {checkout} and that working tree has uncommitted changes",
                hint="commit or stash them there, or save the edit on a new branch",
                code=ErrorCode.BRANCH_CHECKED_OUT,
            )
        in_the_way = _untracked_in_the_way(repo, base, checkout, changes)
        if in_the_way is not None:
            raise PortalError(
                where,
                f"{branch} is checked out in {checkout} and the untracked {in_the_way} there is in the way",
                hint="move or remove it there, or save the edit on a new branch",
                code=ErrorCode.BRANCH_CHECKED_OUT,
            )
    return checkouts


def _checkouts(repo: git.Repo, branch: str) -> list[Path]:
    """The working trees (main and linked) that have `branch` checked out; a bare repository has none."""
    _, out, _ = _run(repo.git, "worktree", "list", "--porcelain")
    found = []
    for block in out.split("\n\n"):
        fields = {key: value for key, _, value in (line.partition(" ") for line in block.splitlines())}
        if fields.get("branch") == f"refs/heads/{branch}" and "bare" not in fields:
            path = Path(fields["worktree"])
            if path.is_dir():  # a deleted (prunable) worktree has nothing to keep consistent
                found.append(path)
    return found


def _is_dirty(checkout: Path) -> bool:
    # GIT_OPTIONAL_LOCKS=0: `status` must not rewrite that working tree's index while only looking.
    _, out, _ = _run(
        git_repo.git_command(checkout), "status", "--porcelain", "--untracked-files=no", env={"GIT_OPTIONAL_LOCKS": "0"}
    )
    return bool(out.strip())


def _untracked_in_the_way(repo: git.Repo, base: str, checkout: Path, changes: list[FileChange]) -> str | None:
    """A new file of the edit that exists untracked in the checkout (the checkout could not take the commit)."""
    tree = repo.commit(base).tree
    for change in changes:
        if change.content is not None and os.path.lexists(checkout / change.path):
            try:
                tree / change.path  # tracked: the clean checkout has the base's version, which may be replaced
            except KeyError:
                return change.path
    return None


def _follow(
    repo: git.Repo,
    checkouts: list[Path],
    ref: str,
    old: str,
    new: str,
    subject: str,
    identity: Mapping[str, str],
    where: str,
) -> None:
    """Bring the checkouts of the branch from `old` to `new`, or undo the commit if one cannot follow.

    `reset --keep <new>` would do nothing here: HEAD already names `new` once the ref moved. A two-tree
    `read-tree -m -u old new` is the same fast-forward and keeps unrelated local changes, like reset --keep.
    """
    moved: list[Path] = []
    for checkout in checkouts:
        cmd = git_repo.git_command(checkout)
        _run(cmd, "update-index", "-q", "--refresh")  # stale stat data would read as "not uptodate"
        status, _, err = _run(cmd, "read-tree", "-m", "-u", old, new)
        if status == 0:
            moved.append(checkout)
            continue
        # Someone changed that working tree after the check (or an untracked file is in the way).
        undone, _, _ = _run(repo.git, "update-ref", "-m", f"portal: undo {subject}", ref, old, new, env=identity)
        if undone == 0:
            for done in moved:
                _run(git_repo.git_command(done), "read-tree", "-m", "-u", new, old)
            raise PortalError(
                where,
                f"the working tree {checkout} could not follow the commit, so nothing was committed: {err.strip()}",
                hint="commit, stash or remove the files in the way there, then redo the edit",
                code=ErrorCode.BRANCH_CHECKED_OUT,
            )
        raise PortalError(
            where,
            f"commit {new[:8]} is on the branch but the working tree {checkout} still has "
            f"the files of {old[:8]}: {err.strip()}",
            hint=f"there, save local changes and run git read-tree -m -u {old[:8]} {new[:8]}",
            code=ErrorCode.WORKTREE_NOT_UPDATED,
        )


# --- push --------------------------------------------------------------------------------------------------------


def _push(repo: git.Repo, remote: str, branch: str, commit: str, where: str) -> None:
    spec = f"refs/heads/{branch}:refs/heads/{branch}"
    kept = f"the commit {commit[:8]} stays on the local branch {branch}"
    result = git_repo.push(repo, remote, spec, timeout_s=PUSH_TIMEOUT_S)
    if result.error is not None:  # unreachable remote, authentication, timeout: git exits before reporting
        raise PortalError(
            where,
            f"push to {remote} failed: {result.error}; {kept}",
            hint="push again later",
            code=ErrorCode.PUSH_FAILED,
        )
    if result.refused or not result.pushed:
        said = "; ".join(result.refused) or "no ref was pushed"
        raise PortalError(
            where,
            f"push to {remote} failed: {'; '.join([said, *result.remote_lines])}; {kept}",
            hint=f"someone may have pushed to {branch}: reload and redo the edit, or push later",
            code=ErrorCode.PUSH_FAILED,
        )
