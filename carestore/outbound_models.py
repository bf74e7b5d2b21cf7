"""Tables of the calls the service places itself (issue 8): check-in calls, reminders and
satisfaction call-backs.

- `outbound_preferences`: a customer's time zone and the window they prefer to be called in
  (the deployment's quiet hours apply on top).
- `outbound_plans`: what a customer agreed to (weekly check-in at a day and time, reminder
  calls, satisfaction call-backs) with the consent on record.
- `outbound_calls`: one call to make (made once per `idempotency_key`), its schedule, status,
  attempts and outcome.
- `outbound_attempts`: every dial of a call and its result (answered by a person, a machine,
  no answer, busy, failed, completed with an outcome).
- `survey_responses`: the answers of a satisfaction call-back, against the ticket or escalation
  and the agent who handled it.

Migration: `migrations/versions/0006_outbound.py` writes the same schema out explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carestore.models import Base, _in
from carestore.timeutil import utcnow

OUTBOUND_KINDS = ("checkin", "reminder", "survey")
OUTBOUND_STATUSES = (
    "scheduled",  # waiting for `due_at`
    "dialing",  # an attempt is in the outbox or ringing
    "in_progress",  # a person answered: the call's dialog is running
    "completed",  # a person answered and the call ended (see `outcome`)
    "unanswered",  # every attempt spent without a person answering
    "failed",  # could not be placed (no valid number, the provider refused it)
    "cancelled",
    "dry_run",  # no Twilio credentials: written to the console and the store, not placed
)
FINAL_STATUSES = ("completed", "unanswered", "failed", "cancelled", "dry_run")
ATTEMPT_RESULTS = (
    "queued",  # handed to the outbox
    "answered_human",  # a person answered: the dialog runs
    "machine",  # an answering machine (or fax): a short message was left
    "no_answer",
    "busy",
    "failed",  # the provider could not place it
    "completed",  # a person answered and the dialog finished (see `outcome`)
    "dry_run",
    "no_status",  # no final status arrived in time
)
CONSENT_METHODS = ("phone", "kiosk", "staff", "written")
VIAS = ("voice", "keypad", "both")


class OutboundPreferencesRow(Base):
    """When a customer may be called: their time zone and preferred window (local HH:MM)."""

    __tablename__ = "outbound_preferences"

    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    window_from: Mapped[str | None] = mapped_column(String(5))
    window_until: Mapped[str | None] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboundPlanRow(Base):
    """What a customer agreed to be called for. A check-in or reminder plan only leads to
    calls while it is active and opted in with a consent on record; a survey plan that is not
    opted in stops satisfaction call-backs (they are made by default)."""

    __tablename__ = "outbound_plans"
    __table_args__ = (
        CheckConstraint(_in("kind", OUTBOUND_KINDS), name="kind"),
        CheckConstraint(_in("consent_method", CONSENT_METHODS), name="consent_method"),
        CheckConstraint("weekday IS NULL OR weekday BETWEEN 0 AND 6", name="weekday"),
        UniqueConstraint("customer_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    opted_in: Mapped[bool] = mapped_column(Boolean, default=False)
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 Monday .. 6 Sunday (check-in)
    time_of_day: Mapped[str | None] = mapped_column(String(5))  # HH:MM local
    consent_by: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None] = mapped_column()
    consent_method: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboundCallRow(Base):
    """One call the service will place (and retry) until a person answers or it gives up."""

    __tablename__ = "outbound_calls"
    __table_args__ = (
        CheckConstraint(_in("kind", OUTBOUND_KINDS), name="kind"),
        CheckConstraint(_in("status", OUTBOUND_STATUSES), name="status"),
        Index("ix_outbound_calls_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str | None] = mapped_column(String(16))  # reminder: payment | maturing
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_plans.id", ondelete="SET NULL")
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="SET NULL")
    )  # the escalation a survey asks about
    agent: Mapped[str | None] = mapped_column(String(200))  # who handled the case (survey)
    scheduled_for: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()  # next attempt (moved by quiet hours, retries)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    retry_after_s: Mapped[int] = mapped_column(Integer)
    deferred_count: Mapped[int] = mapped_column(Integer, default=0)
    deferred_reason: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[dict[str, Any] | None] = mapped_column()
    raised_escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="SET NULL")
    )  # the escalation this call raised (not well, no answer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboundAttemptRow(Base):
    """One dial of an outbound call and what came of it."""

    __tablename__ = "outbound_attempts"
    __table_args__ = (
        CheckConstraint(_in("result", ATTEMPT_RESULTS), name="result"),
        UniqueConstraint("outbound_call_id", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbound_call_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_calls.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the call
    outbox_key: Mapped[str] = mapped_column(String(128))
    to_number: Mapped[str] = mapped_column(String(20))
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_by: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16), default="queued")
    outcome: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class SurveyResponseRow(Base):
    """The answers of one satisfaction call-back."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint("score IS NULL OR score BETWEEN 1 AND 5", name="score"),
        CheckConstraint(_in("via", VIAS), name="via"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbound_call_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_calls.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="SET NULL")
    )
    agent: Mapped[str | None] = mapped_column(String(200), index=True)
    score: Mapped[int | None] = mapped_column(Integer)  # 1 (poor) .. 5 (very good)
    resolved: Mapped[bool | None] = mapped_column(Boolean)  # "was it sorted out?"
    via: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
