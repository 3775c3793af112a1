"""What the portal's pages show about promotions and the audit trail, computed here so that the pages only lay out
widgets: the environment matrix, drift, the snapshots one may promote, plan displays, who may do what, the
requests waiting for approval, live progress of a run, and pages, details and exports of the audit trail.

Nothing here decides anything the façade (service.Promotions) does not decide again: hiding or disabling a button
after `permissions` is a courtesy; the façade checks every action itself.
"""

from __future__ import annotations

import io
import json
import math
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from portal.adf.expressions import Secret
from portal.audit import Approval, AuditEvent, AuditStore, Promotion, Snapshot
from portal.deploy.events import FAILED as EVENT_FAILED
from portal.deploy.events import FINISHED, OBJECT_DONE, RETRY, STEP_FINISHED, STEP_STARTED, Event
from portal.errors import PortalError
from portal.plain_text import code, literal
from portal.promotion.access import ACTION_ROLES, allowed, roles_of, verb
from portal.promotion.identity import Identity, person_key
from portal.promotion.service import AWAITING_APPROVAL, Promotions

if TYPE_CHECKING:
    from portal.databricks.plan import NotebookPlan
    from portal.deploy.plan import ObjectChange, Plan
    from portal.deploy.service import PlannedEnvironment
    from portal.environments.config import PortalConfig

# The kinds of event the portal writes (service.py), for the audit page's filter.
EVENT_KINDS = (
    "promotion requested", "promotion approved", "promotion ready", "promotion rejected", "promotion started",
    "promotion step", "promotion finished", "promotion failed", "promotion interrupted", "promotion expired",
    "action refused", "parameters edited", "record written", "audit sealed", "anchor failed",
)
PAGE_SIZES = (25, 50, 100, 200)
EXPORT_FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


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
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


# --- the environment matrix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentRow:
    environment: str
    approvals_required: int
    promotion_id: str | None  # the last promotion that succeeded: what runs there now
    snapshot_id: str | None
    commit: str | None
    deployed_at: str | None
    deployed_by: str | None
    last_promotion_id: str | None  # the newest request, whatever became of it
    last_status: str | None
    last_error: str | None
    running: str | None  # the promotion running there now, if any

    @property
    def deployed(self) -> bool:
        return self.promotion_id is not None

    def as_table_row(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "snapshot": self.snapshot_id or "—",  # nothing promoted yet
            "commit": short(self.commit),
            "deployed at": when(self.deployed_at),
            "promoted by": self.deployed_by or "",
            "last promotion": (f"{self.last_status} ({self.last_promotion_id})" if self.last_promotion_id else "")
                              + (f"; {self.running} running" if self.running not in (None, self.last_promotion_id)
                                 else ""),
            "approvals": self.approvals_required,  # needed there; what waits is listed below the matrix
        }


def environment_rows(promotions: Promotions) -> list[EnvironmentRow]:
    """Every environment in promotion order: what it runs (snapshot, commit, when, by whom), the newest
    promotion's result, and what runs or waits there. A few indexed queries per environment."""
    config = promotions.main_config()
    rows = []
    for status in promotions.status():
        newest = promotions.store.promotions(environment=status.environment, limit=1)
        last = newest[0] if newest else None
        current = status.current
        rows.append(EnvironmentRow(
            environment=status.environment,
            approvals_required=config.environment(status.environment).protection.approvals_required,
            promotion_id=current.id if current else None,
            snapshot_id=status.snapshot.id if status.snapshot else None,
            commit=status.snapshot.source_commit if status.snapshot else None,
            deployed_at=current.finished_at if current else None,
            deployed_by=current.requested_by if current else None,
            last_promotion_id=last.id if last else None,
            last_status=last.status if last else None,
            last_error=last.error if last else None,
            running=status.running.id if status.running else None))
    return rows


# --- drift -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftReport:
    """Whether the live environment still is what its last promotion deployed: the plan of that snapshot's commit
    against the live factory (and workspace folder) now."""

    environment: str
    promotion_id: str | None  # the promotion checked against (None: nothing promoted, nothing to compare)
    snapshot_id: str | None
    commit: str | None
    checked_at: str
    has_changes: bool
    counts: Mapping[str, int]
    notebook_counts: Mapping[str, int] | None
    changes: tuple[str, ...]  # "update pipeline PL_Load", "delete dataset DS_Old", "trigger TR_Daily: start", ...

    def is_for(self, row: EnvironmentRow) -> bool:
        """Still about what the environment runs (a promotion since makes it outdated)."""
        return self.promotion_id == row.promotion_id


