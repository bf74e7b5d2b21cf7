"""The outbound scheduler's rules on SQLite and PostgreSQL: calling hours (quiet hours across
midnight, the customer's window, DST), weekly check-ins, reminders and satisfaction call-backs
made once from plans and records, consent, claiming due calls into the outbox, retries and
giving up, and the checks on what staff schedule by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from carestore import Store
from carestore.errors import InvalidPhoneNumber, InvalidValue, NotFound
from carestore.outbound import OutboundRecords
from carestore.outbound_models import OutboundAttemptRow, OutboundCallRow, OutboundPlanRow
from emergency_contact.audit import audit_entries
from emergency_contact.contacts import ConsentIn
from emergency_contact.outbox import outbox_rows
from emergency_contact.policy import Policy
from emergency_contact.service import EscalationConfig, EscalationService
from ivr.outbound import results
from ivr.outbound.config import OutboundConfig
from ivr.outbound.hours import CallingHours, Window, next_allowed, next_weekly, parse_weekday
from ivr.outbound.plans import set_plan, set_preferences
from ivr.outbound.results import outcome_of
from ivr.outbound.rules import checkin_settled, end_attempt, lock_call
from ivr.outbound.scheduler import OutboundScheduler
from ivr.outbound.service import OutboundService

LONDON = ZoneInfo("Europe/London")
QUIET = Window.parse("20:00-09:00")


def _at(day: date, hh: int, mm: int = 0, zone: ZoneInfo = LONDON) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone)


def test_calling_hours_quiet_overnight_window_and_dst() -> None:
    hours = CallingHours(LONDON, QUIET)
    day = date(2026, 3, 10)
    assert next_allowed(_at(day, 12), hours) == _at(day, 12)
    assert next_allowed(_at(day, 21), hours) == _at(day + timedelta(days=1), 9)
    assert next_allowed(_at(day, 3), hours) == _at(day, 9)
    assert next_allowed(_at(day, 9), hours) == _at(day, 9)  # 09:00 itself is allowed
    assert not hours.allowed_at(_at(day, 20))  # 20:00 itself is quiet
    window = CallingHours(LONDON, QUIET, Window.parse("14:00-16:00"))
    assert next_allowed(_at(day, 10), window) == _at(day, 14)
    assert next_allowed(_at(day, 16, 30), window) == _at(day + timedelta(days=1), 14)
    # a preferred window entirely inside the quiet hours: the quiet hours win
    inside = CallingHours(LONDON, QUIET, Window.parse("22:00-23:00"))
    assert next_allowed(_at(day, 21), inside) == _at(day + timedelta(days=1), 9)
    # the clocks go forward on 29 March 2026: 09:00 BST is 08:00 UTC
    moved = next_allowed(_at(date(2026, 3, 28), 23), hours)
    assert moved == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert moved.astimezone(LONDON).hour == 9
    # the customer's own zone decides
    tokyo = CallingHours(ZoneInfo("Asia/Tokyo"), QUIET)
    noon_london = _at(day, 12)  # 21:00 in Tokyo
    assert next_allowed(noon_london, tokyo).astimezone(ZoneInfo("Asia/Tokyo")).hour == 9
    for bad in ("9-5", "25:00-09:00", "20:00", ""):
        with pytest.raises(ValueError, match="HH:MM"):
            Window.parse(bad)
    monday = next_weekly(_at(day, 12), 0, time(10, 30), LONDON)  # day is a Tuesday
    assert monday.astimezone(LONDON) == _at(date(2026, 3, 16), 10, 30)
    assert parse_weekday("Mon") == 0 and parse_weekday("sunday") == 6 and parse_weekday(3) == 3
    with pytest.raises(ValueError, match="day of the week"):
        parse_weekday("someday")


def _config(**changes) -> OutboundConfig:  # noqa: ANN003
    values = {"base_url": lambda: "http://127.0.0.1:9", "quiet": QUIET, "retry_after_s": 900}
    values.update(changes)
    return OutboundConfig(**values)


def _customer(store: Store, n: int, **account) -> int:  # noqa: ANN003
    customer = store.create_customer(f"Customer {n}", f"4000{n:04d}", phone=f"+4477009002{n:02d}")
    if account:
        store.set_account(customer.id, balance=Decimal("10.00"), **account)
    set_preferences(store, customer.id, timezone="Europe/London", actor="test")
    return customer.id


def _consent(store: Store, cid: int, kind: str = "checkin", **plan) -> None:  # noqa: ANN003
    set_plan(
        store,
        cid,
        kind,
        opted_in=True,
        actor="staff:test",
        consent=ConsentIn(given_by="the customer", method="phone"),
        **plan,
    )


def _age_plans(store: Store) -> None:
    """The plans were agreed before the days these tests play (1 March 2026)."""
    with store.write() as session:
        session.execute(update(OutboundPlanRow).values(updated_at=datetime(2026, 3, 1, tzinfo=UTC)))


def test_weekly_checkin_made_once_and_deferred_out_of_quiet_hours(store: Store) -> None:
    scheduler = OutboundScheduler(store, _config())
    cid = _customer(store, 1)
    _consent(store, cid, weekday=0, time_of_day="10:30")
    _age_plans(store)
    tuesday_noon = _at(date(2026, 3, 10), 12).astimezone(UTC)
    assert scheduler.generate(tuesday_noon) == 1
    assert scheduler.generate(tuesday_noon) == 0  # idempotent
    assert scheduler.generate(tuesday_noon + timedelta(hours=1)) == 0
    [call] = OutboundRecords(store).calls(customer_id=cid)
    assert call.key.startswith("checkin:") and call.key.endswith(":2026-03-16")
    assert call.due_at == _at(date(2026, 3, 16), 10, 30) and call.deferred_count == 0
    # a slot in the quiet hours is moved to the next allowed moment, never placed early
    set_plan(store, cid, "checkin", opted_in=True, actor="test", weekday=1, time_of_day="21:00")
    _age_plans(store)
    assert OutboundRecords(store).call(call.id).status == "cancelled"  # the old slot's call
    assert scheduler.generate(tuesday_noon) == 1
    [late] = OutboundRecords(store).calls(customer_id=cid, status=("scheduled",))
    assert late.scheduled_for == _at(date(2026, 3, 10), 21)
    assert late.due_at == _at(date(2026, 3, 11), 9) and late.deferred_count == 1
    assert "quiet hours" in (late.deferred_reason or "")
    assert scheduler.run_due(_at(date(2026, 3, 10), 21, 30)) == []  # not due yet
    # opting out cancels what is waiting; consent is needed to opt in again
    set_plan(store, cid, "checkin", opted_in=False, actor="test")
    assert OutboundRecords(store).call(late.id).status == "cancelled"
    assert scheduler.generate(tuesday_noon) == 0


def test_run_due_claims_into_the_outbox_or_defers(store: Store) -> None:
    scheduler = OutboundScheduler(store, _config())
    records = OutboundRecords(store)
    cid = _customer(store, 2)
    _consent(store, cid)
    noon = _at(date(2026, 3, 10), 12).astimezone(UTC)
    call = scheduler.schedule(cid, "checkin", actor="staff:test", now=noon)
    assert call.due_at == noon and call.status == "scheduled"
    [done] = scheduler.run_due(noon + timedelta(seconds=1))
    assert (done.call_id, done.action, done.attempt) == (call.id, "queued", 1)
    assert scheduler.run_due(noon + timedelta(seconds=2)) == []  # claimed once
    [row] = outbox_rows(store)
    assert row["key"] == f"outbound:{call.id}:a1" and row["kind"] == "outbound_call"
    assert row["to"] == "+447700900202" and row["status"] == "pending"
    [attempt] = records.attempts(call.id)
    assert (attempt.result, attempt.outbox_key) == ("queued", row["key"])
    assert records.call(call.id).status == "dialing"
    # no answer: tried again after the retry interval; the second no answer gives up
    with store.write() as session:
        c = lock_call(session, call.id)
        a = session.get(OutboundAttemptRow, attempt.id)
        end = end_attempt(session, c, a, "no_answer", noon + timedelta(minutes=1), _config())
    assert end is not None and end.retry_at == noon + timedelta(minutes=16)
    with store.write() as session:  # a duplicate callback changes nothing
        c = lock_call(session, call.id)
        a = session.get(OutboundAttemptRow, attempt.id)
        assert end_attempt(session, c, a, "busy", noon, _config()) is None
    evening = _at(date(2026, 3, 10), 19, 55).astimezone(UTC)
    with store.write() as session:  # a retry that would land in quiet hours waits for morning
        session.execute(
            update(OutboundCallRow).where(OutboundCallRow.id == call.id).values(due_at=evening)
        )
    [deferred] = scheduler.run_due(_at(date(2026, 3, 10), 20, 5).astimezone(UTC))
    assert deferred.action == "deferred" and "quiet hours" in deferred.detail
    assert records.call(call.id).due_at == _at(date(2026, 3, 11), 9)
    [second] = scheduler.run_due(_at(date(2026, 3, 11), 9, 1).astimezone(UTC))
    assert second.action == "queued" and second.attempt == 2
    attempt2 = records.attempts(call.id)[1]
    with store.write() as session:
        c = lock_call(session, call.id)
        a = session.get(OutboundAttemptRow, attempt2.id)
        end = end_attempt(session, c, a, "no_answer", noon, _config())
    assert end is not None and end.final == "unanswered" and end.escalate
    assert records.call(call.id).status == "unanswered"


def test_consent_withdrawn_before_dialling_cancels(store: Store) -> None:
    scheduler = OutboundScheduler(store, _config(quiet=None))
    cid = _customer(store, 3)
    _consent(store, cid)
    call = scheduler.schedule(cid, "checkin", actor="staff:test")
    with store.write() as session:  # consent withdrawn behind the plan's back (no opt-out)
        session.execute(update(OutboundPlanRow).values(consent_by=None))
    [done] = scheduler.run_due()
    assert done.action == "cancelled" and "consent" in done.detail
    assert OutboundRecords(store).call(call.id).outcome == "no_consent"
    assert outbox_rows(store) == []


def test_reminders_from_the_account_records(store: Store) -> None:
    scheduler = OutboundScheduler(store, _config(reminder_days_before=3))
    today = date(2026, 3, 10)
    noon = _at(today, 12).astimezone(UTC)
    soon = _customer(
        store, 4, next_payment_amount=Decimal("45.00"), next_payment_date=today + timedelta(2)
    )
    later = _customer(
        store, 5, next_payment_amount=Decimal("9.99"), next_payment_date=today + timedelta(20)
    )
    maturing = _customer(
        store, 6, maturing_product="savings bond", maturing_date=today + timedelta(days=3)
    )
    not_asked = _customer(
        store, 7, next_payment_amount=Decimal("5.00"), next_payment_date=today + timedelta(1)
    )
    for cid in (soon, later, maturing):
        _consent(store, cid, "reminder")
    assert scheduler.generate(noon) == 2
    assert scheduler.generate(noon) == 0
    calls = {c.customer_id: c for c in OutboundRecords(store).calls(kind="reminder")}
    assert set(calls) == {soon, maturing}  # not 20 days ahead; not without consent
    assert calls[soon].topic == "payment" and calls[maturing].topic == "maturing"
    assert calls[soon].key == f"reminder:payment:{soon}:{today + timedelta(days=2)}"
    assert calls[soon].due_at == noon  # its reminder day has come: now (10:00 has passed)
    assert not_asked not in calls


def test_satisfaction_call_backs_after_a_resolution(store: Store) -> None:
    svc = EscalationService(
        store, Policy.load(), EscalationConfig(base_url=lambda: "http://127.0.0.1:9")
    )
    scheduler = OutboundScheduler(store, _config(quiet=None, survey_delay_s=3600))
    from emergency_contact.records import Trigger

    cid = _customer(store, 8)
    decision = svc.trigger(None, cid, Trigger("kiosk_button"), actor="kim")
    svc.accept_agent(decision.escalation_id, "alice")
    svc.resolve(decision.escalation_id, "alice", "all well")
    ticket = store.create_ticket("A charge I do not know.", customer_id=cid)
    store.update_ticket_status(ticket.reference, "resolved", note="refunded (by bob)")
    opted_out = _customer(store, 9)
    set_plan(store, opted_out, "survey", opted_in=False, actor="test")
    other = svc.trigger(None, opted_out, Trigger("kiosk_button"), actor="kim")
    svc.resolve(other.escalation_id, "sam", "done")
    assert scheduler.generate() == 1  # one call-back per customer a day; none when declined
    assert scheduler.generate() == 0
    [call] = OutboundRecords(store).calls(kind="survey")
    assert call.customer_id == cid and call.escalation_id == decision.escalation_id
    assert call.agent == "alice" and call.due_at > datetime.now(UTC) + timedelta(minutes=50)
    by_hand = scheduler.schedule(cid, "survey", actor="sam", ticket_reference=ticket.reference)
    assert by_hand.ticket_id == ticket.id and by_hand.agent == "bob"  # "(by bob)" in the note


def test_scheduling_by_hand_is_checked(store: Store) -> None:
    scheduler = OutboundScheduler(store, _config())
    cid = _customer(store, 10)
    other = _customer(store, 11)
    nophone = store.create_customer("No Phone", "40009999").id
    theirs = store.create_ticket("Not yours.", customer_id=other)
    store.update_ticket_status(theirs.reference, "resolved")
    now = datetime.now(UTC)
    with pytest.raises(NotFound, match="no customer with id 424242"):
        scheduler.schedule(424242, "checkin", actor="t")
    with pytest.raises(InvalidPhoneNumber, match="no phone number"):
        scheduler.schedule(nophone, "reminder", actor="t")
    with pytest.raises(InvalidValue, match="not agreed to check-in calls"):
        scheduler.schedule(cid, "checkin", actor="t")
    with pytest.raises(InvalidValue, match="no payment or maturing product due"):
        scheduler.schedule(cid, "reminder", actor="t")
    with pytest.raises(InvalidValue, match="not customer"):
        scheduler.schedule(cid, "survey", actor="t", ticket_reference=theirs.reference)
    with pytest.raises(InvalidValue, match="kind must be one of"):
        scheduler.schedule(cid, "chat", actor="t")
    _consent(store, cid)
    with pytest.raises(InvalidValue, match="in the past"):
        scheduler.schedule(cid, "checkin", actor="t", at=now - timedelta(minutes=5))
    with pytest.raises(InvalidValue, match="timezone"):
        scheduler.schedule(cid, "checkin", actor="t", at=datetime(2030, 1, 1, 10))
    with pytest.raises(InvalidValue, match="no consent on record"):
        set_plan(store, other, "reminder", opted_in=True, actor="t")
    with pytest.raises(InvalidValue, match="both a day and a time"):
        set_plan(store, cid, "checkin", opted_in=True, actor="t", weekday=2)
    with pytest.raises(InvalidValue, match="HH:MM"):
        set_plan(store, cid, "checkin", opted_in=True, actor="t", weekday=2, time_of_day="25:61")
    with pytest.raises(InvalidValue, match="unknown time zone"):
        set_preferences(store, cid, timezone="Atlantis/Capital", actor="t")
    assert OutboundRecords(store).calls() == []
    with store.read() as session:
        trail = [e.action for e in audit_entries(session, customer_id=cid)]
    assert "outbound_opted_in" in trail


def test_outcomes_in_a_word() -> None:
    assert outcome_of("checkin", {"checkin": "well"}, "hangup:checkin_well") == "well"
    assert outcome_of("checkin", {"checkin": "not_well"}, "transfer:x") == "not_well"
    assert outcome_of("checkin", {}, "transfer:help") == "escalated"
    assert outcome_of("checkin", {}, None) == "hung_up"
    assert outcome_of("checkin", {}, "hangup:wrong_person") == "wrong_person"
    assert outcome_of("reminder", {"reminder": "text"}, "hangup:reminder_text") == "text_requested"
    assert outcome_of("reminder", {}, "hangup:reminder_nothing_due") == "nothing_due"
    assert outcome_of("reminder", {}, "transfer:caller_asked") == "transferred"
    both = {"survey_score": 4, "survey_resolved": "yes"}
    assert outcome_of("survey", both, "hangup:survey_done") == "survey_done"
    assert outcome_of("survey", {"survey_score": 2}, None) == "survey_partial"


def test_checkin_not_confirmed_is_tried_again_and_counts_toward_the_attempts(
    store: Store,
) -> None:
    """Someone else answers (tried again 2 hours later), the person hangs up before saying
    how they are (15 minutes later, moved out of the quiet hours), then stays silent: with the
    attempts spent the call ends unanswered and `checkin_no_answer` is raised, its evidence
    saying what each attempt came to."""
    config = _config(max_attempts=3, unconfirmed_retry_s=900, wrong_person_retry_s=7200)
    scheduler = OutboundScheduler(store, config)
    records = OutboundRecords(store)
    cid = _customer(store, 13)
    _consent(store, cid)
    day = date(2026, 3, 10)
    noon = _at(day, 12).astimezone(UTC)
    call = scheduler.schedule(cid, "checkin", actor="t", now=noon)

    def answered(at: datetime, ended_by: str | None) -> results.Finished:
        """A person picks up the attempt placed at `at`; the dialog ends two minutes later
        with a hangup of reason `ended_by` (None: the line went dead before any)."""
        [placed] = scheduler.run_due(at)
        assert placed.action == "queued", placed
        attempt = records.attempts(call.id)[-1]
        sid = f"CArules{call.id}n{attempt.number}"
        form = {"AnsweredBy": "human", "CallSid": sid}
        assert results.on_answer(store, config, attempt.id, form).verdict == "human"
        store.start_call(sid, customer_id=cid, direction="outbound")
        if ended_by:
            store.add_event(sid, "hangup", data={"reason": ended_by})
        done = results.finish(store, config, sid, now=at + timedelta(minutes=2))
        assert done is not None and results.finish(store, config, sid) is None  # once
        return done

    wrong = answered(noon, "wrong_person")
    assert wrong.outcome == "wrong_person" and wrong.end is not None
    assert wrong.end.retry_at == noon + timedelta(minutes=2, hours=2) and not wrong.end.escalate
    later = records.call(call.id)
    assert (later.status, later.outcome, later.attempts) == ("scheduled", None, 1)
    [retry] = later.result["retries"]
    assert retry["result"] == "wrong_person" and "someone else answered" in retry["why"]
    assert scheduler.run_due(wrong.end.retry_at - timedelta(seconds=1)) == []  # not before
    # 19:50: answered, hung up before the wellbeing answer; 15 minutes on is quiet hours
    evening = _at(day, 19, 50).astimezone(UTC)
    hung = answered(evening, None)
    assert hung.outcome == "hung_up" and hung.end is not None
    morning = _at(day + timedelta(days=1), 9)
    assert hung.end.retry_at == morning
    moved = records.call(call.id)
    assert moved.status == "scheduled" and "quiet hours" in (moved.deferred_reason or "")
    retry = moved.result["retries"][-1]
    assert retry["after_attempt"] == 2 and retry["retry_at"] == morning.isoformat()
    assert "before they said whether they are well" in retry["why"]
    assert "quiet hours 20:00-09:00" in retry["deferred"]
    assert scheduler.run_due(_at(day, 23).astimezone(UTC)) == []  # nothing in the night
    [first, second] = records.attempts(call.id)
    assert (first.result, first.outcome) == ("completed", "wrong_person")
    assert (second.result, second.outcome) == ("completed", "hung_up")
    assert second.detail["retry_at"] == morning.isoformat() and second.detail["why"]
    # the third and last attempt: silence until the flow gave up
    silent = answered(morning.astimezone(UTC) + timedelta(minutes=1), "no_reply")
    assert silent.outcome == "no_reply" and silent.end is not None
    assert silent.end.final == "unanswered" and silent.end.escalate
    given_up = records.call(call.id)
    assert (given_up.status, given_up.outcome) == ("unanswered", "no_reply")
    assert "nothing was heard" in given_up.result["why"]
    escalation = EscalationService(
        store, Policy.load(), EscalationConfig(base_url=lambda: "http://127.0.0.1:9")
    )
    service = OutboundService(store, config, escalation)
    assert service.raise_pending_escalations() == 1
    assert service.raise_pending_escalations() == 0  # once
    esc = escalation.get(records.call(call.id).raised_escalation_id)
    assert esc.trigger_kind == "checkin_no_answer" and esc.customer_id == cid
    assert esc.call_sid == f"CArules{call.id}n3"  # the last answered call: its transcript
    outcomes = [a["outcome"] for a in esc.evidence["attempts"]]
    assert outcomes == ["wrong_person", "hung_up", "no_reply"] and esc.evidence["answered"]
    assert "not confirmed well after 3 attempt(s)" in esc.evidence["summary"]


def test_an_answered_checkin_is_settled_only_by_an_answer_or_a_person() -> None:
    assert [o for o in ("well", "not_well", "escalated") if checkin_settled(o)] == [
        "well",
        "not_well",
        "escalated",
    ]
    unsettled = ("hung_up", "no_reply", "said_goodbye", "wrong_person", "ended")
    assert not any(checkin_settled(o) for o in unsettled)
    assert outcome_of("checkin", {}, "hangup:no_reply") == "no_reply"
    assert outcome_of("checkin", {}, "hangup:caller_goodbye") == "said_goodbye"
    assert outcome_of("reminder", {}, "hangup:caller_goodbye") == "heard"  # as before
    assert outcome_of("checkin", {}, "transfer:distress") == "escalated"


def test_the_customers_own_window_is_respected(store: Store) -> None:
    scheduler = OutboundScheduler(store, _config())
    cid = _customer(store, 12)
    _consent(store, cid)
    set_preferences(store, cid, window="14:00-16:00", actor="test")
    morning = _at(date(2026, 3, 10), 10).astimezone(UTC)
    call = scheduler.schedule(cid, "checkin", actor="t", now=morning)
    assert call.due_at == _at(date(2026, 3, 10), 14)
    assert "outside preferred 14:00-16:00" in (call.deferred_reason or "")
    assert scheduler.run_due(_at(date(2026, 3, 10), 13, 59).astimezone(UTC)) == []
    [placed] = scheduler.run_due(_at(date(2026, 3, 10), 14, 1).astimezone(UTC))
    assert placed.action == "queued"
    set_preferences(store, cid, window="", actor="test")  # cleared: the quiet hours only
    assert OutboundRecords(store).preferences(cid).window_from is None


def test_outbound_wording_per_dialect_falls_back_to_english() -> None:
    from ivr.outbound.context import bundle_for

    dialect, bundle = bundle_for("en-scotland", "en")
    assert dialect == "en-scotland" and "checkin_ask" in bundle.prompts
    dialect, bundle = bundle_for("ko", "en")  # Korean words the outbound flow now
    assert dialect == "ko" and bundle.prompts.language == "ko"
    assert "잘 지내세요" in bundle.prompts.texts["checkin_ask"]
    dialect, bundle = bundle_for("xx-none", "en")  # a pack that cannot be loaded here
    assert dialect == "en" and bundle.prompts.language == "en"
