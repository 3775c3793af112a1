"""What the audit trail proves against someone who can write its database: on SQLite and on the PostgreSQL server at
127.0.0.1:5432 (the fixtures of test_audit_store), with real Git repositories for the anchors.

- Decision rows (promotions, approvals, snapshots, artifacts) are chained: each write appends a `record written`
  event in its transaction; a row forged, edited, put back at an older version or deleted with SQL is refused by the
  reads (TAMPERED) and named by verify; an artifact's content is rechecked when it is served.
- With the audit key every event is signed: a re-hashed chain, or a forged record with a re-hashed chain, is found;
  the key is never stored; seal signs an existing trail once (trust on first use).
- Anchors in Git notes find a re-hashed chain and a truncated trail without the key; a forged note is found with it
  (notes from before the key count once the trail is sealed); a malformed note is a finding; pushed notes still tell
  after the local ones were rewritten (`portal audit verify --remote`).
- Migration 0002 backfills the records of a store made at revision 0001, verifiably.
- The CLI: `portal audit verify` with anchors, after truncation; `portal audit artifact` of edited content.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import git
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

import portal.audit.store as store_module
from portal import promotion_cli
from portal.audit import (
    AUDIT_KEY_ENV,
    AUDIT_KEY_FILE_ENV,
    Approval,
    AuditKey,
    AuditStore,
    NewEvent,
    Snapshot,
    audit_key_from_environment,
    event_hash,
    fetch_anchors,
    push_anchors,
    read_anchors,
    write_anchor,
)
from portal.audit.anchors import NOTES, Anchor
from portal.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    canonical_json,
    record_digest,
    record_name,
)
from portal.cli import main
from portal.errors import PortalError
from portal.usecases.promotions import promote
from tests.test_audit_store import event, promotion, raw, sql, store_url  # noqa: F401 - fixtures
from tests.test_promotions import ALICE, promotions, repo  # noqa: F401 - fixtures (a promoted repository)

KEY = "k3y-for-tests-only-7f3a9c1e5b2d8f4a6c0e9b7d"
OTHER_KEY = "another-key-for-tests-only-0123456789abcdef"


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch):
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    monkeypatch.delenv(AUDIT_KEY_FILE_ENV, raising=False)


@pytest.fixture
def store(store_url):  # noqa: F811 - the fixture imported above
    opened = AuditStore.open(store_url, key=None)
    yield opened
    opened.close()


@pytest.fixture
def keyed(store_url):  # noqa: F811
    opened = AuditStore.open(store_url, key=KEY)
    yield opened
    opened.close()


@pytest.fixture
def git_repo(tmp_path, monkeypatch):
    """A Git repository with one commit, and no committer identity anywhere (the notes need the portal's own)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    repository = git.Repo.init(root)
    (root / "README.md").write_text("data\n")
    repository.index.add(["README.md"])
    actor = git.Actor("Dana", "dana@retail.example")
    repository.index.commit("first", author=actor, committer=actor)
    repository.close()
    return root


def head_commit(root: Path) -> str:
    with git.Repo(root) as repository:
        return repository.head.commit.hexsha


def fill_decisions(store, approvals=("bob",)) -> None:
    """A snapshot, an artifact, a promotion of it (updated once) and approvals, with events around them."""
    store.append(event(1))
    store.put_snapshot(Snapshot("s1", "abc123", "t" * 64, None, "2026-05-01T09:00:00.000+00:00", "ann"), actor="ann")
    store.put_artifact(b'{"resources": []}', media_type="application/json", name="ARMTemplateForFactory.json")
    store.create_promotion(promotion("P1", environment="prod"), actor="ann")
    for n, who in enumerate(approvals):
        store.add_approval(Approval("P1", who, "approve", "ok", f"2026-05-01T10:0{n + 1}:00.000+00:00"), actor=who)
    store.update_promotion("P1", 1, status="approved", actor="bob")
    store.append(event(2))


def rehash(engine, seq: int, **changes) -> None:
    """What someone who can write the database but has no key does: change event `seq`, recompute its hash and
    every later one (and their links), and move the head to match."""
    with engine.begin() as conn:
        prev = conn.scalar(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq - 1}) or GENESIS_HASH
        rows = conn.execute(text("SELECT * FROM audit_events WHERE seq >= :s ORDER BY seq"), {"s": seq}).mappings()
        for row in list(rows):
            fields = {name: row[name] for name in HASHED_FIELDS}
            fields["data"] = json.loads(row["data"])
            fields["actor_verified"] = bool(row["actor_verified"])
            if row["seq"] == seq:
                fields.update(changes)
            fields["prev_hash"] = prev
            digest = event_hash(fields)
            conn.execute(
                text(
                    "UPDATE audit_events SET summary = :summary, actor = :actor, data = :data, "
                    "prev_hash = :prev, hash = :hash WHERE seq = :seq"
                ),
                {
                    "summary": fields["summary"],
                    "actor": fields["actor"],
                    "prev": prev,
                    "hash": digest,
                    "data": canonical_json(fields["data"]),
                    "seq": row["seq"],
                },
            )
            prev = digest
        conn.execute(text("UPDATE audit_chain_head SET hash = :h WHERE id = 1"), {"h": prev})


