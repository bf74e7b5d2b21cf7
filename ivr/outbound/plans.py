"""What customers agreed to: outbound plans with consent, and when they may be called.

Every change is audited (`emergency_contact.audit`), in the same transaction as the change. A
check-in or reminder plan leads to calls only while it is opted in with a consent on record
(who, when, how); opting out cancels the calls of that kind not yet placed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carestore.db import Store
from carestore.errors import InvalidValue, NotFound
from carestore.models import CustomerRow
from carestore.outbound import (
    OutboundPlan,
    OutboundPreferences,
    plan_record,
    preferences_record,
)
from carestore.outbound_models import (
    OUTBOUND_KINDS,
    OutboundCallRow,
    OutboundPlanRow,
    OutboundPreferencesRow,
)
from carestore.timeutil import utcnow
from emergency_contact.audit import audit
from emergency_contact.contacts import ConsentIn
from ivr.outbound.hours import Window, check_zone, parse_hhmm


def _customer(session: Session, customer_id: int) -> CustomerRow:
    row = session.get(CustomerRow, customer_id)
    if row is None:
        raise NotFound(f"no customer with id {customer_id}")
    return row


def set_preferences(
    store: Store,
    customer_id: int,
    *,
    timezone: str | None = None,
    window: str | None = None,
    actor: str,
    default_zone: str = "Europe/London",
) -> OutboundPreferences:
    """Store the customer's time zone and/or preferred window ("10:00-12:00"; "" clears it).
    InvalidValue for an unknown zone or a malformed window; NotFound for an unknown customer."""
    try:
        if timezone is not None:
            check_zone(timezone)
        parsed = Window.parse(window) if window else None
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    with store.write() as session:
        _customer(session, customer_id)
        row = session.get(OutboundPreferencesRow, customer_id)
        if row is None:
            row = OutboundPreferencesRow(customer_id=customer_id, timezone=default_zone)
            session.add(row)
        if timezone is not None:
            row.timezone = timezone
        if window is not None:
            row.window_from = f"{parsed.start:%H:%M}" if parsed else None
            row.window_until = f"{parsed.end:%H:%M}" if parsed else None
        row.updated_at = utcnow()
        session.flush()
        audit(
            session,
            actor,
            "outbound_preferences_changed",
            "customer",
            customer_id,
            customer_id,
            {"timezone": row.timezone, "window": window if window is not None else None},
        )
        return preferences_record(row)


def set_plan(
    store: Store,
    customer_id: int,
    kind: str,
    *,
    opted_in: bool,
    actor: str,
    weekday: int | None = None,
    time_of_day: str | None = None,
    consent: ConsentIn | None = None,
    now: datetime | None = None,
) -> OutboundPlan:
    """Create or change the customer's plan of `kind`.

    Opting in needs a consent on record: given now (`consent`) or already stored. A weekly
    check-in needs both `weekday` (0 Monday .. 6 Sunday) and `time_of_day` (HH:MM local).
    Opting out keeps the consent history in the audit log and cancels the calls of this kind
    that are still waiting. Raises InvalidValue (what is wrong) or NotFound."""
    if kind not in OUTBOUND_KINDS:
        raise InvalidValue(f"kind must be one of {', '.join(OUTBOUND_KINDS)}; got {kind!r}")
    if weekday is not None and not (isinstance(weekday, int) and 0 <= weekday <= 6):
        raise InvalidValue(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}")
    if time_of_day is not None:
        try:
            time_of_day = f"{parse_hhmm(time_of_day):%H:%M}"
        except ValueError as exc:
            raise InvalidValue(str(exc)) from None
    if kind == "checkin" and (weekday is None) != (time_of_day is None):
        raise InvalidValue("a weekly check-in needs both a day and a time (e.g. monday 10:30)")
    now = now or utcnow()
    with store.write() as session:
        _customer(session, customer_id)
        row = session.scalars(
            select(OutboundPlanRow)
            .where(OutboundPlanRow.customer_id == customer_id, OutboundPlanRow.kind == kind)
            .with_for_update()
        ).first()
        if row is None:
            row = OutboundPlanRow(
                customer_id=customer_id,
                kind=kind,
                opted_in=False,
                active=True,
                created_by=actor,
                created_at=now,
            )
            session.add(row)
        if consent is not None:
            row.consent_by = consent.given_by
            row.consent_at = consent.at or now
            row.consent_method = consent.method
        if opted_in and not (row.consent_by and row.consent_at and row.consent_method):
            raise InvalidValue(
                f"no consent on record for {kind} calls to customer {customer_id}: say who "
                "consented and how (e.g. --consent-by 'Margaret Thompson' --consent-method phone)"
            )
        changed_schedule = weekday is not None and (weekday, time_of_day) != (
            row.weekday,
            row.time_of_day,
        )
        was_in = bool(row.opted_in)
        row.opted_in = bool(opted_in)
        row.active = True
        if weekday is not None or kind != "checkin":
            row.weekday, row.time_of_day = weekday, time_of_day
        row.updated_at = now
        session.flush()
        cancelled = 0
        if (was_in and not opted_in) or (kind == "checkin" and changed_schedule):
            cancelled = _cancel_waiting(session, customer_id, kind, row.id if opted_in else None)
        action = "outbound_opted_in" if opted_in else "outbound_opted_out"
        audit(
            session,
            actor,
            action,
            "outbound_plan",
            row.id,
            customer_id,
            {
                "kind": kind,
                "weekday": row.weekday,
                "time": row.time_of_day,
                "consent": (
                    {"by": row.consent_by, "method": row.consent_method}
                    if consent is not None
                    else None
                ),
                "cancelled_calls": cancelled,
            },
        )
        return plan_record(row)


def _cancel_waiting(session: Session, customer_id: int, kind: str, plan_id: int | None) -> int:
    """Cancel the calls of `kind` still waiting (only this plan's when `plan_id` is given:
    a changed weekly slot replaces its calls)."""
    query = update(OutboundCallRow).where(
        OutboundCallRow.customer_id == customer_id,
        OutboundCallRow.kind == kind,
        OutboundCallRow.status == "scheduled",
    )
    if plan_id is not None:
        query = query.where(OutboundCallRow.plan_id == plan_id)
    result = session.execute(
        query.values(status="cancelled", outcome="plan_changed", updated_at=utcnow())
    )
    return int(result.rowcount or 0)
