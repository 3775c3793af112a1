"""One Git seam, one workspace per commit, one credential and Key Vault client per vault per run.

- `portal.git_repo` opens, resolves and lists refs as the portal did before it (checked against the `git` command
  on real repositories), and its callers keep their own clear errors where a folder is not in a Git repository;
- no module of the portal or of ui but `portal/git_repo.py` imports GitPython (imports in functions included);
- `MappingWorkspace.at_commit` (and `Promotions.workspace_at`) hand out one workspace per commit per process,
  a new one after a new commit, a bounded number of them, and using one changes nothing in it;
- a deploy run makes one credential per auth kind and one Key Vault client per vault.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import git
import pytest

from portal import git_repo
from portal.adf.expressions import Secret
from portal.adf.loader import read_git
from portal.audit.anchors import fetch_anchors
from portal.audit.database import DEFAULT_AUDIT_FILE, audit_url
from portal.deploy.service import key_vault_resolver, open_target
from portal.deploy.target import Credentials
from portal.environments import workspace as workspace_module
from portal.environments.git_store import Author, head_of
from portal.environments.trusted import trusted_main
from portal.environments.workspace import MappingWorkspace
from portal.errors import PortalError
from portal.promotion.service import Promotions
from portal.secret_sources import EnvironmentVariable, KeyVaultReference
from tests.mapping_repo import KV_TEST, commit_all, make_repo, write_json

ROOT = Path(__file__).resolve().parents[1]
SEAM = ROOT / "src" / "portal" / "git_repo.py"
DANA = git.Actor("Dana Dev", "dana@example.com")


def run_git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def commit(repo: git.Repo, path: str, text: str, message: str, when: str) -> str:
    """Write `path` and commit it as Dana at `when` (ISO 8601), author and committer alike."""
    file = Path(repo.working_tree_dir) / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    repo.index.add([path])
    moment = datetime.fromisoformat(when)
    raw = f"{int(moment.timestamp())} {moment.strftime('%z')}"  # Git's own date format
    return repo.index.commit(message, author=DANA, committer=DANA, author_date=raw, commit_date=raw).hexsha


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """main with three commits, two more branches, a light and an annotated tag, and a tag named `main` that would
    shadow the branch if refs were looked up by short name."""
    root = tmp_path / "history"
    repo = git.Repo.init(root, initial_branch="main")
    first = commit(repo, "a.txt", "1", "First commit", "2024-01-02T03:04:05+02:00")
    commit(repo, "a.txt", "2", "Second commit\n\nwith a body", "2024-01-03T10:00:00+00:00")
    repo.create_head("zeta/feature")
    repo.create_head("alpha")
    commit(repo, "a.txt", "3", "Third commit " + "x" * 70, "2024-01-04T23:30:00-01:00")
    repo.create_tag("v1", ref=first, message="release 1")  # annotated: its commit is the one it peels to
    repo.create_tag("v0", ref=first)
    repo.create_tag("main", ref=first)
    repo.close()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder in no Git repository."""
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(git.InvalidGitRepositoryError):  # or the tests below would prove nothing
        git.Repo(folder, search_parent_directories=True)
    return folder


# --- the seam ------------------------------------------------------------------------------------------------------


def test_open_repo_finds_the_repository_containing_a_folder_or_file(history):
    (history / "sub").mkdir()
    for start in (history, history / "sub", history / "a.txt", history / "sub" / "not-yet.json"):
        with git_repo.open_repo(start) as repo:
            assert Path(repo.working_tree_dir) == history.resolve()
    with git_repo.open_repo(history, search_parents=False) as repo:
        assert Path(repo.working_tree_dir) == history.resolve()
    with pytest.raises(PortalError) as refused:
        git_repo.open_repo(history / "sub", search_parents=False)  # the repository itself was asked for
    assert (refused.value.where, refused.value.what, refused.value.code) == (
        str(history / "sub"),
        "is not a Git repository",
        "GIT",
    )


def test_open_repo_says_what_its_caller_says(outside):
    with pytest.raises(PortalError) as refused:
        git_repo.open_repo(outside, what="needs a repository", code="MINE")
    assert (refused.value.where, refused.value.what, refused.value.code) == (str(outside), "needs a repository", "MINE")


