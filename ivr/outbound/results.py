"""What happened on an outbound call: Twilio's answer and status webhooks, the end of the
call's dialog, and the outbox's own record of each dial (reconciled on every scheduler pass).

Every function locks the call row before it changes it, so callbacks arriving twice, out of
order, or on two instances at once change the call once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from carestore.db import Store
from carestore.errors import UnknownCall
from carestore.escalation_models import EscalationRow, OutboxRow
from carestore.models import AccountRow, CustomerRow
from carestore.outbound_models import OutboundAttemptRow, OutboundCallRow, SurveyResponseRow
from carestore.timeutil import utcnow
from emergency_contact.outbox import enqueue
from ivr.dialog.outbound_steps import ANSWER_EVENT
from ivr.outbound.config import OutboundConfig
from ivr.outbound.messages import reminder_sms
from ivr.outbound.rules import AttemptEnd, checkin_settled, end_attempt, end_unconfirmed, lock_call
from ivr.outbound.scheduler import OUTBOX_SMS_KIND

log = logging.getLogger(__name__)

STATUS_RESULTS = {
    "no-answer": "no_answer",
    "busy": "busy",
    "failed": "failed",
    "canceled": "no_answer",
}
MACHINE_PREFIXES = ("machine", "fax")
SURVEY_STATES = ("survey_score", "survey_resolved")


@dataclass(frozen=True)
class Answer:
    """The answer webhook's decision: "human" (open the media stream), "machine" (leave the
    short message), or "gone" (not an attempt we are waiting for: hang up)."""

    verdict: str
    kind: str = ""
    end: AttemptEnd | None = None


@dataclass
class Finished:
    """What a finished conversation changed (for the service: SMS queued, escalations...);
    `end` when it did not settle its call (a check-in not confirmed: tried again, or given up)."""

    call_id: int
    kind: str
    outcome: str
    sms_queued: bool = False
    survey_id: int | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    end: AttemptEnd | None = None


def _lock_attempt(
    session: Any, attempt_id: int
) -> tuple[OutboundCallRow, OutboundAttemptRow] | None:
    attempt = session.get(OutboundAttemptRow, attempt_id)
    if attempt is None:
        return None
    call = lock_call(session, attempt.outbound_call_id)
    session.refresh(attempt)
    return (call, attempt) if call is not None else None


def on_answer(
    store: Store, config: OutboundConfig, attempt_id: int, form: Mapping[str, str]
) -> Answer:
    """Twilio fetched the call's URL: a person (or `unknown`: treated as a person, who then
    hears "Am I speaking with ...?") or a machine (`machine_*`, `fax`) answered."""
    answered_by = form.get("AnsweredBy", "") or "unknown"
    call_sid = form.get("CallSid", "")
    now = utcnow()
    with store.write() as session:
        found = _lock_attempt(session, attempt_id)
        if found is None:
            return Answer("gone")
        call, attempt = found
        if attempt.provider_sid is None:
            attempt.provider_sid = call_sid or None
        attempt.answered_by = answered_by[:32]
        if attempt.result != "queued" or call.status != "dialing":
            return Answer("gone", call.kind)
        if answered_by.startswith(MACHINE_PREFIXES):
            end = end_attempt(session, call, attempt, "machine", now, config)
            return Answer("machine", call.kind, end)
        attempt.result = "answered_human"
        call.status = "in_progress"
        call.updated_at = now
        return Answer("human", call.kind)


def on_status(
    store: Store, config: OutboundConfig, attempt_id: int, form: Mapping[str, str]
) -> tuple[AttemptEnd | None, bool]:
    """A call status callback. Returns (how the attempt ended, if it did now; whether the
    answered conversation should be finished now: the call completed after the session)."""
    status = form.get("CallStatus", "")
    call_sid = form.get("CallSid", "")
    now = utcnow()
    with store.write() as session:
        found = _lock_attempt(session, attempt_id)
        if found is None:
            return None, False
        call, attempt = found
        if attempt.provider_sid is None and call_sid:
            attempt.provider_sid = call_sid
        statuses = list((attempt.detail or {}).get("statuses", []))
        statuses.append(status)
        attempt.detail = {**(attempt.detail or {}), "statuses": statuses[-12:]}
        if form.get("AnsweredBy") and not attempt.answered_by:
            attempt.answered_by = form["AnsweredBy"][:32]
        if status in STATUS_RESULTS:
            return end_attempt(session, call, attempt, STATUS_RESULTS[status], now, config), False
        if status == "completed":
            if attempt.result == "queued":  # ended before anyone was put through
                return end_attempt(session, call, attempt, "no_answer", now, config), False
            return None, attempt.result == "answered_human"
        return None, False


def _answers(store: Store, call_sid: str) -> tuple[dict[str, Any], str | None, set[str]]:
    """(answers noted by the flow, how the dialog ended, input kinds in survey states)."""
    try:
        events = store.events(call_sid)
    except UnknownCall:
        return {}, None, set()
    answers: dict[str, Any] = {}
    ended: str | None = None
    vias: set[str] = set()
    for e in events:
        data = e.data or {}
        if e.kind == ANSWER_EVENT and data.get("name"):
            answers[str(data["name"])] = data.get("value")
        elif e.kind in ("hangup", "transfer"):
            ended = f"{e.kind}:{data.get('reason', '')}"
        elif e.kind == "handoff_agent" and ended is None:  # the session's own (voice cues)
            ended = f"transfer:{data.get('reason', '')}"
        elif e.kind == "input" and data.get("state") in SURVEY_STATES:
            if data.get("kind") == "dtmf":
                vias.add("keypad")
            elif data.get("kind") == "speech":
                vias.add("voice")
    return answers, ended, vias


def outcome_of(kind: str, answers: dict[str, Any], ended: str | None) -> str:
    """The call's outcome in a word, from what was answered and how the dialog ended."""
    reason = (ended or "").partition(":")[2]
    if reason == "wrong_person":
        return "wrong_person"
    if reason == "no_reply":  # silence until the flow gave up
        return "no_reply"
    if kind == "checkin":
        if answers.get("checkin") == "well":
            return "well"
        if answers.get("checkin") == "not_well":
            return "not_well"
        if reason == "caller_goodbye":
            return "said_goodbye"
    elif kind == "reminder":
        if answers.get("reminder") == "text":
            return "text_requested"
        if answers.get("reminder") == "heard" or reason == "caller_goodbye":
            return "heard"
        if reason == "reminder_nothing_due":
            return "nothing_due"
    elif kind == "survey":
        if "survey_score" in answers and "survey_resolved" in answers:
            return "survey_done"
        if "survey_score" in answers or "survey_resolved" in answers:
            return "survey_partial"
    if ended and ended.startswith("transfer:"):
        return "escalated" if kind == "checkin" else "transferred"
    if ended is None:
        return "hung_up"
    return "ended"


