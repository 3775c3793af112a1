"""A plan in a few numbers and names: what a promotion request records and what approvers are shown. No property
values (they may be long or sensitive). Stored in the audit trail as JSON (`to_json`), read back with `from_json`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.deploy.service import PlannedEnvironment

_LISTED = 200  # names kept per list; the counts are always whole


@dataclass(frozen=True)
class PlanSummary:
    hash: str
    counts: Mapping[str, int]
    changes: tuple[str, ...] = ()  # "create pipeline PL_Load", …
    deletions: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()  # trigger names the run stops or starts
    notebook_counts: Mapping[str, int] | None = None
    notebook_changes: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, planned: PlannedEnvironment) -> PlanSummary:
        plan = planned.plan
        notebooks = plan.notebooks
        return cls(
            hash=plan.hash,
            counts=dict(plan.counts()),
            changes=tuple(f"{o.action} {o.label}" for o in plan.objects if o.action != "unchanged")[:_LISTED],
            deletions=tuple(o.label for o in plan.effective_deletions)[:_LISTED],
            triggers=tuple(t.name for t in plan.triggers),
            notebook_counts=dict(notebooks.counts()) if notebooks is not None else None,
            notebook_changes=tuple(f"{c.action} {c.path}" for c in notebooks.changes)[:_LISTED] if notebooks else (),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "hash": self.hash,
            "counts": dict(self.counts),
            "changes": list(self.changes),
            "deletions": list(self.deletions),
            "triggers": list(self.triggers),
        }
        if self.notebook_counts is not None:
            data["notebooks"] = {"counts": dict(self.notebook_counts), "changes": list(self.notebook_changes)}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PlanSummary:
        """As recorded (a request from any earlier version: missing parts read as empty)."""
        data = data or {}
        notebooks = data.get("notebooks") or None
        return cls(
            hash=str(data.get("hash") or ""),
            counts=dict(data.get("counts") or {}),
            changes=tuple(data.get("changes") or ()),
            deletions=tuple(data.get("deletions") or ()),
            triggers=tuple(data.get("triggers") or ()),
            notebook_counts=dict(notebooks.get("counts") or {}) if notebooks else None,
            notebook_changes=tuple(notebooks.get("changes") or ()) if notebooks else (),
        )

    def shown_counts(self) -> dict[str, int]:
        """The factory's counts, and how many notebooks change (created, updated or deleted)."""
        counts = dict(self.counts)
        if self.notebook_counts:
            counts["notebooks changed"] = sum(self.notebook_counts.get(k, 0) for k in ("create", "update", "delete"))
        return counts

    def change_lines(self) -> list[str]:
        """Every change in one list: objects, triggers, notebooks."""
        return [*self.changes, *(f"trigger {t}" for t in self.triggers), *self.notebook_changes]
