"""The configuration that decides who may do what: read only from where a requester cannot edit it.

A requester can edit the working tree (portal.yaml included), make local branches and tags, and move `HEAD`. None
of that may change roles, identity rules, targets or which branch counts as the main one. So:

- the main branch's *name* comes from the portal's own settings (`PORTAL_MAIN_BRANCH`, set where the portal or the
  CI pipeline runs, outside the data repository), else from the repository's remote default branch
  (`refs/remotes/<remote>/HEAD`, which `git clone` records), else from the one of `main` / `master` that exists;
  never from portal.yaml's `git.main_branch`, which must agree with it;
- the rules are portal.yaml as committed on that branch (`refs/heads/<name>`, spelt out in full: a tag of the
  same name must not shadow the branch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from portal import git_repo
from portal.errors import ErrorCode, PortalError

MAIN_BRANCH_VARIABLE = "PORTAL_MAIN_BRANCH"
FALLBACK_BRANCHES = ("main", "master")


@dataclass(frozen=True)
class TrustedMain:
    branch: str
    commit: str
    source: str  # where the name came from, for messages: "PORTAL_MAIN_BRANCH", "origin/HEAD", "only local main"


def trusted_main(repo_root: str | os.PathLike[str]) -> TrustedMain:
    """The main branch's name and the commit it is at, from trusted settings (see the module's docstring)."""
    root = Path(repo_root)
    repo = git_repo.open_repo(root, what="is not a Git repository: promotions and edits need one")
    try:
        branch, source = _main_name(repo)
        commit = git_repo.find_commit(repo, f"refs/heads/{branch}")
        if commit is None:
            raise PortalError(
                f"main branch {branch!r} ({source})",
                "does not exist in the repository",
                hint=f"create it, or set {MAIN_BRANCH_VARIABLE} to the main branch's name",
                code=ErrorCode.MAIN_BRANCH,
            )
        return TrustedMain(branch, commit.hexsha, source)
    finally:
        repo.close()


def _main_name(repo) -> tuple[str, str]:
    configured = os.environ.get(MAIN_BRANCH_VARIABLE, "").strip()
    if configured:
        return configured.removeprefix("refs/heads/"), MAIN_BRANCH_VARIABLE
    defaults = {}
    for remote in repo.remotes:
        # Read from the ref files (no git process: this runs on every page's access check).
        target = git_repo.symbolic_target(repo, f"refs/remotes/{remote.name}/HEAD")
        if target is None:  # no default branch recorded for this remote
            continue
        defaults[remote.name] = target.removeprefix(f"refs/remotes/{remote.name}/")
    if len(set(defaults.values())) == 1:
        remote, name = next(iter(defaults.items()))
        return name, f"{remote}/HEAD"
    if len(defaults) > 1:
        shown = ", ".join(f"{r}/HEAD → {n}" for r, n in sorted(defaults.items()))
        raise PortalError(
            "main branch",
            f"the remotes disagree on the default branch ({shown})",
            hint=f"set {MAIN_BRANCH_VARIABLE} in the portal's settings",
            code=ErrorCode.MAIN_BRANCH,
        )
    local = {h.name for h in repo.heads}
    found = [name for name in FALLBACK_BRANCHES if name in local]
    if len(found) == 1:
        return found[0], f"the only local {found[0]!r} branch"
    what = "both main and master exist" if found else "neither main nor master exists"
    raise PortalError(
        "main branch",
        f"cannot tell which branch is the main one ({what}, and no remote names a default branch)",
        hint=f"set {MAIN_BRANCH_VARIABLE} in the portal's settings",
        code=ErrorCode.MAIN_BRANCH,
    )


def trusted_config(repo_root: str | os.PathLike[str], main: TrustedMain | None = None):
    """portal.yaml as committed on the trusted main branch; its `git.main_branch` must name that branch."""
    from portal.environments.config import load_config
    from portal.environments.repository import RepoSnapshot

    main = main or trusted_main(repo_root)
    config = load_config(RepoSnapshot.open(repo_root, main.commit))
    if config.git.main_branch != main.branch:
        raise PortalError(
            f"portal.yaml on {main.branch} → git.main_branch",
            f"names {config.git.main_branch!r}, but the main branch is {main.branch!r} (from {main.source})",
            hint=f"make them agree: set git.main_branch to {main.branch!r}, or set "
            f"{MAIN_BRANCH_VARIABLE}={config.git.main_branch} in the portal's settings",
            code=ErrorCode.MAIN_BRANCH,
        )
    return config