@pytest.mark.parametrize(
    ("call", "what", "code"),
    [
        (
            lambda where: MappingWorkspace.open(where, "main"),
            "not inside a Git repository, so --ref cannot be read",
            "GIT",
        ),
        (lambda where: read_git(where, "main"), "not inside a Git repository, so --ref cannot be read", "GIT"),
        (lambda where: trusted_main(where), "is not a Git repository: promotions and edits need one", "GIT"),
        (lambda where: head_of(where, "main"), "is not a Git repository", "GIT"),
        (lambda where: fetch_anchors(where), "is not a Git repository", "ANCHOR"),
        (lambda where: Author.from_git_config(where), "is not a Git repository", "GIT"),
    ],
)
def test_the_callers_keep_their_errors_outside_a_repository(outside, call, what, code):
    with pytest.raises(PortalError) as refused:
        call(outside)
    assert (refused.value.what, refused.value.code) == (what, code)
    assert refused.value.where in (str(outside), str(outside.resolve()))


def test_resolve_commit_names_what_git_names(history):
    with git_repo.open_repo(history) as repo:
        for ref in ("refs/heads/main", "alpha", "zeta/feature", "v1", "v0", "HEAD~1", "refs/tags/main"):
            expected = run_git(history, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()
            assert git_repo.resolve_commit(repo, ref).hexsha == expected, ref
            assert git_repo.find_commit(repo, ref).hexsha == expected, ref
        full = run_git(history, "rev-parse", "HEAD").strip()
        assert git_repo.resolve_commit(repo, full).hexsha == full


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~9", "0" * 40, "1" * 40, "v1:a.txt"])
def test_a_ref_that_names_no_commit_is_a_clear_error(history, ref):
    with git_repo.open_repo(history) as repo:
        assert git_repo.find_commit(repo, ref) is None
        with pytest.raises(PortalError) as refused:
            git_repo.resolve_commit(repo, ref)
    assert refused.value.code == "GIT_REF"
    assert refused.value.where == f"{history.resolve()}@{ref}"
    assert refused.value.what == f"Git ref {ref!r} does not name a commit"
    with pytest.raises(PortalError) as through_the_workspace:
        MappingWorkspace.open(history, ref)
    assert through_the_workspace.value.code == "GIT_REF"


def test_recent_refs_lists_main_first_then_branches_tags_and_recent_commits(history):
    refs = git_repo.recent_refs(history, "main", recent=2)

    main_commit = run_git(history, "rev-parse", "refs/heads/main").strip()
    branches = [
        name.removeprefix("refs/heads/")
        for name in run_git(history, "for-each-ref", "--format=%(refname)", "refs/heads").split()
    ]
    tags = [
        name.removeprefix("refs/tags/")
        for name in run_git(history, "for-each-ref", "--format=%(refname)", "refs/tags").split()
    ]
    recent = run_git(history, "rev-list", "--max-count=2", "refs/heads/main").split()
    assert [(r.kind, r.name) for r in refs] == (
        [("branch", "main")]
        + [("branch", b) for b in sorted(branches) if b != "main"]
        + [("tag", t) for t in sorted(tags)]
        + [("commit", c) for c in recent]
    )
    assert [r.name for r in refs if r.kind == "tag"] == ["main", "v0", "v1"]
    by_name = {(r.kind, r.name): r for r in refs}
    assert by_name["branch", "main"].commit == main_commit  # the branch, not the tag `main` that shadows it
    for tag in tags:
        assert by_name["tag", tag].commit == run_git(history, "rev-parse", f"{tag}^{{commit}}").strip()
    assert by_name["branch", "alpha"].subject == "Second commit"  # the first line only

    newest, older = refs[-2:]
    assert newest.commit == main_commit and newest.subject == "Third commit " + "x" * 70
    assert newest.author == "Dana Dev"
    assert newest.committed == datetime(2024, 1, 5, 0, 30, tzinfo=UTC)
    assert older.committed == datetime(2024, 1, 3, 10, 0, tzinfo=UTC)
    assert by_name["tag", "v0"].committed == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert len(git_repo.recent_refs(history, "main", recent=15)) == len(refs) + 1  # all three commits


def test_recent_refs_of_a_main_branch_that_does_not_exist(history):
    with pytest.raises(PortalError) as refused:
        git_repo.recent_refs(history, "trunk")
    assert refused.value.code == "GIT_REF" and "'refs/heads/trunk'" in refused.value.what


def test_snapshot_choices_keep_their_labels(tmp_path, monkeypatch):
    from ui.promote import snapshot_choices

    monkeypatch.delenv("PORTAL_MAIN_BRANCH", raising=False)
    monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)
    root = tmp_path / "repo"
    repo = make_repo(root)
    first = repo.head.commit
    second = commit(repo, "notes.txt", "n", "Explain " + "the change " * 8, "2024-02-01T12:34:00+01:00")
    repo.create_head("params/test-change", first)
    repo.create_tag("v1", ref=first)
    repo.close()
    promotions = Promotions.open(root)
    try:
        choices = snapshot_choices(promotions)
    finally:
        promotions.close()

    subject = ("Explain " + "the change " * 8).strip()
    shown = subject[:57] + "…"
    when = datetime.fromtimestamp(first.committed_date, UTC).strftime("%Y-%m-%d %H:%M")
    assert [(c.ref, c.label, c.commit) for c in choices] == [
        (None, f"main (main branch) · {second[:10]} · {shown}", second),
        ("params/test-change", f"branch params/test-change · {first.hexsha[:10]} · data repository", first.hexsha),
        ("v1", f"tag v1 · {first.hexsha[:10]}", first.hexsha),
        (second, f"commit {second[:10]} · 2024-02-01 11:34 · Dana Dev · {shown}", second),
        (first.hexsha, f"commit {first.hexsha[:10]} · {when} · Dana Dev · data repository", first.hexsha),
    ]


