"""The audit store on both of its databases: a SQLite file in a temporary folder and the PostgreSQL server at
127.0.0.1:5432 (a fresh schema per test, dropped afterwards). Without that server the PostgreSQL half is skipped,
except in CI (CI set), where it fails.

- The trail is a gapless hash chain; verify names the first event edited or deleted with raw SQL, and notices the
  last events deleted (the chain head).
- Appends from 8 threads and from 2 processes stay gapless and verifiable.
- Artifacts by content, snapshots, promotions (optimistic versions), approvals (one vote per actor).
- Locks: acquire, refuse, renew, release, take over after the lease; two processes racing: exactly one wins.
- Filters, paging, counts, export (csv, jsonl) read back; verify in batches.
- Alembic: the schema is at head and matches the tables declared; an unreachable database is named without its
  password.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import multiprocessing
import os
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import git
import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import portal.audit.store as store_module
from portal.audit import (
    AUDIT_URL_ENV,
    Approval,
    AuditStore,
    NewEvent,
    Promotion,
    Snapshot,
    audit_url,
    event_hash,
    models,
)
from portal.audit.chain import GENESIS_HASH
from portal.errors import PortalError

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@pytest.fixture(autouse=True)
def no_audit_key(monkeypatch):
    """These tests are of the store without an audit key (test_audit_integrity has those with one)."""
    monkeypatch.delenv("PORTAL_AUDIT_KEY", raising=False)
    monkeypatch.delenv("PORTAL_AUDIT_KEY_FILE", raising=False)


@functools.lru_cache(maxsize=1)
def postgres_problem() -> str | None:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any reason makes the server unusable here
        return str(error).strip() or type(error).__name__
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.db"
        return
    problem = postgres_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests, but 127.0.0.1:5432 is not usable: {problem}")
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {problem}")
    schema = f"audit_test_{uuid.uuid4().hex}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(store_url):
    opened = AuditStore.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
def raw(store_url):
    """A plain engine on the same database, for what the store never does: editing and deleting rows."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def sql(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def event(i: int = 0, **overrides) -> NewEvent:
    values = dict(
        kind="test",
        actor="ann",
        actor_verified=True,
        environment="dev",
        promotion_id="p1",
        snapshot_id="s1",
        summary=f"event {i}",
        data={"i": i, "names": ["a", "b"], "nested": {"ü": 1.5}},
    )
    values.update(overrides)
    return NewEvent(**values)


def hashed_fields(e) -> dict:
    fields = e.as_json()
    del fields["hash"]
    return fields


def spawn_context():
    return multiprocessing.get_context("spawn")


def run_processes(processes, timeout: float = 60) -> None:
    for process in processes:
        process.join(timeout)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
        assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"


# --- the chain -----------------------------------------------------------------------------------------------------


def test_appends_make_a_gapless_hash_chain(store):
    first = store.append(event(1, data={"tuple": (1, 2), "text": "naïve ✓"}))
    rest = store.append_many([event(i) for i in range(2, 6)])
    chain = [first, *rest]

    assert [e.seq for e in chain] == [1, 2, 3, 4, 5]
    assert first.prev_hash == GENESIS_HASH
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.prev_hash == before.hash
        assert after.at >= before.at
    for e in chain:
        assert ISO_MS.match(e.at), e.at
        assert e.hash == event_hash(hashed_fields(e))
        assert store.event(e.seq) == e  # what append returned is what reads back
    assert first.data == {"tuple": [1, 2], "text": "naïve ✓"}
    assert store.event(6) is None
    assert store.append_many([]) == []

    result = store.verify()
    assert (result.ok, result.checked, result.first_broken, result.reason) == (True, 5, None, None)


def test_an_empty_trail_verifies(store):
    assert store.verify().ok
    assert store.verify().checked == 0


def test_data_that_is_not_json_is_refused(store):
    with pytest.raises(PortalError) as raised:
        store.append(event(data={"when": datetime.now()}))
    assert raised.value.code == "AUDIT_DATA"
    with pytest.raises(PortalError):
        store.append(event(data={"x": float("nan")}))
    assert store.count_events() == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [("summary", "nothing happened"), ("data", '{"i":3,"names":["a"]}'), ("actor", "mallory")],
)
def test_an_edited_event_is_named(store, raw, column, value):
    store.append_many([event(i) for i in range(1, 6)])
    sql(raw, f"UPDATE audit_events SET {column} = :value WHERE seq = 3", value=value)

    result = store.verify()

    assert not result.ok
    assert result.first_broken == 3
    assert result.checked == 2
    assert result.reason == "event 3: its content does not match its hash (edited)"