def forge_record(engine, table: str, key, values: dict) -> int:
    """A forger's `record written` event for a row, properly chained and hashed, the head moved; returns its seq."""
    with engine.begin() as conn:
        top = conn.execute(text("SELECT seq, hash FROM audit_chain_head WHERE id = 1")).one()
        at = conn.scalar(text("SELECT at FROM audit_events WHERE seq = :s"), {"s": top.seq})
        data = {"table": table, "key": key, "digest": record_digest(values)}
        fields = {
            "seq": top.seq + 1,
            "at": at,
            "kind": "record written",
            "actor": "rita",
            "actor_verified": True,
            "environment": "prod",
            "promotion_id": "P1",
            "snapshot_id": "s1",
            "summary": "approve by rita",
            "data": data,
            "prev_hash": top.hash,
        }
        digest = event_hash(fields)
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, at, kind, actor, actor_verified, environment, promotion_id, "
                "snapshot_id, summary, data, prev_hash, hash, record) VALUES (:seq, :at, :kind, :actor, "
                ":actor_verified, :environment, :promotion_id, :snapshot_id, :summary, :data, :prev_hash, "
                ":hash, :record)"
            ),
            {**fields, "data": canonical_json(data), "hash": digest, "record": record_name(table, key)},
        )
        conn.execute(
            text("UPDATE audit_chain_head SET seq = :s, hash = :h WHERE id = 1"), {"s": top.seq + 1, "h": digest}
        )
    return top.seq + 1


def tampered(call) -> PortalError:
    with pytest.raises(PortalError) as raised:
        call()
    assert raised.value.code == "TAMPERED", raised.value
    assert "portal audit verify" in str(raised.value)
    return raised.value


# --- records -------------------------------------------------------------------------------------------------------


def test_every_decision_row_is_recorded_in_the_chain_in_its_own_transaction(store, raw):  # noqa: F811
    fill_decisions(store)

    records = [e for e in store.events(kind="record written", newest_first=False, limit=100)]
    assert [(e.data["table"], e.data["key"]) for e in records] == [
        ("audit_snapshots", "s1"),
        ("audit_artifacts", records[1].data["key"]),
        ("audit_promotions", "P1"),
        ("audit_approvals", ["P1", "bob"]),
        ("audit_promotions", "P1"),
    ]
    assert [e.actor for e in records] == ["ann", "portal", "ann", "bob", "bob"]
    assert records[-1].summary == "promotion P1: status approved (version 2)"
    assert (records[-1].environment, records[-1].promotion_id, records[-1].snapshot_id) == ("prod", "P1", "s1")
    assert records[3].summary == "promotion P1: approve by bob"
    with raw.connect() as conn:
        row = conn.execute(text("SELECT * FROM audit_promotions WHERE id = 'P1'")).mappings().one()
    values = {k: (bool(v) if k == "is_rollback" else v) for k, v in row.items() if k != "record_seq"}
    assert row["record_seq"] == records[-1].seq
    assert records[-1].data["digest"] == record_digest(values)

    result = store.verify()
    assert (result.ok, result.rows_checked, result.checked) == (True, 4, store.count_events())
    with pytest.raises(PortalError) as raised:
        store.append(NewEvent(kind="record written", actor="x", actor_verified=False, data={"table": "t"}))
    assert raised.value.code == "AUDIT_DATA"  # only the store writes records


