"""Portal edits saved as Git commits (portal.environments.git_store), on real repositories made in tmp_path.

The repository the portal reads must keep its working tree, index and HEAD while edits are committed (several may
be in flight); only a direct commit to a checked-out branch brings that checkout along, and only when it is clean.
"""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest

from portal.environments import git_store
from portal.environments.git_store import (
    Author,
    CommitResult,
    FileChange,
    commit_changes,
    head_of,
)
from portal.errors import PortalError

AUTHOR = Author("Ada Lovelace", "ada@example.com")
SEED = git.Actor("Seed Bot", "seed@example.com")  # a fixed identity: tests never depend on the user's Git config

FILES = {
    "README.md": b"# data factory\n",
    "factory/pipeline/copy.json": b'{"name": "copy"}',
    "parameters/dev.json": b'{"env": "dev"}',
    "parameters/prod.json": b'{"env": "prod"}',
    "scripts/run.sh": b"#!/bin/sh\necho run\n",
}


def commit_files(repo: git.Repo, files: dict[str, bytes | None], message: str) -> str:
    """Commit through the working tree of a test repository (the seed, or a clone playing another user)."""
    root = Path(repo.working_tree_dir or "")
    for path, content in files.items():
        if content is None:
            repo.index.remove([path], working_tree=True)
            continue
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
        if path.endswith(".sh"):
            (root / path).chmod(0o755)
        repo.index.add([path])
    return repo.index.commit(message, author=SEED, committer=SEED).hexsha


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """A non-bare repository with `main` checked out and one commit of FILES."""
    made = git.Repo.init(tmp_path / "data", initial_branch="main")
    commit_files(made, FILES, "Seed the factory")
    return made


def change(path: str, content: bytes | None) -> FileChange:
    return FileChange(path, content)


def commit(repo: git.Repo | Path, changes: list[FileChange], **kwargs: object) -> CommitResult:
    """commit_changes on the repository with the usual arguments; keyword arguments override them."""
    repo_dir = Path(
        repo.git_dir
        if isinstance(repo, git.Repo) and repo.bare
        else repo.working_tree_dir
        if isinstance(repo, git.Repo)
        else repo
    )
    arguments: dict[str, object] = dict(base_branch="main", author=AUTHOR, message="Edit parameters")
    arguments.update(kwargs)
    if "expected_base" not in arguments:
        arguments["expected_base"] = head_of(repo_dir, str(arguments["base_branch"]))
    return commit_changes(repo_dir, changes, **arguments)  # type: ignore[arg-type]


