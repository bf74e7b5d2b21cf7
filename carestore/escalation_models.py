"""Tables of the emergency-contact escalation workflow (used by `emergency_contact`).

Contacts with their consent, an audit trail of every change and every view of a hand-off link,
escalations (a persisted state machine) with their event history, the outbox of notifications
(sent by a worker with idempotency keys, retries and backoff) and hand-off link tokens.
Migration: `migrations/versions/0002_escalation.py` writes the same schema out explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carestore.models import Base, _in
from carestore.timeutil import utcnow

CONTACT_CHANNELS = ("call", "sms", "both")
CONSENT_METHODS = ("phone", "kiosk", "staff", "written")
SEVERITIES = ("low", "medium", "high", "critical")
# contact track of an escalation (see emergency_contact.states)
ESCALATION_STATES = (
    "open",
    "notifying",
    "accepted",
    "confirming",
    "confirmed",
    "supervisor",
    "resolved",
)
AGENT_STATUSES = ("none", "queued", "accepted", "breached", "answered", "done")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "cancelled")


class ContactRow(Base):
    """One emergency contact of a customer, in the customer's order (`position`)."""

    __tablename__ = "emergency_contacts"
    __table_args__ = (
        CheckConstraint(_in("channel", CONTACT_CHANNELS), name="channel"),
        CheckConstraint(_in("consent_method", CONSENT_METHODS), name="consent_method"),
        Index("ix_emergency_contacts_customer_position", "customer_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    channel: Mapped[str] = mapped_column(String(8), default="call")
    language: Mapped[str] = mapped_column(String(16), default="en")
    call_from: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" local time
    call_until: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    consent_by: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None] = mapped_column()
    consent_method: Mapped[str | None] = mapped_column(String(16))
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditRow(Base):
    """Who did what to which record (contacts, consent, escalations, hand-off link views), and
    every service record that matters later (transcript segments, escalation steps, agent notes,
    ticket changes).

    Entries form a hash chain (`carestore.audit_chain`): `seq` counts 1, 2, 3... without gaps,
    `prev_hash` is the `entry_hash` of the entry before, and `entry_hash` is the SHA-256 of this
    entry's canonical form, so an edited or deleted entry breaks the chain (`ivr audit verify`).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    data: Mapped[dict[str, Any] | None] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHeadRow(Base):
    """The one row that says where the audit chain ends (its last `seq` and `entry_hash`).

    Appending locks it (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers), so
    concurrent writers (app instances, the escalation worker) extend one chain and never fork
    it; comparing it with the last entry also reveals entries deleted from the end.
    """

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EscalationRow(Base):
    """One escalation: its trigger, the agent hand-off and the contact track's state."""

    __tablename__ = "escalations"
    __table_args__ = (
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        CheckConstraint(_in("state", ESCALATION_STATES), name="state"),
        CheckConstraint(_in("agent_status", AGENT_STATUSES), name="agent_status"),
        Index("ix_escalations_next_check_at", "next_check_at"),
        Index("ix_escalations_agent_status", "agent_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(8), default="phone")
    trigger_kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    evidence: Mapped[dict[str, Any] | None] = mapped_column()
    actions: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="open")
    agent_status: Mapped[str] = mapped_column(String(16), default="none")
    agent_id: Mapped[str | None] = mapped_column(String(200))
    agent_deadline_at: Mapped[datetime | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()  # by an agent
    answered_at: Mapped[datetime | None] = mapped_column()  # a person (agent) answered
    contact_plan: Mapped[list[int]] = mapped_column(JSON)  # consented contact ids, in order
    contact_index: Mapped[int] = mapped_column(Integer, default=-1)
    contact_round: Mapped[int] = mapped_column(Integer, default=0)
    current_attempt: Mapped[str | None] = mapped_column(String(96))
    accepted_contact_id: Mapped[int | None] = mapped_column(Integer)
    contact_accepted_at: Mapped[datetime | None] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column()
    raised_count: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column()
    next_check_kind: Mapped[str | None] = mapped_column(String(32))
    package: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EscalationEventRow(Base):
    """Everything that happened to an escalation: attempts, answers, voicemail, failures,
    acceptances, confirmations, state changes, SLA breaches."""

    __tablename__ = "escalation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any] | None] = mapped_column()


class OutboxRow(Base):
    """One notification to send (a call or an SMS), sent once per `idempotency_key`."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))  # "call" | "sms" | "log"
    to_number: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class HandoffTokenRow(Base):
    """An expiring link token to a hand-off package (only its SHA-256 is stored)."""

    __tablename__ = "handoff_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(32))  # "agent" | "contact"
    contact_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    views: Mapped[int] = mapped_column(Integer, default=0)
