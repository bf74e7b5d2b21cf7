"""The rules every part of the outbound scheduler shares, applied inside the caller's
transaction: a customer's calling hours, the due time of a call, and what an ended attempt
means for its call (try again later, or give up: unanswered / failed).

A check-in is only done when the person told us how they are ("well", "not well") or a person
took the call over ("escalated"). Answered but not confirmed (hung up, silence, goodbye before
the answer) is tried again after `unconfirmed_retry_s`; someone else answering after
`wrong_person_retry_s`. Both count toward the call's attempts: a check-in that never reaches
the person and hears they are well ends "unanswered" and is escalated like one nobody answered.
Every retry and the reason for it is kept on the attempt (`detail`) and the call (`result`).
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
CHECKIN_DONE = ("well", "not_well", "escalated")  # told us, or a person took the call over
WHY = {  # why an attempt did not settle its call, in plain words (show, API, hand-off package)
    "no_answer": "nobody answered",
    "busy": "the line was busy",
    "failed": "the call could not be placed",
    "machine": "an answering machine answered (a short message was left)",
    "no_status": "no final status came from the telephone provider",
    "hung_up": "answered, but the call ended before they said whether they are well",
    "no_reply": "answered, but nothing was heard in reply",
    "said_goodbye": "answered, but they said goodbye before saying whether they are well",
    "wrong_person": "someone else answered: the person was not reached",
    "ended": "answered, but the call ended before they said whether they are well",
}


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


def why(result: str, outcome: str | None = None) -> str:
    """Why an attempt (its `result`, and its `outcome` once answered) left its call unsettled."""
    key = outcome if result == "completed" and outcome else result
    return WHY.get(key, key.replace("_", " "))


def checkin_settled(outcome: str) -> bool:
    """True when an answered check-in ending with `outcome` needs no further call."""
    return outcome in CHECKIN_DONE


def _retry_or_give_up(
    session: Session,
    call: OutboundCallRow,
    attempt: OutboundAttemptRow,
    result: str,
    delay_s: int,
    now: datetime,
    config: OutboundConfig,
    *,
    permanent: bool = False,
) -> AttemptEnd:
    """Schedule the call's next attempt `delay_s` from now (at the next allowed moment), or,
    with its attempts spent, end it (a check-in then needs an escalation). Notes why on both."""
    reason = why(attempt.result, attempt.outcome)
    call.updated_at = now
    if not permanent and call.attempts < call.max_attempts:
        call.status = "scheduled"
        hours = calling_hours(session, call.customer_id, config)
        deferred = set_due(call, now + timedelta(seconds=delay_s), hours)
        retry = {
            "after_attempt": attempt.number,
            "result": result,
            "why": reason,
            "retry_at": call.due_at.isoformat(),
            "deferred": call.deferred_reason if deferred else None,
        }
        attempt.detail = {**(attempt.detail or {}), "why": reason, "retry_at": retry["retry_at"]}
        call.result = {
            **(call.result or {}),
            "retries": [*(call.result or {}).get("retries", []), retry],
        }
        return AttemptEnd(call.id, call.kind, result, retry_at=call.due_at)
    call.status = "failed" if permanent else "unanswered"
    call.outcome = result
    attempt.detail = {**(attempt.detail or {}), "why": reason}
    call.result = {
        **(call.result or {}),
        "why": f"{reason} (attempt {attempt.number} of {call.max_attempts})",
    }
    return AttemptEnd(
        call.id, call.kind, result, final=call.status, escalate=call.kind == "checkin"
    )


def end_unconfirmed(
    session: Session,
    call: OutboundCallRow,
    attempt: OutboundAttemptRow,
    outcome: str,
    now: datetime,
    config: OutboundConfig,
) -> AttemptEnd:
    """A check-in a person answered ended without the person telling us how they are
    (`outcome`: hung_up, no_reply, said_goodbye, wrong_person...). The attempt is already
    stored as completed with that outcome; the call is tried again (someone else answering:
    after `wrong_person_retry_s`, else after `unconfirmed_retry_s`) or, its attempts spent,
    ends "unanswered" for the no-answer escalation. Both rows must be locked by the caller."""
    delay = config.wrong_person_retry_s if outcome == "wrong_person" else config.unconfirmed_retry_s
    return _retry_or_give_up(session, call, attempt, outcome, delay, now, config)


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
    return _retry_or_give_up(
        session, call, attempt, result, call.retry_after_s, now, config, permanent=permanent
    )


def lock_call(session: Session, call_id: int) -> OutboundCallRow | None:
    """The call row, locked for this transaction (FOR UPDATE on PostgreSQL)."""
    from sqlalchemy import select

    return session.scalars(
        select(OutboundCallRow).where(OutboundCallRow.id == call_id).with_for_update()
    ).first()
