"""Telling people about promotions through Apprise (Teams, Slack, e-mail, generic webhooks …), as the main branch's
portal.yaml says (`notifications`): a promotion that waits for approval, one that succeeded, one that failed.

A channel's Apprise URL carries its secret (a webhook token, a mail password), so portal.yaml only names the
environment variable that holds it (`url_from_env`); the URL never reaches Git, the trail, logs or messages. Every
delivery is recorded ("notification sent" / "notification failed", naming the channel, never its address), and a
notification never changes what became of a promotion: a failed delivery is recorded and the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portal.audit import NewEvent, Promotion
from portal.audit.vocabulary import EventKind
from portal.environments.config import Notice, NotificationChannel, PortalConfig
from portal.promotion.access import Action, who_may
from portal.promotion.summary import PlanSummary

if TYPE_CHECKING:
    from portal.promotion.service import Promotions

_MAIL_SCHEMES = ("mailto://", "mailtos://")
_NOTIFY_TIMEOUT_SECONDS = 15  # one slow channel must not hold a promotion up for long


@dataclass(frozen=True)
class Message:
    notice: Notice
    environment: str
    title: str
    body: str


@dataclass(frozen=True)
class Delivery:
    channel: str
    sent: bool
    why_not: str = ""  # in words, never the address


def message_for(notice: Notice, promotion: Promotion, *, approvers: list[str], outcome: str = "") -> Message:
    """What a channel is told (in plain words; no secret is ever part of a plan summary or an outcome)."""
    kind = "Rollback" if promotion.is_rollback else "Promotion"
    head = f"{kind} {promotion.id} of snapshot {promotion.snapshot_id} to {promotion.environment}"
    shown = PlanSummary.from_json(promotion.plan_summary).shown_counts()
    counts = ", ".join(f"{name}: {value}" for name, value in shown.items() if value)
    if notice is Notice.APPROVAL_NEEDED:
        body = (
            f"Requested by {promotion.requested_by}; it needs {promotion.approvals_required} approval(s). "
            f"May approve: {', '.join(approvers) or 'nobody is configured'}. Plan: {counts or 'no changes'}."
        )
        return Message(notice, promotion.environment, f"{head} waits for approval", body)
    if notice is Notice.PROMOTION_SUCCEEDED:
        return Message(notice, promotion.environment, f"{head} succeeded", outcome or "Deployed.")
    return Message(notice, promotion.environment, f"{head} failed", outcome or promotion.error or "The run failed.")


def channels_for(config: PortalConfig, notice: Notice, environment: str) -> list[NotificationChannel]:
    return [
        c for c in config.notifications if notice in c.events and (not c.environments or environment in c.environments)
    ]


def notify(
    promotions: Promotions,
    notice: Notice,
    promotion: Promotion,
    *,
    outcome: str = "",
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """Tell every channel that wants `notice` for the promotion's environment, and record each delivery."""
    env = os.environ if environ is None else environ
    config = promotions.main_config()
    channels = channels_for(config, notice, promotion.environment)
    if not channels:
        return []
    approvers = [m for m in who_may(config, Action.APPROVE, promotion.environment) if m != promotion.requested_by]
    message = message_for(notice, promotion, approvers=approvers, outcome=outcome)
    deliveries = [
        _deliver(channel, message, env.get(channel.url_from_env, "").strip(), approvers) for channel in channels
    ]
    for delivery in deliveries:
        promotions.store.append(
            NewEvent(
                kind=EventKind.NOTIFICATION_SENT if delivery.sent else EventKind.NOTIFICATION_FAILED,
                actor="portal",
                actor_verified=False,
                environment=promotion.environment,
                promotion_id=promotion.id,
                snapshot_id=promotion.snapshot_id,
                summary=f"{delivery.channel}: {notice}"
                + ("" if delivery.sent else f" not delivered: {delivery.why_not}"),
                data={"channel": delivery.channel, "notice": str(notice)},
            )
        )
    return deliveries


def address_for(channel: NotificationChannel, notice: Notice, url: str, approvers: list[str]) -> str:
    """The channel's URL, with the approvers named by address as recipients where an e-mail channel says
    `to_approvers` and the notice asks for an approval."""
    if not (channel.to_approvers and notice is Notice.APPROVAL_NEEDED and url.startswith(_MAIL_SCHEMES)):
        return url
    addresses = [a for a in approvers if "@" in a and not a.startswith("group:")]
    return url + ("&" if "?" in url else "?") + "to=" + ",".join(addresses) if addresses else url


def _deliver(channel: NotificationChannel, message: Message, url: str, approvers: list[str]) -> Delivery:
    import apprise

    if not url:
        return Delivery(channel.name, False, f"the environment variable {channel.url_from_env} is not set")
    url = address_for(channel, message.notice, url, approvers)
    sender = apprise.Apprise()
    if not sender.add(url):
        return Delivery(
            channel.name,
            False,
            f"the value of {channel.url_from_env} is not an Apprise URL (see the Apprise documentation)",
        )
    try:
        sent = bool(sender.notify(body=message.body, title=message.title, timeout=_NOTIFY_TIMEOUT_SECONDS))
    except Exception as error:  # noqa: BLE001 - a channel's failure is recorded, never raised into a promotion
        return Delivery(channel.name, False, f"the channel failed ({type(error).__name__})")
    return Delivery(channel.name, sent, "" if sent else "the channel refused or did not answer")