def refuses(code: str, call: object, *args: object, **kwargs: object) -> PortalError:
    with pytest.raises(PortalError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, str(caught.value)
    return caught.value


def tree_files(repo: git.Repo, rev: str) -> dict[str, bytes]:
    return {item.path: item.data_stream.read() for item in repo.commit(rev).tree.traverse() if item.type == "blob"}


def state(repo: git.Repo) -> dict[str, object]:
    """Everything a checkout consists of: HEAD, the index file's bytes, and every file on disk outside .git."""
    root = Path(repo.working_tree_dir or "")
    return {
        "HEAD": (Path(repo.git_dir) / "HEAD").read_text(),
        "head commit": repo.head.commit.hexsha,
        "index": (Path(repo.git_dir) / "index").read_bytes(),
        "entries": sorted((key, entry.binsha, entry.mode) for key, entry in git.IndexFile(repo).entries.items()),
        "files": {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(root).parts
        },
    }


# --- new branches ------------------------------------------------------------------------------------------------


def test_new_branch_commit_has_the_changes_on_top_of_the_base(repo: git.Repo) -> None:
    base = repo.head.commit.hexsha
    result = commit(
        repo,
        [
            change("parameters/dev.json", b'{"env": "dev", "x": 1}'),
            change("parameters/uat/deep/app.json", b'{"env": "uat"}'),
            change("factory/pipeline/copy.json", None),
        ],
        branch="edit/dev-x",
        message="Set x for dev\n\nAsked for in ticket 42.\n",
    )

    assert result == CommitResult(branch="edit/dev-x", commit=result.commit, base=base, pushed=False)
    made = repo.commit(result.commit)
    assert repo.heads["edit/dev-x"].commit == made
    assert [p.hexsha for p in made.parents] == [base]
    assert repo.heads["main"].commit.hexsha == base
    expected = dict(
        FILES, **{"parameters/dev.json": b'{"env": "dev", "x": 1}', "parameters/uat/deep/app.json": b'{"env": "uat"}'}
    )
    del expected["factory/pipeline/copy.json"]
    assert tree_files(repo, result.commit) == expected
    # The now empty folder goes with its last file.
    assert "factory" not in [item.path for item in made.tree.trees]
    assert (made.author.name, made.author.email) == (AUTHOR.name, AUTHOR.email)
    assert (made.committer.name, made.committer.email) == (AUTHOR.name, AUTHOR.email)
    assert made.message == "Set x for dev\n\nAsked for in ticket 42.\n"
    # Timezone-aware and now; the reflog says who moved the branch and why.
    assert made.authored_datetime.tzinfo is not None
    assert abs(made.committed_datetime - datetime.now(UTC)) < timedelta(minutes=5)
    assert (
        repo.git.reflog("show", "--format=%gs %gn", "refs/heads/edit/dev-x").splitlines()[0]
        == "portal: Set x for dev Ada Lovelace"
    )


def test_file_modes_are_kept_and_new_files_are_regular(repo: git.Repo) -> None:
    result = commit(repo, [change("scripts/run.sh", b"#!/bin/sh\necho new\n"), change("new.txt", b"n")], branch="modes")
    tree = repo.commit(result.commit).tree
    assert tree["scripts/run.sh"].mode == 0o100755
    assert tree["new.txt"].mode == 0o100644


def test_bytes_are_stored_exactly_without_filters(repo: git.Repo) -> None:
    # core.autocrlf would rewrite CRLF if the content went through Git's filters.
    repo.git.config("core.autocrlf", "true")
    result = commit(repo, [change("parameters/dev.json", b'{\r\n"env": "dev"}\xff')], branch="bytes")
    assert tree_files(repo, result.commit)["parameters/dev.json"] == b'{\r\n"env": "dev"}\xff'


def test_working_tree_index_and_head_are_untouched_even_with_local_modifications(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir or "")
    (root / "parameters/dev.json").write_bytes(b"local, unstaged")
    (root / "README.md").write_bytes(b"local, staged")
    repo.index.add(["README.md"])
    (root / "scratch.txt").write_bytes(b"untracked")
    before = state(repo)

    commit(
        repo,
        [change("parameters/dev.json", b"portal"), change("README.md", None), change("n/e/w", b"1")],
        branch="edit/one",
    )
    commit(repo, [change("parameters/prod.json", b"portal")], branch="edit/two")

    assert state(repo) == before
    assert repo.active_branch.name == "main"


def test_head_of_names_the_branch_head(repo: git.Repo) -> None:
    assert head_of(repo.working_tree_dir or "", "main") == repo.heads["main"].commit.hexsha
    for missing in ("nope", "main~1", "@{-1}", "refs/heads/main"):
        refuses("UNKNOWN_BRANCH", head_of, repo.working_tree_dir, missing)
    refuses("UNKNOWN_BRANCH", commit, repo, [change("a", b"1")], base_branch="nope", expected_base="0" * 40, branch="b")


# --- refusals ----------------------------------------------------------------------------------------------------


def test_base_moved_is_refused_and_nothing_is_written(repo: git.Repo) -> None:
    base = repo.head.commit.hexsha
    moved = commit_files(repo, {"parameters/prod.json": b"someone else"}, "Another edit")

    error = refuses(
        "BASE_MOVED", commit, repo, [change("parameters/dev.json", b"mine")], branch="mine", expected_base=base
    )
    assert base[:8] in error.what and moved[:8] in error.what and "someone else" in error.what
    assert "main" in error.what and "redo the edit" in (error.hint or "")
    assert "mine" not in repo.heads
    # The same refusal for a direct commit.
    refuses("BASE_MOVED", commit, repo, [change("parameters/dev.json", b"mine")], allow_direct=True, expected_base=base)
    assert repo.heads["main"].commit.hexsha == moved


def test_existing_branch_is_refused(repo: git.Repo) -> None:
    repo.create_head("taken")
    error = refuses("BRANCH_EXISTS", commit, repo, [change("a", b"1")], branch="taken")
    assert "taken" in error.what
    refuses("BRANCH_IS_MAIN", commit, repo, [change("a", b"1")], branch="main")


@pytest.mark.parametrize(
    "name",
    [
        "a..b",
        "with space",
        "-dash",
        "HEAD",
        "x~1",
        "end.lock",
        "",
        "@{-1}",
        "a:b",
        "refs/heads/a..b",
        "refs/heads/",
        "refs/tags/v1",
        "refs/heads/refs/heads/x",
        "refs/remotes/origin/x",
        "refs/heads/HEAD",
    ],
)
def test_bad_branch_names_are_refused(repo: git.Repo, name: str) -> None:
    before = {ref.path: ref.commit.hexsha for ref in repo.refs}
    refuses("BAD_BRANCH", commit, repo, [change("a", b"1")], branch=name)
    assert {ref.path: ref.commit.hexsha for ref in repo.refs} == before


def test_a_full_branch_ref_names_the_branch(repo: git.Repo) -> None:
    result = commit(repo, [change("a", b"1")], branch="refs/heads/params/test-1")
    assert result.branch == "params/test-1"
    assert sorted(ref.path for ref in repo.refs) == ["refs/heads/main", "refs/heads/params/test-1"]


@pytest.mark.parametrize("name", ["main", "refs/heads/main"])
def test_the_main_branch_is_no_new_branch(repo: git.Repo, name: str) -> None:
    head = repo.heads["main"].commit.hexsha
    error = refuses("BRANCH_IS_MAIN", commit, repo, [change("a", b"1")], branch=name)
    assert "--direct" in (error.hint or "")
    assert [ref.path for ref in repo.refs] == ["refs/heads/main"] and repo.heads["main"].commit.hexsha == head


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "a/./b",
        "a//b",
        "dir/",
        "",
        "C:/x",
        "a\\b",
        ".git/config",
        "sub/.GIT/hooks/x",
    ],
)
def test_paths_outside_the_repository_are_refused(repo: git.Repo, path: str) -> None:
    error = refuses("BAD_PATH", commit, repo, [change("ok.txt", b"1"), change(path, b"x")], branch="b")
    assert "b" not in repo.heads
    assert path in error.where


