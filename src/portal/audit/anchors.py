"""Anchors: the audit trail's head recorded outside the database, as Git notes on the promoted commits.

After a promotion finishes (or fails) the portal appends one line to the note of its commit under
`refs/notes/portal-audit`: the canonical JSON of

    {"seq", "hash", "mac"?, "keyId"?, "promotion", "environment", "at", "sig"?}

— the chain head right then (seq and hash of the newest event, and that event's MAC and key id when the store has an
audit key), which promotion, where, when; with the audit key, `sig` = HMAC(key, "portal-audit-anchor:" + the
canonical JSON of the other fields), so that a note written or changed by someone without the key is told apart.

`AuditStore.verify(anchors=read_anchors(root))` then checks each anchor against the trail: the event at its seq must
exist (an anchor beyond the trail's end: the trail was truncated) and have its hash (another hash: the chain was
rewritten); with the key, its sig must be valid. Whoever can write the database cannot change an anchor that was
pushed to a remote they cannot write (`push_anchors`); local notes are only as safe as the local repository
(`fetch_anchors` reads the remote's copy back to compare).

Git is run through GitPython, on the repository `portal.git_repo` opens. A repository without a committer
identity gets the portal's own for the notes commit.
This module imports nothing of the portal above the audit store.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from portal import git_repo
from portal.audit.chain import canonical_json
from portal.audit.keys import FROM_ENVIRONMENT, AuditKey, resolve_key
from portal.errors import ErrorCode, PortalError

NOTES = "portal-audit"
NOTES_REF = f"refs/notes/{NOTES}"
REMOTE_NOTES_PREFIX = f"refs/notes/{NOTES}-remotes/"  # a remote's notes, as fetched by fetch_anchors
SIG_CONTEXT = "portal-audit-anchor:"
PORTAL_IDENTITY = {
    "GIT_AUTHOR_NAME": "portal",
    "GIT_AUTHOR_EMAIL": "portal@localhost",
    "GIT_COMMITTER_NAME": "portal",
    "GIT_COMMITTER_EMAIL": "portal@localhost",
}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {"seq", "hash", "mac", "keyId", "promotion", "environment", "at", "sig"}
_NOTE_RETRIES = 10  # a concurrent note on the same ref: git refuses to lock it; try again


@dataclass(frozen=True)
class Anchor:
    seq: int  # the chain head's seq when the anchor was written
    hash: str  # the hash of that event
    promotion: str | None
    environment: str | None
    at: str  # ISO-8601 UTC
    mac: str | None = None  # that event's MAC (with an audit key)
    key_id: str | None = None  # the audit key's fingerprint, when signed
    sig: str | None = None  # HMAC(key, SIG_CONTEXT + canonical JSON of the other fields)
    commit: str | None = None  # the commit the note is on (not in the line: where the note is says it)

    def fields(self) -> dict[str, Any]:
        """The note line's fields, without `sig`."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "hash": self.hash,
            "promotion": self.promotion,
            "environment": self.environment,
            "at": self.at,
        }
        if self.mac is not None:
            out["mac"] = self.mac
        if self.key_id is not None:
            out["keyId"] = self.key_id
        return out

    def line(self) -> str:
        fields = self.fields()
        if self.sig is not None:
            fields["sig"] = self.sig
        return canonical_json(fields)

    def signed_with(self, key: AuditKey) -> Anchor:
        unsigned = replace(self, key_id=key.key_id, sig=None)
        return replace(unsigned, sig=key.mac(SIG_CONTEXT + canonical_json(unsigned.fields())))

    def signature_valid(self, key: AuditKey) -> bool:
        return key.valid(SIG_CONTEXT + canonical_json(self.fields()), self.sig)

    def where(self) -> str:
        commit = (self.commit or "?")[:12]
        return f"the anchor on commit {commit} (event {self.seq}" + (
            f", promotion {self.promotion})" if self.promotion else ")"
        )


@dataclass(frozen=True)
class AnchorReading:
    """What the notes hold: the anchors that could be read, and a finding for each line that could not."""

    anchors: tuple[Anchor, ...]
    findings: tuple[str, ...] = ()

    def __add__(self, other: AnchorReading) -> AnchorReading:
        seen = {(a.commit, a.line()) for a in self.anchors}
        more = tuple(a for a in other.anchors if (a.commit, a.line()) not in seen)
        return AnchorReading(
            tuple(sorted(self.anchors + more, key=lambda a: (a.seq, a.commit or ""))),
            self.findings + tuple(f for f in other.findings if f not in self.findings),
        )


def write_anchor(repo_root: str | Path, commit: str, anchor: Anchor, *, key: object = FROM_ENVIRONMENT) -> Anchor:
    """Append `anchor` as one line to the note of `commit` under refs/notes/portal-audit; signed with the audit key
    (by default the environment's) when there is one. Returns the anchor as written (commit resolved)."""
    audit_key = resolve_key(key)
    if audit_key is not None:
        anchor = anchor.signed_with(audit_key)
    repo = _repo(repo_root)
    try:
        try:
            full = repo.git.rev_parse("--verify", "--quiet", f"{commit}^{{commit}}")
        except Exception:  # noqa: BLE001 - GitCommandError: no such commit
            raise PortalError(
                f"commit {commit}", "is not in the repository; the anchor was not written", code=ErrorCode.ANCHOR
            ) from None
        anchor = replace(anchor, commit=full)
        env = _identity_env(repo)
        for attempt in range(_NOTE_RETRIES):
            try:
                repo.git.notes(f"--ref={NOTES}", "append", "-m", anchor.line(), full, env=env)
                return anchor
            except Exception as error:  # noqa: BLE001 - GitCommandError
                if "lock" not in str(error).lower() or attempt == _NOTE_RETRIES - 1:
                    raise PortalError(
                        f"commit {full[:12]}",
                        f"the anchor note could not be written: {_first_line(error)}",
                        code=ErrorCode.ANCHOR,
                    ) from None
                time.sleep(0.05 * (attempt + 1))
    finally:
        repo.close()
    raise AssertionError("unreachable")