def test_a_row_inserted_without_a_record_is_refused_by_the_schema(store, raw):  # noqa: F811
    fill_decisions(store)
    with pytest.raises(IntegrityError):
        sql(
            raw,
            "INSERT INTO audit_approvals (promotion_id, actor, decision, comment, at) "
            "VALUES ('P1', 'mallory', 'approve', '', '2026-05-01T10:05:00.000+00:00')",
        )


def test_a_forged_approval_row_is_refused_and_named(store, raw):  # noqa: F811
    fill_decisions(store)
    assert [a.actor for a in store.approvals("P1")] == ["bob"]
    promotion_record = store.events(kind="record written", promotion_id="P1", limit=1)[0].seq
    sql(
        raw,
        "INSERT INTO audit_approvals (promotion_id, actor, decision, comment, at, record_seq) "
        "VALUES ('P1', 'mallory', 'approve', 'lgtm', '2026-05-01T10:05:00.000+00:00', :seq)",
        seq=promotion_record,
    )

    error = tampered(lambda: store.approvals("P1"))
    assert error.where == "audit_approvals row (P1, mallory)"
    assert "names the record of another row" in error.what

    result = store.verify()
    assert not result.ok and result.first_broken is None
    assert any(p.startswith("audit_approvals row (P1, mallory): ") for p in result.problems), result.problems
    assert store.verify().checked == store.count_events()  # the chain itself is intact


def test_a_forged_approval_with_a_forged_record_is_found_with_the_key(keyed, raw):  # noqa: F811
    fill_decisions(keyed, approvals=())
    values = {
        "promotion_id": "P1",
        "actor": "rita",
        "decision": "approve",
        "comment": "",
        "at": "2026-05-01T10:05:00.000+00:00",
    }
    seq = forge_record(raw, "audit_approvals", ["P1", "rita"], values)
    sql(
        raw,
        "INSERT INTO audit_approvals (promotion_id, actor, decision, comment, at, record_seq) "
        "VALUES (:promotion_id, :actor, :decision, :comment, :at, :seq)",
        **values,
        seq=seq,
    )

    error = tampered(lambda: keyed.approvals("P1"))
    assert f"event {seq} is not signed" in error.what

    result = keyed.verify()
    assert (result.ok, result.first_broken) == (False, seq)
    assert result.reason.startswith(f"event {seq} is not signed")
    assert any(p.startswith("audit_approvals row (P1, rita): its record: ") for p in result.problems)
    # Without the key the same forgery cannot be told from a real approval: that is what the key is for.
    with AuditStore.open(keyed.url_for_display, key=None) as unkeyed:
        assert [a.actor for a in unkeyed.approvals("P1")] == ["rita"]


@pytest.mark.parametrize(("column", "value"), [("status", "succeeded"), ("approvals_required", 0)])
def test_a_promotion_edited_with_sql_is_refused(store, raw, column, value):  # noqa: F811
    fill_decisions(store)
    sql(raw, f"UPDATE audit_promotions SET {column} = :value WHERE id = 'P1'", value=value)

    error = tampered(lambda: store.promotion("P1"))
    assert error.where == "audit_promotions row P1"
    assert "differs from what event" in error.what
    tampered(lambda: store.promotions(environment="prod"))
    if column == "status":
        tampered(lambda: store.last_succeeded("prod"))
    # The next write does not record the edited row as if the portal had written it.
    tampered(lambda: store.update_promotion("P1", 2, status="running"))
    assert any(p.startswith("audit_promotions row P1: its content differs") for p in store.verify().problems)


