"""Plain data the store hands out (never live ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Customer:
    """A customer as stored (the PIN hash never leaves the store)."""

    id: int
    name: str
    account_number: str
    phone: str | None
    language: str
    dialect: str | None
    preferred_rate_wpm: int | None
    keypad_only: bool
    has_pin: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Account:
    """A customer's account with the service."""

    customer_id: int
    balance: Decimal
    currency: str
    next_payment_amount: Decimal | None
    next_payment_date: date | None
    maturing_product: str | None
    maturing_date: date | None
    updated_at: datetime


@dataclass(frozen=True)
class CallRecord:
    """A call or kiosk session."""

    id: int
    call_sid: str
    channel: str
    direction: str
    from_number: str | None
    to_number: str | None
    customer_id: int | None
    started_at: datetime
    ended_at: datetime | None
    status: str
    outcome: str | None
    preferred_rate_wpm: int | None


@dataclass(frozen=True)
class Segment:
    """One transcript segment of a call."""

    id: int
    call_sid: str
    seq: int
    speaker: str
    text: str
    intent: str | None
    confidence: float | None
    audio_start_s: float | None
    audio_end_s: float | None
    created_at: datetime
    extra: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True)
class DialogEvent:
    """One dialog event of a call."""

    id: int
    call_sid: str
    seq: int
    kind: str
    state_from: str | None
    state_to: str | None
    data: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class TicketStatusChange:
    """One step in a ticket's status history."""

    status_from: str | None
    status_to: str
    note: str | None
    at: datetime


@dataclass(frozen=True)
class Ticket:
    """A reported problem."""

    id: int
    reference: str
    customer_id: int | None
    call_sid: str | None
    summary: str
    description: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StatusCallback:
    """A Twilio status callback as received."""

    id: int
    call_sid: str
    status: str
    at: datetime
    raw: dict[str, Any] | None