def test_common_dir_is_shared_by_worktrees(history, outside, tmp_path):
    linked = tmp_path / "linked"
    run_git(history, "worktree", "add", str(linked), "alpha")
    assert git_repo.common_dir(linked) == git_repo.common_dir(history) == (history / ".git").resolve()
    assert git_repo.common_dir(linked / "a.txt") == (history / ".git").resolve()
    assert git_repo.common_dir(outside) is None
    assert audit_url(linked) == f"sqlite:///{(history / '.git' / 'portal' / 'audit.db').resolve()}"
    assert audit_url(outside) == f"sqlite:///{outside.resolve() / DEFAULT_AUDIT_FILE}"


def test_init_repo_and_commit_paths(tmp_path):
    root = tmp_path / "new"
    repo = git_repo.init_repo(root, initial_branch="trunk")
    (root / "f.txt").write_text("x")
    sha = git_repo.commit_paths(repo, ["f.txt"], "Add f", author_name="Ada", author_email="ada@example.com")
    repo.close()
    assert run_git(root, "symbolic-ref", "HEAD").strip() == "refs/heads/trunk"
    assert (
        run_git(root, "log", "-1", "--format=%H|%an|%ae|%cn|%ce|%s").strip()
        == f"{sha}|Ada|ada@example.com|Ada|ada@example.com|Add f"
    )


# --- GitPython nowhere else ----------------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_git(module: str | None) -> bool:
    return module is not None and (module == "git" or module.startswith("git."))


def git_imports(source: str) -> list[int]:
    """The lines that import GitPython when they run: `import git`, `from git... import`, `import_module("git")`
    and `__import__("git")`, at the top or inside functions; only an `if TYPE_CHECKING:` block (annotations,
    never run) does not count."""
    tree = ast.parse(source)
    for_annotations: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                for_annotations.update(id(inner) for inner in ast.walk(statement))
    return sorted(node.lineno for node in ast.walk(tree) if id(node) not in for_annotations and _imports_git(node))


