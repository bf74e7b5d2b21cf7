"""The hash-chained audit log: appending entries, and the canonical form their hashes cover.

`append(session, ...)` queues an entry on the caller's session; it is sealed into the chain as
that transaction commits (a `before_commit` hook), so the record and its audit entry commit
together or not at all. Sealing locks the one-row chain head (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite writers are already serialised by `BEGIN IMMEDIATE`), gives each entry the
next `seq`, the previous entry's hash as `prev_hash`, and its own `entry_hash`, then moves the
head. Taking that lock last, when the transaction's own work is done, keeps it short and means
it can never be part of a lock-order deadlock with the rows the transaction touched before.
A unique index on `seq` makes a fork impossible even if the lock were bypassed.

Entries about stored records pass `record=row`: the entry then carries the row's fingerprint
(`carestore.audit_records`), computed after the flush that gives the row its id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction

from carestore.audit_hash import canonical_json, json_ready, sha256_hex, timestamp
from carestore.audit_records import fingerprint, kind_of
from carestore.escalation_models import AuditChainHeadRow, AuditRow
from carestore.timeutil import utcnow

GENESIS_HASH = "0" * 64  # the prev_hash of entry 1
# written once by the migration that started the chain: data["recorded_before_chain"] holds,
# per covered table, the last id written before records were chained (those have no entry)
CHAIN_STARTED = "audit_chain_started"
HEAD_ID = 1
_PENDING = "carestore.audit_chain.pending"


class ChainError(RuntimeError):
    """The chain cannot be extended (its head row is missing)."""


@dataclass(frozen=True)
class ChainFields:
    """Everything an entry's hash covers."""

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    customer_id: int | None
    data: dict[str, Any] | None
    prev_hash: str

    def canonical(self) -> bytes:
        """The sorted-key JSON the hash is taken over."""
        return canonical_json(
            {
                "seq": self.seq,
                "at": timestamp(self.at),
                "actor": self.actor,
                "action": self.action,
                "entity": self.entity,
                "entity_id": self.entity_id,
                "customer_id": self.customer_id,
                "data": self.data,
                "prev_hash": self.prev_hash,
            }
        )

    def digest(self) -> str:
        """The entry's hash: SHA-256 of `canonical()`."""
        return sha256_hex(self.canonical())


def row_fields(row: AuditRow) -> ChainFields:
    """The hashed fields of a stored entry, as they are now."""
    return ChainFields(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        customer_id=row.customer_id,
        data=row.data,
        prev_hash=row.prev_hash,
    )


@dataclass
class _Draft:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    customer_id: int | None
    data: dict[str, Any] | None
    record: Any


def _checked(name: str, value: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ValueError(f"every audit entry needs {name}")
    if len(value) > limit:
        raise ValueError(f"audit {name} {value[:40]!r}... is longer than {limit} characters")
    return value


def append(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None = None,
    customer_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    record: Any = None,
) -> None:
    """Queue an audit entry in `session`'s transaction; it joins the chain when that commits.

    `record`: a stored row the entry is about (a transcript segment, an escalation event, an
    agent note, a ticket status change); its fingerprint is added as `data["record"]`, and
    `entity_id` defaults to its id. Raises ValueError for a missing actor or non-JSON data.
    """
    if not actor or not actor.strip():
        raise ValueError("every audited change needs an actor (who made it)")
    draft = _Draft(
        at=utcnow(),
        actor=actor.strip()[:200],
        action=_checked("an action", action, 64),
        entity=_checked("an entity", entity, 32),
        entity_id=entity_id,
        customer_id=customer_id,
        data=json_ready("audit data", dict(data)) if data else None,
        record=record,
    )
    if record is not None:
        kind_of(record)  # a table without fingerprint rules is refused now, not at commit
    session.info.setdefault(_PENDING, []).append(draft)


def pending_count(session: Session) -> int:
    """How many entries wait for this session's commit."""
    return len(session.info.get(_PENDING, ()))


def chain_head(session: Session, *, lock: bool = False) -> AuditChainHeadRow | None:
    """The chain head row (locked until the transaction ends with `lock`)."""
    query = select(AuditChainHeadRow).where(AuditChainHeadRow.id == HEAD_ID)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


# built once: sealing runs in every audited transaction (each transcript segment)
_HEAD = AuditChainHeadRow.__table__
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_INSERT_ENTRY = insert(AuditRow.__table__)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"), updated_at=bindparam("now"))
)


def seal(session: Session) -> int:
    """Chain the entries queued on `session` (called by the commit hook); returns how many.
    Core statements on the session's connection: this runs once per audited transaction."""
    drafts: list[_Draft] = session.info.pop(_PENDING, None) or []
    if not drafts:
        return 0
    if any(d.record is not None for d in drafts):
        session.flush()  # records get their ids
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD).first()
    if head is None:
        raise ChainError(
            "the audit chain head (table audit_chain_head) is missing, so nothing can be "
            "audited: run `ivr db upgrade`, then `ivr audit verify`"
        )
    seq, prev = head.seq, head.entry_hash
    rows: list[dict[str, Any]] = []
    for d in drafts:
        data, entity_id = d.data, d.entity_id
        if d.record is not None:
            data = {**(data or {}), "record": fingerprint(d.record)}
            entity_id = d.record.id if entity_id is None else entity_id
        seq += 1
        fields = ChainFields(
            seq, d.at, d.actor, d.action, d.entity, entity_id, d.customer_id, data, prev
        )
        digest = fields.digest()
        rows.append(
            {
                "seq": seq,
                "at": d.at,
                "actor": d.actor,
                "action": d.action,
                "entity": d.entity,
                "entity_id": entity_id,
                "customer_id": d.customer_id,
                "data": data,
                "prev_hash": prev,
                "entry_hash": digest,
            }
        )
        prev = digest
    connection.execute(_INSERT_ENTRY, rows)
    connection.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev, "now": utcnow()})
    return len(drafts)


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    seal(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_on_end(session: Session, transaction: SessionTransaction) -> None:
    # a rolled-back transaction's entries must not leak into the next one on the same session
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
