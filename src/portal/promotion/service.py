"""The promotion façade the CLI and the portal call: request, approve, reject, run, roll back, and say where
every snapshot is. Every rule is checked here, for every caller, and every action (refusals too) is recorded in
the audit trail.

Lifecycle of a promotion: requested → awaiting approval (protected environments) → approved → running →
succeeded | failed | interrupted; or rejected. A failed or interrupted promotion may be run again (the deploy
converges). The environment's lock is only held while a promotion runs, never while it waits for approval.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.audit import (
    AuditEvent,
    AuditStore,
    NewEvent,
    Promotion,
    Snapshot,
    audit_url,
    push_anchors,
    write_anchor,
)
from portal.audit.store import Approval
from portal.audit.vocabulary import Decision, EventKind, PromotionStatus
from portal.environments.render import shown
from portal.environments.trusted import trusted_config, trusted_main
from portal.environments.windows import WindowState, state_at
from portal.errors import ErrorCode, PortalError
from portal.events import Event, EventSink, no_events
from portal.promotion.access import Action, Forbidden, allowed, require, who_may
from portal.promotion.identity import Identity, invisible_characters, person_key
from portal.promotion.snapshot import canonical_json, snapshot_of
from portal.promotion.summary import PlanSummary

if TYPE_CHECKING:
    from portal.deploy.service import PlannedEnvironment
    from portal.environments.config import PortalConfig
    from portal.environments.workspace import MappingWorkspace

# The scope of a stopped line that holds every environment.
ALL_ENVIRONMENTS = "*"
AWAITING_APPROVAL = PromotionStatus.AWAITING_APPROVAL
APPROVED = PromotionStatus.APPROVED
RUNNING = PromotionStatus.RUNNING
SUCCEEDED = PromotionStatus.SUCCEEDED
FAILED = PromotionStatus.FAILED
INTERRUPTED = PromotionStatus.INTERRUPTED
REJECTED = PromotionStatus.REJECTED
# Superseded before it ran: a newer promotion succeeded in its environment (running it would go back to an older
# snapshot), or it was refused the lock when asked to run at once. Final, like rejected.
EXPIRED = PromotionStatus.EXPIRED
RUNNABLE = (APPROVED, FAILED, INTERRUPTED)
# A promotion still marked running whose process died: it may be run again once its lock's lease ran out.
RESUMABLE = (*RUNNABLE, RUNNING)
OPEN = (AWAITING_APPROVAL, APPROVED, RUNNING, FAILED, INTERRUPTED)


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    current: Promotion | None  # the last promotion that succeeded here
    snapshot: Snapshot | None
    running: Promotion | None
    waiting: tuple[Promotion, ...]  # awaiting approval


def _as(identity: Identity) -> dict[str, Any]:
    """Who a store write is recorded for (its `record written` event in the chain)."""
    return {"actor": identity.name, "actor_verified": identity.verified}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class Promotions:
    """Promotions of one data repository, recorded in its audit store."""

    def __init__(self, repo_root: Path, store: AuditStore):
        self.repo_root = Path(repo_root)
        self.store = store
        self._cache_lock = threading.Lock()
        self._rules: tuple[str, PortalConfig] | None = None

    @classmethod
    def open(cls, repo_dir: str | os.PathLike[str] = ".") -> Promotions:
        root = Path(repo_dir).resolve()
        config = trusted_config(root)  # where the audit store is, too, is not the working tree's say
        return cls(root, AuditStore.open(audit_url(root, config.audit.url)))

    def close(self) -> None:
        self.store.close()

    # -- reading the repository ------------------------------------------------------------------------------

    def main_branch(self) -> str:
        """The main branch's name, from trusted settings (PORTAL_MAIN_BRANCH or the remote's default branch), never
        from what a requester can edit (see `portal.environments.trusted`)."""
        return trusted_main(self.repo_root).branch

    def main_config(self) -> PortalConfig:
        """portal.yaml as committed on the main branch: whose roles, identity rules, order, targets and protection
        govern promotions. The working tree's copy does not count (editing it locally must not grant anyone
        anything). Only that file is read, once per main-branch commit."""
        main = trusted_main(self.repo_root)
        with self._cache_lock:
            if self._rules is not None and self._rules[0] == main.commit:
                return self._rules[1]
        config = trusted_config(self.repo_root, main)
        with self._cache_lock:
            self._rules = (main.commit, config)
        return config

    def workspace_at(self, ref: str | None = None) -> MappingWorkspace:
        """The repository at the commit `ref` names now, by default the main branch's (what a promotion deploys).
        Read once per commit for the whole process (`MappingWorkspace.at_commit`), so asking again after the branch
        moved opens the new commit."""
        from portal import git_repo
        from portal.adf.loader import NOT_A_REPOSITORY_FOR_REF
        from portal.environments.workspace import MappingWorkspace

        if ref is None:
            # The trusted main branch's commit itself: a tag or local ref named like the branch must not shadow it.
            commit = trusted_main(self.repo_root).commit
        else:
            with git_repo.open_repo(self.repo_root, what=NOT_A_REPOSITORY_FOR_REF) as repo:
                commit = git_repo.resolve_commit(repo, ref).hexsha
        return MappingWorkspace.at_commit(self.repo_root, commit)

    # -- the audit trail --------------------------------------------------------------------------------------

    def _record(
        self,
        kind: EventKind,
        identity: Identity,
        *,
        environment: str | None = None,
        promotion: Promotion | None = None,
        summary: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.store.append(
            NewEvent(
                kind=kind,
                actor=identity.name,
                actor_verified=identity.verified,
                environment=environment or (promotion.environment if promotion else None),
                promotion_id=promotion.id if promotion else None,
                snapshot_id=promotion.snapshot_id if promotion else None,
                summary=summary,
                data=data or {},
            )
        )

    def _check(self, rules: PortalConfig, identity: Identity, action: Action, environment: str) -> None:
        try:
            require(rules, identity, action, environment)
        except Forbidden as refused:
            self._record(
                EventKind.ACTION_REFUSED,
                identity,
                environment=environment,
                summary=refused.what,
                data={"action": action, "hint": refused.hint},
            )
            raise

    def _refuse(
        self,
        identity: Identity,
        error: PortalError,
        *,
        environment: str | None = None,
        promotion: Promotion | None = None,
        action: Action | None = None,
    ) -> PortalError:
        self._record(
            EventKind.ACTION_REFUSED,
            identity,
            environment=environment,
            promotion=promotion,
            summary=f"{error.where}: {error.what}",
            data={"action": action or "", "code": error.code},
        )
        return error

    def record_parameter_edit(
        self, identity: Identity, environment: str | None, *, commit: str, branch: str | None, changes: list[str]
    ) -> None:
        """A parameter edit became a commit: who, which environment, which commit, what changed (values of
        secrets are never in `changes`: the mapping core only ever shows their source)."""
        self._record(
            EventKind.PARAMETERS_EDITED,
            identity,
            environment=environment,
            summary=f"commit {commit[:10]} on {branch or 'the main branch'}: " + "; ".join(changes)[:300],
            data={"commit": commit, "branch": branch, "changes": changes},
        )

    # -- request ----------------------------------------------------------------------------------------------

    def request(
        self,
        environment: str,
        identity: Identity,
        *,
        ref: str | None = None,
        skip_reason: str | None = None,
        rollback: bool = False,
        sink: EventSink = no_events,
        planned: PlannedEnvironment | None = None,
        expected_plan_hash: str | None = None,
        override_reason: str | None = None,
    ) -> tuple[Promotion, PlannedEnvironment]:
        """Ask for a snapshot (the main branch, or `ref`) to be promoted to `environment`; returns the promotion
        (approved at once where no approval is needed) and the plan that was recorded. With `expected_plan_hash`
        (the plan a person was shown), a different plan is refused rather than recorded. A stopped line refuses
        the request, and so does a closed release window where the environment says `outside: refuse`, unless an
        admin gives `override_reason`."""
        from portal.deploy.service import plan_environment

        rules = self.main_config()
        env = rules.environment(environment)
        action = Action.ROLLBACK if rollback else Action.PROMOTE
        self._check(rules, identity, action, environment)
        windows = env.windows
        self._gate(
            rules,
            identity,
            environment,
            action,
            override_reason,
            windows_apply=windows is not None and windows.outside == "refuse",
        )
        workspace = self.workspace_at(ref)
        content = snapshot_of(workspace)
        if rollback:
            # A rollback skips the order, so it must be exactly the environment's previous snapshot.
            target = self.rollback_target(environment)
            if content.id != target.id:
                raise self._refuse(
                    identity,
                    PortalError(
                        f"environment {environment}",
                        f"snapshot {content.id} is not its rollback target "
                        f"(snapshot {target.id}, commit {(target.source_commit or '')[:10]})",
                        hint="a rollback promotes the previous successful snapshot again; promote other snapshots "
                        "the usual way",
                        code=ErrorCode.ROLLBACK,
                    ),
                    environment=environment,
                    action=Action.ROLLBACK,
                )
        self._check_order(rules, identity, environment, content.id, skip_reason, rollback)
        if (
            planned is None
            or planned.plan.source_commit != content.source_commit
            or planned.plan.environment != environment
        ):
            planned = plan_environment(workspace, environment, sink=sink)
        if expected_plan_hash is not None and planned.plan.hash != expected_plan_hash:
            raise self._refuse(
                identity,
                PortalError(
                    f"environment {environment}",
                    f"the plan changed since it was shown (now {planned.plan.hash[:12]}, "
                    f"shown {expected_plan_hash[:12]}): {ref or 'the main branch'} moved to commit "
                    f"{content.source_commit[:10]}",
                    hint="plan again and check what it changes now",
                    code=ErrorCode.PLAN_CHANGED,
                ),
                environment=environment,
                action=Action.ROLLBACK if rollback else Action.PROMOTE,
            )
        if planned.plan.blockers:
            # Nobody should approve what the service would refuse half-way.
            raise self._refuse(
                identity,
                PortalError(
                    f"environment {environment}",
                    "the service would refuse this plan: " + "; ".join(planned.plan.blockers),
                    hint="change the source so that the plan has no blockers",
                    code=ErrorCode.PLAN_BLOCKED,
                ),
                environment=environment,
                action=Action.ROLLBACK if rollback else Action.PROMOTE,
            )
        snapshot = self.store.put_snapshot(
            Snapshot(
                content.id,
                content.source_commit,
                content.template_hash,
                content.notebook_hash,
                _iso(_now()),
                identity.name,
            ),
            **_as(identity),
        )
        artifacts = self._store_artifacts(workspace, environment, planned, identity)
        required = env.protection.approvals_required
        promotion = self.store.create_promotion(
            Promotion(
                id=uuid.uuid4().hex[:12],
                environment=environment,
                snapshot_id=snapshot.id,
                status=AWAITING_APPROVAL if required else APPROVED,
                requested_by=identity.name,
                requested_at=_iso(_now()),
                is_rollback=rollback,
                skip_reason=skip_reason,
                plan_hash=planned.plan.hash,
                plan_summary=PlanSummary.of(planned).to_json(),
                parameters_hash=artifacts["parameters"],
                started_at=None,
                finished_at=None,
                error=None,
                version=1,
                approvals_required=required,
                expires_at=None,
            ),
            **_as(identity),
        )
        self._record(
            EventKind.PROMOTION_REQUESTED,
            identity,
            promotion=promotion,
            summary=("rollback to " if rollback else "") + f"snapshot {snapshot.id} "
            f"(commit {content.source_commit[:10]})" + (f"; skipped the order: {skip_reason}" if skip_reason else ""),
            data={
                "plan": promotion.plan_summary,
                "artifacts": artifacts,
                "skipReason": skip_reason,
                "rollback": rollback,
                "approvalsRequired": required,
            },
        )
        return promotion, planned

    def _check_order(
        self,
        rules: PortalConfig,
        identity: Identity,
        environment: str,
        snapshot_id: str,
        skip_reason: str | None,
        rollback: bool,
    ) -> None:
        """A snapshot reaches environment N only after it succeeded in N-1 (an admin may skip, with a reason)."""
        names = [e.name for e in rules.environments]
        position = names.index(environment)
        if rollback or position == 0:
            return
        previous = names[position - 1]
        done = [
            p
            for p in self.store.promotions(environment=previous, statuses=[SUCCEEDED], limit=1000)
            if p.snapshot_id == snapshot_id
        ]
        if done:
            return
        if skip_reason is None or not skip_reason.strip():
            raise self._refuse(
                identity,
                PortalError(
                    f"environment {environment}",
                    f"snapshot {snapshot_id} has not succeeded in {previous} yet",
                    hint=f"promote it to {previous} first; an admin may skip with a written reason (--skip-reason)",
                    code=ErrorCode.ORDER,
                ),
                environment=environment,
                action=Action.PROMOTE,
            )
        self._check(rules, identity, Action.SKIP, environment)

    def _store_artifacts(
        self, workspace: MappingWorkspace, environment: str, planned: PlannedEnvironment, identity: Identity
    ) -> dict[str, str]:
        """What goes out, content-addressed, so anyone can download exactly that (secrets only as their source)."""
        env = workspace.environment(environment)

        def put(content: bytes, *, media_type: str, name: str) -> str:
            return self.store.put_artifact(
                content, media_type=media_type, name=name, actor=identity.name, actor_verified=identity.verified
            )

        digests = {
            "template": put(
                canonical_json(workspace.export.template),
                media_type="application/json",
                name="ARMTemplateForFactory.json",
            ),
            "parameters": put(
                workspace.snapshot.read(env.parameter_file_path) or b"{}",
                media_type="application/json",
                name=env.parameter_file_path,
            ),
            "rendered": put(
                canonical_json({f"{k[0]}/{k[1]}": shown(o.properties) for k, o in sorted(planned.desired.items())}),
                media_type="application/json",
                name=f"{environment}.rendered.json",
            ),
            "plan": put(
                canonical_json(planned.plan.to_json()), media_type="application/json", name=f"{environment}.plan.json"
            ),
        }
        if planned.notebooks is not None:
            digests["notebookManifest"] = put(
                canonical_json(planned.notebooks.manifest.to_json()),
                media_type="application/json",
                name=".portal-manifest.json",
            )
        return digests

    # -- release windows and the stopped line ----------------------------------------------------------------

    def window_state(self, environment: str) -> WindowState:
        """Whether the environment's release windows are open now, and when they next open."""
        return state_at(self.main_config().environment(environment).windows)

    def line_stop(self, environment: str) -> AuditEvent | None:
        """The event that stopped the line for `environment` (or for all, "*"), while it stands."""
        for scope in (environment, ALL_ENVIRONMENTS):
            stopped = self.store.events(kind=EventKind.LINE_STOPPED, environment=scope, limit=1)
            restarted = self.store.events(kind=EventKind.LINE_RESTARTED, environment=scope, limit=1)
            if stopped and (not restarted or restarted[0].seq < stopped[0].seq):
                return stopped[0]
        return None

    def stop_line(self, scope: str, identity: Identity, reason: str) -> None:
        """Stop all promotions to `scope` (an environment, or "*" for all) until restarted; running ones finish."""
        self._line(EventKind.LINE_STOPPED, scope, identity, reason)

    def restart_line(self, scope: str, identity: Identity, reason: str = "") -> None:
        self._line(EventKind.LINE_RESTARTED, scope, identity, reason or "restarted")

    def _line(self, kind: EventKind, scope: str, identity: Identity, reason: str) -> None:
        rules = self.main_config()
        if scope != ALL_ENVIRONMENTS:
            rules.environment(scope)  # an unknown environment is named
        self._check(rules, identity, Action.STOP_LINE, scope)
        if kind is EventKind.LINE_STOPPED and not reason.strip():
            raise PortalError(f"environment {scope}", "stopping the line needs a reason", code=ErrorCode.REASON)
        self.store.append(
            NewEvent(
                kind=kind,
                actor=identity.name,
                actor_verified=identity.verified,
                environment=scope,
                summary=reason.strip()[:300],
                data={"reason": reason.strip()},
            )
        )

    def _gate(
        self,
        rules: PortalConfig,
        identity: Identity,
        environment: str,
        action: Action,
        override_reason: str | None,
        *,
        windows_apply: bool,
        promotion: Promotion | None = None,
    ) -> None:
        """Refuse what a stopped line, or a closed release window (where it applies), forbids; an admin's written
        override lets it through, on record."""
        problems = []
        stopped = self.line_stop(environment)
        if stopped is not None:
            problems.append(
                PortalError(
                    f"environment {environment}",
                    f"the line is stopped ({stopped.actor}: {stopped.summary})",
                    hint="an admin restarts it (portal line restart), or overrides with a written reason",
                    code=ErrorCode.LINE_STOPPED,
                )
            )
        state = state_at(rules.environment(environment).windows)
        if windows_apply and not state.open:
            opens = f"; it next opens {state.next_open.isoformat(timespec='minutes')}" if state.next_open else ""
            problems.append(
                PortalError(
                    f"environment {environment}",
                    f"is outside its release windows: {state.why}{opens}",
                    hint="wait for the window (an approved promotion stays approved), or an admin overrides with a "
                    "written reason",
                    code=ErrorCode.OUTSIDE_WINDOW,
                )
            )
        if not problems:
            return
        if override_reason is None or not override_reason.strip():
            raise self._refuse(identity, problems[0], environment=environment, promotion=promotion, action=action)
        self._check(rules, identity, Action.OVERRIDE, environment)
        self._record(
            EventKind.ACTION_OVERRIDDEN,
            identity,
            environment=environment,
            promotion=promotion,
            summary=f"{action}: {override_reason.strip()}"[:300],
            data={"action": action, "reason": override_reason.strip(), "overrode": [str(p.code) for p in problems]},
        )

    # -- approvals --------------------------------------------------------------------------------------------

    def _promotion(self, promotion_id: str) -> Promotion:
        promotion = self.store.promotion(promotion_id)
        if promotion is None:
            raise PortalError(f"promotion {promotion_id}", "does not exist", code=ErrorCode.NOT_FOUND)
        return promotion

    def approve(self, promotion_id: str, identity: Identity, comment: str = "") -> Promotion:
        rules = self.main_config()
        promotion = self._promotion(promotion_id)
        self._check(rules, identity, Action.APPROVE, promotion.environment)
        if promotion.status != AWAITING_APPROVAL:
            raise self._refuse(
                identity,
                PortalError(
                    f"promotion {promotion.id}", f"is {promotion.status}, not awaiting approval", code=ErrorCode.STATE
                ),
                promotion=promotion,
                action=Action.APPROVE,
            )
        if invisible_characters(identity.name):
            raise self._refuse(
                identity,
                PortalError(
                    f"approver {identity.name!r}", "the name contains invisible characters", code=ErrorCode.IDENTITY
                ),
                promotion=promotion,
                action=Action.APPROVE,
            )
        if person_key(identity.name) == person_key(promotion.requested_by):
            raise self._refuse(
                identity,
                PortalError(
                    f"promotion {promotion.id}",
                    "cannot be approved by the person who requested it",
                    code=ErrorCode.OWN_PROMOTION,
                ),
                promotion=promotion,
                action=Action.APPROVE,
            )
        self.store.add_approval(
            Approval(promotion.id, identity.name, Decision.APPROVE, comment, _iso(_now())), **_as(identity)
        )
        self._record(
            EventKind.PROMOTION_APPROVED,
            identity,
            promotion=promotion,
            summary=comment or "approved",
            data={"comment": comment},
        )
        valid = self.valid_approvals(promotion, rules)
        if len(valid) >= promotion.approvals_required:
            promotion = self.store.update_promotion(promotion.id, promotion.version, **_as(identity), status=APPROVED)
            self._record(
                EventKind.PROMOTION_READY,
                identity,
                promotion=promotion,
                summary=f"{len(valid)} of {promotion.approvals_required} approvals: " + ", ".join(sorted(valid)),
            )
        return self._promotion(promotion.id)

    def reject(self, promotion_id: str, identity: Identity, reason: str) -> Promotion:
        rules = self.main_config()
        promotion = self._promotion(promotion_id)
        self._check(rules, identity, Action.REJECT, promotion.environment)
        if not reason or not reason.strip():
            raise PortalError(f"promotion {promotion.id}", "a rejection needs a reason", code=ErrorCode.REASON)
        if promotion.status not in (AWAITING_APPROVAL, APPROVED):
            raise self._refuse(
                identity,
                PortalError(
                    f"promotion {promotion.id}",
                    f"is {promotion.status}; only a waiting promotion can be rejected",
                    code=ErrorCode.STATE,
                ),
                promotion=promotion,
                action=Action.REJECT,
            )
        self.store.add_approval(
            Approval(promotion.id, identity.name, Decision.REJECT, reason, _iso(_now())), **_as(identity)
        )
        promotion = self.store.update_promotion(
            promotion.id,
            promotion.version,
            **_as(identity),
            status=REJECTED,
            finished_at=_iso(_now()),
            error=f"rejected: {reason}",
        )
        self._record(
            EventKind.PROMOTION_REJECTED, identity, promotion=promotion, summary=reason, data={"reason": reason}
        )
        return promotion

    def valid_approvals(self, promotion: Promotion, rules: PortalConfig | None = None) -> set[str]:
        """Distinct approvers, other than the requester, whose approval has not expired."""
        rules = rules or self.main_config()
        hours = rules.environment(promotion.environment).protection.approval_expiry_hours
        oldest = _now() - timedelta(hours=hours)
        # One approval per person however the name is spelt (case, invisible characters, compatibility forms).
        requester = person_key(promotion.requested_by)
        valid: dict[str, str] = {}
        for approval in self.store.approvals(promotion.id):
            key = person_key(approval.actor)
            if (
                approval.decision == Decision.APPROVE
                and key != requester
                and datetime.fromisoformat(approval.at) >= oldest
            ):
                valid.setdefault(key, approval.actor)
        return set(valid.values())

    def who_may_approve(self, promotion: Promotion) -> list[str]:
        rules = self.main_config()
        return [
            m
            for m in who_may(rules, Action.APPROVE, promotion.environment)
            if person_key(m) != person_key(promotion.requested_by)
        ]

    # -- running ----------------------------------------------------------------------------------------------

    def run(
        self,
        promotion_id: str,
        identity: Identity,
        *,
        sink: EventSink = no_events,
        planned: PlannedEnvironment | None = None,
        override_reason: str | None = None,
    ) -> Promotion:
        """Carry out an approved promotion under its environment's lock; every step goes to the audit trail. Outside
        the release windows or with the line stopped it is refused (it stays approved), unless an admin gives
        `override_reason`."""
        from portal.deploy.service import apply_environment, plan_environment

        rules = self.main_config()
        promotion = self._promotion(promotion_id)
        environment = promotion.environment
        if not allowed(rules, identity, Action.RUN, environment):
            self._check(rules, identity, Action.PROMOTE, environment)  # records and raises
        if promotion.status not in RESUMABLE:
            raise self._refuse(
                identity,
                PortalError(f"promotion {promotion.id}", f"is {promotion.status}; it cannot run", code=ErrorCode.STATE),
                promotion=promotion,
                action=Action.RUN,
            )
        stale = self.superseded_by(promotion)
        if stale is not None:
            raise self._expire(promotion, identity, stale)
        self._gate(rules, identity, environment, Action.RUN, override_reason, windows_apply=True, promotion=promotion)
        if promotion.approvals_required:
            valid = self.valid_approvals(promotion, rules)
            if len(valid) < promotion.approvals_required:
                promotion = self.store.update_promotion(
                    promotion.id, promotion.version, **_as(identity), status=AWAITING_APPROVAL
                )
                raise self._refuse(
                    identity,
                    PortalError(
                        f"promotion {promotion.id}",
                        f"has {len(valid)} valid approvals of {promotion.approvals_required} (approvals expire)",
                        code=ErrorCode.APPROVAL,
                    ),
                    promotion=promotion,
                    action=Action.RUN,
                )
        lease = rules.promotion.lock_lease_seconds
        owner = f"{socket.gethostname()}:{os.getpid()}"
        got = self.store.acquire_lock(environment, promotion.id, owner, lease)
        if not got.acquired:
            busy = PortalError(
                f"environment {environment}",
                f"is being promoted by {got.lock.promotion_id} (since "
                f"{got.lock.acquired_at}, held by {got.lock.owner})",
                hint="wait until it finishes",
                code=ErrorCode.LOCKED,
            )
            if promotion.status == APPROVED and not promotion.approvals_required and promotion.started_at is None:
                # Asked to run at once and refused: left "approved", it would run an old snapshot later on.
                self._expire(
                    promotion, identity, f"not run: {busy.where} {busy.what}; request it again when that one finished"
                )
            raise self._refuse(identity, busy, environment=environment, action=Action.RUN)
        keeper = _LeaseKeeper(self.store, environment, promotion.id, lease)
        failure: BaseException | None = None
        try:
            if got.taken_over is not None:
                self._interrupted(got.taken_over.promotion_id, identity)
            if promotion.id != (got.taken_over.promotion_id if got.taken_over else None):
                self._interrupted(promotion.id, identity)  # still "running" without a lock: its run died too
            promotion = self._promotion(promotion.id)
            promotion = self.store.update_promotion(
                promotion.id, promotion.version, **_as(identity), status=RUNNING, started_at=_iso(_now()), error=None
            )
            self._record(EventKind.PROMOTION_STARTED, identity, promotion=promotion)
            keeper.start()
            snapshot = self._snapshot(promotion.snapshot_id)
            workspace = self.workspace_at(snapshot.source_commit)
            if snapshot_of(workspace).id != snapshot.id:
                raise PortalError(
                    f"snapshot {snapshot.id}", "its commit no longer yields the same content", code=ErrorCode.SNAPSHOT
                )
            if planned is None or planned.plan.source_commit != snapshot.source_commit:
                planned = plan_environment(workspace, environment)
            recorder = _StepRecorder(self, identity, promotion, sink, keeper)
            report = apply_environment(workspace, environment, planned.plan, sink=recorder, planned=planned)
        except BaseException as error:  # noqa: BLE001 - recorded (as far as the store lets us), then raised again
            failure = error
            self._record_failure(promotion.id, identity, error)
            raise
        finally:
            keeper.stop()
            try:
                self.store.release_lock(environment, promotion.id)
            except PortalError:
                if failure is None:
                    raise
                # The store is down: the lease runs out by itself; the run's own error is the one to report.
        current = self._promotion(promotion.id)
        done = self.store.update_promotion(
            current.id, current.version, **_as(identity), status=SUCCEEDED, finished_at=_iso(_now())
        )
        self._record(
            EventKind.PROMOTION_FINISHED,
            identity,
            promotion=done,
            summary=f"{len(report.deployed)} deployed, {len(report.deleted)} deleted, "
            f"{len(report.triggers_started)} triggers started"
            + (
                f", {len(report.notebooks.imported)} notebooks imported, {len(report.notebooks.deleted)} pruned"
                if report.notebooks
                else ""
            ),
            data={"report": report.as_json(), "planHash": planned.plan.hash},
        )
        self._expire_older(done, identity)
        self._anchor(done)
        return done

    def _anchor(self, promotion: Promotion) -> None:
        """Record the trail's head outside the database, as a Git note on the promoted commit (signed with the
        audit key when there is one; pushed with the notes when portal.yaml pushes), so that a rewrite or
        truncation of the trail up to here is detected by `portal audit verify`. Best effort: a failure here must
        not turn a finished promotion into a failed one; it is recorded instead."""
        try:
            snapshot = self.store.snapshot(promotion.snapshot_id)
            if snapshot is None or not snapshot.source_commit:
                return
            write_anchor(
                self.repo_root,
                snapshot.source_commit,
                self.store.anchor(promotion=promotion.id, environment=promotion.environment),
                key=self.store.key,
            )
            git = self.main_config().git
            if git.push:
                push_anchors(self.repo_root, git.remote)
        except Exception as error:  # noqa: BLE001 - recorded, never raised
            with contextlib.suppress(PortalError):
                self.store.append(
                    NewEvent(
                        kind=EventKind.ANCHOR_FAILED,
                        actor="portal",
                        actor_verified=False,
                        environment=promotion.environment,
                        promotion_id=promotion.id,
                        snapshot_id=promotion.snapshot_id,
                        summary=f"the trail's head could not be noted in Git: {error}"[:300],
                    )
                )

    def _record_failure(self, promotion_id: str, identity: Identity, error: BaseException) -> None:
        """Mark the promotion failed and record why; when the audit store itself is what failed, there is nothing
        more to do here (the run's error is raised either way, and the lock's lease runs out)."""
        what = getattr(error, "what", None) or str(error) or type(error).__name__
        where = getattr(error, "where", None) or getattr(error, "portal_where", None) or "promotion"
        try:
            current = self._promotion(promotion_id)
            failed = self.store.update_promotion(
                current.id,
                current.version,
                **_as(identity),
                status=FAILED,
                finished_at=_iso(_now()),
                error=f"{where}: {what}",
            )
            self._record(
                EventKind.PROMOTION_FAILED,
                identity,
                promotion=failed,
                summary=f"{where}: {what}",
                data={"report": getattr(getattr(error, "report", None), "as_json", lambda: None)()},
            )
        except PortalError:
            return
        self._anchor(failed)

    # -- superseded promotions ----------------------------------------------------------------------------------

    def superseded_by(self, promotion: Promotion) -> str | None:
        """Why running `promotion` now would be wrong, or None: a newer request for its environment succeeded
        since (running it would take the environment back to an older snapshot without being a rollback), or, for
        a rollback, its snapshot is no longer the environment's rollback target."""
        newer = [
            p
            for p in self.store.promotions(environment=promotion.environment, statuses=[SUCCEEDED], limit=1)
            if p.requested_at > promotion.requested_at and p.id != promotion.id
        ]
        if newer:
            return (
                f"superseded: promotion {newer[0].id} (snapshot {newer[0].snapshot_id}), requested later, "
                f"succeeded in {promotion.environment} first"
            )
        if promotion.is_rollback:
            try:
                target = self.rollback_target(promotion.environment)
            except PortalError as error:
                return f"superseded: {error.what}"
            if target.id != promotion.snapshot_id:
                return (
                    f"superseded: the rollback target of {promotion.environment} is now snapshot {target.id}, "
                    f"not {promotion.snapshot_id}"
                )
        return None

    def _expire(self, promotion: Promotion, identity: Identity, why: str) -> PortalError:
        """End a promotion that must not run any more, visibly: status expired, the reason, an audit event."""
        current = self._promotion(promotion.id)
        expired = self.store.update_promotion(
            current.id, current.version, **_as(identity), status=EXPIRED, finished_at=_iso(_now()), error=why
        )
        self._record(EventKind.PROMOTION_EXPIRED, identity, promotion=expired, summary=why)
        return PortalError(
            f"promotion {promotion.id}",
            why,
            hint="request a new promotion of the snapshot you want (or a rollback)",
            code=ErrorCode.SUPERSEDED,
        )

    def _expire_older(self, succeeded: Promotion, identity: Identity) -> None:
        """After a success, the environment's promotions requested before it that are still open (waiting,
        approved, failed, interrupted) would only take it back: they expire."""
        for older in self.store.promotions(
            environment=succeeded.environment, statuses=[AWAITING_APPROVAL, APPROVED, FAILED, INTERRUPTED], limit=1000
        ):
            if older.requested_at < succeeded.requested_at:
                # Changed meanwhile (approved and started elsewhere): its own run checks again.
                with contextlib.suppress(PortalError):
                    self._expire(
                        older,
                        identity,
                        f"superseded: promotion {succeeded.id} (snapshot "
                        f"{succeeded.snapshot_id}), requested later, succeeded first",
                    )

    def runnable(self, *, limit: int = 20) -> list[Promotion]:
        """Promotions one may run now: approved and not run yet, or failed or interrupted (running again
        converges), without the superseded ones (they expire when someone tries to run them)."""
        return [p for p in self.store.promotions(statuses=list(RUNNABLE), limit=limit) if self.superseded_by(p) is None]

    def _interrupted(self, promotion_id: str, identity: Identity) -> None:
        """A run whose lock ran out without it finishing (its process died): marked, and recorded."""
        stale = self.store.promotion(promotion_id)
        if stale is None or stale.status != RUNNING:
            return
        marked = self.store.update_promotion(
            stale.id,
            stale.version,
            **_as(identity),
            status=INTERRUPTED,
            finished_at=_iso(_now()),
            error="interrupted: its run stopped without finishing (lock expired)",
        )
        self._record(
            EventKind.PROMOTION_INTERRUPTED,
            identity,
            promotion=marked,
            summary="its run stopped without finishing; the lock was taken over after its lease",
        )

    def rollback_target(self, environment: str) -> Snapshot:
        """The snapshot before the one the environment has now (its previous successful promotion)."""
        current = self.store.last_succeeded(environment)
        if current is None:
            raise PortalError(
                f"environment {environment}", "has no successful promotion to roll back from", code=ErrorCode.ROLLBACK
            )
        succeeded = sorted(
            self.store.promotions(environment=environment, statuses=[SUCCEEDED], limit=1000),
            key=lambda p: p.finished_at or "",
            reverse=True,
        )
        previous = next((p for p in succeeded if p.snapshot_id != current.snapshot_id), None)
        if previous is None:
            raise PortalError(
                f"environment {environment}", "has no earlier snapshot to roll back to", code=ErrorCode.ROLLBACK
            )
        return self._snapshot(previous.snapshot_id)

    def _snapshot(self, snapshot_id: str) -> Snapshot:
        snapshot = self.store.snapshot(snapshot_id)
        if snapshot is None:  # a promotion's snapshot is recorded before the promotion: the store lost it
            raise PortalError(f"snapshot {snapshot_id}", "is not in the audit store", code=ErrorCode.SNAPSHOT)
        return snapshot

    # -- status -----------------------------------------------------------------------------------------------

    def status(self) -> list[EnvironmentStatus]:
        rules = self.main_config()
        result = []
        for env in rules.environments:
            recent = self.store.promotions(environment=env.name, limit=200)
            current = self.store.last_succeeded(env.name)
            running = next((p for p in recent if p.status == RUNNING), None)
            waiting = tuple(p for p in recent if p.status == AWAITING_APPROVAL)
            snapshot = self.store.snapshot(current.snapshot_id) if current else None
            result.append(EnvironmentStatus(env.name, current, snapshot, running, waiting))
        return result


