"""What every page shows alike: errors (where, what, hint: never a traceback), commits, times, and the commit the
pages read."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from portal.errors import Finding, PortalError, Severity, describe, findings_of
from ui.markdown import code, literal


def error_text(error: PortalError) -> str:
    """A core error as the pages show it (Markdown): where, what, and the hint (never a traceback). They quote what
    people typed or wrote, so they are shown literally, never as Markdown of their own."""
    text = f"**{literal(error.where)}**: {literal(error.what)}"
    if error.hint:
        text += f"\n\nHint: {literal(error.hint)}"
    return text + f"  \n{code(error.code)}"


def short(commit: str | None, length: int = 10) -> str:
    return (commit or "")[:length]


def when(moment: str | None) -> str:
    """A stored ISO timestamp as people read it: to the second, in UTC, named so ("" when there is none)."""
    if not moment:
        return ""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment  # not ours to reformat: shown as stored
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def error_lines(error: PortalError) -> list[str]:
    """A core error as lines naming the file or field, one per finding, as the CLI prints them."""
    return [describe(f) for f in findings_of(error)]


def findings_text(findings: Iterable[Finding]) -> list[tuple[Severity, str]]:
    return [(f.severity, describe(f)) for f in findings]


# --- the commit the pages read ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MainHead:
    branch: str
    commit: str


def main_head(repo_root: str | os.PathLike[str]) -> MainHead:
    """The main branch (from trusted settings, see `portal.environments.trusted`) and the commit it is at: what the
    pages show and edits build on, so an edit saved later is refused if someone moved the branch in between."""
    from portal.environments.trusted import trusted_main

    main = trusted_main(repo_root)
    return MainHead(main.branch, main.commit)
