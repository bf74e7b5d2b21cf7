"""The tables, as SQLAlchemy 2 typed declarative models.

The initial Alembic revision (`migrations/versions/0001_initial.py`) writes the same schema out
explicitly; `tests/test_store.py` checks that the two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from carestore.timeutil import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CHANNELS = ("phone", "kiosk")
DIRECTIONS = ("inbound", "outbound")
SPEAKERS = ("caller", "system", "agent")
TICKET_STATUSES = ("received", "in_progress", "waiting_for_customer", "resolved")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class CustomerRow(Base):
    """A customer of the service who may call in."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    pin_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id
    language: Mapped[str] = mapped_column(String(16), default="en")
    dialect: Mapped[str | None] = mapped_column(String(32))
    preferred_rate_wpm: Mapped[int | None] = mapped_column(Integer)
    keypad_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AccountRow(Base):
    """The customer's account with the (demo) financial or subscription service."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    next_payment_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    next_payment_date: Mapped[date | None] = mapped_column(Date)
    maturing_product: Mapped[str | None] = mapped_column(String(200))
    maturing_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CallRow(Base):
    """One phone call or kiosk session."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    direction: Mapped[str] = mapped_column(String(8), default="inbound")
    from_number: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    outcome: Mapped[str | None] = mapped_column(String(64))
    preferred_rate_wpm: Mapped[int | None] = mapped_column(Integer)
    # counters handing out per-call sequence numbers atomically (UPDATE ... RETURNING)
    last_segment_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)


class SegmentRow(Base):
    """One thing said during a call, by the caller, the system or an agent."""

    __tablename__ = "transcript_segments"
    __table_args__ = (
        UniqueConstraint("call_id", "seq"),
        CheckConstraint(_in("speaker", SPEAKERS), name="speaker"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    audio_start_s: Mapped[float | None] = mapped_column(Float)
    audio_end_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column()
    # set when retention removed the words and audio references (`carestore.retention`)
    purged_at: Mapped[datetime | None] = mapped_column()


class EventRow(Base):
    """One dialog event (state change, action, cue...) during a call."""

    __tablename__ = "dialog_events"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    state_from: Mapped[str | None] = mapped_column(String(64))
    state_to: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketRow(Base):
    """A problem a customer reported, with a reference number read back to them."""

    __tablename__ = "tickets"
    __table_args__ = (CheckConstraint(_in("status", TICKET_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="received")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketStatusRow(Base):
    """One change of a ticket's status (the first row is its opening)."""

    __tablename__ = "ticket_status_history"
    __table_args__ = (CheckConstraint(_in("status_to", TICKET_STATUSES), name="status_to"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    status_from: Mapped[str | None] = mapped_column(String(24))
    status_to: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusCallbackRow(Base):
    """A Twilio call status callback, kept as received."""

    __tablename__ = "twilio_status_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    raw: Mapped[dict[str, Any] | None] = mapped_column()


# the escalation workflow's tables share this metadata (one schema, one migration history)
from carestore import escalation_models as _escalation_models  # noqa: E402,F401
from carestore import outbound_models as _outbound_models  # noqa: E402,F401
from carestore import voice_models as _voice_models  # noqa: E402,F401
from carestore import web_models as _web_models  # noqa: E402,F401
