"""The rules every part of the outbound scheduler shares, applied inside the caller's
transaction: a customer's calling hours, the due time of a call, and what an ended attempt
means for its call (try again later, or give up: unanswered / failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carestore.outbound_models import OutboundAttemptRow, OutboundCallRow, OutboundPreferencesRow
from ivr.outbound.config import OutboundConfig
from ivr.outbound.hours import CallingHours, Window, check_zone, next_allowed

OPEN_ATTEMPT = ("queued", "answered_human")
UNANSWERED_RESULTS = ("no_answer", "busy", "failed", "machine", "no_status")


def calling_hours(session: Session, customer_id: int, config: OutboundConfig) -> CallingHours:
    """The customer's time zone and preferred window (stored, else the deployment's zone and
    no window), with the deployment's quiet hours."""
    prefs = session.get(OutboundPreferencesRow, customer_id)
    zone = check_zone(prefs.timezone if prefs is not None else config.default_zone)
    preferred = None
    if prefs is not None and prefs.window_from and prefs.window_until:
        preferred = Window.parse(f"{prefs.window_from}-{prefs.window_until}")
    return CallingHours(zone, config.quiet, preferred)


def deferral_reason(moment: datetime, hours: CallingHours) -> str:
    """Why a call may not be placed at `moment` (for the record and `ivr outbound list`)."""
    local = moment.astimezone(hours.zone).time()
    if hours.quiet is not None and hours.quiet.contains(local):
        return f"quiet hours {hours.quiet} ({hours.zone.key})"
    return f"outside preferred {hours.preferred} ({hours.zone.key})"


def set_due(row: OutboundCallRow, wanted: datetime, hours: CallingHours) -> bool:
    """Make the call due at `wanted`, or at the next allowed moment after it (counted as a
    deferral with its reason). True when it was deferred."""
    allowed = next_allowed(wanted, hours)
    row.due_at = allowed
    if allowed > wanted:
        row.deferred_count = (row.deferred_count or 0) + 1
        row.deferred_reason = deferral_reason(wanted, hours)
        return True
    return False


@dataclass(frozen=True)
class AttemptEnd:
    """What an ended attempt did to its call: `retry_at` (tried again then) or `final` (the
    call's final status), and whether a check-in nobody answered must now be escalated."""

    call_id: int
    kind: str
    result: str
    retry_at: datetime | None = None
    final: str | None = None
    escalate: bool = False


def end_attempt(
    session: Session,
    call: OutboundCallRow,
    attempt: OutboundAttemptRow,
    result: str,
    now: datetime,
    config: OutboundConfig,
    *,
    permanent: bool = False,
    detail: dict[str, Any] | None = None,
) -> AttemptEnd | None:
    """An attempt ended without a completed conversation (`result`: no_answer, busy, failed,
    machine, no_status, dry_run). Both rows must be locked by the caller. None when the
    attempt had already ended (a duplicate callback changes nothing)."""
    if attempt.result not in OPEN_ATTEMPT:
        return None
    attempt.result = result
    attempt.ended_at = now
    if detail:
        attempt.detail = {**(attempt.detail or {}), **detail}
    if call.status not in ("dialing", "in_progress"):
        return AttemptEnd(call.id, call.kind, result)  # cancelled meanwhile: nothing more
    if result == "dry_run":
        call.status = "dry_run"
        call.outcome = "dry_run"
        return AttemptEnd(call.id, call.kind, result, final="dry_run")
    if not permanent and call.attempts < call.max_attempts:
        call.status = "scheduled"
        hours = calling_hours(session, call.customer_id, config)
        set_due(call, now + timedelta(seconds=call.retry_after_s), hours)
        return AttemptEnd(call.id, call.kind, result, retry_at=call.due_at)
    call.status = "failed" if permanent else "unanswered"
    call.outcome = result
    return AttemptEnd(
        call.id, call.kind, result, final=call.status, escalate=call.kind == "checkin"
    )


def lock_call(session: Session, call_id: int) -> OutboundCallRow | None:
    """The call row, locked for this transaction (FOR UPDATE on PostgreSQL)."""
    from sqlalchemy import select

    return session.scalars(
        select(OutboundCallRow).where(OutboundCallRow.id == call_id).with_for_update()
    ).first()