def test_an_older_version_put_back_is_refused(store, raw):  # noqa: F811
    fill_decisions(store)
    first = store.events(kind="record written", promotion_id="P1", newest_first=False, limit=10)
    created = next(e for e in first if e.data["table"] == "audit_promotions")
    sql(
        raw,
        "UPDATE audit_promotions SET status = 'awaiting approval', version = 1, record_seq = :seq WHERE id = 'P1'",
        seq=created.seq,
    )

    error = tampered(lambda: store.promotion("P1"))
    assert "not its newest one" in error.what
    result = store.verify()
    assert any("audit_promotions row P1" in p and "not its newest one" in p for p in result.problems)


def test_deleted_recorded_rows_are_named(store, raw):  # noqa: F811
    fill_decisions(store, approvals=("bob", "cid"))
    sql(raw, "DELETE FROM audit_approvals WHERE actor = 'cid'")

    error = tampered(lambda: store.approvals("P1"))
    assert error.where == "audit_approvals row (P1, cid)" and "missing (deleted" in error.what
    result = store.verify()
    assert not result.ok
    assert any(
        p.startswith("audit_approvals row (P1, cid): recorded in event") and "missing" in p for p in result.problems
    ), result.problems

    sql(raw, "DELETE FROM audit_approvals")
    sql(raw, "DELETE FROM audit_promotions")
    assert tampered(lambda: store.promotion("P1")).where == "audit_promotions row P1"
    assert any(p.startswith("audit_promotions row P1: recorded in event") for p in store.verify().problems)


def test_an_artifact_whose_content_was_edited_is_refused(store, raw):  # noqa: F811
    content = b'{"resources": [1]}'
    digest = store.put_artifact(content, media_type="application/json", name="ARMTemplateForFactory.json")
    assert store.artifact(digest) == (content, "application/json", "ARMTemplateForFactory.json")

    sql(raw, "UPDATE audit_artifacts SET content = :c WHERE digest = :d", c=b'{"resources": [2]}', d=digest)

    error = tampered(lambda: store.artifact(digest))
    assert error.where == f"audit_artifacts row {digest}"
    assert "content does not match its digest" in error.what
    assert any(p.startswith(f"audit_artifacts row {digest}: its content") for p in store.verify().problems)

    sql(raw, "UPDATE audit_artifacts SET content = :c, name = 'other.json' WHERE digest = :d", c=content, d=digest)
    assert "differs from what event" in tampered(lambda: store.artifact(digest)).what  # metadata is recorded too


# --- the key -------------------------------------------------------------------------------------------------------


def test_a_rehashed_chain_passes_without_the_key_and_is_found_with_it(keyed, raw, store_url):  # noqa: F811
    keyed.append_many([event(i) for i in range(1, 6)])
    assert keyed.verify().ok and keyed.verify().signed
    assert all(e.mac and e.key_id == AuditKey(KEY).key_id for e in keyed.events(limit=10))

    rehash(raw, 3, summary="nothing happened")

    with AuditStore.open(store_url, key=None) as unkeyed:
        assert unkeyed.verify().ok  # hashes alone do not tell
    result = keyed.verify()
    assert (result.ok, result.checked, result.first_broken) == (False, 5, 3)
    assert result.reason == "event 3: its MAC is wrong (the event was rewritten by someone without the audit key)"
    with AuditStore.open(store_url, key=OTHER_KEY) as other:
        assert "signed with another key" in other.verify().reason


