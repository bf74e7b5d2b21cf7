"""Making and placing outbound calls.

- `schedule(...)`: one call asked for by staff (CLI or API), checked first: a known customer
  with a valid number, a time not in the past, consent for check-ins, something due for a
  reminder, a resolved case for a survey.
- `generate(now)`: the calls the records ask for: the next weekly check-in of every opted-in
  plan, reminders before a payment or maturity date, satisfaction call-backs within 24 hours of
  a resolved ticket or escalation. Each has an idempotency key (made once, however many
  instances generate at the same time).
- `run_due(now)`: claim the due calls with a row lock (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
  SQLite takes the write lock at BEGIN) and, in the same transaction, record the attempt and
  put the dial in the outbox (`emergency_contact.outbox.enqueue`, idempotency key per attempt).
  After the commit the outbox worker places it; a crash before the commit leaves the call due,
  a crash after it leaves the dial in the outbox: never lost, never doubled. A due call in
  quiet hours (or outside the customer's window) is moved to the next allowed time instead.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carestore.db import Store
from carestore.errors import InvalidPhoneNumber, InvalidValue, NotFound
from carestore.escalation_models import EscalationEventRow, EscalationRow
from carestore.models import AccountRow, CustomerRow, TicketRow, TicketStatusRow
from carestore.outbound import OutboundCall, call_record
from carestore.outbound_models import (
    OUTBOUND_KINDS,
    OutboundAttemptRow,
    OutboundCallRow,
    OutboundPlanRow,
)
from carestore.phone import normalise_phone
from carestore.reference import clean_reference
from carestore.timeutil import utcnow
from carestore.web_models import AgentNoteRow, FollowUpRow
from emergency_contact.outbox import enqueue
from ivr.outbound.config import (
    CATCH_UP_S,
    LOOKAHEAD_S,
    PAST_TOLERANCE_S,
    SURVEY_WITHIN_S,
    OutboundConfig,
)
from ivr.outbound.hours import next_weekly, parse_hhmm
from ivr.outbound.rules import calling_hours, deferral_reason, set_due

log = logging.getLogger(__name__)

OUTBOX_KIND = "outbound_call"
OUTBOX_SMS_KIND = "outbound_sms"
ANSWER_PATH = "/outbound/twilio/answer"
STATUS_PATH = "/outbound/twilio/status"
_BY = re.compile(r"\(by ([^)]+)\)\s*$")


@dataclass(frozen=True)
class DueResult:
    """What `run_due` did with one due call: "queued" (in the outbox), "deferred" (quiet
    hours or outside the customer's window), "failed" (no valid number) or "cancelled"
    (consent withdrawn, opted out)."""

    call_id: int
    kind: str
    action: str
    detail: str = ""
    attempt: int = 0
    due_at: datetime | None = None


def _insert(session: Session, key: str, values: dict[str, Any]) -> int | None:
    """Insert a call unless its idempotency key exists; the new id, or None."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(
        insert(OutboundCallRow)
        .values(idempotency_key=key, **values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboundCallRow.id)
    )
    found = result.first()
    return None if found is None else int(found[0])


def _valid_phone(customer: CustomerRow) -> str:
    if not customer.phone:
        raise InvalidPhoneNumber(f"customer {customer.id} has no phone number on record")
    return normalise_phone(customer.phone)


def _callable(plan: OutboundPlanRow | None) -> bool:
    return bool(
        plan is not None
        and plan.active
        and plan.opted_in
        and plan.consent_by
        and plan.consent_at
        and plan.consent_method
    )


def _plan(session: Session, customer_id: int, kind: str) -> OutboundPlanRow | None:
    return session.scalars(
        select(OutboundPlanRow).where(
            OutboundPlanRow.customer_id == customer_id, OutboundPlanRow.kind == kind
        )
    ).first()


def escalation_agent(session: Session, esc: EscalationRow) -> str | None:
    """Who handled an escalation: the agent who took it, else who resolved it."""
    if esc.agent_id:
        return esc.agent_id
    for event in session.scalars(
        select(EscalationEventRow)
        .where(EscalationEventRow.escalation_id == esc.id, EscalationEventRow.kind == "state")
        .order_by(EscalationEventRow.id.desc())
    ):
        data = event.data or {}
        if data.get("to") == "resolved" and data.get("by"):
            return str(data["by"])
    return None


