"""The rows that decide anything (promotions, approvals, snapshots and the artifacts' metadata), chained through
their `record written` events: a write records the row it wrote (DecisionRows.record), and every read checks the row
against its newest record (`_recorded` joins it, `_record_problem` says what is wrong, DecisionRows.checked raises
TAMPERED); also the check of an event's MAC under the audit key (`_mac_problem`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, exists, select

from portal.audit import models
from portal.audit.appends import _Chain, _prepared
from portal.audit.chain import RECORD_WRITTEN, StoredRow, content_hash, record_digest, record_name
from portal.audit.database import Database
from portal.audit.keys import AuditKey
from portal.audit.records import NewEvent
from portal.errors import ErrorCode, PortalError

TAMPERED_HINT = (
    "the audit store was changed outside the portal; run `portal audit verify`, and act on nothing it "
    "records until that is explained"
)
SEAL_HINT = "forged, or written before the audit key was set (only then: `portal audit seal` signs the trail as it is)"

RECORD_TABLES = (models.promotions, models.approvals, models.snapshots, models.artifacts)
_NOT_RECORDED = frozenset({"record_seq", "content"})  # an artifact's content is covered by its digest column
_REC = models.events.alias("rec")
_NEWER = models.events.alias("rec_newer")
_EVENT_COLUMNS = tuple(c.name for c in models.events.c)


class DecisionRows:
    """Records and checks rows of the decision tables, for the parts of the store that write and read them."""

    def __init__(self, db: Database):
        self._db = db

    def record(
        self,
        conn: Connection,
        chain: _Chain,
        table: Table,
        where: Any,
        *,
        actor: str,
        actor_verified: bool,
        summary: str,
        environment: str | None = None,
        promotion_id: str | None = None,
        snapshot_id: str | None = None,
    ) -> StoredRow:
        """Append the `record written` event of the row just written (its record_seq set to chain.next_seq) and
        return the row as stored."""
        row = conn.execute(select(*_record_columns(table)).where(where)).mappings().one()
        if row["record_seq"] != chain.next_seq:  # cannot happen while the head is held; never record another seq
            raise PortalError(
                self._db.url_for_display, "a record's seq moved during its write", code=ErrorCode.CONFLICT
            )
        key = _row_key(table, row)
        data = {"table": table.name, "key": key, "digest": record_digest(_row_values(table, row))}
        event = NewEvent(
            kind=RECORD_WRITTEN,
            actor=actor,
            actor_verified=actor_verified,
            environment=environment,
            promotion_id=promotion_id,
            snapshot_id=snapshot_id,
            summary=summary,
            data=data,
        )
        chain.add([(*_prepared(event), record_name(table.name, key))])
        return row

    def checked(self, table: Table, rows: Sequence[StoredRow]) -> None:
        """Raise TAMPERED for the first row that does not match its newest record event."""
        for row in rows:
            problem = _record_problem(table, row, self._db.key)
            if problem is not None:
                raise _tampered(table, _row_key(table, row), problem)

    @staticmethod
    def missing(conn: Connection, table: Table, key: Any) -> None:
        """A row that is not there: TAMPERED when the trail recorded it (it was deleted outside the portal)."""
        events = models.events
        seq = conn.scalar(
            select(events.c.seq)
            .where(events.c.record == record_name(table.name, key))
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        if seq is not None:
            raise _tampered(table, key, f"was recorded in event {seq} but is missing (deleted outside the portal)")


def _record_columns(table: Table) -> list[Any]:
    return [c for c in table.c if c.name != "content"]


def _recorded(table: Table, *, newer: bool = True) -> Any:
    """SELECT of a decision table's rows (all columns) with their record event's columns (rec_*) and whether a
    later record of the same row exists (rec_newer): one outer join, one indexed EXISTS, no query per row."""
    columns: list[Any] = [*table.c, *(_REC.c[name].label(f"rec_{name}") for name in _EVENT_COLUMNS)]
    if newer:
        later = exists().where(_NEWER.c.record == _REC.c.record, _NEWER.c.seq > _REC.c.seq)
        columns.append(later.label("rec_newer"))
    return select(*columns).select_from(table.outerjoin(_REC, _REC.c.seq == table.c.record_seq))


def _row_key(table: Table, row: StoredRow) -> Any:
    """The row's primary key: its value, or the list of its values when it has several columns."""
    values = [row[c.name] for c in table.primary_key.columns]
    return values[0] if len(values) == 1 else values


def _row_values(table: Table, row: StoredRow) -> dict[str, Any]:
    return {c.name: row[c.name] for c in table.c if c.name not in _NOT_RECORDED}


def _row_label(table: Table | str, key: Any) -> str:
    name = table if isinstance(table, str) else table.name
    if isinstance(key, (list, tuple)):
        return f"{name} row ({', '.join(str(k) for k in key)})"
    return f"{name} row {key}"


def _tampered(table: Table | str, key: Any, problem: str) -> PortalError:
    return PortalError(_row_label(table, key), problem, hint=TAMPERED_HINT, code=ErrorCode.TAMPERED)


def _json_or_none(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _mac_problem(event: StoredRow, key: AuditKey | None) -> str | None:
    """What is wrong with an event's MAC under `key` (nothing to check without a key)."""
    if key is None:
        return None
    seq = event["seq"]
    if event["mac"] is None:
        return f"event {seq} is not signed (it has no MAC): {SEAL_HINT}"
    if event["key_id"] != key.key_id:
        return f"event {seq} is signed with another key (id {event['key_id']}; this key's id is {key.key_id})"
    if not key.valid(event["hash"], event["mac"]):
        return f"event {seq}: its MAC is wrong (the event was rewritten by someone without the audit key)"
    return None


def _record_problem(table: Table, row: StoredRow, key: AuditKey | None) -> str | None:
    """What is wrong with a row of a decision table selected by _recorded, or None when it matches its record."""
    seq = row["record_seq"]
    if row["rec_seq"] is None:
        return (
            "has no record in the audit trail"
            + (f" (its record_seq {seq} names no event)" if seq is not None else "")
            + ": it was written outside the portal"
        )
    event = {name: row[f"rec_{name}"] for name in _EVENT_COLUMNS}
    if event["kind"] != RECORD_WRITTEN:
        return f"its record_seq {seq} names a {event['kind']!r} event, not a record of it"
    if content_hash(event) != event["hash"]:
        return f"its record, event {seq}, was edited (its content does not match its hash)"
    data = _json_or_none(event["data"])
    row_key = _row_key(table, row)
    if not isinstance(data, dict) or data.get("table") != table.name or data.get("key") != row_key:
        return f"its record_seq {seq} names the record of another row: it was written outside the portal"
    if data.get("digest") != record_digest(_row_values(table, row)):
        return f"its content differs from what event {seq} recorded (it was changed outside the portal)"
    problem = _mac_problem(event, key)
    if problem is not None:
        return f"its record: {problem}"
    if event["record"] != record_name(table.name, row_key):
        return f"the record column of its record, event {seq}, was altered"
    if row.get("rec_newer"):
        return (
            f"its record, event {seq}, is not its newest one: an older version of the row was put back "
            "(changed outside the portal)"
        )
    return None
