"""Promotion use cases: each thing a person does on the Promote page or with `portal promote | approve | reject |
rollback`, as one call that the page, the CLI, the demo and the tests share.

The sequence is always prepare → (the caller shows the plan and asks) → submit → run:
- `prepare` plans a snapshot against the live environment and records nothing, so declining at any prompt
  leaves no trace;
- `submit` records the request for exactly the plan that was shown (its hash: a branch that moved since is
  refused, not planned anew behind the person's back);
- `start` submits and, where no approval is needed, runs at once; `approve` runs once the last approval is in;
- `run` carries out an approved (or failed, or interrupted) promotion.

Every rule (roles, order, approvals, lock) is checked by the façade below (`portal.promotion.service`); nothing
here decides anything on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from portal.audit import Promotion, Snapshot
from portal.environments.config import Notice
from portal.errors import PortalError
from portal.events import EventSink, no_events
from portal.promotion.identity import Identity
from portal.promotion.notifications import notify
from portal.promotion.service import ALL_ENVIRONMENTS, APPROVED, AWAITING_APPROVAL, FAILED, Promotions
from portal.promotion.snapshot import snapshot_of

if TYPE_CHECKING:
    from portal.deploy.plan import Plan
    from portal.deploy.service import PlannedEnvironment


@dataclass(frozen=True)
class PreparedPromotion:
    """A plan of a snapshot for an environment, made before anything is recorded: what the person is shown and,
    if they go on, exactly what `submit` asks for."""

    environment: str
    ref: str | None  # None: the main branch
    commit: str
    snapshot_id: str
    planned: PlannedEnvironment = field(repr=False)
    rollback: bool = False

    @property
    def plan(self) -> Plan:
        return self.planned.plan

    def matches(self, environment: str, ref: str | None, rollback: bool = False) -> bool:
        """Whether this was prepared for that choice (a page keeps it across reruns while the choice stands)."""
        return self.environment == environment and self.ref == ref and self.rollback == rollback


@dataclass(frozen=True)
class Outcome:
    """What became of a promotion after a call that may run it: the promotion as recorded now, and the error when
    its run failed or was refused (recorded as well: a failed run may be run again)."""

    promotion: Promotion
    error: PortalError | None = None
    held: str | None = None  # approved, and held until the release windows open: why

    @property
    def waiting(self) -> bool:
        """Recorded, and waiting for approval: nothing ran."""
        return self.error is None and self.promotion.status == AWAITING_APPROVAL

    def raise_for_error(self) -> Promotion:
        if self.error is not None:
            raise self.error
        return self.promotion


def prepare(
    promotions: Promotions,
    environment: str,
    *,
    ref: str | None = None,
    rollback: bool = False,
    sink: EventSink = no_events,
) -> PreparedPromotion:
    """Plan `ref` (None: the main branch) for `environment` against its live state and name its snapshot.
    Nothing is recorded."""
    promotions.main_config().environment(environment)  # an unknown environment is named before any planning
    # Imported on use: the SDKs it loads take most of a second, which every page would pay at its first render.
    from portal.deploy.service import plan_environment

    workspace = promotions.workspace_at(ref)
    content = snapshot_of(workspace)
    planned = plan_environment(workspace, environment, sink=sink)
    return PreparedPromotion(environment, ref, content.source_commit, content.id, planned, rollback)


def prepare_rollback(promotions: Promotions, environment: str, *, sink: EventSink = no_events) -> PreparedPromotion:
    """Plan promoting the environment's previous successful snapshot again. Nothing is recorded."""
    target = promotions.rollback_target(environment)
    return prepare(promotions, environment, ref=target.source_commit, rollback=True, sink=sink)


def submit(
    promotions: Promotions,
    prepared: PreparedPromotion,
    identity: Identity,
    *,
    skip_reason: str | None = None,
    override_reason: str | None = None,
) -> Promotion:
    """Record the request for the prepared plan (approved at once where the environment needs no approval).
    Never runs anything."""
    promotion, _ = promotions.request(
        prepared.environment,
        identity,
        ref=prepared.ref,
        skip_reason=skip_reason,
        rollback=prepared.rollback,
        planned=prepared.planned,
        expected_plan_hash=prepared.plan.hash,
        override_reason=override_reason,
    )
    if promotion.status == AWAITING_APPROVAL:
        notify(promotions, Notice.APPROVAL_NEEDED, promotion)
    return promotion


def run(
    promotions: Promotions,
    promotion_id: str,
    identity: Identity,
    *,
    sink: EventSink = no_events,
    planned: PlannedEnvironment | None = None,
    override_reason: str | None = None,
) -> Outcome:
    """Run a promotion under its environment's lock. A failed or refused run is recorded and returned as the
    outcome's error."""
    return _run(promotions, promotion_id, identity, sink, planned, override_reason)


