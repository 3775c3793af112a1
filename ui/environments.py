"""The Environments page's data: the environment matrix (what runs where, what runs or waits there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.audit import Promotion
from portal.audit.vocabulary import PromotionStatus
from portal.promotion.service import AWAITING_APPROVAL, Promotions
from portal.usecases import promotions as flow
from ui.common import short, when

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
    releases: str = "any time"  # the release windows now, in words
    line_stopped: str | None = None  # who stopped the line there, and why

    @property
    def ended_badly(self) -> bool:
        """The newest promotion failed or was interrupted (it may be run again)."""
        return self.last_status in (PromotionStatus.FAILED, PromotionStatus.INTERRUPTED)

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
            + (f"; {self.running} running" if self.running not in (None, self.last_promotion_id) else ""),
            "approvals": self.approvals_required,  # needed there; what waits is listed below the matrix
            "releases": "line stopped" if self.line_stopped else self.releases,
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
        rows.append(
            EnvironmentRow(
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
                running=status.running.id if status.running else None,
                releases=flow.releases_text(promotions, status.environment),
                line_stopped=_stop_text(flow.line_stop(promotions, status.environment)),
            )
        )
    return rows


def waiting_promotions(promotions: Promotions, *, limit: int = 50) -> list[Promotion]:
    """Promotions awaiting approval, newest first."""
    return promotions.store.promotions(statuses=[AWAITING_APPROVAL], limit=limit)


def _stop_text(stop: flow.LineStop | None) -> str | None:
    return f"{stop.actor} stopped the line for {stop.scope} at {when(stop.at)}: {stop.reason}" if stop else None