def check_drift(promotions: Promotions, environment: str) -> DriftReport:
    """Plan the environment's current snapshot again: any change is drift (edited in the factory, the workspace
    or outside the portal). Reads the live factory: call it on request, not on every page view."""
    checked = datetime.now(timezone.utc).isoformat(timespec="seconds")
    current = promotions.store.last_succeeded(environment)
    if current is None:
        return DriftReport(environment, None, None, None, checked, False, {}, None, ())
    snapshot = promotions.store.snapshot(current.snapshot_id)
    commit = snapshot.source_commit if snapshot else None
    from portal.deploy.service import plan_environment

    plan = plan_environment(promotions.workspace_at(commit), environment).plan
    changes = [f"{o.action} {o.label}" for o in plan.objects if o.action != "unchanged"]
    changes += [f"delete {o.label}" for o in plan.effective_deletions]
    changes += [f"trigger {t.name}: {trigger_steps(t.stop, t.start)}" for t in plan.triggers if t.stop or t.start]
    notebook_counts = None
    if plan.notebooks is not None:
        notebook_counts = plan.notebooks.counts()
        changes += [f"{c.action} {c.label}" + (" (edited in the workspace)" if c.drift else "")
                    for c in plan.notebooks.changes]
    return DriftReport(environment, current.id, current.snapshot_id, commit, checked, plan.has_changes,
                       plan.counts(), notebook_counts, tuple(changes))


# --- what may be promoted --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefChoice:
    ref: str | None  # what Promotions.request takes: None for the main branch
    label: str
    commit: str


def snapshot_choices(promotions: Promotions, *, recent: int = 15) -> list[RefChoice]:
    """What one may promote: the main branch first (the default), then the other branches and tags, then the
    main branch's recent commits (an older snapshot, e.g. to redeploy it)."""
    import git

    main = promotions.main_config().git.main_branch
    repo = git.Repo(promotions.repo_root)
    try:
        head = repo.commit(main)
        choices = [RefChoice(None, f"{main} (main branch) · {short(head.hexsha)} · {_subject(head)}", head.hexsha)]
        for branch in sorted(repo.branches, key=lambda b: b.name):
            if branch.name != main:
                commit = branch.commit
                choices.append(RefChoice(branch.name, f"branch {branch.name} · {short(commit.hexsha)} · "
                                         f"{_subject(commit)}", commit.hexsha))
        for tag in sorted(repo.tags, key=lambda t: t.name):
            commit = tag.commit
            choices.append(RefChoice(tag.name, f"tag {tag.name} · {short(commit.hexsha)}", commit.hexsha))
        for commit in repo.iter_commits(main, max_count=recent):
            when = datetime.fromtimestamp(commit.committed_date, timezone.utc).strftime("%Y-%m-%d %H:%M")
            choices.append(RefChoice(commit.hexsha, f"commit {short(commit.hexsha)} · {when} · "
                                     f"{commit.author.name} · {_subject(commit)}", commit.hexsha))
    finally:
        repo.close()
    return choices


def _subject(commit: Any) -> str:
    subject = str(commit.message).strip().splitlines()[0] if str(commit.message).strip() else ""
    return subject if len(subject) <= 60 else subject[:57] + "…"


@dataclass(frozen=True)
class PreparedPromotion:
    """A plan shown before a request; passed to Promotions.request (planned=) so what was shown is what is asked."""

    environment: str
    ref: str | None
    commit: str
    snapshot_id: str
    planned: "PlannedEnvironment" = field(repr=False)
    rollback: bool = False

    @property
    def plan(self) -> "Plan":
        return self.planned.plan

    def matches(self, environment: str, ref: str | None, rollback: bool = False) -> bool:
        return self.environment == environment and self.ref == ref and self.rollback == rollback


def prepare_promotion(promotions: Promotions, environment: str, ref: str | None, *,
                      rollback: bool = False) -> PreparedPromotion:
    """Plan `ref` (None: the main branch) for `environment` against its live factory, and name its snapshot."""
    from portal.deploy.service import plan_environment
    from portal.promotion.snapshot import snapshot_of

    workspace = promotions.workspace_at(ref)
    content = snapshot_of(workspace)
    planned = plan_environment(workspace, environment)
    return PreparedPromotion(environment, ref, content.source_commit, content.id, planned, rollback)