def start(
    promotions: Promotions,
    prepared: PreparedPromotion,
    identity: Identity,
    *,
    skip_reason: str | None = None,
    override_reason: str | None = None,
    sink: EventSink = no_events,
) -> Outcome:
    """Submit, and run at once where no approval is needed (with the plan that was shown); outside the release
    windows the approved request is held until they open (unless an admin overrides)."""
    promotion = submit(promotions, prepared, identity, skip_reason=skip_reason, override_reason=override_reason)
    if promotion.status != APPROVED:
        return Outcome(promotion)
    held = _held(promotions, promotion, override_reason)
    if held is not None:
        return Outcome(promotion, held=held)
    return _run(promotions, promotion.id, identity, sink, prepared.planned, override_reason)


def approve(
    promotions: Promotions, promotion_id: str, identity: Identity, comment: str = "", *, sink: EventSink = no_events
) -> Outcome:
    """Approve; the approval that completes the required number runs the promotion."""
    promotion = promotions.approve(promotion_id, identity, comment)
    if promotion.status != APPROVED:
        return Outcome(promotion)
    held = _held(promotions, promotion, None)
    if held is not None:
        return Outcome(promotion, held=held)
    return _run(promotions, promotion.id, identity, sink, None)


def reject(promotions: Promotions, promotion_id: str, identity: Identity, reason: str) -> Promotion:
    return promotions.reject(promotion_id, identity, reason)


def promote(
    promotions: Promotions,
    environment: str,
    identity: Identity,
    *,
    ref: str | None = None,
    skip_reason: str | None = None,
    sink: EventSink = no_events,
) -> Promotion:
    """Prepare and start without asking anyone (the demo's set-up, scripts, `--yes`); a failed run is raised."""
    prepared = prepare(promotions, environment, ref=ref, sink=sink)
    return start(promotions, prepared, identity, skip_reason=skip_reason, sink=sink).raise_for_error()


def rollback(promotions: Promotions, environment: str, identity: Identity, *, sink: EventSink = no_events) -> Promotion:
    """Prepare and start a rollback without asking anyone; a failed run is raised."""
    prepared = prepare_rollback(promotions, environment, sink=sink)
    return start(promotions, prepared, identity, sink=sink).raise_for_error()


def _held(promotions: Promotions, promotion: Promotion, override_reason: str | None) -> str | None:
    """Why an approved promotion waits instead of running now: its environment's release windows are closed (the
    request was recorded; it runs once they open). None: it may run (or an override was given)."""
    if override_reason and override_reason.strip():
        return None
    state = promotions.window_state(promotion.environment)
    if state.open:
        return None
    opens = f"; it runs once they open ({state.next_open.isoformat(timespec='minutes')})" if state.next_open else ""
    return f"{promotion.environment} is outside its release windows: {state.why}{opens}"


def _run(
    promotions: Promotions,
    promotion_id: str,
    identity: Identity,
    sink: EventSink,
    planned: PlannedEnvironment | None,
    override_reason: str | None = None,
) -> Outcome:
    before = promotions.store.promotion(promotion_id)
    try:
        done = promotions.run(promotion_id, identity, sink=sink, planned=planned, override_reason=override_reason)
    except PortalError as error:
        after = promotions.store.promotion(promotion_id)
        if after is None:
            raise
        if after.status == FAILED and (before is None or after.version != before.version):
            notify(promotions, Notice.PROMOTION_FAILED, after, outcome=str(error))  # this run failed
        return Outcome(after, error)
    notify(promotions, Notice.PROMOTION_SUCCEEDED, done, outcome=outcome_text(promotions, done.id))
    return Outcome(done)


# --- what the pages and the CLI show about promotions ---------------------------------------------------------


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


def outcome_text(promotions: Promotions, promotion_id: str) -> str:
    """What became of a promotion, in one line: its "promotion finished" summary, or its status and error."""
    promotion = promotions.store.promotion(promotion_id)
    if promotion is None:
        return f"promotion {promotion_id} does not exist"
    finished = promotions.store.events(promotion_id=promotion_id, kind="promotion finished", limit=1)
    if finished:
        return f"promotion {promotion_id} to {promotion.environment} succeeded: {finished[0].summary}"
    text = f"promotion {promotion_id} to {promotion.environment} is {promotion.status}"
    return text + (f": {promotion.error}" if promotion.error else "")


def releases_text(promotions: Promotions, environment: str) -> str:
    """The release windows now, in words: "any time", "open now", or when they next open (in their time zone)."""
    windows = promotions.main_config().environment(environment).windows
    if windows is None:
        return "any time"
    state = promotions.window_state(environment)
    if state.open:
        return "open now"
    if state.next_open is None:
        return "closed (no window opens within 400 days)"
    return f"closed; opens {state.next_open.strftime('%Y-%m-%d %H:%M')} {windows.time_zone}"


@dataclass(frozen=True)
class LineStop:
    """Who stopped the line for an environment (`scope`: it, or "every environment"), when and why."""

    actor: str
    scope: str
    at: str  # ISO-8601, as stored
    reason: str


def line_stop(promotions: Promotions, environment: str) -> LineStop | None:
    """The stop that holds the environment's line; None while promotions may start there."""
    stopped = promotions.line_stop(environment)
    if stopped is None:
        return None
    scope = "every environment" if stopped.environment == ALL_ENVIRONMENTS else environment
    return LineStop(stopped.actor, scope, stopped.at, stopped.summary)
