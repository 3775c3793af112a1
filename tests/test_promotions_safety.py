"""Old promotions cannot take an environment back, the lock cannot be stolen from a slow run, and no write goes
unrecorded when the process dies (issue 12, items 7 and 8); SQLite and PostgreSQL, real SDK, real sandbox."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from portal.errors import PortalError
from portal.promotion.service import APPROVED, EXPIRED, FAILED, SUCCEEDED, Promotions
from portal.sandbox import FaultRule, Faults, sandbox_for
from portal.usecases.promotions import promote
from tests.mapping_repo import commit_all
from tests.test_promotions import (  # noqa: F401 - pytest fixtures
    ALICE,
    BOB,
    _wait_for,
    _worker,
    config,
    describe_pipeline,
    promotions,
    repo,
)


def test_a_failed_old_promotion_cannot_take_the_environment_back(repo: Path, promotions: Promotions) -> None:
    server = sandbox_for(repo / ".sandbox")
    describe_pipeline(repo, "v1")
    server.faults = Faults(rules=[FaultRule(method="PUT", path_contains="/pipelines/PL_Load", status=400, times=-1)])
    with pytest.raises(PortalError):
        promote(promotions, "dev", ALICE)
    old = promotions.store.promotions(environment="dev")[0]
    assert old.status == FAILED
    server.faults = Faults()
    describe_pipeline(repo, "v2")
    newer = promote(promotions, "dev", ALICE)
    assert newer.status == SUCCEEDED
    # The failed v1 promotion expired, visibly, when v2 succeeded; it is no longer offered, and it cannot run.
    expired = promotions.store.promotion(old.id)
    assert expired.status == EXPIRED and f"promotion {newer.id}" in expired.error
    assert promotions.store.events(promotion_id=old.id, kind="promotion expired")
    assert old.id not in [p.id for p in promotions.runnable()]
    with pytest.raises(PortalError) as refused:
        promotions.run(old.id, ALICE)
    assert refused.value.code == "STATE"
    assert promotions.store.last_succeeded("dev").snapshot_id == newer.snapshot_id
    live = server.client("11111111-1111-1111-1111-111111111111").pipelines.get("rg-dev", "adf-sales-dev", "PL_Load")
    assert live.as_dict()["properties"]["description"] == "v2"


def test_an_approved_promotion_older_than_a_success_is_superseded(repo: Path, promotions: Promotions) -> None:
    promote(promotions, "dev", ALICE)
    promote(promotions, "test", ALICE)
    v1 = promote(promotions, "prod", ALICE)
    approved = promotions.approve(v1.id, BOB)  # runs at once only where the caller asks: here it waits to run
    assert approved.status == APPROVED
    describe_pipeline(repo, "v2")
    for env in ("dev", "test"):
        promote(promotions, env, ALICE)
    v2 = promote(promotions, "prod", ALICE)
    promotions.run(promotions.approve(v2.id, BOB).id, BOB)
    assert promotions.store.promotion(v1.id).status == EXPIRED
    with pytest.raises(PortalError):
        promotions.run(v1.id, BOB)  # the old approval is not reused to go back to v1
    assert promotions.store.last_succeeded("prod").id == v2.id


def test_superseded_is_checked_when_running_even_without_the_sweep(repo: Path, promotions: Promotions) -> None:
    promote(promotions, "dev", ALICE)
    promote(promotions, "test", ALICE)
    v1 = promotions.approve(promote(promotions, "prod", ALICE).id, BOB)
    describe_pipeline(repo, "v2")
    for env in ("dev", "test"):
        promote(promotions, env, ALICE)
    v2 = promotions.approve(promote(promotions, "prod", ALICE).id, BOB)
    # v2 succeeds in another process that knows nothing of v1 (an older portal version, say): v1 stays approved.
    done = promotions.run(v2.id, BOB)
    promotions.store.update_promotion(
        v1.id, promotions.store.promotion(v1.id).version, status=APPROVED, finished_at=None, error=None
    )
    assert v1.id not in [p.id for p in promotions.runnable()]
    with pytest.raises(PortalError) as refused:
        promotions.run(v1.id, BOB)
    assert refused.value.code == "SUPERSEDED" and f"promotion {done.id}" in refused.value.what
    assert promotions.store.promotion(v1.id).status == EXPIRED


def test_a_promoter_refused_by_the_lock_leaves_nothing_ready_to_run(repo: Path, promotions: Promotions) -> None:
    held = promotions.store.acquire_lock("dev", "someone-else", "other-host:1", 300)
    assert held.acquired
    with pytest.raises(PortalError) as refused:
        promote(promotions, "dev", ALICE)
    assert refused.value.code == "LOCKED"
    left = promotions.store.promotions(environment="dev")[0]
    assert left.status == EXPIRED and "request it again" in left.error
    assert promotions.runnable() == []
    assert promotions.store.events(kind="action refused", environment="dev")
    promotions.store.release_lock("dev", "someone-else")


def test_the_lease_is_renewed_while_one_call_takes_longer_than_the_lease(repo: Path) -> None:
    (repo / "portal.yaml").write_text(config(lease=5))
    commit_all(repo, "short lease")
    server = sandbox_for(repo / ".sandbox")
    # One write that takes 8 s: longer than the 5 s lease, without any event in between.
    server.faults = Faults(
        rules=[FaultRule(method="PUT", path_contains="/pipelines/PL_Load", status=0, delay_ms=8000, times=1)]
    )
    promotions = Promotions.open(repo)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["done"] = promote(promotions, "dev", ALICE)
        except Exception as error:  # noqa: BLE001 - the test reads it
            outcome["error"] = error

    runner = threading.Thread(target=run)
    runner.start()
    try:
        _wait_for(
            lambda: (
                any("dataset DS_Orders" in e.summary for e in promotions.store.events(kind="promotion step", limit=20))
                or not runner.is_alive()
            )
        )
        time.sleep(6.5)  # inside the slow call, past the lease the run had at its last event
        intruder = promotions.store.acquire_lock("dev", "intruder", "other-host:2", 300)
        assert not intruder.acquired, "a second promoter got the lock of a live run"
    finally:
        runner.join(timeout=120)
        server.faults = Faults()
        promotions.close()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["done"].status == SUCCEEDED


def test_a_killed_run_loses_no_record_of_what_it_wrote(repo: Path, promotions: Promotions) -> None:
    from portal.deploy.service import open_target

    target = open_target(promotions.workspace_at(), "dev")
    doomed = _worker(repo, "dev", "300")
    # Kill it right after the pipeline (the third level) reached the factory.
    _wait_for(lambda: ("pipeline", "PL_Load") in target.read_all() or doomed.poll() is not None, timeout=120)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    recorded = {
        e.data.get("object")
        for e in promotions.store.events(kind="promotion step", limit=200)
        if e.data.get("message") == "deployed"
    }
    # Every level before the pipeline's was recorded before the pipeline was written.
    assert {"linkedService LS_Lake", "linkedService LS_Sql", "dataset DS_Orders"} <= recorded, recorded
    assert promotions.store.verify().ok
