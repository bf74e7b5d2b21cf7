"""The audit trail: one row per change to contacts or consent, per escalation action taken by a
person, and per view of a hand-off link."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carestore.escalation_models import AuditRow
from carestore.timeutil import utcnow


@dataclass(frozen=True)
class AuditEntry:
    """One audited action."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    customer_id: int | None
    data: dict[str, Any] | None


def audit(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    customer_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Add an audit row in the caller's transaction (so the change and its record commit
    together)."""
    if not actor or not actor.strip():
        raise ValueError("every audited change needs an actor (who made it)")
    session.add(
        AuditRow(
            at=utcnow(),
            actor=actor.strip()[:200],
            action=action,
            entity=entity,
            entity_id=entity_id,
            customer_id=customer_id,
            data=dict(data) if data else None,
        )
    )


def audit_entries(
    session: Session, *, customer_id: int | None = None, entity: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """Audit rows, newest first, optionally for one customer or entity type."""
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if customer_id is not None:
        query = query.where(AuditRow.customer_id == customer_id)
    if entity is not None:
        query = query.where(AuditRow.entity == entity)
    return [
        AuditEntry(r.id, r.at, r.actor, r.action, r.entity, r.entity_id, r.customer_id, r.data)
        for r in session.scalars(query)
    ]