def test_the_key_comes_from_the_environment_and_is_never_stored(store_url, tmp_path, monkeypatch):  # noqa: F811
    assert audit_key_from_environment() is None
    monkeypatch.setenv(AUDIT_KEY_ENV, "too-short")
    with pytest.raises(PortalError) as raised:
        AuditStore.open(store_url)
    assert raised.value.code == "AUDIT_KEY" and "at least 32" in raised.value.what
    assert "too-short" not in str(raised.value)

    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv(AUDIT_KEY_FILE_ENV, str(key_file))
    with pytest.raises(PortalError) as raised:
        audit_key_from_environment()
    assert "both set" in raised.value.what
    monkeypatch.delenv(AUDIT_KEY_ENV)
    assert audit_key_from_environment().key_id == AuditKey(KEY).key_id

    with AuditStore.open(store_url) as opened:  # the default: the environment's key
        assert opened.key.key_id == AuditKey(KEY).key_id and KEY not in repr(opened.key)
        fill_decisions(opened)
        assert opened.verify().signed and opened.verify().ok
        dumped = json.dumps([e.as_json() for e in opened.events(limit=100)])
    assert KEY not in dumped
    if store_url.startswith("sqlite"):
        path = Path(store_url.split(":///", 1)[1])
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert KEY.encode() not in stored
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(AuditKey(KEY))


def test_seal_signs_an_existing_trail_once_and_verify_then_passes(store, store_url, raw):  # noqa: F811
    fill_decisions(store)
    count = store.count_events()
    with AuditStore.open(store_url, key=KEY) as keyed:
        result = keyed.verify()
        assert (result.ok, result.first_broken, result.unsigned) == (False, 1, count)
        assert result.reason.startswith("event 1 is not signed (it has no MAC)")
        assert "not signed" in tampered(lambda: keyed.promotion("P1")).what  # records need a MAC too

        assert keyed.seal(actor="ada") == count
        sealed = keyed.events(limit=1)[0]
        assert (sealed.kind, sealed.actor, sealed.data["signed"]) == ("audit sealed", "ada", count)
        result = keyed.verify()
        assert (result.ok, result.unsigned, result.checked) == (True, 0, count + 1)
        assert keyed.promotion("P1").status == "approved"
        assert keyed.seal() == 0  # nothing left to sign

    with pytest.raises(PortalError) as raised:
        store.seal()
    assert raised.value.code == "AUDIT_KEY"


def test_seal_refuses_a_trail_that_is_not_intact(store, store_url, raw):  # noqa: F811
    fill_decisions(store)
    sql(raw, "UPDATE audit_events SET summary = 'edited' WHERE seq = 2")
    with AuditStore.open(store_url, key=KEY) as keyed:
        with pytest.raises(PortalError) as raised:
            keyed.seal()
        assert raised.value.code == "TAMPERED" and "event 2" in raised.value.what
        assert keyed.verify().unsigned == store.count_events()  # nothing was signed


# --- anchors -------------------------------------------------------------------------------------------------------


def test_an_anchor_finds_a_rehashed_chain_without_the_key(store, raw, git_repo):  # noqa: F811
    fill_decisions(store)
    commit = head_commit(git_repo)
    written = write_anchor(git_repo, commit, store.anchor(promotion="P1", environment="prod"), key=None)
    assert (written.commit, written.seq, written.sig) == (commit, store.count_events(), None)
    with git.Repo(git_repo) as repository:  # written with the portal's identity: the repository has none
        assert repository.git.log("-1", "--format=%cn", f"refs/notes/{NOTES}") == "portal"

    reading = read_anchors(git_repo)
    assert reading.anchors == (written,) and reading.findings == ()
    result = store.verify(anchors=reading)
    assert (result.ok, result.anchors_checked, result.anchored_seq) == (True, 1, written.seq)

    rehash(raw, 2, summary="nothing happened")
    assert store.verify().ok  # without the key and without the anchor, the rewrite does not show
    result = store.verify(anchors=read_anchors(git_repo))
    assert not result.ok and result.first_broken == written.seq
    assert result.reason.startswith(
        f"the anchor on commit {commit[:12]} (event {written.seq}, promotion P1) says event {written.seq} has hash"
    )
    assert result.reason.endswith("the chain was rewritten")