def test_an_edited_event_with_a_recomputed_hash_breaks_the_next_link(store, raw):
    store.append_many([event(i) for i in range(1, 6)])
    forged = {**hashed_fields(store.event(3)), "summary": "forged"}
    sql(raw, "UPDATE audit_events SET summary = 'forged', hash = :hash WHERE seq = 3", hash=event_hash(forged))

    result = store.verify()

    assert (result.ok, result.first_broken) == (False, 4)
    assert result.reason.startswith("event 4: prev_hash does not match event 3")


def test_a_deleted_event_is_named(store, raw):
    store.append_many([event(i) for i in range(1, 6)])
    sql(raw, "DELETE FROM audit_events WHERE seq = 3")

    result = store.verify()

    assert (result.ok, result.first_broken) == (False, 3)
    assert result.reason == "event 3 is missing (deleted)"


def test_deleted_last_events_are_noticed_by_the_chain_head(store, raw):
    store.append_many([event(i) for i in range(1, 6)])
    sql(raw, "DELETE FROM audit_events WHERE seq >= 4")

    result = store.verify()

    assert (result.ok, result.checked, result.first_broken) == (False, 3, 4)
    assert result.reason == "the chain head says 5 events, found 3 (the last ones were deleted)"


def test_verify_reads_in_batches_and_finds_a_gap_at_a_batch_boundary(store, raw, monkeypatch):
    for start in range(0, 2000, 500):
        store.append_many([event(i, data={"i": i}) for i in range(start, start + 500)])
    assert store.verify() == store_module.VerifyResult(True, 2000, None, None)

    monkeypatch.setattr(store_module, "VERIFY_BATCH", 64)
    assert store.verify().checked == 2000
    sql(raw, "DELETE FROM audit_events WHERE seq = 129")  # the first of the third batch
    result = store.verify()
    assert (result.ok, result.checked, result.first_broken) == (False, 128, 129)


# --- concurrency ---------------------------------------------------------------------------------------------------


def test_appends_from_eight_threads_stay_gapless(store):
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                store.append(event(i, actor=f"thread-{n}"))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not errors, errors
    seqs = [e.seq for e in store.events(limit=1000, newest_first=False)]
    assert seqs == list(range(1, 401))
    assert all(store.count_events(actor=f"thread-{n}") == 50 for n in range(8))
    assert store.verify().ok


def append_in_a_process(url: str, actor: str, count: int, start) -> None:
    start.wait()
    opened = AuditStore.open(url)  # both at once, on a new database: the schema is made once
    try:
        opened.count_events()  # connected before the start
        start.wait()
        for i in range(count):
            opened.append(event(i, actor=actor))
    finally:
        opened.close()


def test_two_processes_open_a_new_store_and_append_gaplessly(request, store_url):
    ctx = spawn_context()
    start = ctx.Barrier(2, timeout=60)
    processes = [ctx.Process(target=append_in_a_process, args=(store_url, f"process-{n}", 60, start)) for n in range(2)]
    for process in processes:
        process.start()
    run_processes(processes)

    store = AuditStore.open(store_url)
    request.addfinalizer(store.close)
    assert [e.seq for e in store.events(limit=1000, newest_first=False)] == list(range(1, 121))
    assert store.count_events(actor="process-0") == store.count_events(actor="process-1") == 60
    assert store.verify().ok


def race_for_locks(url: str, name: str, environments: list[str], start, results) -> None:
    opened = AuditStore.open(url)
    try:
        for environment in environments:
            opened.lock(environment)  # connected before the start
            start.wait()
            got = opened.acquire_lock(environment, f"promotion-{name}", name, 60)
            taken = got.taken_over.promotion_id if got.taken_over else None
            results.put((environment, name, got.acquired, got.lock.promotion_id, taken))
    finally:
        opened.close()