def _imports_git(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(_is_git(alias.name) for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and _is_git(node.module)
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        name = (
            node.func.id
            if isinstance(node.func, ast.Name)
            else node.func.attr
            if isinstance(node.func, ast.Attribute)
            else None
        )
        return (
            name in ("__import__", "import_module")
            and isinstance(node.args[0].value, str)
            and _is_git(node.args[0].value)
        )
    return False


def test_the_check_finds_every_way_of_importing_git():
    assert git_imports("import git\n") == [1]
    assert git_imports("import os, git.exc as e\n") == [1]
    assert git_imports("def f():\n    from git import Repo\n    return Repo\n") == [2]
    assert git_imports("class C:\n    def m(self):\n        import git\n") == [3]
    assert git_imports("import importlib\nimportlib.import_module('git')\n__import__('git.repo')\n") == [2, 3]
    assert git_imports(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import git\nelse:\n    import git\n"
    ) == [5]
    assert git_imports("import gitdb\nimport github\nfrom portal import git_repo\nfrom . import git\n") == []


def test_no_module_but_the_seam_imports_gitpython():
    modules = sorted([*(ROOT / "src" / "portal").rglob("*.py"), *(ROOT / "ui").rglob("*.py")])
    assert SEAM in modules and len(modules) > 50
    found = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if path != SEAM
        if (lines := git_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "GitPython is imported outside portal/git_repo.py (use portal.git_repo instead)"
    assert git_imports(SEAM.read_text(encoding="utf-8"))  # the seam itself does import it


def test_the_folder_export_does_not_import_gitpython():
    """Where Git is not installed, GitPython's import fails: exporting a folder must not need it."""
    code = (
        "import sys, portal.adf, portal.adf.loader, portal.git_repo, portal.environments.workspace\n"
        "print(sorted(m for m in sys.modules if m == 'git' or m.startswith('git.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


# --- one workspace per commit --------------------------------------------------------------------------------------


def describe_pipeline(root: Path, text: str) -> str:
    path = root / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(path.read_text())
    document["properties"]["description"] = text
    write_json(path, document)
    return commit_all(root, f"PL_Load: {text}")


def pipeline_description(workspace: MappingWorkspace) -> str | None:
    from portal.adf.model import Kind

    return workspace.factory.find(Kind.PIPELINE, "PL_Load").properties.get("description")


def test_one_workspace_per_commit_and_a_new_one_after_a_commit(tmp_path):
    root = tmp_path / "repo"
    first = make_repo(root).head.commit.hexsha

    at_first = MappingWorkspace.at_commit(root, first)
    assert at_first.snapshot.commit == first
    assert MappingWorkspace.at_commit(root, first) is at_first
    assert MappingWorkspace.at_commit(str(root / "." / ""), first) is at_first  # keyed by the resolved root
    assert MappingWorkspace.open(root, first) is at_first  # a full commit id given to open: the same

    second = describe_pipeline(root, "second")
    at_second = MappingWorkspace.at_commit(root, second)
    assert at_second is not at_first and at_second.snapshot.commit == second
    assert pipeline_description(at_second) == "second" and pipeline_description(at_first) is None
    assert MappingWorkspace.at_commit(root, first) is at_first  # the older commit is still the same

    other = tmp_path / "copy"
    make_repo(other)
    assert MappingWorkspace.at_commit(other, MappingWorkspace.open(other, "main").snapshot.commit) is not at_first

    working_tree = MappingWorkspace.open(root)
    assert MappingWorkspace.open(root) is not working_tree  # the working tree is read anew every time


def test_only_full_commit_ids_are_kept(tmp_path):
    root = tmp_path / "repo"
    head = make_repo(root).head.commit.hexsha
    for ref in ("main", head[:12], head.upper()):
        with pytest.raises(PortalError) as refused:
            MappingWorkspace.at_commit(root, ref)
        assert refused.value.code == "GIT_REF" and refused.value.what == f"{ref!r} is not a full commit id"
    by_name = MappingWorkspace.open(root, "main")  # a name may move: read anew, labelled by the name
    assert by_name.snapshot.ref == "main" and MappingWorkspace.open(root, "main") is not by_name


def test_the_cache_keeps_the_commits_used_last(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace_module._AT_COMMIT, "size", 2)
    root = tmp_path / "repo"
    commits = [make_repo(root).head.commit.hexsha, describe_pipeline(root, "b"), describe_pipeline(root, "c")]
    first, second, third = (MappingWorkspace.at_commit(root, c) for c in commits)
    assert MappingWorkspace.at_commit(root, commits[1]) is second  # now the newest used: the third goes next
    assert MappingWorkspace.at_commit(root, commits[0]) is not first  # dropped when the third came in
    assert MappingWorkspace.at_commit(root, commits[1]) is second
    assert MappingWorkspace.at_commit(root, commits[2]) is not third


def test_threads_asking_for_one_commit_share_one_workspace(tmp_path):
    root = tmp_path / "repo"
    head = make_repo(root).head.commit.hexsha
    start = threading.Barrier(8)
    got: list[MappingWorkspace] = []

    def ask() -> None:
        start.wait()
        got.append(MappingWorkspace.at_commit(root, head))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and all(workspace is got[0] for workspace in got)


def test_promotions_read_each_commit_once_for_the_whole_process(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_MAIN_BRANCH", raising=False)
    monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)
    root = tmp_path / "repo"
    repo = make_repo(root)
    first = repo.head.commit.hexsha
    repo.create_head("feature")
    repo.close()
    one, two = Promotions.open(root), Promotions.open(root)
    try:
        at_main = one.workspace_at()
        assert at_main.snapshot.commit == first
        assert one.workspace_at() is at_main and two.workspace_at() is at_main  # one per process, not per façade
        assert one.workspace_at(first) is at_main and one.workspace_at("feature") is at_main
        assert MappingWorkspace.at_commit(root, first) is at_main  # the pages' reads share it too

        second = describe_pipeline(root, "moved on")  # main moves; a ref that moves opens its new commit
        moved = one.workspace_at()
        assert moved is not at_main and moved.snapshot.commit == second
        assert two.workspace_at() is moved and one.workspace_at("main") is moved
        assert one.workspace_at("feature") is at_main  # feature stayed at the first commit

        with pytest.raises(PortalError) as refused:
            one.workspace_at("no-such-ref")
        assert refused.value.code == "GIT_REF"
    finally:
        one.close()
        two.close()


def test_using_a_shared_workspace_changes_nothing_in_it(tmp_path):
    """What the pages, the CLI and a promotion do with a workspace leaves it as it was opened: safe to share."""
    from portal.deploy.plan import desired_state
    from portal.environments.render import render_environment
    from portal.promotion.snapshot import snapshot_of
    from portal.sandbox.demo_content import write_demo_repository

    root = tmp_path / "demo"
    write_demo_repository(root).close()
    head = git.Repo(root).head.commit.hexsha
    workspace = MappingWorkspace.at_commit(root, head)

    def state() -> object:
        factory = workspace.factory
        return copy.deepcopy(
            {
                "objects": [
                    (o.kind, o.name, o.path, o.parent, json.dumps(o.body, sort_keys=True)) for o in factory.objects
                ],
                "factory": json.dumps(
                    [
                        factory.name,
                        factory.source,
                        factory.factory_body,
                        factory.publish_config,
                        factory.parameter_definition,
                        factory.global_parameters_body,
                    ],
                    sort_keys=True,
                ),
                "config": workspace.config.model_dump(mode="json"),
                "snapshot": (workspace.snapshot.root, workspace.snapshot.ref, workspace.snapshot.commit),
            }
        )

    before = state()
    template = json.dumps(workspace.export.template, sort_keys=True)
    for env in workspace.config.environments:
        rendered = render_environment(workspace, env.name)
        desired_state(workspace, rendered)
        workspace.values(env.name)
        workspace.stale(env.name)
        workspace.remove_stale(env.name)
    workspace.catalogue()
    workspace.check()
    workspace.rules()
    assert workspace.source_errors == ()
    snapshot_of(workspace)
    assert state() == before
    assert json.dumps(workspace.export.template, sort_keys=True) == template
    assert MappingWorkspace.at_commit(root, head) is workspace


# --- one credential and one Key Vault client per vault per run -----------------------------------------------------


class CountingCredentials:
    """Makes a distinct credential object per call, and counts the calls per auth kind."""

    def __init__(self) -> None:
        self.made: dict[str, int] = {}

    def __call__(self, auth: str) -> object:
        self.made[auth] = self.made.get(auth, 0) + 1
        return object()


class RecordingSecretClient:
    """A Key Vault client that answers from its vault's URL and remembers every client made."""

    made: list[RecordingSecretClient]

    def __init__(self, vault_url: str, credential: object):
        self.vault_url = vault_url
        self.credential = credential
        self.read: list[str] = []
        type(self).made.append(self)

    def get_secret(self, name: str, version: str | None = None) -> object:
        self.read.append(name)
        return type("KeyVaultSecret", (), {"value": f"{self.vault_url}/{name}"})()


def vault(name: str) -> str:
    return KV_TEST.rsplit("/", 1)[0] + "/" + name


def test_one_credential_and_one_client_per_vault_for_a_run():
    references = {
        ref.describe(): ref
        for ref in [
            KeyVaultReference(vault("kv-a"), "one"),
            KeyVaultReference(vault("kv-a"), "two"),
            KeyVaultReference(vault("kv-a"), "three", "v7"),
            KeyVaultReference(vault("kv-b"), "four"),
            KeyVaultReference(vault("kv-b"), "five"),
        ]
    }
    made = CountingCredentials()

    class Client(RecordingSecretClient):
        made = []

    resolve = key_vault_resolver("azure-cli", Credentials(made), secret_client=Client)
    secrets = [Secret(source, reference) for source, reference in references.items()] * 4  # each asked several times
    start = threading.Barrier(len(secrets))
    values: dict[int, str] = {}

    def run(number: int, secret: Secret) -> None:
        start.wait()  # the puts of a run resolve secrets in parallel
        values[number] = resolve(secret)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(secrets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert values[0] == "https://kv-a.vault.azure.net/one" and values[3] == "https://kv-b.vault.azure.net/four"
    assert len(values) == len(secrets)
    assert made.made == {"azure-cli": 1}
    assert sorted(c.vault_url for c in Client.made) == ["https://kv-a.vault.azure.net", "https://kv-b.vault.azure.net"]
    assert Client.made[0].credential is Client.made[1].credential
    assert sum(len(c.read) for c in Client.made) == len(secrets)

    again = key_vault_resolver("azure-cli", Credentials(made), secret_client=Client)
    again(next(Secret(source, reference) for source, reference in references.items()))
    assert made.made == {"azure-cli": 2} and len(Client.made) == 3  # another run signs in anew


def test_a_secret_is_resolved_by_its_source_as_a_value_never_by_its_words(monkeypatch):
    """The deploy fetches a secret by where it comes from (`Secret.origin`); its text is for people only, so a
    secret derived by an expression (no origin) is refused whatever its words say."""
    made = CountingCredentials()

    class Client(RecordingSecretClient):
        made = []

    resolve = key_vault_resolver("azure-cli", Credentials(made), secret_client=Client)
    monkeypatch.setenv("LAKE_KEY", "from-the-environment")
    variable = EnvironmentVariable("LAKE_KEY")
    assert resolve(Secret(variable.describe(), variable)) == "from-the-environment"
    monkeypatch.delenv("LAKE_KEY")
    with pytest.raises(PortalError) as unset:
        resolve(Secret(variable.describe(), variable))
    assert unset.value.code == "SECRET_MISSING" and "from-the-environment" not in str(unset.value)
    with pytest.raises(PortalError) as words_only:
        resolve(Secret("environment variable PATH"))  # reads like a source, but none was given
    assert words_only.value.code == "SECRET_SOURCE" and made.made == {} and Client.made == []


def test_credentials_are_made_once_per_auth_kind():
    made = CountingCredentials()
    credentials = Credentials(made)
    assert credentials("azure-cli") is credentials("azure-cli")
    assert credentials("default") is not credentials("azure-cli")
    assert made.made == {"azure-cli": 1, "default": 1}


def test_the_run_reads_key_vault_with_the_factory_clients_credential(tmp_path):
    root = tmp_path / "repo"
    make_repo(root)
    workspace = MappingWorkspace.open(root)
    target = open_target(workspace, "test")  # auth "default": the SDK client is made, nothing is called yet
    credential = target.credentials("default")
    assert target.client._config.credential is credential

    class Client(RecordingSecretClient):
        made = []

    (reference,) = [
        entry.reference for entry in workspace.values("test").entries.values() if entry.reference is not None
    ]
    resolve = key_vault_resolver("default", target.credentials, secret_client=Client)
    assert resolve(Secret(reference.describe(), reference)) == "https://kv-test.vault.azure.net/lake-key"
    assert [c.credential for c in Client.made] == [credential]
