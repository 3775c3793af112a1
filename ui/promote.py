"""The Promote page's data: the snapshots one may promote, a plan as tables, who may do what, the requests waiting
for approval, and a run's live progress.

Hiding or disabling a button after `permissions` is a courtesy: the core checks every action itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.adf.expressions import Secret
from portal.audit import Approval, Promotion
from portal.deploy.steps import plan_steps
from portal.environments.config import Role
from portal.events import (
    FAILED as EVENT_FAILED,
    FINISHED,
    OBJECT_DONE,
    RETRY,
    STEP_FINISHED,
    STEP_STARTED,
    Event,
)
from portal.git_repo import GitRef, recent_refs
from portal.promotion.access import ACTION_ROLES, Action, allowed, roles_of, verb
from portal.promotion.identity import Identity, person_key
from portal.promotion.service import AWAITING_APPROVAL, Promotions
from portal.promotion.summary import PlanSummary
from portal.usecases.drift import trigger_steps
from ui.common import short
from ui.markdown import literal

if TYPE_CHECKING:
    from portal.databricks.plan import NotebookPlan
    from portal.deploy.plan import ObjectChange, Plan
    from portal.environments.config import PortalConfig


# --- what may be promoted --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefChoice:
    ref: str | None  # what Promotions.request takes: None for the main branch
    label: str
    commit: str


def snapshot_choices(promotions: Promotions, *, recent: int = 15) -> list[RefChoice]:
    """What one may promote: the main branch first (the default), then the other branches and tags, then the
    main branch's recent commits (an older snapshot, e.g. to redeploy it)."""
    main = promotions.main_config().git.main_branch
    refs = recent_refs(promotions.repo_root, main, recent)
    head, rest = refs[0], refs[1:]  # recent_refs lists the main branch first
    choices = [RefChoice(None, f"{main} (main branch) · {short(head.commit)} · {_subject(head)}", head.commit)]
    for ref in rest:
        if ref.kind == "branch":
            label = f"branch {ref.name} · {short(ref.commit)} · {_subject(ref)}"
        elif ref.kind == "tag":
            label = f"tag {ref.name} · {short(ref.commit)}"
        else:
            label = (
                f"commit {short(ref.commit)} · {ref.committed.strftime('%Y-%m-%d %H:%M')} · {ref.author} · "
                f"{_subject(ref)}"
            )
        choices.append(RefChoice(ref.name, label, ref.commit))
    return choices


def _subject(ref: GitRef) -> str:
    return ref.subject if len(ref.subject) <= 60 else ref.subject[:57] + "…"


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


def changed_objects(plan: Plan) -> list[ObjectChange]:
    """The objects a plan creates or updates, in deployment order (unchanged ones are only counted)."""
    return [o for o in plan.objects if o.action != "unchanged"]


def property_rows(change: ObjectChange) -> list[dict[str, str]]:
    return [
        {"property": c.path, "before": shown_value(c.before), "after": shown_value(c.after)} for c in change.changes
    ]


def trigger_rows(plan: Plan) -> list[dict[str, str]]:
    return [
        {
            "trigger": t.name,
            "does": trigger_steps(t.stop, t.start),
            "why": t.reason,
            "event subscription": "unsubscribed first, subscribed again" if t.event_subscription else "",
        }
        for t in plan.triggers
        if t.stop or t.start
    ]


def deletion_notice(plan: Plan) -> tuple[str, str] | None:
    """("error", text) when the promotion deletes live objects; ("warning", text) when live objects the source no
    longer has are kept because deletion is off; None otherwise."""
    if not plan.deletions:
        return None
    names = ", ".join(literal(o.label) for o in plan.deletions[:20]) + (" …" if len(plan.deletions) > 20 else "")
    if plan.deletions_enabled:
        return "error", f"**{len(plan.deletions)} live objects will be DELETED** (not in the source): {names}"
    return "warning", (
        f"{len(plan.deletions)} live objects are not in the source and are kept (deletion is off "
        f"for {plan.environment}): {names}"
    )


def notebook_rows(plan: NotebookPlan) -> list[dict[str, str]]:
    rows = [{"action": "create", "object": f"folder {f}", "from": "", "why": "missing"} for f in plan.folders_to_create]
    rows += [
        {
            "action": c.action,
            "object": c.label,
            "from": c.repo_path or "",
            "why": c.reason + (" (drift)" if c.drift else ""),
        }
        for c in plan.changes
    ]
    rows += [
        {"action": "delete", "object": f"folder {f}", "from": "", "why": "emptied"} for f in plan.folders_to_delete
    ]
    return rows


def step_rows(plan: Plan) -> list[dict[str, str]]:
    """The steps applying the plan runs, in order, as `portal plan` prints them."""
    return [
        {
            "step": f"{number}. {step.name}",
            "items": str(len(step.items)) if step.runs else "",
            "does": step.description if step.runs else f"skipped: {step.skipped_because}",
        }
        for number, step in enumerate(plan_steps(plan), 1)
    ]


# --- who may do what -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permissions:
    promote: bool
    approve: bool
    reject: bool
    skip: bool
    rollback: bool
    roles: frozenset[str]


def permissions(
    promotions: Promotions, identity: Identity | None, config: PortalConfig | None = None
) -> dict[str, Permissions]:
    """What `identity` may do in each environment, by the main branch's rules (the façade checks again)."""
    config = config or promotions.main_config()
    result = {}
    for env in config.environments:
        if identity is None:
            result[env.name] = Permissions(False, False, False, False, False, frozenset())
            continue
        result[env.name] = Permissions(
            promote=allowed(config, identity, Action.PROMOTE, env.name),
            approve=allowed(config, identity, Action.APPROVE, env.name),
            reject=allowed(config, identity, Action.REJECT, env.name),
            skip=allowed(config, identity, Action.SKIP, env.name),
            rollback=allowed(config, identity, Action.ROLLBACK, env.name),
            roles=frozenset(roles_of(config, identity, env.name)),
        )
    return result


def refusal_hint(action: str, environment: str) -> str:
    """Why a button is disabled: the roles the action needs (`action`: an `Action` value)."""
    needed = Action(action)
    return (
        f"You may not {verb(needed)} in {environment}: it needs the role "
        + " or ".join(ACTION_ROLES[needed] + (Role.ADMIN,))
        + " (access.roles in portal.yaml)"
    )


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
    def summary(self) -> PlanSummary:
        return PlanSummary.from_json(self.promotion.plan_summary)

    @property
    def counts(self) -> dict[str, int]:
        return self.summary.shown_counts()


def pending_requests(promotions: Promotions, identity: Identity | None, *, limit: int = 50) -> list[PendingRequest]:
    """Promotions awaiting approval, oldest request first (the one waiting longest on top)."""
    waiting = promotions.store.promotions(statuses=[AWAITING_APPROVAL], limit=limit)
    result = []
    for promotion in reversed(waiting):
        snapshot = promotions.store.snapshot(promotion.snapshot_id)
        result.append(
            PendingRequest(
                promotion,
                snapshot.source_commit if snapshot else None,
                tuple(promotions.store.approvals(promotion.id)),
                frozenset(promotions.valid_approvals(promotion)),
                tuple(promotions.who_may_approve(promotion)),
                identity is not None and person_key(identity.name) == person_key(promotion.requested_by),
            )
        )
    return result


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

    def __init__(self, on_change: Callable[[RunProgress], None] | None = None):
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
