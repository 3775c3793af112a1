"""Release windows (RFC 5545 rules in the environment's time zone) and the stop-the-line switch: a request outside
the windows is held (or refused, as configured), a stopped line refuses, an admin overrides with a written reason,
and all of it is in the audit trail."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal.cli import main
from portal.environments.config import Windows, parse_config
from portal.environments.windows import state_at
from portal.errors import FindingsError, PortalError
from portal.promotion.access import Forbidden
from portal.promotion.service import ALL_ENVIRONMENTS, Promotions
from portal.usecases import promotions as flow
from tests.mapping_repo import commit_all
from tests.test_promotions import ADMIN, ALICE, config, promotions, repo  # noqa: F401 - fixtures
from ui.environments import environment_rows

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
OFFICE = Windows(
    time_zone="Europe/Amsterdam",
    allow=[{"rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH;BYHOUR=9;BYMINUTE=0", "duration_minutes": 8 * 60}],
    deny=[{"rule": "FREQ=MONTHLY;BYMONTHDAY=-3,-2,-1", "duration_minutes": 24 * 60}],  # month-end close
)
ALWAYS_CLOSED = (  # a deny window all day, every day
    "    windows:\n      outside: {outside}\n      deny:\n"
    "        - rule: FREQ=DAILY\n          duration_minutes: 1440\n"
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("moment", "is_open", "next_open"),
    [
        ("2026-12-07 10:00", True, None),  # a Monday, office hours
        ("2026-12-07 17:00", False, "2026-12-08 09:00"),  # the window is 8 hours: closed at 17:00
        ("2026-12-04 22:00", False, "2026-12-07 09:00"),  # Friday night: Monday morning
        ("2026-12-29 10:00", False, "2027-01-04 09:00"),  # month-end close, then New Year's Friday, the weekend
        ("2027-04-05 09:30", True, None),  # a Monday after daylight saving time began: still from 09:00 local
    ],
)
def test_windows_follow_the_rules_in_the_environments_time_zone(moment: str, is_open: bool, next_open: str | None):
    state = state_at(OFFICE, at(moment))
    assert state.open is is_open, state.why
    assert state.next_open == (at(next_open) if next_open else None)
    if not is_open:
        assert "Europe/Amsterdam" in state.why


def test_the_monday_window_opens_at_nine_local_time_on_both_sides_of_daylight_saving():
    # Friday before the change (28 March): Monday 29 to Wednesday 31 are month-end close, so Thursday 1 April.
    opens = state_at(OFFICE, at("2027-03-26 18:00")).next_open
    assert opens == at("2027-04-01 09:00") and opens is not None and opens.utcoffset().total_seconds() == 2 * 3600
    assert state_at(OFFICE, at("2027-03-25 09:00")).open  # and before the change, 09:00 is 08:00 UTC


@pytest.mark.parametrize(
    ("windows", "words"),
    [
        (
            "      allow:\n        - rule: FREQ=SOMETIMES\n          duration_minutes: 60\n",
            "allow[0].rule 'FREQ=SOMETIMES'",
        ),
        ("      time_zone: Mars/Olympus\n", "'Mars/Olympus' is not a time zone"),
        ("      deny:\n        - rule: FREQ=DAILY\n          duration_minutes: 0\n", "duration_minutes"),
        ("      outside: later\n", "outside"),
        ("      deny:\n        - rule: FREQ=MINUTELY\n          duration_minutes: 1\n", "hourly at the most often"),
    ],
)
def test_a_window_that_does_not_parse_is_refused_naming_the_field(windows: str, words: str):
    text = config().replace("  - name: dev\n", "  - name: dev\n    windows:\n" + windows, 1)
    with pytest.raises(FindingsError) as refused:
        parse_config(text)
    assert words in str(refused.value) and "windows" in str(refused.value)


def closed_dev(repo: Path, outside: str) -> None:
    (repo / "portal.yaml").write_text(
        config().replace("  - name: dev\n", "  - name: dev\n" + ALWAYS_CLOSED.format(outside=outside), 1)
    )
    commit_all(repo, f"dev closed ({outside})")


def test_outside_the_windows_a_request_is_held_and_an_admin_overrides_it(repo: Path, promotions: Promotions):
    closed_dev(repo, "wait")
    outcome = flow.start(promotions, flow.prepare(promotions, "dev"), ALICE)
    assert outcome.error is None and outcome.held is not None and "outside its release windows" in outcome.held
    held = outcome.promotion
    assert promotions.store.promotion(held.id).status == "approved"  # recorded, not run
    refused = flow.run(promotions, held.id, ALICE)
    assert refused.error is not None and refused.error.code == "OUTSIDE_WINDOW"
    with pytest.raises(Forbidden):
        flow.run(promotions, held.id, ALICE, override_reason="I am in a hurry").raise_for_error()
    done = flow.run(promotions, held.id, ADMIN, override_reason="hotfix for the broken load").raise_for_error()
    assert done.status == "succeeded"
    (overridden,) = promotions.store.events(kind="action overridden")
    assert overridden.actor == ADMIN.name and overridden.data["reason"] == "hotfix for the broken load"
    assert overridden.data["overrode"] == ["OUTSIDE_WINDOW"]


def test_where_the_environment_says_refuse_nothing_is_recorded_outside_the_windows(repo: Path, promotions: Promotions):
    closed_dev(repo, "refuse")
    with pytest.raises(PortalError) as refused:
        flow.promote(promotions, "dev", ALICE)
    assert refused.value.code == "OUTSIDE_WINDOW" and "environment dev" in refused.value.where
    assert promotions.store.promotions(environment="dev") == []
    assert promotions.store.events(kind="action refused")[0].data["code"] == "OUTSIDE_WINDOW"


def test_a_stopped_line_refuses_until_it_is_restarted(repo: Path, promotions: Promotions):
    with pytest.raises(Forbidden):
        promotions.stop_line("dev", ALICE, "month-end close")  # admins only
    with pytest.raises(PortalError) as no_reason:
        promotions.stop_line("dev", ADMIN, " ")
    assert no_reason.value.code == "REASON"
    promotions.stop_line(ALL_ENVIRONMENTS, ADMIN, "incident 4711: storage outage")
    with pytest.raises(PortalError) as stopped:
        flow.promote(promotions, "dev", ALICE)
    assert stopped.value.code == "LINE_STOPPED" and "incident 4711" in stopped.value.what
    assert promotions.store.promotions(environment="dev") == []
    promotions.restart_line(ALL_ENVIRONMENTS, ADMIN)
    assert flow.promote(promotions, "dev", ALICE).status == "succeeded"
    kinds = [e.kind for e in promotions.store.events(environment=ALL_ENVIRONMENTS)]
    assert kinds == ["line restarted", "line stopped"]


def test_the_cli_stops_the_line_and_promotes_past_it_with_an_override(repo: Path, capsys: pytest.CaptureFixture[str]):
    (repo / "portal.yaml").write_text(
        config()
        .replace("admin: ['group:platform-admins']", "admin: ['group:platform-admins', ada@retail.example]")
        .replace("promoter: ['group:data-engineers']", "promoter: ['group:data-engineers', alice@retail.example]")
    )
    commit_all(repo, "named people")
    as_ada = ["--repo", str(repo), "--as", "ada@retail.example"]
    assert main(["line", "stop", "dev", "--reason", "freeze for the audit", *as_ada]) == 0
    assert "the line is stopped for dev" in capsys.readouterr().out
    assert main(["promote", "dev", "--yes", "--repo", str(repo), "--as", "alice@retail.example"]) == 1
    assert "the line is stopped" in capsys.readouterr().err
    assert main(["promote", "dev", "--yes", "--override-reason", "the auditors asked for it", *as_ada]) == 0
    assert "succeeded" in capsys.readouterr().out


def test_the_environments_page_says_when_releases_run_and_who_stopped_the_line(repo: Path, promotions: Promotions):
    closed_dev(repo, "wait")
    promotions.stop_line("test", ADMIN, "the test database is being restored")
    rows = {row.environment: row for row in environment_rows(promotions)}
    assert rows["dev"].releases == "closed (no window opens within 400 days)"
    assert rows["prod"].releases == "any time" and rows["prod"].line_stopped is None
    assert rows["test"].as_table_row()["releases"] == "line stopped"
    assert rows["test"].line_stopped is not None
    assert rows["test"].line_stopped.startswith(f"{ADMIN.name} stopped the line for test at ")
    assert rows["test"].line_stopped.endswith(": the test database is being restored")


def test_portal_status_says_when_releases_run_and_who_stopped_the_line(
    repo: Path, promotions: Promotions, capsys: pytest.CaptureFixture[str]
):
    closed_dev(repo, "wait")
    promotions.stop_line("test", ADMIN, "restoring the test database")
    assert main(["status", "--repo", str(repo), "--json"]) == 0
    rows = {row["environment"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["dev"]["releases"] == "closed (no window opens within 400 days)" and rows["dev"]["lineStopped"] is None
    assert rows["test"]["lineStopped"]["by"] == ADMIN.name
    assert rows["test"]["lineStopped"]["reason"] == "restoring the test database"
    assert rows["prod"]["releases"] == "any time"
    assert main(["status", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "  releases: closed (no window opens within 400 days)" in out
    assert f"  releases: line stopped for test by {ADMIN.name} at " in out