def test_two_processes_racing_for_a_lock_exactly_one_wins(store, store_url):
    store.acquire_lock("crashed-env", "promotion-crashed", "gone", 0.05)
    time.sleep(0.1)  # that lease has run out: the race is for taking it over
    environments = ["race-1", "race-2", "race-3", "crashed-env"]
    ctx = spawn_context()
    start = ctx.Barrier(2, timeout=60)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=race_for_locks, args=(store_url, name, environments, start, results)) for name in ("a", "b")
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in range(2 * len(environments))]
    run_processes(processes)

    for environment in environments:
        mine = [o for o in outcomes if o[0] == environment]
        winners = [o for o in mine if o[2]]
        assert len(mine) == 2 and len(winners) == 1, mine
        winner = f"promotion-{winners[0][1]}"
        assert all(o[3] == winner for o in mine), mine  # the loser is told who holds it
        assert store.lock(environment).promotion_id == winner
        expected_taken = "promotion-crashed" if environment == "crashed-env" else None
        assert winners[0][4] == expected_taken
        assert all(o[4] is None for o in mine if not o[2])


# --- artifacts and snapshots ---------------------------------------------------------------------------------------


def test_artifacts_are_stored_by_content(store):
    content = json.dumps({"resources": [1, 2, 3], "name": "ü"}).encode() + bytes(range(256))

    digest = store.put_artifact(content, media_type="application/json", name="ARMTemplateForFactory.json")

    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert store.put_artifact(content, media_type="text/plain", name="again.json") == digest  # idempotent
    assert store.artifact(digest) == (content, "application/json", "ARMTemplateForFactory.json")
    assert store.artifact("0" * 64) is None
    empty = store.put_artifact(b"", media_type="application/octet-stream", name="empty")
    assert store.artifact(empty) == (b"", "application/octet-stream", "empty")


def test_snapshots_are_kept_by_id(store):
    first = Snapshot("s1", "abc123", "t" * 64, None, "2026-05-01T10:00:00.000+00:00", "ann")

    assert store.put_snapshot(first) == first
    again = Snapshot("s1", "other", "x" * 64, "n" * 64, "2026-05-02T10:00:00.000+00:00", "bob")
    assert store.put_snapshot(again) == first  # the stored one is kept
    assert store.snapshot("s1") == first
    assert store.snapshot("nope") is None
    local = store.put_snapshot(Snapshot("s2", None, "t", "n", "2026-05-01T12:00:00+02:00", "ann"))
    assert local.created_at == "2026-05-01T10:00:00.000+00:00"  # times are kept in UTC


# --- promotions and approvals --------------------------------------------------------------------------------------


def promotion(
    promotion_id: str, environment: str = "test", requested_at: str = "2026-05-01T10:00:00.000+00:00", **changes
) -> Promotion:
    values = dict(
        id=promotion_id,
        environment=environment,
        snapshot_id="s1",
        status="awaiting approval",
        requested_by="ann",
        requested_at=requested_at,
        is_rollback=False,
        skip_reason=None,
        plan_hash="p" * 64,
        plan_summary={"counts": {"create": 2}, "changes": ["create pipeline PL"]},
        parameters_hash=None,
        started_at=None,
        finished_at=None,
        error=None,
        version=1,
        approvals_required=1,
        expires_at=None,
    )
    values.update(changes)
    return Promotion(**values)


@pytest.fixture
def snapshot(store):
    return store.put_snapshot(Snapshot("s1", "abc123", "t" * 64, None, "2026-05-01T09:00:00.000+00:00", "ann"))


def test_promotions_are_updated_optimistically(store, snapshot):
    created = store.create_promotion(promotion("P1"))
    assert created == promotion("P1")
    assert store.promotion("P1") == created

    running = store.update_promotion(
        "P1", 1, status="running", started_at="2026-05-01T10:05:00.000+00:00", plan_summary={"counts": {"create": 3}}
    )
    assert (running.version, running.status, running.plan_summary) == (2, "running", {"counts": {"create": 3}})
    assert store.promotion("P1") == running

    with pytest.raises(PortalError) as raised:
        store.update_promotion("P1", 1, status="failed")  # someone read version 1 before
    assert raised.value.code == "CONFLICT"
    assert "changed meanwhile" in str(raised.value)
    assert store.promotion("P1") == running

    with pytest.raises(PortalError) as raised:
        store.update_promotion("nope", 1, status="failed")
    assert raised.value.code == "NOT_FOUND"
    with pytest.raises(TypeError):
        store.update_promotion("P1", 2, version=7)

    with pytest.raises(PortalError) as raised:
        store.create_promotion(promotion("P1"))
    assert raised.value.code == "CONFLICT"
    with pytest.raises(PortalError) as raised:
        store.create_promotion(promotion("P2", snapshot_id="missing"))
    assert raised.value.code == "NOT_FOUND"
    assert store.promotion("P2") is None