def ticket_agent(session: Session, ticket: TicketRow) -> str | None:
    """Who resolved a ticket: the agent's note on the change, else the "(by name)" the agent
    console adds to the status note."""
    author = session.scalar(
        select(AgentNoteRow.author)
        .where(
            AgentNoteRow.kind == "ticket",
            AgentNoteRow.text.like(f"ticket {ticket.reference} -> resolved%"),
        )
        .order_by(AgentNoteRow.id.desc())
        .limit(1)
    )
    if author:
        return str(author)
    note = session.scalar(
        select(TicketStatusRow.note)
        .where(TicketStatusRow.ticket_id == ticket.id, TicketStatusRow.status_to == "resolved")
        .order_by(TicketStatusRow.id.desc())
        .limit(1)
    )
    m = _BY.search(note or "")
    return m.group(1).strip() if m else None


class OutboundScheduler:
    """Schedules, generates and claims outbound calls on `store` (thread-safe; several
    instances may share one PostgreSQL database)."""

    def __init__(self, store: Store, config: OutboundConfig) -> None:
        self.store = store
        self.config = config

    # ------------------------------------------------------------------ one call by hand
    def schedule(
        self,
        customer_id: int,
        kind: str,
        *,
        actor: str,
        at: datetime | None = None,
        topic: str | None = None,
        ticket_reference: str | None = None,
        escalation_id: int | None = None,
        now: datetime | None = None,
    ) -> OutboundCall:
        """Schedule one call (see the module docstring for the checks). Raises NotFound,
        InvalidPhoneNumber or InvalidValue, each saying what is wrong; nothing is stored then."""
        now = now or utcnow()
        if kind not in OUTBOUND_KINDS:
            raise InvalidValue(f"kind must be one of {', '.join(OUTBOUND_KINDS)}; got {kind!r}")
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise InvalidValue("the time needs a timezone (e.g. 2026-03-14T10:30:00+00:00)")
        wanted = at or now
        if wanted < now - timedelta(seconds=PAST_TOLERANCE_S):
            raise InvalidValue(f"{wanted.isoformat()} is in the past (now {now.isoformat()})")
        if topic is not None and topic not in ("payment", "maturing"):
            raise InvalidValue(f"a reminder's topic is payment or maturing, not {topic!r}")
        with self.store.write() as session:
            customer = session.get(CustomerRow, customer_id)
            if customer is None:
                raise NotFound(f"no customer with id {customer_id}")
            _valid_phone(customer)
            values: dict[str, Any] = {}
            if kind == "checkin":
                plan = _plan(session, customer_id, "checkin")
                if not _callable(plan):
                    raise InvalidValue(
                        f"customer {customer_id} has not agreed to check-in calls (no consent "
                        "on record): record it first, e.g. with --weekly and --consent-by"
                    )
                values["plan_id"] = plan.id if plan is not None else None
            elif kind == "reminder":
                values["topic"] = self._reminder_topic(session, customer_id, topic, wanted)
            else:
                values.update(
                    self._survey_case(session, customer_id, ticket_reference, escalation_id)
                )
            key = f"manual:{kind}:{customer_id}:{uuid.uuid4().hex[:16]}"
            call_id = self._new_call(session, key, customer_id, kind, wanted, actor, now, values)
            assert call_id is not None  # a fresh key
            return call_record(session.get(OutboundCallRow, call_id))

    def _reminder_topic(
        self, session: Session, customer_id: int, topic: str | None, when: datetime
    ) -> str:
        account = session.scalars(
            select(AccountRow).where(AccountRow.customer_id == customer_id)
        ).first()
        day = when.date()
        payment = bool(
            account
            and account.next_payment_amount is not None
            and account.next_payment_date is not None
            and account.next_payment_date >= day
        )
        maturing = bool(
            account
            and account.maturing_product
            and account.maturing_date is not None
            and account.maturing_date >= day
        )
        if payment and topic in (None, "payment"):
            return "payment"
        if topic in (None, "maturing") and maturing:
            return "maturing"
        what = topic or "payment or maturing product"
        raise InvalidValue(f"customer {customer_id} has no {what} due to remind them of")

    def _survey_case(
        self,
        session: Session,
        customer_id: int,
        ticket_reference: str | None,
        escalation_id: int | None,
    ) -> dict[str, Any]:
        if ticket_reference:
            ticket = session.scalars(
                select(TicketRow).where(TicketRow.reference == clean_reference(ticket_reference))
            ).first()
            if ticket is None:
                raise NotFound(f"no ticket with reference {ticket_reference!r}")
            if ticket.customer_id != customer_id:
                raise InvalidValue(f"ticket {ticket.reference} is not customer {customer_id}'s")
            return {"ticket_id": ticket.id, "agent": ticket_agent(session, ticket)}
        if escalation_id is not None:
            esc = session.get(EscalationRow, escalation_id)
            if esc is None:
                raise NotFound(f"no escalation {escalation_id}")
            if esc.customer_id != customer_id:
                raise InvalidValue(f"escalation {escalation_id} is not customer {customer_id}'s")
            return {"escalation_id": esc.id, "agent": escalation_agent(session, esc)}
        esc = session.scalars(
            select(EscalationRow)
            .where(EscalationRow.customer_id == customer_id, EscalationRow.state == "resolved")
            .order_by(EscalationRow.updated_at.desc())
            .limit(1)
        ).first()
        ticket = session.scalars(
            select(TicketRow)
            .where(TicketRow.customer_id == customer_id, TicketRow.status == "resolved")
            .order_by(TicketRow.updated_at.desc())
            .limit(1)
        ).first()
        if esc is None and ticket is None:
            raise InvalidValue(
                f"customer {customer_id} has no resolved ticket or escalation to ask about"
            )
        if ticket is not None and (esc is None or ticket.updated_at >= esc.updated_at):
            return {"ticket_id": ticket.id, "agent": ticket_agent(session, ticket)}
        assert esc is not None
        return {"escalation_id": esc.id, "agent": escalation_agent(session, esc)}

    def _new_call(
        self,
        session: Session,
        key: str,
        customer_id: int,
        kind: str,
        wanted: datetime,
        actor: str,
        now: datetime,
        values: dict[str, Any],
    ) -> int | None:
        hours = calling_hours(session, customer_id, self.config)
        probe = OutboundCallRow(deferred_count=0)
        set_due(probe, max(wanted, now), hours)
        return _insert(
            session,
            key,
            {
                "customer_id": customer_id,
                "kind": kind,
                "scheduled_for": wanted,
                "due_at": probe.due_at,
                "status": "scheduled",
                "attempts": 0,
                "max_attempts": self.config.max_attempts,
                "retry_after_s": self.config.retry_after_s,
                "deferred_count": probe.deferred_count,
                "deferred_reason": probe.deferred_reason,
                "created_by": actor,
                "created_at": now,
                "updated_at": now,
                **values,
            },
        )

    def cancel(self, call_id: int, actor: str) -> OutboundCall:
        """Cancel a call that has not been placed yet (NotFound; InvalidValue when it is
        already being dialled or done)."""
        with self.store.write() as session:
            row = session.scalars(
                select(OutboundCallRow).where(OutboundCallRow.id == call_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound(f"no outbound call {call_id}")
            if row.status != "scheduled":
                raise InvalidValue(
                    f"outbound call {call_id} is {row.status}: it cannot be cancelled"
                )
            row.status = "cancelled"
            row.outcome = "cancelled"
            row.result = {**(row.result or {}), "cancelled_by": actor}
            row.updated_at = utcnow()
            from emergency_contact.audit import audit

            audit(session, actor, "outbound_cancelled", "outbound_call", row.id, row.customer_id)
            return call_record(row)

    # ------------------------------------------------------------------ from the records
    def generate(self, now: datetime | None = None) -> int:
        """Create the calls the plans and records ask for (idempotent). Returns how many."""
        now = now or utcnow()
        made = 0
        for step in (self._weekly_checkins, self._reminders, self._surveys):
            try:
                made += step(now)
            except Exception:  # one kind failing must not stop the others
                log.exception("outbound: generating calls (%s) failed", step.__name__)
        return made

    def _weekly_checkins(self, now: datetime) -> int:
        made = 0
        with self.store.write() as session:
            plans = session.scalars(
                select(OutboundPlanRow).where(
                    OutboundPlanRow.kind == "checkin",
                    OutboundPlanRow.active.is_(True),
                    OutboundPlanRow.opted_in.is_(True),
                    OutboundPlanRow.weekday.is_not(None),
                    OutboundPlanRow.time_of_day.is_not(None),
                )
            ).all()
            for plan in plans:
                if not _callable(plan):
                    continue
                hours = calling_hours(session, plan.customer_id, self.config)
                since = max(now - timedelta(seconds=CATCH_UP_S), plan.updated_at)
                at = parse_hhmm(plan.time_of_day or "")
                when = next_weekly(since, int(plan.weekday or 0), at, hours.zone)
                if when > now + timedelta(seconds=LOOKAHEAD_S):
                    continue
                local_day = when.astimezone(hours.zone).date()
                key = f"checkin:{plan.id}:{local_day.isoformat()}"
                made += bool(
                    self._new_call(
                        session,
                        key,
                        plan.customer_id,
                        "checkin",
                        when,
                        "scheduler",
                        now,
                        {"plan_id": plan.id},
                    )
                )
        return made

    def _reminders(self, now: datetime) -> int:
        made = 0
        days = self.config.reminder_days_before
        with self.store.write() as session:
            rows = session.execute(
                select(OutboundPlanRow, AccountRow)
                .join(AccountRow, AccountRow.customer_id == OutboundPlanRow.customer_id)
                .where(
                    OutboundPlanRow.kind == "reminder",
                    OutboundPlanRow.active.is_(True),
                    OutboundPlanRow.opted_in.is_(True),
                )
            ).all()
            for plan, account in rows:
                if not _callable(plan):
                    continue
                hours = calling_hours(session, plan.customer_id, self.config)
                today = now.astimezone(hours.zone).date()
                at = parse_hhmm(plan.time_of_day or self.config.reminder_time)
                due: list[tuple[str, date]] = []
                if account.next_payment_amount is not None and account.next_payment_date:
                    due.append(("payment", account.next_payment_date))
                if account.maturing_product and account.maturing_date:
                    due.append(("maturing", account.maturing_date))
                for topic, day in due:
                    if not today <= day <= today + timedelta(days=days):
                        continue
                    start = max(day - timedelta(days=days), today)
                    wanted = datetime.combine(start, at, tzinfo=hours.zone)
                    key = f"reminder:{topic}:{plan.customer_id}:{day.isoformat()}"
                    made += bool(
                        self._new_call(
                            session,
                            key,
                            plan.customer_id,
                            "reminder",
                            max(wanted, now),
                            "scheduler",
                            now,
                            {"plan_id": plan.id, "topic": topic},
                        )
                    )
        return made

    def _surveys(self, now: datetime) -> int:
        """Satisfaction call-backs: resolved escalations and tickets of the last 24 hours and
        agents' satisfaction follow-ups; one per customer per 24 hours, none for customers who
        said no to them."""
        since = now - timedelta(seconds=SURVEY_WITHIN_S)
        delay = timedelta(seconds=self.config.survey_delay_s)
        made = 0
        with self.store.write() as session:
            cases: list[tuple[str, int, datetime, dict[str, Any]]] = []
            for esc in session.scalars(
                select(EscalationRow).where(
                    EscalationRow.state == "resolved",
                    EscalationRow.customer_id.is_not(None),
                    EscalationRow.updated_at >= since,
                )
            ):
                cases.append(
                    (
                        f"survey:escalation:{esc.id}",
                        int(esc.customer_id or 0),
                        esc.updated_at + delay,
                        {"escalation_id": esc.id, "agent": escalation_agent(session, esc)},
                    )
                )
            resolved = (
                select(TicketStatusRow.ticket_id, func.max(TicketStatusRow.at).label("at"))
                .where(TicketStatusRow.status_to == "resolved", TicketStatusRow.at >= since)
                .group_by(TicketStatusRow.ticket_id)
                .subquery()
            )
            for ticket, at in session.execute(
                select(TicketRow, resolved.c.at)
                .join(resolved, resolved.c.ticket_id == TicketRow.id)
                .where(TicketRow.customer_id.is_not(None), TicketRow.status == "resolved")
            ):
                cases.append(
                    (
                        f"survey:ticket:{ticket.id}",
                        int(ticket.customer_id or 0),
                        at + delay,
                        {"ticket_id": ticket.id, "agent": ticket_agent(session, ticket)},
                    )
                )
            for follow in session.scalars(
                select(FollowUpRow)
                .where(
                    FollowUpRow.kind == "satisfaction",
                    FollowUpRow.status == "pending",
                    FollowUpRow.customer_id.is_not(None),
                )
                .with_for_update(skip_locked=True)
            ):
                follow.status = "done"  # handed to the outbound scheduler (or already asked)
                values: dict[str, Any] = {}
                key = f"survey:followup:{follow.id}"
                if follow.escalation_id is not None:
                    esc = session.get(EscalationRow, follow.escalation_id)
                    if esc is not None:
                        key = f"survey:escalation:{esc.id}"
                        values = {"escalation_id": esc.id, "agent": escalation_agent(session, esc)}
                cases.append((key, int(follow.customer_id or 0), follow.due_at, values))
            for key, customer_id, wanted, values in cases:
                if self._skip_survey(session, customer_id, key, now):
                    continue
                made += bool(
                    self._new_call(
                        session,
                        key,
                        customer_id,
                        "survey",
                        max(wanted, now),
                        "scheduler",
                        now,
                        values,
                    )
                )
        return made

    def _skip_survey(self, session: Session, customer_id: int, key: str, now: datetime) -> bool:
        customer = session.get(CustomerRow, customer_id)
        if customer is None or not customer.phone:
            return True
        plan = _plan(session, customer_id, "survey")
        if plan is not None and not plan.opted_in:
            return True  # the customer said no to satisfaction call-backs
        recent = session.scalar(
            select(func.count(OutboundCallRow.id)).where(
                OutboundCallRow.customer_id == customer_id,
                OutboundCallRow.kind == "survey",
                OutboundCallRow.status != "cancelled",
                OutboundCallRow.idempotency_key != key,
                OutboundCallRow.created_at >= now - timedelta(seconds=SURVEY_WITHIN_S),
            )
        )
        return bool(recent)

    # ------------------------------------------------------------------ placing
    def run_due(self, now: datetime | None = None, limit: int = 20) -> list[DueResult]:
        """Claim up to `limit` due calls (row-locked) and put their dials in the outbox, or
        move them to the next allowed time. One transaction: all of it happens, or none."""
        now = now or utcnow()
        out: list[DueResult] = []
        base = self.config.base_url().rstrip("/")
        with self.store.write() as session:
            rows = session.scalars(
                select(OutboundCallRow)
                .where(and_(OutboundCallRow.status == "scheduled", OutboundCallRow.due_at <= now))
                .order_by(OutboundCallRow.due_at, OutboundCallRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                out.append(self._place(session, row, now, base))
        return out

    def _place(self, session: Session, row: OutboundCallRow, now: datetime, base: str) -> DueResult:
        hours = calling_hours(session, row.customer_id, self.config)
        if not hours.allowed_at(now):
            reason = deferral_reason(now, hours)
            set_due(row, now, hours)
            row.deferred_reason = reason
            row.updated_at = now
            return DueResult(row.id, row.kind, "deferred", reason, row.attempts, row.due_at)
        customer = session.get(CustomerRow, row.customer_id)
        if row.kind in ("checkin", "reminder") and (row.kind == "checkin" or row.plan_id):
            if not _callable(_plan(session, row.customer_id, row.kind)):
                row.status, row.outcome, row.updated_at = "cancelled", "no_consent", now
                return DueResult(row.id, row.kind, "cancelled", "no consent on record")
        if row.kind == "survey":
            plan = _plan(session, row.customer_id, "survey")
            if plan is not None and not plan.opted_in:
                row.status, row.outcome, row.updated_at = "cancelled", "opted_out", now
                return DueResult(row.id, row.kind, "cancelled", "opted out of call-backs")
        try:
            phone = _valid_phone(customer) if customer is not None else None
        except InvalidPhoneNumber as exc:
            phone, why = None, str(exc)
        else:
            why = "customer removed"
        if phone is None:
            row.status, row.outcome, row.updated_at = "failed", "no_valid_number", now
            row.result = {**(row.result or {}), "error": why}
            return DueResult(row.id, row.kind, "failed", why)
        row.attempts += 1
        key = f"outbound:{row.id}:a{row.attempts}"
        attempt = OutboundAttemptRow(
            outbound_call_id=row.id,
            number=row.attempts,
            outbox_key=key,
            to_number=phone,
            started_at=now,
            result="queued",
        )
        session.add(attempt)
        session.flush()
        enqueue(
            session,
            key=key,
            kind=OUTBOX_KIND,
            channel="call",
            to_number=phone,
            payload={
                "outbound_call_id": row.id,
                "attempt_id": attempt.id,
                "url": f"{base}{ANSWER_PATH}?a={attempt.id}",
                "status_callback": f"{base}{STATUS_PATH}?a={attempt.id}",
                "machine_detection": self.config.machine_detection,
                "ring_timeout_s": self.config.ring_timeout_s,
            },
        )
        row.status = "dialing"
        row.updated_at = now
        return DueResult(row.id, row.kind, "queued", key, row.attempts, row.due_at)