def test_an_anchor_finds_a_truncated_trail(store, raw, git_repo):  # noqa: F811
    fill_decisions(store)
    anchor = write_anchor(git_repo, head_commit(git_repo), store.anchor(promotion="P1", environment="prod"), key=None)
    for table in ("audit_approvals", "audit_promotions", "audit_snapshots", "audit_artifacts", "audit_events"):
        sql(raw, f"DELETE FROM {table}")
    sql(raw, "UPDATE audit_chain_head SET seq = 0, hash = :h WHERE id = 1", h=GENESIS_HASH)

    assert store.verify() == store_module.VerifyResult(True, 0, None, None)  # the hole an anchor closes
    result = store.verify(anchors=read_anchors(git_repo))
    assert (result.ok, result.checked, result.first_broken) == (False, 0, anchor.seq)
    assert result.reason == (
        f"the anchor on commit {anchor.commit[:12]} (event {anchor.seq}, promotion P1) vouches "
        f"for event {anchor.seq}, but the trail ends at event 0: the trail was truncated"
    )


def test_a_forged_anchor_is_found_with_the_key_and_a_malformed_note_is_a_finding(keyed, git_repo):  # noqa: F811
    fill_decisions(keyed)
    commit = head_commit(git_repo)
    signed = write_anchor(git_repo, commit, keyed.anchor(promotion="P1", environment="prod"), key=KEY)
    assert signed.sig and signed.key_id == keyed.key.key_id and signed.mac == keyed.head()[2]
    assert keyed.verify(anchors=read_anchors(git_repo)).ok

    seq, digest, _ = keyed.head()
    forged = Anchor(seq=seq + 5, hash=digest, promotion="P9", environment="prod", at="2026-05-02T00:00:00.000+00:00")
    write_anchor(git_repo, commit, forged, key=None)
    with git.Repo(git_repo) as repository:
        repository.git.notes(
            f"--ref={NOTES}",
            "append",
            "-m",
            "{not an anchor",
            commit,
            env={
                "GIT_AUTHOR_NAME": "m",
                "GIT_AUTHOR_EMAIL": "m@x",
                "GIT_COMMITTER_NAME": "m",
                "GIT_COMMITTER_EMAIL": "m@x",
            },
        )
    tampered_sig = Anchor(**{**signed.__dict__, "environment": "dev", "commit": None})
    write_anchor(git_repo, commit, tampered_sig, key=None)

    reading = read_anchors(git_repo)
    assert len(reading.anchors) == 3
    assert reading.findings == (f"the note on commit {commit[:12]}, line 5, is not an anchor: not JSON",)
    result = keyed.verify(anchors=reading)
    assert not result.ok and result.anchors_checked == 3
    assert any(
        p.startswith(f"the anchor on commit {commit[:12]} (event {seq + 5}, promotion P9) is not signed")
        for p in result.problems
    ), result.problems
    assert any(p.endswith("its signature is wrong (the note was forged or changed)") for p in result.problems)
    assert reading.findings[0] in result.problems


def test_anchors_written_before_the_key_count_after_the_seal_and_later_unsigned_ones_do_not(store, store_url, git_repo):  # noqa: F811
    fill_decisions(store)
    commit = head_commit(git_repo)
    before = write_anchor(git_repo, commit, store.anchor(promotion="P1", environment="prod"), key=None)
    count = store.count_events()
    with AuditStore.open(store_url, key=KEY) as keyed:
        assert keyed.seal(anchors=read_anchors(git_repo)) == count
        result = keyed.verify(anchors=read_anchors(git_repo))
        assert (result.ok, result.anchors_checked, result.anchored_seq) == (True, 1, before.seq)

        keyed.append(event(3))
        write_anchor(git_repo, commit, keyed.anchor(promotion="P2", environment="prod"), key=None)  # no sig
        result = keyed.verify(anchors=read_anchors(git_repo))
        assert not result.ok
        assert result.reason == (
            f"the anchor on commit {commit[:12]} (event {count + 2}, promotion P2) is not "
            "signed: forged, or written without the audit key"
        )