def test_promotions_are_listed_newest_first_and_the_last_success_is_found(store, snapshot):
    def at(minute: int) -> str:
        return f"2026-05-01T10:{minute:02d}:00.000+00:00"

    store.create_promotion(promotion("A", requested_at=at(1), status="succeeded", finished_at=at(2)))
    store.create_promotion(promotion("B", requested_at=at(3), status="failed", finished_at=at(4)))
    store.create_promotion(promotion("C", requested_at=at(5), status="succeeded", finished_at=at(9)))
    store.create_promotion(promotion("D", requested_at=at(6), status="succeeded", finished_at=at(7)))
    store.create_promotion(promotion("E", requested_at=at(8), status="running"))
    store.create_promotion(
        promotion("X", environment="prod", requested_at=at(10), status="succeeded", finished_at=at(11))
    )

    assert [p.id for p in store.promotions()] == ["X", "E", "D", "C", "B", "A"]
    assert [p.id for p in store.promotions(environment="test", limit=2)] == ["E", "D"]
    assert [p.id for p in store.promotions(statuses=["failed", "running"])] == ["E", "B"]
    assert store.promotions(environment="test", statuses=[]) == []

    assert store.last_succeeded("test").id == "C"  # finished last, though requested before D
    assert store.last_succeeded("test", before="C").id == "D"
    assert store.last_succeeded("test", before="D").id == "A"
    assert store.last_succeeded("test", before="A") is None
    assert store.last_succeeded("test", before="E").id == "C"  # E has not finished: any other
    assert store.last_succeeded("prod").id == "X"
    assert store.last_succeeded("dev") is None
    with pytest.raises(PortalError):
        store.last_succeeded("test", before="nope")


def test_one_vote_per_actor(store, snapshot):
    store.create_promotion(promotion("P1"))
    store.add_approval(Approval("P1", "bob", "approve", "looks good", "2026-05-01T10:01:00.000+00:00"))
    store.add_approval(Approval("P1", "cid", "reject", "not today", "2026-05-01T10:02:00.000+00:00"))

    with pytest.raises(PortalError) as raised:
        store.add_approval(Approval("P1", "bob", "reject", "changed my mind", "2026-05-01T10:03:00.000+00:00"))
    assert raised.value.code == "ALREADY_VOTED"
    with pytest.raises(PortalError) as raised:
        store.add_approval(Approval("nope", "bob", "approve", "", "2026-05-01T10:03:00.000+00:00"))
    assert raised.value.code == "NOT_FOUND"
    with pytest.raises(PortalError):
        store.add_approval(Approval("P1", "dan", "maybe", "", "2026-05-01T10:03:00.000+00:00"))

    assert store.approvals("P1") == [
        Approval("P1", "bob", "approve", "looks good", "2026-05-01T10:01:00.000+00:00"),
        Approval("P1", "cid", "reject", "not today", "2026-05-01T10:02:00.000+00:00"),
    ]
    assert store.approvals("nope") == []


# --- locks ---------------------------------------------------------------------------------------------------------


