"""Verification of the whole trail in one consistent snapshot (the hash chain and head, the MACs, every decision row
against its newest record, the Git anchors), and the seal that signs, once, the events written before the audit key
was introduced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_, update

from portal.audit import models
from portal.audit.anchors import Anchor, AnchorReading
from portal.audit.appends import _prepared
from portal.audit.chain import (
    AUDIT_SEALED,
    RECORD_WRITTEN,
    ChainChecker,
    record_name,
    sha256_hex,
)
from portal.audit.database import Database
from portal.audit.decision_rows import (
    _EVENT_COLUMNS,
    RECORD_TABLES,
    _json_or_none,
    _mac_problem,
    _record_problem,
    _recorded,
    _row_key,
    _row_label,
)
from portal.audit.keys import AuditKey
from portal.audit.records import NewEvent, VerifyResult
from portal.errors import ErrorCode, PortalError

VERIFY_ARTIFACT_BATCH = 20  # artifacts (with their content) read at a time by verify


class Verification:
    """verify and seal of one store (documented at AuditStore.verify and AuditStore.seal)."""

    def __init__(self, db: Database):
        self._db = db

    def verify(self, *, anchors: AnchorReading | Iterable[Anchor] | None = None, batch_size: int) -> VerifyResult:
        reading = _reading(anchors)
        with self._db.read(snapshot=True) as conn:
            return _verify(conn, self._db.key, reading, batch_size=batch_size).result

    def seal(
        self,
        *,
        anchors: AnchorReading | Iterable[Anchor] | None = None,
        actor: str = "portal",
        actor_verified: bool = False,
        batch_size: int,
    ) -> int:
        if self._db.key is None:
            raise PortalError(
                "portal audit seal",
                "needs the audit key",
                hint="set PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE",
                code=ErrorCode.AUDIT_KEY,
            )
        reading = _reading(anchors)
        table = models.events
        with self._db.recording() as (conn, chain):
            checked = _verify(conn, self._db.key, reading, batch_size=batch_size, sealing=True)
            if not checked.result.ok:
                raise PortalError(
                    "the audit trail",
                    f"is not intact, so it was not sealed: {checked.result.reason}",
                    hint="run `portal audit verify`; sealing now would vouch for what was changed",
                    code=ErrorCode.TAMPERED,
                )
            if not checked.unsigned:
                return 0
            statement = (
                update(table)
                .where(table.c.seq == bindparam("b_seq"))
                .values(mac=bindparam("b_mac"), key_id=bindparam("b_key_id"))
            )
            conn.execute(
                statement,
                [
                    {"b_seq": seq, "b_mac": self._db.key.mac(digest), "b_key_id": self._db.key.key_id}
                    for seq, digest in checked.unsigned
                ],
            )
            through = checked.unsigned[-1][0]
            sealed = NewEvent(
                kind=AUDIT_SEALED,
                actor=actor,
                actor_verified=actor_verified,
                summary=f"{len(checked.unsigned)} events signed with audit key {self._db.key.key_id} "
                f"(through event {through}), after the trail verified intact",
                data={"keyId": self._db.key.key_id, "signed": len(checked.unsigned), "through": through},
            )
            chain.add([(*_prepared(sealed), None)])
        return len(checked.unsigned)


@dataclass
class _Verified:
    result: VerifyResult
    unsigned: list[tuple[int, str]]  # (seq, hash) of the events without a MAC, for seal


def _reading(anchors: AnchorReading | Iterable[Anchor] | None) -> AnchorReading | None:
    if anchors is None or isinstance(anchors, AnchorReading):
        return anchors
    return AnchorReading(tuple(anchors))


def _verify(
    conn: Connection, key: AuditKey | None, reading: AnchorReading | None, *, batch_size: int, sealing: bool = False
) -> _Verified:
    """verify() and seal()'s check, on one connection (a consistent snapshot, or seal's write transaction).
    sealing: events without a MAC are collected, not reported. batch_size: events (and rows) read at a time."""
    table, head = models.events, models.chain_head
    checker = ChainChecker()
    top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    wanted = {a.seq for a in reading.anchors} if reading else set()
    hashes_at: dict[int, str] = {}
    latest: dict[str, tuple[int, str, Any]] = {}  # record name → (seq, table, key) of its newest record
    unsigned: list[tuple[int, str]] = []
    mac_broken: tuple[int, str] | None = None
    column_broken: tuple[int, str] | None = None
    sealed_from: int | None = None  # the first `audit sealed` event of this key: unsigned anchors before it count
    end = 0
    last = 0
    while True:
        rows = (
            conn.execute(select(table).where(table.c.seq > last).order_by(table.c.seq).limit(batch_size))
            .mappings()
            .all()
        )
        if not rows:
            break
        checker.feed(rows)  # remembers the first break; the other checks read on
        for row in rows:
            seq = row["seq"]
            end = seq
            if seq in wanted:
                hashes_at[seq] = row["hash"]
            if key is not None:
                if row["mac"] is None:
                    unsigned.append((seq, row["hash"]))
                if not (sealing and row["mac"] is None):
                    problem = _mac_problem(row, key)
                    if problem is not None and mac_broken is None:
                        mac_broken = (seq, problem)
            data = _json_or_none(row["data"]) if row["kind"] in (RECORD_WRITTEN, AUDIT_SEALED) else None
            if row["kind"] == RECORD_WRITTEN:
                if not isinstance(data, dict) or not isinstance(data.get("table"), str) or "key" not in data:
                    column_broken = column_broken or (seq, f"event {seq} is a record that names no row")
                    continue
                name = record_name(data["table"], data["key"])
                if row["record"] != name and column_broken is None:
                    column_broken = (seq, f"event {seq}: its record column was altered")
                latest[name] = (seq, data["table"], data["key"])
            elif row["record"] is not None and column_broken is None:
                column_broken = (seq, f"event {seq} is no record, but its record column names one")
            if (
                row["kind"] == AUDIT_SEALED
                and key is not None
                and sealed_from is None
                and isinstance(data, dict)
                and data.get("keyId") == key.key_id
            ):
                sealed_from = seq
        last = rows[-1]["seq"]

    problems: list[str] = []
    first_broken: int | None = None
    if top is None:
        broken_reason = "the chain head is missing (the table was altered)" if checker.broken is None else None
        broken = checker.broken
    else:
        broken = checker.finish(top.seq, top.hash)
        broken_reason = None
    if broken is not None:
        problems.append(broken.reason)
        first_broken = broken.seq
    elif broken_reason:
        problems.append(broken_reason)
    later: list[tuple[int, str]] = []
    if mac_broken is not None:
        seq, problem = mac_broken
        count = len(unsigned)
        if count > 1 and not sealing:
            problem += f" ({count} events are not signed)"
        later.append((seq, problem))
    if column_broken is not None:
        later.append(column_broken)

    # Anchors: what the Git notes say the trail was, against what it is.
    anchors_checked, anchored_seq = 0, None
    anchor_problems: list[tuple[int, str]] = []
    for anchor in reading.anchors if reading else ():
        anchors_checked += 1
        where = anchor.where()
        if key is not None:
            if anchor.sig is None:
                # Unsigned anchors from before the key (before its first seal, or while sealing) are compared below.
                if not sealing and (sealed_from is None or anchor.seq >= sealed_from):
                    anchor_problems.append(
                        (anchor.seq, f"{where} is not signed: forged, or written without the audit key")
                    )
                    continue
            elif anchor.key_id != key.key_id:
                anchor_problems.append((anchor.seq, f"{where} is signed with another key (id {anchor.key_id})"))
                continue
            elif not anchor.signature_valid(key):
                anchor_problems.append(
                    (anchor.seq, f"{where}: its signature is wrong (the note was forged or changed)")
                )
                continue
        found = hashes_at.get(anchor.seq)
        if anchor.seq > end:
            anchor_problems.append(
                (
                    anchor.seq,
                    f"{where} vouches for event {anchor.seq}, but the trail ends at "
                    f"event {end}: the trail was truncated",
                )
            )
        elif found is None:
            anchor_problems.append((anchor.seq, f"{where} vouches for event {anchor.seq}, which is missing"))
        elif found != anchor.hash:
            anchor_problems.append(
                (
                    anchor.seq,
                    f"{where} says event {anchor.seq} has hash {anchor.hash[:16]}…, "
                    f"the trail's has {found[:16]}…: the chain was rewritten",
                )
            )
        else:
            anchored_seq = max(anchored_seq or 0, anchor.seq)
    later.extend(anchor_problems)
    later.sort(key=lambda item: item[0])
    if later:
        first_broken = first_broken if first_broken is not None else later[0][0]
        problems.extend(problem for _, problem in later)
    problems.extend(reading.findings if reading else ())

    # Rows of the decision tables: each against its newest record; every row recorded still there.
    rows_checked = 0
    seen: set[str] = set()
    for records in RECORD_TABLES:
        batch = VERIFY_ARTIFACT_BATCH if records is models.artifacts else batch_size
        pk = list(records.primary_key.columns)
        after: Any = None
        while True:
            query = _recorded(records, newer=False).order_by(*pk).limit(batch)
            if after is not None:
                query = query.where(tuple_(*pk) > tuple_(*after) if len(pk) > 1 else pk[0] > after[0])
            rows = conn.execute(query).mappings().all()
            if not rows:
                break
            for row in rows:
                rows_checked += 1
                row_key = _row_key(records, row)
                name = record_name(records.name, row_key)
                seen.add(name)
                problem = None
                if records is models.artifacts and sha256_hex(bytes(row["content"])) != row["digest"]:
                    problem = "its content does not match its digest (changed outside the portal)"
                problem = problem or _record_problem(records, row, None if sealing else key)
                if problem is None and sealing:
                    problem = (
                        _mac_problem({name_: row[f"rec_{name_}"] for name_ in _EVENT_COLUMNS}, key)
                        if row["rec_mac"] is not None
                        else None
                    )
                newest = latest.get(name)
                if problem is None and newest is not None and newest[0] != row["record_seq"]:
                    problem = (
                        f"its record, event {row['record_seq']}, is not its newest one (event {newest[0]} "
                        "recorded it later): an older version was put back"
                    )
                if problem is not None:
                    problems.append(f"{_row_label(records, row_key)}: {problem}")
            after = [rows[-1][c.name] for c in pk]
    names = {t.name for t in RECORD_TABLES}
    for name, (seq, table_name, row_key) in latest.items():
        if name not in seen and table_name in names:
            problems.append(
                f"{_row_label(table_name, row_key)}: recorded in event {seq} but missing (deleted outside the portal)"
            )

    result = VerifyResult(
        ok=not problems,
        checked=checker.checked,
        first_broken=first_broken if problems else None,
        reason=problems[0] if problems else None,
        rows_checked=rows_checked,
        anchors_checked=anchors_checked,
        signed=key is not None,
        key_id=key.key_id if key else None,
        unsigned=len(unsigned),
        anchored_seq=anchored_seq,
        problems=tuple(problems),
    )
    return _Verified(result, unsigned)