def finish(
    store: Store, config: OutboundConfig, call_sid: str, now: datetime | None = None
) -> Finished | None:
    """The answered call's dialog is over: store its outcome (and survey answers), queue the
    text message a reminder call promised. A check-in that did not hear how the person is (and
    was not taken over by a person) is not completed: it is tried again or given up
    (`rules.end_unconfirmed`). Idempotent: None once the call is finished."""
    with store.read() as session:
        attempt = session.scalars(
            select(OutboundAttemptRow)
            .where(OutboundAttemptRow.provider_sid == call_sid)
            .order_by(OutboundAttemptRow.id.desc())
            .limit(1)
        ).first()
        attempt_id = attempt.id if attempt is not None else None
    if attempt_id is None:
        return None
    answers, ended, vias = _answers(store, call_sid)
    now = now or utcnow()
    with store.write() as session:
        found = _lock_attempt(session, attempt_id)
        if found is None:
            return None
        call, attempt = found
        if attempt.result != "answered_human" or call.status != "in_progress":
            return None
        outcome = outcome_of(call.kind, answers, ended)
        attempt.result = "completed"
        attempt.outcome = outcome
        attempt.ended_at = now
        attempt.detail = {**(attempt.detail or {}), "ended": ended}
        call.result = {**(call.result or {}), "answers": answers, "ended": ended}
        call.updated_at = now
        raised = session.scalar(  # "no" on a check-in, a person asked for, a distress cue...
            select(EscalationRow.id)
            .where(EscalationRow.call_sid == call_sid)
            .order_by(EscalationRow.id.desc())
            .limit(1)
        )
        if call.kind == "checkin" and raised is None and not checkin_settled(outcome):
            end = end_unconfirmed(session, call, attempt, outcome, now, config)
            return Finished(call.id, call.kind, outcome, answers=answers, end=end)
        call.status = "completed"
        call.outcome = outcome
        if call.raised_escalation_id is None:
            call.raised_escalation_id = raised
        done = Finished(call.id, call.kind, outcome, answers=answers)
        if call.kind == "survey" and ("survey_score" in answers or "survey_resolved" in answers):
            done.survey_id = _store_survey(session, call, answers, vias, now)
        if call.kind == "reminder" and answers.get("reminder") == "text":
            done.sms_queued = _queue_reminder_sms(session, call, config)
        return done