def test_pushed_anchors_still_tell_after_the_local_notes_were_rewritten(
    store,
    raw,
    git_repo,
    tmp_path,  # noqa: F811
    capsys,
):
    fill_decisions(store)
    remote = tmp_path / "remote.git"
    git.Repo.init(remote, bare=True).close()
    with git.Repo(git_repo) as repository:
        repository.create_remote("origin", str(remote))
    write_anchor(git_repo, head_commit(git_repo), store.anchor(promotion="P1", environment="prod"), key=None)
    push_anchors(git_repo, "origin")

    rehash(raw, 2, summary="nothing happened")
    with git.Repo(git_repo) as repository:  # the same person rewrites the local notes to match (here: removes them)
        repository.git.update_ref("-d", f"refs/notes/{NOTES}")
    assert read_anchors(git_repo).anchors == ()

    fetched = fetch_anchors(git_repo, "origin")
    result = store.verify(anchors=read_anchors(git_repo, ref=fetched))
    assert not result.ok and result.reason.endswith("the chain was rewritten")

    assert promotion_cli._verify(store, git_repo, None) == 0  # the local notes alone no longer tell
    capsys.readouterr()
    assert promotion_cli._verify(store, git_repo, "origin") == 1  # `portal audit verify --remote origin`
    assert capsys.readouterr().err.rstrip().endswith("the chain was rewritten")


# --- migration 0002 ------------------------------------------------------------------------------------------------


def test_migration_0002_backfills_records_of_a_store_made_at_0001(store_url):  # noqa: F811
    engine = create_engine(store_url)
    try:
        store_module._upgrade(engine, None, "0001")
        at = "2026-05-01T10:00:00.000+00:00"
        prev = GENESIS_HASH
        with engine.begin() as conn:
            for seq in (1, 2):
                fields = {
                    "seq": seq,
                    "at": at,
                    "kind": "promotion requested",
                    "actor": "ann",
                    "actor_verified": True,
                    "environment": "prod",
                    "promotion_id": "P1",
                    "snapshot_id": "s1",
                    "summary": f"old {seq}",
                    "data": {"n": seq},
                    "prev_hash": prev,
                }
                prev = event_hash(fields)
                conn.execute(
                    text(
                        "INSERT INTO audit_events (seq, at, kind, actor, actor_verified, environment, "
                        "promotion_id, snapshot_id, summary, data, prev_hash, hash) VALUES (:seq, :at, "
                        ":kind, :actor, :actor_verified, :environment, :promotion_id, :snapshot_id, "
                        ":summary, :data, :prev_hash, :hash)"
                    ),
                    {**fields, "data": canonical_json(fields["data"]), "hash": prev},
                )
            conn.execute(text("UPDATE audit_chain_head SET seq = 2, hash = :h WHERE id = 1"), {"h": prev})
            conn.execute(
                text("INSERT INTO audit_snapshots VALUES ('s1', 'abc123', :t, NULL, :at, 'ann')"),
                {"t": "t" * 64, "at": at},
            )
            conn.execute(
                text("INSERT INTO audit_artifacts VALUES (:d, 'application/json', 'a.json', 2, :c, :at)"),
                {"d": store_module.sha256_hex(b"{}"), "c": b"{}", "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO audit_promotions VALUES ('P1', 'prod', 's1', 'awaiting approval', 'ann', "
                    ":at, :f, NULL, NULL, '{}', NULL, NULL, NULL, NULL, 1, 1, NULL)"
                ),
                {"at": at, "f": False},
            )
            conn.execute(text("INSERT INTO audit_approvals VALUES ('P1', 'bob', 'approve', 'ok', :at)"), {"at": at})
    finally:
        engine.dispose()

    with AuditStore.open(store_url, key=KEY) as upgraded:  # runs 0002, signing the records it backfills
        records = upgraded.events(kind="record written", newest_first=False, limit=10)
        assert [(e.seq, e.data["table"], e.data["migration"]) for e in records] == [
            (3, "audit_snapshots", "0002"),
            (4, "audit_artifacts", "0002"),
            (5, "audit_promotions", "0002"),
            (6, "audit_approvals", "0002"),
        ]
        assert all(e.mac and e.prev_hash == upgraded.event(e.seq - 1).hash for e in records)
        assert upgraded.head()[:2] == (6, records[-1].hash)
        assert upgraded.promotion("P1").status == "awaiting approval"
        assert [a.actor for a in upgraded.approvals("P1")] == ["bob"]
        assert upgraded.snapshot("s1").source_commit == "abc123"
        assert upgraded.artifact(store_module.sha256_hex(b"{}"))[0] == b"{}"
        result = upgraded.verify()
        assert (result.ok, result.first_broken, result.unsigned) == (False, 1, 2)  # the old events: seal them
        assert upgraded.seal() == 2
        result = upgraded.verify()
        assert (result.ok, result.rows_checked, result.checked) == (True, 4, 7)
    with AuditStore.open(store_url, key=None) as plain:
        assert plain.verify().ok
    engine = create_engine(store_url)
    try:
        with pytest.raises(IntegrityError):  # record_seq is NOT NULL now
            sql(
                engine,
                "INSERT INTO audit_approvals (promotion_id, actor, decision, comment, at) "
                "VALUES ('P1', 'eve', 'approve', '', :at)",
                at=at,
            )
    finally:
        engine.dispose()
    if store_url.startswith("sqlite"):  # the batch copy kept the foreign keys and the check
        with sqlite3.connect(store_url.split(":///", 1)[1]) as db:
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []
            schema = db.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_approvals'").fetchone()[0]
            assert "REFERENCES audit_promotions" in schema and "decision IN ('approve', 'reject')" in schema