@dataclass(frozen=True)
class RollbackOption:
    """What rolling an environment back would promote again: the snapshot before the one it runs."""

    environment: str
    current: Snapshot | None
    target: Snapshot | None
    why_not: str  # when there is no target: why (nothing promoted, or no earlier snapshot)


def rollback_option(promotions: Promotions, environment: str) -> RollbackOption:
    last = promotions.store.last_succeeded(environment)
    current = promotions.store.snapshot(last.snapshot_id) if last else None
    try:
        target = promotions.rollback_target(environment)
    except PortalError as none:
        return RollbackOption(environment, current, None, none.what)
    return RollbackOption(environment, current, target, "")


# --- showing a plan --------------------------------------------------------------------------------------------


def shown_value(value: Any) -> str:
    """A property value in a diff: secrets as their source, structures as compact JSON, absence said so."""
    if value is None:
        return "(absent)"
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def changed_objects(plan: "Plan") -> list["ObjectChange"]:
    """The objects a plan creates or updates, in deployment order (unchanged ones are only counted)."""
    return [o for o in plan.objects if o.action != "unchanged"]


def property_rows(change: "ObjectChange") -> list[dict[str, str]]:
    return [{"property": c.path, "before": shown_value(c.before), "after": shown_value(c.after)}
            for c in change.changes]


def trigger_steps(stop: bool, start: bool) -> str:
    return " and ".join(word for word, on in (("stop", stop), ("start", start)) if on) or "none"


def trigger_rows(plan: "Plan") -> list[dict[str, str]]:
    return [{"trigger": t.name, "does": trigger_steps(t.stop, t.start), "why": t.reason,
             "event subscription": "unsubscribed first, subscribed again" if t.event_subscription else ""}
            for t in plan.triggers if t.stop or t.start]


def deletion_notice(plan: "Plan") -> tuple[str, str] | None:
    """("error", text) when the promotion deletes live objects; ("warning", text) when live objects the source no
    longer has are kept because deletion is off; None otherwise."""
    if not plan.deletions:
        return None
    names = ", ".join(literal(o.label) for o in plan.deletions[:20]) + (" …" if len(plan.deletions) > 20 else "")
    if plan.deletions_enabled:
        return "error", f"**{len(plan.deletions)} live objects will be DELETED** (not in the source): {names}"
    return "warning", (f"{len(plan.deletions)} live objects are not in the source and are kept (deletion is off "
                       f"for {plan.environment}): {names}")


def notebook_rows(plan: "NotebookPlan") -> list[dict[str, str]]:
    rows = [{"action": "create", "object": f"folder {f}", "from": "", "why": "missing"}
            for f in plan.folders_to_create]
    rows += [{"action": c.action, "object": c.label, "from": c.repo_path or "",
              "why": c.reason + (" (drift)" if c.drift else "")} for c in plan.changes]
    rows += [{"action": "delete", "object": f"folder {f}", "from": "", "why": "emptied"}
             for f in plan.folders_to_delete]
    return rows


def summary_counts(summary: Mapping[str, Any]) -> dict[str, int]:
    """The counts of a promotion's recorded plan summary (plan_summary / the "promotion requested" event)."""
    counts = dict(summary.get("counts") or {})
    notebooks = (summary.get("notebooks") or {}).get("counts")
    if notebooks:
        counts["notebooks changed"] = sum(notebooks.get(k, 0) for k in ("create", "update", "delete"))
    return counts


# --- who may do what -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permissions:
    promote: bool
    approve: bool
    reject: bool
    skip: bool
    rollback: bool
    roles: frozenset[str]


def permissions(promotions: Promotions, identity: Identity | None,
                config: "PortalConfig | None" = None) -> dict[str, Permissions]:
    """What `identity` may do in each environment, by the main branch's rules (the façade checks again)."""
    config = config or promotions.main_config()
    result = {}
    for env in config.environments:
        if identity is None:
            result[env.name] = Permissions(False, False, False, False, False, frozenset())
            continue
        result[env.name] = Permissions(
            promote=allowed(config, identity, "promote", env.name),
            approve=allowed(config, identity, "approve", env.name),
            reject=allowed(config, identity, "reject", env.name),
            skip=allowed(config, identity, "skip", env.name),
            rollback=allowed(config, identity, "rollback", env.name),
            roles=frozenset(roles_of(config, identity, env.name)))
    return result