class _LeaseKeeper:
    """Renews the run's lock on a timer, whatever the run is doing: a single slow call (a long retry back-off, a
    big upload) must not let the lease run out under a live run, or a second promoter would deploy over it."""

    def __init__(self, store: AuditStore, environment: str, promotion_id: str, lease: float):
        self._store = store
        self._environment = environment
        self._promotion_id = promotion_id
        self._lease = lease
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"portal-lease-{environment}", daemon=True)
        self.lost = False  # the lock was taken over (or released) under the run

    def start(self) -> None:
        self._thread.start()

    def _renew(self) -> None:
        while not self._stopped.wait(self._lease / 3):
            try:
                if not self._store.renew_lock(self._environment, self._promotion_id, self._lease):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - the store is unreachable for now: try again at the next tick
                continue

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class _StepRecorder:
    """The apply's events, passed on and recorded in the audit trail one by one, each before the run goes on (a
    process killed later loses none of what it wrote); stops the run once its lock is lost."""

    def __init__(
        self, promotions: Promotions, identity: Identity, promotion: Promotion, sink: EventSink, keeper: _LeaseKeeper
    ):
        self._promotions = promotions
        self._identity = identity
        self._promotion = promotion
        self._sink = sink
        self._keeper = keeper

    def __call__(self, event: Event) -> None:
        self._sink(event)
        self._promotions.store.append(
            NewEvent(
                kind=EventKind.PROMOTION_STEP,
                actor=self._identity.name,
                actor_verified=self._identity.verified,
                environment=self._promotion.environment,
                promotion_id=self._promotion.id,
                snapshot_id=self._promotion.snapshot_id,
                summary=str(event),
                data=event.as_json(),
            )
        )
        if self._keeper.lost:
            raise PortalError(
                f"environment {self._promotion.environment}", "lost its promotion lock", code=ErrorCode.LOCK_LOST
            )