def test_paths_git_itself_refuses_are_reported_not_skipped(repo: git.Repo) -> None:
    # update-index only warns "Ignoring path" for these (NTFS aliases of .git) and exits 0.
    for path in ("git~1/config", ".git /x"):
        error = refuses("BAD_PATH", commit, repo, [change("ok.txt", b"1"), change(path, b"x")], branch="b")
        assert "Git refuses" in error.what and path in error.where


def test_unusual_but_valid_paths_are_written(repo: git.Repo) -> None:
    paths = ["with space.json", "ünïcode/é.json", "tab\tand\nnewline.json"]
    result = commit(repo, [change(path, path.encode()) for path in paths], branch="names")
    files = tree_files(repo, result.commit)
    assert all(files[path] == path.encode() for path in paths)


@pytest.mark.parametrize(
    "changes, problem",
    [
        ([change("parameters/none.json", None)], "cannot be deleted"),
        ([change("parameters", b"x")], "is a folder"),
        ([change("README.md/x", b"x")], "README.md is a file"),
        ([change("new", b"x"), change("new/x", b"x")], "new is a file"),
        ([change("a.txt", b"1"), change("a.txt", b"2")], "twice"),
    ],
)
def test_changes_git_would_apply_silently_are_refused(repo: git.Repo, changes: list[FileChange], problem: str) -> None:
    error = refuses("BAD_PATH", commit, repo, changes, branch="b")
    assert problem in error.what