def refusal_hint(action: str, environment: str) -> str:
    return (f"You may not {verb(action)} in {environment}: it needs the role "
            + " or ".join(ACTION_ROLES[action] + ("admin",)) + " (access.roles in portal.yaml)")


# --- promotions waiting, or ready to run -----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingRequest:
    promotion: Promotion
    commit: str | None
    approvals: tuple[Approval, ...]
    valid: frozenset[str]  # approvals that count (not expired, not the requester's)
    who_may_approve: tuple[str, ...]
    own: bool  # `identity` requested it: the façade refuses their approval

    @property
    def counts(self) -> dict[str, int]:
        return summary_counts(self.promotion.plan_summary)


def pending_requests(promotions: Promotions, identity: Identity | None, *, limit: int = 50) -> list[PendingRequest]:
    """Promotions awaiting approval, oldest request first (the one waiting longest on top)."""
    waiting = promotions.store.promotions(statuses=[AWAITING_APPROVAL], limit=limit)
    result = []
    for promotion in reversed(waiting):
        snapshot = promotions.store.snapshot(promotion.snapshot_id)
        result.append(PendingRequest(
            promotion, snapshot.source_commit if snapshot else None,
            tuple(promotions.store.approvals(promotion.id)), frozenset(promotions.valid_approvals(promotion)),
            tuple(promotions.who_may_approve(promotion)),
            identity is not None and person_key(identity.name) == person_key(promotion.requested_by)))
    return result


def runnable_promotions(promotions: Promotions, *, limit: int = 20) -> list[Promotion]:
    """Approved promotions not run yet, and failed or interrupted ones (running again converges); superseded ones
    are left out (they would take the environment back)."""
    return promotions.runnable(limit=limit)


def outcome(promotions: Promotions, promotion_id: str) -> str:
    """What became of a promotion, in one line: its "promotion finished" summary, or its status and error."""
    promotion = promotions.store.promotion(promotion_id)
    if promotion is None:
        return f"promotion {promotion_id} does not exist"
    finished = promotions.store.events(promotion_id=promotion_id, kind="promotion finished", limit=1)
    if finished:
        return f"promotion {promotion_id} to {promotion.environment} succeeded: {finished[0].summary}"
    text = f"promotion {promotion_id} to {promotion.environment} is {promotion.status}"
    return text + (f": {promotion.error}" if promotion.error else "")


# --- live progress of a run ------------------------------------------------------------------------------------


@dataclass
class StepState:
    name: str
    state: str = "running"  # running | done | failed
    done: int = 0
    total: int = 0
    last: str = ""  # the last object or message
    retries: int = 0

    def line(self) -> str:
        counter = f" {self.done}/{self.total}" if self.total else ""
        extra = f" · {self.retries} retries" if self.retries else ""
        return f"{self.name}{counter}{extra}" + (f" — {self.last}" if self.last else "")


class RunProgress:
    """A run's events as a list of steps and a fraction for a progress bar. Thread-safe; `on_change` is called
    only in the thread that made it (a UI may only be drawn from its own thread; events from worker threads,
    retries say, show with the next event of that thread)."""

    def __init__(self, on_change: Callable[["RunProgress"], None] | None = None):
        self._lock = threading.Lock()
        self._owner = threading.get_ident()
        self._on_change = on_change
        self.steps: list[StepState] = []
        self.finished = False
        self.failed: str | None = None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._take(event)
        if self._on_change is not None and threading.get_ident() == self._owner:
            self._on_change(self)

    def _step(self, name: str) -> StepState:
        for step in reversed(self.steps):
            if step.name == name:
                return step
        step = StepState(name)
        self.steps.append(step)
        return step

    def _take(self, event: Event) -> None:
        if event.kind == FINISHED:
            self.finished = True
            for step in self.steps:
                if step.state == "running":
                    step.state = "done"
            return
        if event.kind == EVENT_FAILED:
            self.failed = f"{event.object}: {event.message}".strip(": ")
            step = self._step(event.step)
            step.state, step.last = "failed", self.failed
            return
        step = self._step(event.step or "apply")
        if event.kind == STEP_STARTED:
            step.state, step.total = "running", event.total or step.total
            step.last = event.object
        elif event.kind == OBJECT_DONE:
            step.done = max(step.done, event.done)
            step.total = max(step.total, event.total)
            step.last = f"{event.object} {event.message}".strip()
        elif event.kind == RETRY:
            step.retries += 1
            step.last = f"retrying {event.object}: {event.message}".strip()
        elif event.kind == STEP_FINISHED:
            step.state = "done"
            step.done = event.done or step.total or step.done
            step.last = event.message or step.last

    @property
    def fraction(self) -> float:
        """How far the current step is (its done/total); 1.0 once the run finished."""
        with self._lock:
            if self.finished:
                return 1.0
            current = self.steps[-1] if self.steps else None
            if current is None or not current.total:
                return 0.0 if current is None or current.state == "running" else 1.0
            return min(1.0, current.done / current.total)

    @property
    def label(self) -> str:
        with self._lock:
            if self.failed:
                return f"failed: {self.failed}"
            if self.finished:
                return "finished"
            return self.steps[-1].line() if self.steps else "starting"

    def lines(self) -> list[tuple[str, str]]:
        """(state, text) per step, in the order they started."""
        with self._lock:
            return [(s.state, s.line()) for s in self.steps]


