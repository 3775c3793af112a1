"""Notifications through Apprise, received by a local webhook on 127.0.0.1: approval needed (with who may approve),
succeeded, failed; the channel's URL only ever comes from an environment variable, and a channel that fails is
recorded without failing the promotion."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from portal.environments.config import Notice, NotificationChannel, parse_config
from portal.errors import FindingsError
from portal.promotion.notifications import address_for
from portal.promotion.service import Promotions
from portal.sandbox import FaultRule, Faults, sandbox_for
from portal.usecases import promotions as flow
from tests.mapping_repo import commit_all
from tests.test_promotions import ALICE, BOB, config, describe_pipeline, promotions, repo  # noqa: F401 - fixtures

WEBHOOK_VARIABLE = "PORTAL_TEST_WEBHOOK"


class Receiver:
    """A webhook on 127.0.0.1 that keeps what it is sent (Apprise's json:// posts a JSON document)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                received.append({"path": self.path, **json.loads(self.rfile.read(length) or b"{}")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hooks/release"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    opened = Receiver()
    yield opened
    opened.close()


def with_channels(text: str, *channels: str) -> str:
    return text.replace("environments:\n", "notifications:\n" + "".join(channels) + "environments:\n", 1)


CHANNEL = f"""\
  - name: release-team
    url_from_env: {WEBHOOK_VARIABLE}
    events: [approval needed, promotion succeeded, promotion failed]
    environments: [prod]
"""


def test_approval_needed_and_succeeded_reach_the_channel(
    repo: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "portal.yaml").write_text(with_channels(config(), CHANNEL))
    commit_all(repo, "notify the release team")
    monkeypatch.setenv(WEBHOOK_VARIABLE, receiver.url)
    promotions = Promotions.open(repo)
    try:
        flow.promote(promotions, "dev", ALICE)
        flow.promote(promotions, "test", ALICE)
        assert receiver.received == []  # the channel is for prod only
        waiting = flow.promote(promotions, "prod", ALICE)
        (asked,) = receiver.received
        assert asked["path"] == "/hooks/release"
        assert asked["title"] == f"Promotion {waiting.id} of snapshot {waiting.snapshot_id} to prod waits for approval"
        assert "Requested by alice@retail.example" in asked["message"]
        assert "group:release-managers" in asked["message"] and "Plan: create: 5" in asked["message"]
        done = flow.approve(promotions, waiting.id, BOB).raise_for_error()
        assert [r["title"] for r in receiver.received][
            1
        ] == f"Promotion {done.id} of snapshot {done.snapshot_id} to prod succeeded"
        assert "deployed" in receiver.received[1]["message"]
        sent = promotions.store.events(kind="notification sent", environment="prod")
        assert [e.data for e in sent] == [
            {"channel": "release-team", "notice": "promotion succeeded"},
            {"channel": "release-team", "notice": "approval needed"},
        ]
        assert all(receiver.url not in json.dumps(e.data) + e.summary for e in sent)  # never the address
    finally:
        promotions.close()


def test_a_failed_run_is_told_and_a_broken_channel_never_fails_a_promotion(
    repo: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = CHANNEL.replace("    environments: [prod]\n", "")
    unset = "  - name: nobody-set-this\n    url_from_env: PORTAL_UNSET_WEBHOOK\n    events: [promotion succeeded]\n"
    (repo / "portal.yaml").write_text(with_channels(config(), every, unset))
    commit_all(repo, "notify everywhere")
    monkeypatch.setenv(WEBHOOK_VARIABLE, receiver.url)
    monkeypatch.delenv("PORTAL_UNSET_WEBHOOK", raising=False)
    promotions = Promotions.open(repo)
    try:
        done = flow.promote(promotions, "dev", ALICE)  # succeeds although one channel cannot be reached
        assert done.status == "succeeded" and len(receiver.received) == 1
        (failed_delivery,) = promotions.store.events(kind="notification failed")
        assert "PORTAL_UNSET_WEBHOOK is not set" in failed_delivery.summary
        describe_pipeline(repo, "v2")
        sandbox_for(repo / ".sandbox").faults = Faults(
            rules=[FaultRule(method="PUT", path_contains="/pipelines/PL_Load", status=400, times=1)]
        )
        outcome = flow.start(promotions, flow.prepare(promotions, "dev"), ALICE)
        assert outcome.error is not None and outcome.promotion.status == "failed"
        told = receiver.received[-1]
        assert told["title"].endswith("to dev failed") and "PL_Load" in told["message"]
    finally:
        sandbox_for(repo / ".sandbox").faults = Faults()
        promotions.close()


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ("  - name: x\n    url_from_env: 'json://host/hook'\n    events: [approval needed]\n", "url_from_env"),
        ("  - name: x\n    url_from_env: HOOK\n    events: [approved maybe]\n", "events[0]"),
        (
            "  - name: x\n    url_from_env: HOOK\n    events: [approval needed]\n    environments: [staging]\n",
            "'staging', which is not defined",
        ),
        ("  - name: x\n    url: json://host/hook\n    url_from_env: HOOK\n    events: [approval needed]\n", "url"),
    ],
)
def test_a_bad_channel_is_refused_naming_the_field(channel: str, words: str) -> None:
    with pytest.raises(FindingsError) as refused:
        parse_config(with_channels(config(), channel))
    assert words in str(refused.value) and "notifications" in str(refused.value)


def test_an_approval_by_mail_goes_to_the_approvers_named_by_address() -> None:
    mail = NotificationChannel(name="mail", url_from_env="MAIL", events=[Notice.APPROVAL_NEEDED], to_approvers=True)
    approvers = ["group:release-managers", "rita@retail.example", "omar@retail.example"]
    url = "mailtos://portal:pw@smtp.example"
    assert address_for(mail, Notice.APPROVAL_NEEDED, url, approvers) == (
        url + "?to=rita@retail.example,omar@retail.example"
    )
    assert address_for(mail, Notice.PROMOTION_SUCCEEDED, url, approvers) == url  # only approvals go to approvers
    assert address_for(mail, Notice.APPROVAL_NEEDED, "json://hooks.example/x", approvers) == "json://hooks.example/x"
    plain = mail.model_copy(update={"to_approvers": False})
    assert address_for(plain, Notice.APPROVAL_NEEDED, url + "?from=p@x", approvers) == url + "?from=p@x"