def test_replacing_a_file_by_a_folder_in_one_edit_is_fine(repo: git.Repo) -> None:
    result = commit(repo, [change("README.md", None), change("README.md/index.md", b"x")], branch="b")
    assert tree_files(repo, result.commit)["README.md/index.md"] == b"x"


def test_nothing_changed_is_refused(repo: git.Repo) -> None:
    refuses(
        "NOTHING_CHANGED", commit, repo, [change("parameters/dev.json", FILES["parameters/dev.json"])], branch="same"
    )
    refuses("NOTHING_CHANGED", commit, repo, [], allow_direct=True)
    assert "same" not in repo.heads


def test_direct_commit_is_refused_unless_allowed(repo: git.Repo) -> None:
    error = refuses("DIRECT_COMMIT_REFUSED", commit, repo, [change("parameters/dev.json", b"x")])
    assert "does not allow direct commits to main" in (error.hint or "")


@pytest.mark.parametrize("message", ["", "\nbody only", "   \nbody", "nul\0"])
def test_message_needs_a_first_line(repo: git.Repo, message: str) -> None:
    refuses("BAD_MESSAGE", commit, repo, [change("a", b"1")], branch="b", message=message)


def test_expected_base_must_be_a_full_commit_id(repo: git.Repo) -> None:
    refuses("BAD_BASE", commit, repo, [change("a", b"1")], branch="b", expected_base="main")
    refuses("BAD_BASE", commit, repo, [change("a", b"1")], branch="b", expected_base=repo.head.commit.hexsha[:8])


def test_bad_author_is_refused(repo: git.Repo) -> None:
    refuses("BAD_AUTHOR", commit, repo, [change("a", b"1")], branch="b", author=Author("Eve <x>", "e@x"))
    refuses("BAD_AUTHOR", commit, repo, [change("a", b"1")], branch="b", author=Author("Eve", " "))


# --- direct commits and checkouts --------------------------------------------------------------------------------


def test_direct_commit_brings_a_clean_checkout_along(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir or "")
    (root / "scratch.txt").write_bytes(b"untracked stays")
    base = repo.head.commit.hexsha

    result = commit(
        repo,
        [change("parameters/dev.json", b"new dev"), change("README.md", None), change("parameters/qa.json", b"qa")],
        allow_direct=True,
    )

    assert result.branch == "main" and result.base == base
    assert repo.heads["main"].commit.hexsha == result.commit == repo.head.commit.hexsha
    assert repo.active_branch.name == "main"
    assert (root / "parameters/dev.json").read_bytes() == b"new dev"
    assert (root / "parameters/qa.json").read_bytes() == b"qa"
    assert not (root / "README.md").exists()
    assert (root / "scratch.txt").read_bytes() == b"untracked stays"
    assert not repo.is_dirty(untracked_files=False)  # index and working tree both match the new commit


@pytest.mark.parametrize("staged", [False, True])
def test_direct_commit_to_a_dirty_checkout_is_refused(repo: git.Repo, staged: bool) -> None:
    root = Path(repo.working_tree_dir or "")
    (root / "parameters/prod.json").write_bytes(b"half-done local work")
    if staged:
        repo.index.add(["parameters/prod.json"])
    before = state(repo)

    error = refuses("BRANCH_CHECKED_OUT", commit, repo, [change("parameters/dev.json", b"x")], allow_direct=True)
    assert "uncommitted changes" in error.what
    assert state(repo) == before
    # A new branch is still possible, and leaves the local work alone.
    commit(repo, [change("parameters/dev.json", b"x")], branch="instead")
    assert state(repo) == before


def test_untracked_file_in_the_way_of_a_direct_commit_is_refused(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir or "")
    (root / "parameters/qa.json").write_bytes(b"untracked, would be overwritten")
    before = state(repo)

    error = refuses("BRANCH_CHECKED_OUT", commit, repo, [change("parameters/qa.json", b"portal")], allow_direct=True)
    assert "parameters/qa.json" in error.what
    assert state(repo) == before