def read_anchors(repo_root: str | Path, *, ref: str = NOTES_REF) -> AnchorReading:
    """Every anchor in the notes `ref` (by default refs/notes/portal-audit), oldest seq first. A line that is not
    an anchor is a finding (the portal never writes one); a folder that is no Git repository has no anchors."""
    try:
        repo = _repo(repo_root)
    except PortalError:
        return AnchorReading(())
    anchors: list[Anchor] = []
    findings: list[str] = []
    try:
        try:
            listing = repo.git.notes(f"--ref={ref}", "list")
        except Exception as error:  # noqa: BLE001 - GitCommandError: a notes ref that is not a notes tree
            return AnchorReading((), (f"the notes {ref} cannot be read: {_first_line(error)}",))
        for entry in listing.splitlines():
            parts = entry.split()
            if len(parts) != 2:
                continue
            blob, commit = parts
            try:
                text = repo.odb.stream(bytes.fromhex(blob)).read().decode("utf-8")
            except Exception as error:  # noqa: BLE001 - a note that is no text, or a missing object
                findings.append(f"the note on commit {commit[:12]} cannot be read: {type(error).__name__}")
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    anchors.append(_parse(line, commit))
                except ValueError as error:
                    findings.append(f"the note on commit {commit[:12]}, line {number}, is not an anchor: {error}")
    finally:
        repo.close()
    anchors.sort(key=lambda a: (a.seq, a.commit or ""))
    return AnchorReading(tuple(anchors), tuple(findings))


def push_anchors(repo_root: str | Path, remote: str = "origin") -> None:
    """Push refs/notes/portal-audit to `remote`; when the remote has notes this one lacks (another replica pushed),
    fetch them, merge them line by line (git's cat_sort_uniq strategy) and push again."""
    repo = _repo(repo_root)
    try:
        env = _identity_env(repo)
        spec = f"{NOTES_REF}:{NOTES_REF}"
        for attempt in range(3):
            try:
                repo.git.push(remote, spec, env=env)
                return
            except Exception as error:  # noqa: BLE001 - GitCommandError: rejected (not a fast-forward) or offline
                if attempt == 2:
                    raise PortalError(
                        f"remote {remote}",
                        f"the audit anchors could not be pushed: {_first_line(error)}",
                        code=ErrorCode.ANCHOR,
                    ) from None
            theirs = _fetch(repo, remote, env)
            if theirs is not None:
                repo.git.notes(f"--ref={NOTES}", "merge", "-s", "cat_sort_uniq", theirs, env=env)
    finally:
        repo.close()


def fetch_anchors(repo_root: str | Path, remote: str = "origin") -> str | None:
    """Fetch `remote`'s refs/notes/portal-audit into refs/notes/portal-audit-remotes/<remote> (replacing what was
    fetched before) and return that ref for read_anchors; None when the remote has no anchors."""
    repo = _repo(repo_root)
    try:
        return _fetch(repo, remote, _identity_env(repo))
    finally:
        repo.close()


# --- helpers -------------------------------------------------------------------------------------------------------


def _repo(repo_root: str | Path):
    try:
        return git_repo.open_repo(Path(repo_root))
    except Exception:  # noqa: BLE001 - not a repository (git_repo's PortalError), or Git itself fails
        raise PortalError(str(repo_root), "is not a Git repository", code=ErrorCode.ANCHOR) from None


def _fetch(repo, remote: str, env: dict[str, str]) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", remote):
        raise PortalError(f"remote {remote!r}", "is not a remote's name", code=ErrorCode.ANCHOR)
    local = f"{REMOTE_NOTES_PREFIX}{remote}"
    try:
        if not repo.git.ls_remote(remote, NOTES_REF, env=env).strip():
            return None
        repo.git.fetch(remote, f"+{NOTES_REF}:{local}", env=env)
    except Exception as error:  # noqa: BLE001 - GitCommandError
        raise PortalError(
            f"remote {remote}", f"its audit anchors could not be fetched: {_first_line(error)}", code=ErrorCode.ANCHOR
        ) from None
    return local


def _identity_env(repo) -> dict[str, str]:
    """The portal's committer identity for the notes commits, where the repository (and the user) has none."""
    if all(os.environ.get(name) for name in PORTAL_IDENTITY):
        return {}
    reader = repo.config_reader()
    try:
        if reader.get_value("user", "name", "") and reader.get_value("user", "email", ""):
            return {}
    except Exception:  # noqa: BLE001 - an unreadable configuration: use ours
        pass
    return dict(PORTAL_IDENTITY)


def _parse(line: str, commit: str) -> Anchor:
    try:
        value = json.loads(line)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    unknown = set(value) - _FIELDS
    if unknown:
        raise ValueError(f"unknown fields {', '.join(sorted(unknown))}")
    seq = value.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("seq is not a positive whole number")
    digest = value.get("hash")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ValueError("hash is not a SHA-256 in hex")
    if not isinstance(value.get("at"), str):
        raise ValueError("at is not a time")
    for name in ("promotion", "environment", "mac", "keyId", "sig"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise ValueError(f"{name} is not text")
    return Anchor(
        seq=seq,
        hash=digest,
        promotion=value.get("promotion"),
        environment=value.get("environment"),
        at=value["at"],
        mac=value.get("mac"),
        key_id=value.get("keyId"),
        sig=value.get("sig"),
        commit=commit,
    )


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "stderr", "") or error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