def _store_survey(
    session: Any, call: OutboundCallRow, answers: dict[str, Any], vias: set[str], now: datetime
) -> int:
    score = answers.get("survey_score")
    resolved = answers.get("survey_resolved")
    row = SurveyResponseRow(
        outbound_call_id=call.id,
        customer_id=call.customer_id,
        ticket_id=call.ticket_id,
        escalation_id=call.escalation_id,
        agent=call.agent,
        score=int(score) if isinstance(score, int) and 1 <= score <= 5 else None,
        resolved=None if resolved is None else resolved == "yes",
        via="both" if len(vias) > 1 else (next(iter(vias)) if vias else "voice"),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _queue_reminder_sms(session: Any, call: OutboundCallRow, config: OutboundConfig) -> bool:
    customer = session.get(CustomerRow, call.customer_id)
    account = session.scalars(
        select(AccountRow).where(AccountRow.customer_id == call.customer_id)
    ).first()
    if customer is None or not customer.phone:
        return False
    topic = call.topic or "payment"
    body = reminder_sms(
        config.service_name,
        topic,
        amount=account.next_payment_amount if account is not None else None,
        currency=account.currency if account is not None else "GBP",
        due=(
            (account.maturing_date if topic == "maturing" else account.next_payment_date)
            if account is not None
            else None
        ),
        product=account.maturing_product if account is not None else None,
        callback_number=config.callback_number,
    )
    return enqueue(
        session,
        key=f"outbound:{call.id}:sms",
        kind=OUTBOX_SMS_KIND,
        channel="sms",
        to_number=customer.phone,
        payload={"outbound_call_id": call.id, "body": body},
    )


def should_finish_after_status(store: Store, call_sid: str) -> bool:
    """After a final "completed" status: finish now only if the session is over (it closed
    the call record) or never started; otherwise the session finishes it when it ends."""
    record = store.get_call(call_sid)
    return record is None or record.outcome is not None


@dataclass(frozen=True)
class Reconciled:
    """What one reconcile pass found."""

    ended: list[AttemptEnd]
    finished_sids: list[str]


def reconcile(store: Store, config: OutboundConfig, now: datetime | None = None) -> Reconciled:
    """Attempts whose outcome only the outbox (or the clock) knows: a dial the provider
    refused (dead), a dry run, one with no final status long after it was placed."""
    now = now or utcnow()
    stale_before = now - timedelta(seconds=config.attempt_timeout_s)
    ended: list[AttemptEnd] = []
    finish_sids: list[str] = []
    with store.read() as session:
        rows = session.execute(
            select(OutboundAttemptRow.id, OutboxRow.status, OutboxRow.dry_run, OutboxRow.last_error)
            .join(OutboxRow, OutboxRow.idempotency_key == OutboundAttemptRow.outbox_key)
            .where(OutboundAttemptRow.result == "queued")
            .where(
                (OutboxRow.status.in_(("dead", "cancelled")))
                | ((OutboxRow.status == "sent") & OutboxRow.dry_run.is_(True))
            )
        ).all()
        # dialled (the outbox sent it) long ago and never heard of again; a dial still waiting
        # in the outbox is left alone: ending it here could make the call twice
        stale = session.execute(
            select(
                OutboundAttemptRow.id, OutboundAttemptRow.result, OutboundAttemptRow.provider_sid
            )
            .join(OutboxRow, OutboxRow.idempotency_key == OutboundAttemptRow.outbox_key)
            .where(OutboundAttemptRow.result.in_(("queued", "answered_human")))
            .where(OutboxRow.status == "sent", OutboxRow.dry_run.is_(False))
            .where(OutboundAttemptRow.started_at <= stale_before)
        ).all()
    for attempt_id, status, dry_run, error in rows:
        with store.write() as session:
            found = _lock_attempt(session, attempt_id)
            if found is None:
                continue
            call, attempt = found
            if status == "sent" and dry_run:
                end = end_attempt(session, call, attempt, "dry_run", now, config)
            else:
                end = end_attempt(
                    session,
                    call,
                    attempt,
                    "failed",
                    now,
                    config,
                    permanent=True,
                    detail={"error": (error or status)[:500]},
                )
            if end is not None:
                ended.append(end)
    seen = {e.call_id for e in ended}
    for attempt_id, result, sid in stale:
        if result == "answered_human" and sid:
            finish_sids.append(sid)
            continue
        with store.write() as session:
            found = _lock_attempt(session, attempt_id)
            if found is None or found[0].id in seen:
                continue
            end = end_attempt(session, found[0], found[1], "no_status", now, config)
            if end is not None:
                ended.append(end)
    return Reconciled(ended, finish_sids)
