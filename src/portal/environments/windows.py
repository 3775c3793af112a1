"""Release windows: when an environment takes promotions, from recurring rules in its own time zone.

Per environment in portal.yaml (`windows`): `allow` windows (none listed: any time) and `deny` windows (deny wins,
e.g. month-end close), each an RFC 5545 recurrence rule (`FREQ=WEEKLY;BYDAY=MO,TU;BYHOUR=9;BYMINUTE=0`, read by
python-dateutil's `rrulestr`) and a duration. Rules are anchored at midnight of 2020-01-01 in the environment's time
zone (a fixed anchor, so INTERVAL counts from the same day whenever it is asked), so a rule without BYHOUR starts
its windows at midnight; times of day follow the zone's wall clock through daylight saving changes. A window recurs
hourly at the most often: finer rules are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

if TYPE_CHECKING:
    from portal.environments.config import Window, Windows

# How far ahead the next opening is looked for: a rule that opens less often than this is reported as "none soon".
LOOK_AHEAD = timedelta(days=400)
_ANCHOR = datetime(2020, 1, 1)
_TOO_OFTEN = ("FREQ=SECONDLY", "FREQ=MINUTELY")


@dataclass(frozen=True)
class WindowState:
    open: bool
    why: str  # in words: "inside the allowed window …", "inside the denied window …", "outside every allowed window"
    next_open: datetime | None  # when closed: the first moment it opens (None: not within LOOK_AHEAD)


def parse_rule(text: str, time_zone: str) -> rrule:
    """The recurrence of a rule, anchored in the time zone; ValueError (with dateutil's words) when it does not
    parse."""
    parsed = _parsed(text.strip(), time_zone)
    if not isinstance(parsed, rrule):  # an RRULE set (several rules in one text) is not one window's rule
        raise ValueError("give one RRULE per window")
    return parsed


@cache
def _parsed(text: str, time_zone: str) -> object:
    if text.upper().startswith(("DTSTART", "RRULE:")) or "\n" in text:
        raise ValueError("give the rule's parts only (FREQ=…;BYDAY=…), without DTSTART or an RRULE: prefix")
    if any(part in text.upper().replace(" ", "") for part in _TOO_OFTEN):
        raise ValueError("a release window recurs hourly at the most often")
    # cache=True: the occurrences are computed once from the anchor, then looked up (the rule object is cached).
    return rrulestr(text, dtstart=_ANCHOR.replace(tzinfo=ZoneInfo(time_zone)), cache=True)


def _inside(windows: Sequence[Window], time_zone: str, moment: datetime) -> Window | None:
    for window in windows:
        length = timedelta(minutes=window.duration_minutes)
        if parse_rule(window.rule, time_zone).between(moment - length, moment, inc=True):
            starts = parse_rule(window.rule, time_zone).before(moment, inc=True)
            if starts is not None and moment < starts + length:
                return window
    return None


def state_at(windows: Windows | None, moment: datetime | None = None) -> WindowState:
    """Whether promotions may run at `moment` (default: now), why, and when they next may."""
    now = (moment or datetime.now(UTC)).astimezone(ZoneInfo(windows.time_zone if windows else "UTC"))
    if windows is None:
        return WindowState(True, "no release windows are configured", None)
    is_open, why = _open(windows, now)
    if is_open:
        return WindowState(True, why, None)
    return WindowState(False, why, _next_open(windows, now))


def _open(windows: Windows, moment: datetime) -> tuple[bool, str]:
    denied = _inside(windows.deny, windows.time_zone, moment)
    if denied is not None:
        return False, f"inside the denied window {denied.rule!r} ({windows.time_zone})"
    if not windows.allow:
        return True, "no allowed windows are listed, and no denied window is on"
    allowed = _inside(windows.allow, windows.time_zone, moment)
    if allowed is None:
        return False, f"outside every allowed window ({windows.time_zone})"
    return True, f"inside the allowed window {allowed.rule!r} ({windows.time_zone})"


def _next_open(windows: Windows, now: datetime) -> datetime | None:
    """The first moment after `now` at which the windows are open: an allowed window's start or a denied window's
    end (the only moments at which a closed state can change), checked in order."""
    until = now + LOOK_AHEAD
    moments: set[datetime] = set()
    for window in windows.allow:
        moments.update(parse_rule(window.rule, windows.time_zone).between(now, until)[:2000])
    for window in windows.deny:
        length = timedelta(minutes=window.duration_minutes)
        rule = parse_rule(window.rule, windows.time_zone)
        moments.update(start + length for start in rule.between(now - length, until)[:2000])
    if not windows.allow:
        moments.add(now)
    for moment in sorted(m for m in moments if m > now or (m == now and not windows.allow)):
        if _open(windows, moment)[0]:
            return moment
    return None
