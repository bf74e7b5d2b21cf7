"""The audit trail: one entry per change to contacts or consent, per escalation action taken by
a person, per view of a hand-off link, and per service record that matters later (transcript
segments, escalation steps, agent notes, ticket changes).

Entries are hash-chained (`carestore.audit_chain`): `audit()` queues one in the caller's
transaction and it joins the chain when that transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carestore.audit_chain import append
from carestore.escalation_models import AuditRow

# entries the service writes about its own records (one per transcript segment, per escalation
# step): the chain holds them, but a customer's audit trail of people's actions leaves them out
RECORD_ENTITIES = ("transcript_segment", "escalation_event")


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
    seq: int | None = None
    entry_hash: str | None = None


def audit(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    customer_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    record: Any = None,
) -> None:
    """Add an audit entry in the caller's transaction (so the change and its record commit
    together). `record`: the stored row the entry is about (its fingerprint is chained too)."""
    append(session, actor, action, entity, entity_id, customer_id, data, record=record)


def chain_escalation_event(session: Session, event: Any, customer_id: int | None) -> None:
    """Append the audit entry of one escalation step (an `EscalationEventRow` just added to
    `session`): who or what caused it, its kind, and its fingerprint (its data only hashed)."""
    data = event.data if isinstance(event.data, dict) else {}
    named = (data.get(k) for k in ("actor", "agent", "by"))
    actor = next((n for n in named if isinstance(n, str) and n.strip()), "system")
    append(
        session,
        actor,
        "escalation_step",
        "escalation_event",
        None,
        customer_id,
        {
            "escalation_id": event.escalation_id,
            "kind": event.kind,
            "contact_id": event.contact_id,
        },
        record=event,
    )


def audit_entries(
    session: Session,
    *,
    customer_id: int | None = None,
    entity: str | None = None,
    limit: int = 200,
    records: bool = False,
) -> list[AuditEntry]:
    """Audit entries, newest first, optionally for one customer or entity type. Entries about
    transcript segments and escalation steps are left out unless `records` (or that `entity`)
    is asked for."""
    query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
    if customer_id is not None:
        query = query.where(AuditRow.customer_id == customer_id)
    if entity is not None:
        query = query.where(AuditRow.entity == entity)
    elif not records:
        query = query.where(AuditRow.entity.not_in(RECORD_ENTITIES))
    return [
        AuditEntry(
            r.id,
            r.at,
            r.actor,
            r.action,
            r.entity,
            r.entity_id,
            r.customer_id,
            r.data,
            r.seq,
            r.entry_hash,
        )
        for r in session.scalars(query)
    ]