def test_checkout_that_cannot_follow_undoes_the_direct_commit(repo: git.Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the untracked file appeared after the checks: the ref has moved when read-tree refuses, so it moves back.
    monkeypatch.setattr(git_store, "_untracked_in_the_way", lambda *args: None)
    root = Path(repo.working_tree_dir or "")
    (root / "parameters/qa.json").write_bytes(b"untracked, would be overwritten")
    base = repo.head.commit.hexsha
    before = state(repo)

    error = refuses("BRANCH_CHECKED_OUT", commit, repo, [change("parameters/qa.json", b"portal")], allow_direct=True)
    assert "nothing was committed" in error.what and "would be overwritten" in error.what
    assert repo.heads["main"].commit.hexsha == base
    # Only the index's cached stat data was refreshed on the way; its entries and every file are as they were.
    after = state(repo)
    assert {k: v for k, v in after.items() if k != "index"} == {k: v for k, v in before.items() if k != "index"}
    assert "portal: undo Edit parameters" in repo.git.reflog("show", "--format=%gs", "refs/heads/main")


def test_direct_commit_to_a_branch_not_checked_out_leaves_the_checkout_alone(repo: git.Repo) -> None:
    repo.create_head("release")
    before = state(repo)
    result = commit(repo, [change("parameters/prod.json", b"p")], base_branch="release", allow_direct=True)
    assert repo.heads["release"].commit.hexsha == result.commit
    assert state(repo) == before


def test_direct_commit_brings_a_linked_worktree_along(repo: git.Repo, tmp_path: Path) -> None:
    repo.git.worktree("add", str(tmp_path / "linked"), "-b", "release")
    result = commit(repo, [change("parameters/prod.json", b"p")], base_branch="release", allow_direct=True)
    linked = git.Repo(tmp_path / "linked")
    assert linked.head.commit.hexsha == result.commit
    assert (tmp_path / "linked/parameters/prod.json").read_bytes() == b"p"
    assert not linked.is_dirty(untracked_files=True)


def test_bare_repository(repo: git.Repo, tmp_path: Path) -> None:
    bare = repo.clone(str(tmp_path / "bare.git"), bare=True)
    base = bare.heads["main"].commit.hexsha

    branched = commit(bare, [change("parameters/dev.json", b"b")], branch="edit")
    direct = commit(bare, [change("parameters/dev.json", b"d")], allow_direct=True)

    assert [p.hexsha for p in bare.commit(branched.commit).parents] == [base]
    assert [p.hexsha for p in bare.commit(direct.commit).parents] == [base]
    assert bare.heads["main"].commit.hexsha == direct.commit
    assert tree_files(bare, direct.commit)["parameters/dev.json"] == b"d"


# --- concurrency -------------------------------------------------------------------------------------------------


def test_second_edit_from_the_same_base_is_refused(repo: git.Repo) -> None:
    base = repo.head.commit.hexsha
    first = commit(repo, [change("parameters/dev.json", b"first")], allow_direct=True, expected_base=base)
    refuses(
        "BASE_MOVED", commit, repo, [change("parameters/prod.json", b"second")], allow_direct=True, expected_base=base
    )
    assert repo.heads["main"].commit.hexsha == first.commit


def test_concurrent_direct_edits_only_one_wins(tmp_path: Path, repo: git.Repo) -> None:
    bare = repo.clone(str(tmp_path / "shared.git"), bare=True)  # no checkout: only the ref race matters
    base = bare.heads["main"].commit.hexsha
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def edit(number: int) -> None:
        start.wait()
        try:
            commit(bare, [change(f"parameters/user{number}.json", b"x")], allow_direct=True, expected_base=base)
            outcomes.append("committed")
        except PortalError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["BASE_MOVED"] * 5 + ["committed"]
    assert [p.hexsha for p in bare.heads["main"].commit.parents] == [base]


def test_writer_between_check_and_ref_move_is_refused(
    repo: git.Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer moves main after the base was checked, while this edit's commit is being built:
    # the compare-and-swap of update-ref must still refuse it.
    bare = repo.clone(str(tmp_path / "race.git"), bare=True)
    other = commit(bare, [change("parameters/prod.json", b"other")], branch="other").commit
    build = git_store._write_commit

    def racing(*args: object, **kwargs: object) -> str:
        made = build(*args, **kwargs)  # type: ignore[arg-type]
        bare.git.update_ref("refs/heads/main", other)
        return made

    monkeypatch.setattr(git_store, "_write_commit", racing)
    error = refuses("BASE_MOVED", commit, bare, [change("parameters/dev.json", b"mine")], allow_direct=True)
    assert other[:8] in error.what
    assert bare.heads["main"].commit.hexsha == other


def test_new_branch_created_meanwhile_is_refused(repo: git.Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    build = git_store._write_commit

    def racing(*args: object, **kwargs: object) -> str:
        made = build(*args, **kwargs)  # type: ignore[arg-type]
        repo.create_head("wanted")
        return made

    monkeypatch.setattr(git_store, "_write_commit", racing)
    refuses("BRANCH_EXISTS", commit, repo, [change("parameters/dev.json", b"mine")], branch="wanted")
    assert repo.heads["wanted"].commit == repo.heads["main"].commit


# --- push --------------------------------------------------------------------------------------------------------


@pytest.fixture
def origin(repo: git.Repo, tmp_path: Path) -> git.Repo:
    remote = git.Repo.init(tmp_path / "origin.git", bare=True, initial_branch="main")
    repo.create_remote("origin", str(tmp_path / "origin.git"))
    repo.git.push("origin", "main")
    return remote


def test_push_new_branch(repo: git.Repo, origin: git.Repo) -> None:
    result = commit(repo, [change("parameters/dev.json", b"pushed")], branch="edit/push", push=True)
    assert result.pushed
    assert origin.heads["edit/push"].commit.hexsha == result.commit


def test_push_direct_commit(repo: git.Repo, origin: git.Repo) -> None:
    result = commit(repo, [change("parameters/dev.json", b"pushed")], allow_direct=True, push=True)
    assert result.pushed and origin.heads["main"].commit.hexsha == result.commit


def test_rejected_push_keeps_the_local_commit(repo: git.Repo, origin: git.Repo, tmp_path: Path) -> None:
    other = git.Repo.clone_from(origin.git_dir, tmp_path / "other")
    moved = commit_files(other, {"parameters/prod.json": b"theirs"}, "Their edit")
    other.git.push("origin", "main")

    error = refuses("PUSH_FAILED", commit, repo, [change("parameters/dev.json", b"mine")], allow_direct=True, push=True)
    assert "rejected" in error.what and "stays on the local branch main" in error.what
    assert origin.heads["main"].commit.hexsha == moved
    local = repo.heads["main"].commit
    assert local.message == "Edit parameters\n" and local.parents[0].hexsha != moved


def test_push_refused_by_a_remote_hook_says_why(repo: git.Repo, origin: git.Repo) -> None:
    hook = Path(origin.git_dir) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch policy: ask the data team' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    error = refuses("PUSH_FAILED", commit, repo, [change("a", b"1")], branch="hooked", push=True)
    assert "pre-receive hook declined" in error.what and "ask the data team" in error.what
    assert "hooked" in repo.heads and "hooked" not in origin.heads


def test_unreachable_remote_is_push_failed(repo: git.Repo, tmp_path: Path) -> None:
    repo.create_remote("origin", str(tmp_path / "gone.git"))
    error = refuses("PUSH_FAILED", commit, repo, [change("a", b"1")], branch="lonely", push=True)
    assert "stays on the local branch lonely" in error.what
    assert "lonely" in repo.heads


def test_unknown_remote_is_refused_before_anything_is_written(repo: git.Repo) -> None:
    refuses("UNKNOWN_REMOTE", commit, repo, [change("a", b"1")], branch="b", push=True, remote="upstream")
    assert "b" not in repo.heads
