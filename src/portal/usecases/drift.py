"""Drift: whether a live environment still is what its last promotion deployed (the plan of that snapshot's commit
against the live factory and workspace folder now)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from portal.promotion.service import Promotions


def trigger_steps(stop: bool, start: bool) -> str:
    """What a plan does to a trigger, in words: "stop", "start", "stop and start" or "none"."""
    return " and ".join(word for word, on in (("stop", stop), ("start", start)) if on) or "none"


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

    def is_for(self, promotion_id: str | None) -> bool:
        """Still about what the environment runs, its last successful promotion (a promotion since makes it
        outdated)."""
        return self.promotion_id == promotion_id


def check_drift(promotions: Promotions, environment: str) -> DriftReport:
    """Plan the environment's current snapshot again: any change is drift (edited in the factory, the workspace
    or outside the portal). Reads the live factory: call it on request, not on every page view."""
    checked = datetime.now(UTC).isoformat(timespec="seconds")
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
        changes += [
            f"{c.action} {c.label}" + (" (edited in the workspace)" if c.drift else "") for c in plan.notebooks.changes
        ]
    return DriftReport(
        environment,
        current.id,
        current.snapshot_id,
        commit,
        checked,
        plan.has_changes,
        plan.counts(),
        notebook_counts,
        tuple(changes),
    )