def test_a_lock_is_acquired_refused_renewed_and_released(store):
    got = store.acquire_lock("prod", "P1", "host-a:1", 60)
    assert got.acquired and got.taken_over is None
    assert (got.lock.environment, got.lock.promotion_id, got.lock.owner) == ("prod", "P1", "host-a:1")
    held = datetime.fromisoformat(got.lock.expires_at) - datetime.fromisoformat(got.lock.acquired_at)
    assert held == timedelta(seconds=60)
    assert store.lock("prod") == got.lock

    refused = store.acquire_lock("prod", "P2", "host-b:2", 60)
    assert not refused.acquired and refused.lock == got.lock and refused.taken_over is None
    assert store.acquire_lock("test", "P2", "host-b:2", 60).acquired  # another environment is free

    assert store.renew_lock("prod", "P1", 600)
    assert store.lock("prod").expires_at > got.lock.expires_at
    assert not store.renew_lock("prod", "P2", 600)

    store.release_lock("prod", "P2")  # not the holder: nothing happens
    assert store.lock("prod").promotion_id == "P1"
    store.release_lock("prod", "P1")
    assert store.lock("prod") is None
    assert not store.renew_lock("prod", "P1", 600)
    assert store.acquire_lock("prod", "P2", "host-b:2", 60).acquired


def test_an_expired_lock_is_taken_over(store):
    crashed = store.acquire_lock("prod", "P1", "host-a:1", 0.05).lock
    time.sleep(0.1)

    got = store.acquire_lock("prod", "P2", "host-b:2", 60)

    assert got.acquired
    assert got.taken_over == crashed
    assert store.lock("prod") == got.lock
    assert not store.renew_lock("prod", "P1", 60)  # the crashed run has lost it
    assert not store.acquire_lock("prod", "P3", "host-c:3", 60).acquired


# --- reading the trail ---------------------------------------------------------------------------------------------


def fill(store) -> list:
    """30 events in three bursts a few milliseconds apart, spread over environments, actors, kinds, promotions."""
    for burst in range(3):
        store.append_many(
            [
                event(
                    i,
                    environment=("dev", "test", "prod")[i % 3],
                    actor=("ann", "bob")[i % 2],
                    kind=f"k{i % 5}",
                    promotion_id=f"p{i % 4}",
                    actor_verified=i % 2 == 0,
                    snapshot_id=None if i % 3 else "s1",
                )
                for i in range(burst * 10, burst * 10 + 10)
            ]
        )
        time.sleep(0.01)
    return store.events(limit=1000, newest_first=False)


def test_filters_pages_and_counts(store):
    trail = fill(store)
    assert len(trail) == 30

    def expect(**filters) -> list[int]:
        keep = [e for e in trail if all(getattr(e, k) == v for k, v in filters.items())]
        return [e.seq for e in reversed(keep)]

    for filters in (
        {},
        {"environment": "dev"},
        {"actor": "bob"},
        {"kind": "k3"},
        {"promotion_id": "p2"},
        {"environment": "prod", "actor": "ann"},
        {"environment": "test", "kind": "k4", "actor": "ann"},
    ):
        seqs = [e.seq for e in store.events(limit=1000, **filters)]
        assert seqs == expect(**filters), filters
        assert store.count_events(**filters) == len(seqs)
        assert [e.seq for e in store.events(limit=1000, newest_first=False, **filters)] == seqs[::-1]
        pages = [store.events(offset=offset, limit=4, **filters) for offset in range(0, 40, 4)]
        assert [e.seq for page in pages for e in page] == seqs

    assert store.count_events(environment="staging") == 0
    assert store.events(environment="staging") == []


def test_time_filters(store):
    trail = fill(store)
    second, third = trail[10].at, trail[20].at
    assert trail[9].at < second < third  # the bursts are apart

    assert [e.seq for e in store.events(since=second, newest_first=False, limit=100)] == [
        e.seq for e in trail if e.at >= second
    ]
    assert [e.seq for e in store.events(until=third, newest_first=False, limit=100)] == [
        e.seq for e in trail if e.at < third
    ]
    assert store.count_events(since=second, until=third) == len([e for e in trail if second <= e.at < third])

    moment = datetime.fromisoformat(second)
    in_berlin = moment.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    zulu = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert store.count_events(since=in_berlin) == store.count_events(since=zulu) == store.count_events(since=second)
    assert store.count_events(since=moment.date().isoformat()) == 30
    with pytest.raises(PortalError) as raised:
        store.events(since="yesterday")
    assert raised.value.code == "BAD_FILTER"


