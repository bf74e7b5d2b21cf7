"""The outbox: notifications written in the same transaction as the state change that needs
them, then sent by workers. Each row is sent at most once per idempotency key: enqueueing the
same key twice is a no-op, claiming takes a row lock (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
several app instances share the work; SQLite serialises writers, one worker per database file),
and a claim is a lease: a worker that dies leaves the row to be recovered after `lease_s`, after
first asking the provider whether the interrupted attempt got through.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carestore.db import Store
from carestore.escalation_models import OutboxRow
from carestore.timeutil import utcnow
from emergency_contact.notifier import OutboundItem, SendResult
from emergency_contact.policy import OutboxTiming


@dataclass(frozen=True)
class Claimed:
    """A claimed row: the item, whether it is a recovery of an interrupted attempt, and when
    the interrupted attempt started."""

    item: OutboundItem
    recovering: bool
    claimed_at: datetime


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    channel: str,
    to_number: str | None,
    payload: dict[str, Any],
    escalation_id: int | None = None,
    contact_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Add a notification in the caller's transaction; False when `key` was already queued."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = session.execute(
        insert(OutboxRow)
        .values(
            idempotency_key=key,
            escalation_id=escalation_id,
            contact_id=contact_id,
            kind=kind,
            channel=channel,
            to_number=to_number,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=not_before or utcnow(),
            dry_run=False,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxRow.id)
    )
    return result.first() is not None


def backoff_s(attempt: int, timing: OutboxTiming, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1-based): base * 2^(attempt-1), capped, +0-20 %."""
    delay = min(timing.retry_max_s, timing.retry_base_s * 2 ** max(0, attempt - 1))
    return delay * (1.0 + 0.2 * (rng or random).random())


def _item(row: OutboxRow) -> OutboundItem:
    return OutboundItem(
        id=row.id,
        key=row.idempotency_key,
        kind=row.kind,
        channel=row.channel,
        to_number=row.to_number or "",
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        contact_id=row.contact_id,
        escalation_id=row.escalation_id,
    )


class Outbox:
    """Claiming and completing outbox rows for one worker (`worker_id`)."""

    def __init__(self, store: Store, timing: OutboxTiming, worker_id: str) -> None:
        self.store = store
        self.timing = timing
        self.worker_id = worker_id

    def claim(self, limit: int = 10) -> list[Claimed]:
        """Take up to `limit` due rows (pending and due, or `sending` with an expired lease)."""
        now = utcnow()
        with self.store.write() as session:
            rows = session.scalars(
                select(OutboxRow)
                .where(
                    or_(
                        and_(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now),
                        and_(OutboxRow.status == "sending", OutboxRow.locked_until <= now),
                    )
                )
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            claimed = []
            for row in rows:
                recovering = row.status == "sending"
                if not recovering:
                    row.claimed_at = now
                    row.attempts += 1
                row.status = "sending"
                row.locked_by = self.worker_id
                row.locked_until = now + timedelta(seconds=self.timing.lease_s)
                claimed.append(Claimed(_item(row), recovering, row.claimed_at or now))
            return claimed

    def _finish(self, item_id: int, **values: Any) -> bool:
        with self.store.write() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == item_id,
                    OutboxRow.status == "sending",
                    OutboxRow.locked_by == self.worker_id,
                )
                .values(**values)
            )
            return bool(result.rowcount)

    def mark_sent(
        self, item_id: int, result: SendResult, sent: dict[str, Any] | None = None
    ) -> bool:
        """Record the provider's answer (and `sent`: what went out, links redacted, kept in the
        payload under "sent"); False if this worker's lease was lost meanwhile."""
        extra: dict[str, Any] = {}
        if sent is not None:
            with self.store.read() as session:
                row = session.get(OutboxRow, item_id)
                base = dict(row.payload or {}) if row is not None else {}
            extra["payload"] = {**base, "sent": sent}
        return self._finish(
            item_id,
            **extra,
            status="sent",
            sent_at=utcnow(),
            provider_sid=result.sid,
            provider_status=result.status,
            dry_run=result.dry_run,
            locked_until=None,
            last_error=None,
        )

    def mark_failed(self, item_id: int, attempts: int, error: str, retryable: bool) -> str:
        """Record a failed attempt: "retry" (pending again after a backoff) or "dead"."""
        if retryable and attempts < self.timing.max_attempts:
            when = utcnow() + timedelta(seconds=backoff_s(attempts, self.timing))
            ok = self._finish(
                item_id, status="pending", next_attempt_at=when, last_error=error[:2000]
            )
            return "retry" if ok else "lost"
        ok = self._finish(item_id, status="dead", last_error=error[:2000], locked_until=None)
        return "dead" if ok else "lost"

    def retry_now(self, item_id: int) -> None:
        """Release a claimed row for an immediate new attempt (the recovery check failed)."""
        self._finish(item_id, status="pending", next_attempt_at=utcnow())


def outbox_rows(store: Store, escalation_id: int | None = None) -> list[dict[str, Any]]:
    """Outbox rows as dicts (oldest first), for the API, the CLI and tests."""
    with store.read() as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if escalation_id is not None:
            query = query.where(OutboxRow.escalation_id == escalation_id)
        out = []
        for r in session.scalars(query):
            out.append(
                {
                    "id": r.id,
                    "key": r.idempotency_key,
                    "escalation_id": r.escalation_id,
                    "contact_id": r.contact_id,
                    "kind": r.kind,
                    "channel": r.channel,
                    "to": r.to_number,
                    "status": r.status,
                    "attempts": r.attempts,
                    "provider_sid": r.provider_sid,
                    "provider_status": r.provider_status,
                    "dry_run": r.dry_run,
                    "last_error": r.last_error,
                    "sent": (r.payload or {}).get("sent"),
                    "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                }
            )
        return out