# --- the audit trail -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    environment: str | None = None
    actor: str | None = None
    kind: str | None = None
    promotion_id: str | None = None
    since: str | None = None  # inclusive, ISO-8601
    until: str | None = None  # exclusive

    def kwargs(self) -> dict[str, str | None]:
        return {"environment": self.environment, "actor": self.actor, "kind": self.kind,
                "promotion_id": self.promotion_id, "since": self.since, "until": self.until}


def audit_filter(*, environment: str | None = None, actor: str | None = None, kind: str | None = None,
                 promotion_id: str | None = None, first_day: date | None = None,
                 last_day: date | None = None) -> AuditFilter:
    """A filter from what a form gives: blanks mean any; days are whole UTC days, the last one included."""
    def given(value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    since = datetime.combine(first_day, time(), timezone.utc).isoformat() if first_day else None
    until = (datetime.combine(last_day + timedelta(days=1), time(), timezone.utc).isoformat()
             if last_day else None)
    return AuditFilter(given(environment), given(actor), given(kind), given(promotion_id), since, until)


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    total: int  # events matching the filter
    page: int  # 1-based
    pages: int
    page_size: int

    @property
    def first(self) -> int:
        """Position (1-based, newest first) of the page's first event among the matching ones."""
        return 0 if not self.events else (self.page - 1) * self.page_size + 1

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1 if self.events else 0


def audit_page(store: AuditStore, where: AuditFilter, page: int = 1, page_size: int = 50) -> AuditPage:
    """One page of the matching events, newest first: a count and one indexed query, whatever the trail's size."""
    total = store.count_events(**where.kwargs())
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    events = store.events(**where.kwargs(), offset=(page - 1) * page_size, limit=page_size)
    return AuditPage(tuple(events), total, page, pages, page_size)


def event_row(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": event.at, "environment": event.environment or "",
            "actor": event.actor if event.actor_verified else f"{event.actor} (unverified)",
            "kind": event.kind, "promotion": event.promotion_id or "", "summary": event.summary}


@dataclass(frozen=True)
class ArtifactRef:
    role: str  # "template", "parameters", "rendered", "plan", "notebookManifest"
    digest: str


def event_artifacts(event: AuditEvent) -> list[ArtifactRef]:
    """The artifacts a "promotion requested" event names (what went out, by content)."""
    found = event.data.get("artifacts") if isinstance(event.data, dict) else None
    if not isinstance(found, dict):
        return []
    return [ArtifactRef(str(role), str(digest)) for role, digest in found.items() if isinstance(digest, str)]


def export_bytes(store: AuditStore, fmt: str, where: AuditFilter) -> tuple[bytes, int]:
    """The matching events as CSV or JSON lines (oldest first), and how many there are."""
    out = io.StringIO()
    count = store.export(out, fmt, **where.kwargs())
    return out.getvalue().encode("utf-8"), count


def export_file_name(fmt: str, where: AuditFilter) -> str:
    parts = [p for p in (where.environment, where.kind, where.promotion_id) if p]
    stem = "audit" + ("-" + "-".join(parts) if parts else "")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) + f".{fmt}"
