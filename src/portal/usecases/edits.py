"""Saving an edit of parameter values or parameterization rules: one commit and one audit entry, the same for the
Parameters page and `portal params set | remove-stale` / `portal rules add | remove`.

The edit goes on a new branch (named `params/ENV-STAMP` or `rules/STAMP` unless given), or onto the main branch
itself where the caller asks for it (the CLI's `--direct`). The audit trail records who made it: the signed-in
identity in the portal; on the command line, the Git author (not verified: the review of the branch is the gate).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from portal.environments.git_store import Author, CommitResult
from portal.errors import ErrorCode, PortalError
from portal.promotion.identity import Identity
from portal.promotion.service import Promotions
from portal.usecases.session import DEMO_PEOPLE

if TYPE_CHECKING:
    from portal.environments.workspace import Edit, MappingWorkspace

_NOT_IN_GIT_IDENTITY = re.compile(r"[<>\n\r\0]")


@dataclass(frozen=True)
class SavedEdit:
    commit: CommitResult
    author: Author

    @property
    def author_text(self) -> str:
        return f"{self.author.name} <{self.author.email}>"


def git_author(identity: Identity, display_name: str | None = None) -> Author:
    """The Git author of an edit made in the portal: the signed-in user (their name from the sign-in when given),
    or in the demo the picked person."""
    login = _NOT_IN_GIT_IDENTITY.sub("", identity.name).strip()
    if not login:
        raise PortalError("author", "the signed-in identity has no name", code=ErrorCode.BAD_AUTHOR)
    # A service principal signs in by app id: Git still needs an address-shaped email.
    email = login if "@" in login else f"{login}@portal.invalid"
    demo_name = DEMO_PEOPLE.get(identity.name, "").split(",")[0].strip()
    name = _NOT_IN_GIT_IDENTITY.sub("", display_name or "").strip() or demo_name or login.split("@")[0]
    return Author(name, email)


def author_identity(author: Author) -> Identity:
    """Who the audit trail names for an edit made outside the portal: its Git author, unverified."""
    return Identity(author.email, (), False, "git author")


def edit_branch(prefix: str, environment: str | None = None, now: datetime | None = None) -> str:
    """`params/test-20250101-120000` or `rules/20250101-120000`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{prefix}/{environment}-{stamp}" if environment else f"{prefix}/{stamp}"


def save_edit(
    promotions: Promotions,
    workspace: MappingWorkspace,
    edits: Sequence[Edit],
    identity: Identity,
    *,
    environment: str | None,
    author: Author | None = None,
    branch: str | None = None,
    direct: bool = False,
    message: str | None = None,
    push: bool | None = None,
    display_name: str | None = None,
    branch_prefix: str = "params",
) -> SavedEdit:
    """Commit the edits (on a new branch unless `direct`), authored by `author` (by default derived from
    `identity`), and record the edit in the audit trail as made by `identity`."""
    author = author or git_author(identity, display_name)
    target = None if direct else ((branch or "").strip() or edit_branch(branch_prefix, environment))
    result = workspace.save(edits, author=author, branch=target, message=(message or "").strip() or None, push=push)
    promotions.record_parameter_edit(
        identity,
        environment,
        commit=result.commit,
        branch=result.branch,
        changes=[line for edit in edits for line in edit.changes],
    )
    return SavedEdit(result, author)