# --- the CLI, on a promotion of a real repository ------------------------------------------------------------------


def test_the_cli_verifies_against_anchors_and_refuses_an_edited_artifact(
    repo,
    promotions,
    tmp_path,  # noqa: F811
    capsys,
):
    done = promote(promotions, "dev", ALICE)
    commit = promotions.store.snapshot(done.snapshot_id).source_commit
    # The promotion service notes the trail's head on the promoted commit when the promotion finishes.
    anchors = read_anchors(repo).anchors
    assert [(a.promotion, a.environment, a.commit) for a in anchors] == [(done.id, "dev", commit)]
    anchor = anchors[0]
    capsys.readouterr()
    assert main(["audit", "verify", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert f"audit trail intact: {promotions.store.count_events()} events hash-chained" in out
    assert "1 Git anchors matched" in out
    assert "no audit key" in out and f"except up to the newest Git anchor (event {anchor.seq})" in out

    requested = promotions.store.events(promotion_id=done.id, kind="promotion requested")[0]
    digest = requested.data["artifacts"]["template"]
    engine = create_engine(promotions.store.url_for_display)
    try:
        sql(engine, "UPDATE audit_artifacts SET content = :c WHERE digest = :d", c=b'{"resources": []}', d=digest)
        capsys.readouterr()
        assert main(["audit", "artifact", digest, "--repo", str(repo), "--out", str(tmp_path / "t.json")]) == 1
        err = capsys.readouterr().err
        assert f"audit_artifacts row {digest}: its content does not match its digest" in err
        assert "portal audit verify" in err and not (tmp_path / "t.json").exists()

        # Truncated: every event and row gone, the head back at the start. Without the anchor this was "intact".
        for table in (
            "audit_approvals",
            "audit_promotions",
            "audit_snapshots",
            "audit_artifacts",
            "audit_events",
            "audit_locks",
        ):
            sql(engine, f"DELETE FROM {table}")
        sql(engine, "UPDATE audit_chain_head SET seq = 0, hash = :h WHERE id = 1", h=GENESIS_HASH)
    finally:
        engine.dispose()
    assert main(["audit", "verify", "--repo", str(repo)]) == 1
    err = capsys.readouterr().err
    assert f"audit trail BROKEN at event {anchor.seq}: the anchor on commit {commit[:12]}" in err
    assert err.rstrip().endswith("the trail was truncated")