def test_export_csv_and_jsonl_read_back(store):
    trail = fill(store)

    out = io.StringIO()
    assert store.export(out, "csv") == 30
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [
        "seq",
        "at",
        "kind",
        "actor",
        "actor_verified",
        "environment",
        "promotion_id",
        "snapshot_id",
        "summary",
        "data",
        "prev_hash",
        "hash",
        "mac",
        "key_id",
    ]
    for row, e in zip(rows, trail, strict=True):
        assert int(row["seq"]) == e.seq
        assert json.loads(row["data"]) == e.data
        assert row["actor_verified"] == ("true" if e.actor_verified else "false")
        assert (row["snapshot_id"] or None) == e.snapshot_id
        assert (row["at"], row["summary"], row["prev_hash"], row["hash"]) == (e.at, e.summary, e.prev_hash, e.hash)
        assert (row["mac"], row["key_id"]) == ("", "")  # no audit key: unsigned

    out = io.StringIO()
    assert store.export(out, "jsonl", environment="dev") == 10
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [e.as_json() for e in trail if e.environment == "dev"]
    assert all(event_hash({k: v for k, v in line.items() if k != "hash"}) == line["hash"] for line in lines)

    with pytest.raises(PortalError) as raised:
        store.export(io.StringIO(), "xml")
    assert raised.value.code == "EXPORT_FORMAT"


# --- schema and opening --------------------------------------------------------------------------------------------


def test_the_schema_is_at_head_and_matches_the_declared_tables(store, store_url):
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": "audit_alembic_version"})
            head = ScriptDirectory(str(store_module.MIGRATIONS)).get_current_head()
            assert context.get_current_revision() == head == "0002"
            assert compare_metadata(context, models.metadata) == []
            assert set(inspect(conn).get_table_names()) == set(models.metadata.tables) | {"audit_alembic_version"}
    finally:
        engine.dispose()

    AuditStore.open(store_url).close()  # opening a store at head again changes nothing
    assert store.verify().ok


def test_an_unreachable_database_is_named_without_its_password(store_url):
    if store_url.startswith("sqlite"):
        url = f"sqlite:///{Path(store_url.split(':///', 1)[1]).parent}/no/such/folder/audit.db"
        with pytest.raises(PortalError) as raised:
            AuditStore.open(url)
        assert raised.value.code == "AUDIT_STORE"
        assert "no/such/folder" in str(raised.value)
        return
    with pytest.raises(PortalError) as raised:
        AuditStore.open("postgresql+psycopg://u:secretpw@127.0.0.1:1/x")
    error = raised.value
    assert error.code == "AUDIT_STORE"
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in str(error)
    assert "secretpw" not in str(error) and "secretpw" not in repr(error.args)
    assert error.__cause__ is None and error.__suppress_context__


def test_the_store_shows_its_url_without_the_password(store, store_url):
    assert store.url_for_display == store_url  # no password to hide here
    assert store_module.redact_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"


def test_where_the_audit_store_is(tmp_path, monkeypatch):
    monkeypatch.delenv(AUDIT_URL_ENV, raising=False)
    default = audit_url(tmp_path)
    assert default == f"sqlite:///{tmp_path.resolve()}/.portal/audit.db"
    assert (tmp_path / ".portal").is_dir()

    assert audit_url(tmp_path, "sqlite:////srv/audit.db") == "sqlite:////srv/audit.db"  # portal.yaml's audit.url

    # In a Git checkout the file is kept with the Git data, where no commit picks it up.
    checkout = tmp_path / "repo"
    git.Repo.init(checkout)
    assert audit_url(checkout) == f"sqlite:///{checkout.resolve()}/.git/portal/audit.db"

    # The deployment's variable wins over the file (it is where a password may go).
    monkeypatch.setenv(AUDIT_URL_ENV, "postgresql+psycopg://portal@db/portal")
    assert audit_url(tmp_path) == "postgresql+psycopg://portal@db/portal"
    assert audit_url(tmp_path, "sqlite:////srv/audit.db") == "postgresql+psycopg://portal@db/portal"


def test_only_sqlite_and_postgresql(tmp_path):
    with pytest.raises(PortalError) as raised:
        AuditStore.open("mysql://u:pw@localhost/x")
    assert raised.value.code == "AUDIT_STORE" and ":pw@" not in str(raised.value)
    with pytest.raises(PortalError):
        AuditStore.open("not a url")
