"""Outbound calls end to end: the real app (scheduler loop, outbox worker, call session,
recognizer, TTS, SQLite) dials through the Twilio REST stand-in; a person's answer is played
over the real media websocket with synthesized speech and real keypresses.

Check-in answered and well; answered with "no" (the escalation follows, with the transcript);
unanswered twice (the first emergency contact is called); an answering machine (a short
message without personal details, a retry, every attempt stored); quiet hours (nothing placed,
then placed once allowed); reminder choices (hear again, a text message, a person); a
satisfaction call-back stored against the ticket and the agent. Check-ins nobody confirmed:
answered then hung up (tried again after the delay, then well; or hung up again: the first
contact is told), someone else answering (nothing personal said, tried again later, never
reaching the person ends like the unanswered case), a retry moved out of the quiet hours."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from call_fixtures import closed_call, spoken, wait_key
from outbound_rig import (
    FROM_NUMBER,
    Rig,
    answered,
    night_zone,
    outbound_rig,
    run,
    settle,
    zone_where,
)
from test_web_support import client_for

from emergency_contact.contacts import ConsentIn, ContactBook, ContactIn
from ivr.outbound.hours import next_allowed


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with outbound_rig(Path(tmp_path_factory.mktemp("outbound"))) as r:
        yield r


def _said(rig: Rig, call_sid: str) -> list[str]:
    return [s.intent or "" for s in rig.store.transcript(call_sid) if s.speaker == "system"]


def _caller(rig: Rig, call_sid: str) -> list[tuple[str, str | None]]:
    return [(s.text, s.intent) for s in rig.store.transcript(call_sid) if s.speaker == "caller"]


def test_checkin_answered_and_well(rig: Rig) -> None:
    phone = "+447700900101"
    cid = rig.add_customer("Mrs Ada Parker", phone, "30000101")
    rig.consent(cid)
    alice = client_for(rig.base, "alice")
    made = alice.post("/api/outbound/calls", json={"customer_id": cid, "kind": "checkin"})
    assert made.status_code == 201, made.text
    call_id = made.json()["id"]

    created = rig.wait_calls_to(phone)[0]  # the app's own scheduler loop and outbox worker
    form = created.form
    assert form["From"] == FROM_NUMBER
    assert form["MachineDetection"] == "DetectMessageEndpoint"
    assert "/outbound/twilio/answer?a=" in form["Url"]
    assert "/outbound/twilio/status?a=" in form["StatusCallback"]
    assert form["Timeout"] == str(rig.settings.outbound_ring_timeout_s)

    async def person(call) -> None:  # noqa: ANN001
        await wait_key(call, "confirm_identity")
        await call.say_pcm(spoken("yes"))
        await wait_key(call, "checkin_ask")
        await call.say_pcm(spoken("yes"))

    sim = run(answered(rig, created, person))
    assert "<Hangup" in (sim.action_twiml or ""), sim.action_twiml
    record = closed_call(rig.store, created.sid)
    assert record.direction == "outbound" and record.customer_id == cid

    call = rig.wait_call(call_id, lambda c: c.status == "completed")
    assert call.outcome == "well" and call.attempts == 1
    [attempt] = rig.records.attempts(call_id)
    assert attempt.result == "completed" and attempt.outcome == "well"
    assert attempt.answered_by == "human" and attempt.provider_sid == created.sid
    said = _said(rig, created.sid)
    assert said[:2] == ["outbound_hello", "listening_notice"], said
    assert "checkin_glad" in said and "transfer_person" not in said
    heard = _caller(rig, created.sid)
    assert [intent for _, intent in heard] == ["yes", "yes"], heard
    hello = next(s.text for s in rig.store.transcript(created.sid) if s.intent == "outbound_hello")
    assert rig.settings.service_name in hello  # who is calling, before anything personal
    scrape = httpx.get(rig.base + "/metrics", timeout=10).text
    assert 'ivr_outbound_attempts_total{kind="checkin",outcome="answered"}' in scrape
    alice.close()


def test_checkin_answered_with_no_escalates_with_the_transcript(rig: Rig) -> None:
    phone = "+447700900102"
    cid = rig.add_customer("Mr Bill Hughes", phone, "30000102")
    rig.consent(cid)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    created = rig.wait_calls_to(phone)[0]

    async def person(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(spoken("yes"))
        await wait_key(sim, "checkin_ask")
        await sim.say_pcm(spoken("no"))

    sim = run(answered(rig, created, person))
    dial = ET.fromstring(sim.action_twiml or "<Response/>").find("Dial")
    assert dial is not None, sim.action_twiml  # handed to a person at once
    assert dial.find("Client").findtext("Identity") == "duty-agent"
    done = rig.wait_call(call.id, lambda c: c.status == "completed")
    assert done.outcome == "not_well"
    esc = rig.deps.escalation.for_call(created.sid)
    assert esc is not None and esc.trigger_kind == "checkin_not_well"
    assert esc.customer_id == cid and esc.severity == "high" and esc.channel == "outbound"
    assert done.raised_escalation_id == esc.id
    package = rig.deps.escalation.package(esc.id)
    words = [t for t in package["caller_words"]]
    assert words[-1].strip().lower() == "no", package["caller_words"]
    assert package["intents"][-1] == "no"
    assert "checkin_not_well" in _said(rig, created.sid)


def test_unanswered_twice_tells_the_first_contact(rig: Rig) -> None:
    phone, daughter, son = "+447700900103", "+447700900113", "+447700900123"
    cid = rig.add_customer("Mrs Cora Lane", phone, "30000103")
    rig.consent(cid)
    book = ContactBook(rig.store)
    for name, number in (("Jo Lane", daughter), ("Tim Lane", son)):
        book.add(
            cid,
            ContactIn(
                name=name,
                relationship="daughter" if name == "Jo Lane" else "son",
                phone=number,
                consent=ConsentIn(given_by=name, method="phone"),
            ),
            "staff:test",
        )
    rig.standin.script[phone] = "no-answer"
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    rig.wait_calls_to(phone, 2)  # the first attempt, then the retry
    told = rig.wait_calls_to(daughter)[0]  # the escalation policy's first contact
    assert "/escalation/twilio/contact-call" in told.form["Url"]
    done = rig.wait_call(call.id, lambda c: c.raised_escalation_id is not None)
    assert done.status == "unanswered" and done.outcome == "no_answer" and done.attempts == 2
    attempts = rig.records.attempts(call.id)
    assert [a.result for a in attempts] == ["no_answer", "no_answer"]
    assert attempts[1].started_at - attempts[0].started_at >= timedelta(
        seconds=rig.settings.outbound_retry_after_s
    )
    esc = rig.deps.escalation.get(done.raised_escalation_id)
    assert esc.trigger_kind == "checkin_no_answer" and esc.customer_id == cid
    assert [a["result"] for a in esc.evidence["attempts"]] == ["no_answer", "no_answer"]
    assert rig.calls_to(son) == []  # only the first contact so far
    assert len(rig.calls_to(phone)) == 2  # never a third dial


def test_answering_machine_gets_a_short_message_and_a_retry(rig: Rig) -> None:
    phone = "+447700900104"
    cid = rig.add_customer(
        "Mrs Dora Finch",
        phone,
        "30000104",
        next_payment_amount=Decimal("45.00"),
        next_payment_date=datetime.now(UTC).date() + timedelta(days=2),
    )
    rig.standin.script[phone] = "voicemail"
    call = rig.outbound.schedule(cid, "reminder", actor="test")
    rig.wait_calls_to(phone, 2)  # a machine answered, and the call was tried again later
    done = rig.wait_call(call.id, lambda c: c.status == "unanswered")
    attempts = rig.records.attempts(call.id)
    assert [(a.result, a.answered_by) for a in attempts] == [
        ("machine", "machine_end_beep"),
        ("machine", "machine_end_beep"),
    ]
    assert done.outcome == "machine" and done.raised_escalation_id is None  # not a check-in
    # the stand-in records a webhook when its response arrives, which can be after the call's
    # record has changed: wait for both answer pages
    pages = rig.standin.wait_for(
        lambda: (
            len(p := [w for w in rig.standin.webhooks if "/outbound/twilio/answer" in w.url]) >= 2
            and p
        ),
        what="both answer webhooks",
    )
    assert len(pages) == 2 and all(p.status == 200 for p in pages)
    twiml = pages[0].body
    assert "<Say" in twiml and "<Hangup" in twiml and "<Connect" not in twiml
    said = " ".join(t.text or "" for t in ET.fromstring(twiml).iter("Say"))
    assert rig.settings.service_name in said and "nine zero zero" in said  # who, and call back
    for personal in ("Dora", "Finch", "45", "payment", "reminder"):
        assert personal.lower() not in said.lower(), said
    assert len(said.split()) < 60  # short


def test_quiet_hours_nothing_placed_then_placed(rig: Rig) -> None:
    phone = "+447700900105"
    zone = night_zone()
    cid = rig.add_customer("Mr Ed Moss", phone, "30000105", zone=zone)
    rig.consent(cid)
    now = datetime.now(UTC)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    local_due = call.due_at.astimezone(ZoneInfo(zone))
    assert call.due_at > now and (local_due.hour, local_due.minute) == (9, 0), local_due
    assert call.deferred_count == 1 and "quiet hours 20:00-09:00" in (call.deferred_reason or "")
    settle(2.0)  # several passes of the app's scheduler loop
    assert rig.calls_to(phone) == []
    assert rig.records.call(call.id).status == "scheduled"
    assert rig.records.attempts(call.id) == []
    # the clock reaches the first allowed moment (the scheduler's own pass, at that time)
    report = rig.outbound.tick(now=call.due_at + timedelta(seconds=1))
    assert [(d.call_id, d.action) for d in report.due if d.call_id == call.id] == [
        (call.id, "queued")
    ]
    created = rig.wait_calls_to(phone)
    assert len(created) == 1
    placed = rig.records.attempts(call.id)[0]
    assert placed.started_at >= call.due_at
    assert next_allowed(placed.started_at, _hours(rig, cid)) == placed.started_at


def _hours(rig: Rig, customer_id: int):  # noqa: ANN202
    from ivr.outbound.rules import calling_hours

    with rig.store.read() as session:
        return calling_hours(session, customer_id, rig.outbound.config)


def test_reminder_hear_again_then_a_text(rig: Rig) -> None:
    phone = "+447700900106"
    due = datetime.now(UTC).date() + timedelta(days=3)
    cid = rig.add_customer(
        "Mrs Flo Grant",
        phone,
        "30000106",
        next_payment_amount=Decimal("12.99"),
        next_payment_date=due,
    )
    call = rig.outbound.schedule(cid, "reminder", actor="test")
    created = rig.wait_calls_to(phone)[0]

    async def person(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.press("1")  # yes, by keypad
        await wait_key(sim, "reminder_choice")
        await sim.press("1")  # hear it again
        await wait_key(sim, "reminder_choice")
        await sim.press("2")  # a text message (the keypad: "text" is not heard reliably)
        await wait_key(sim, "reminder_text_sent")

    run(answered(rig, created, person))
    done = rig.wait_call(call.id, lambda c: c.status == "completed")
    assert done.outcome == "text_requested"
    said = _said(rig, created.sid)
    assert said.count("reminder_payment") == 2, said
    explained = next(
        s.text for s in rig.store.transcript(created.sid) if s.intent == "reminder_payment"
    )
    assert "12 pounds and 99 pence" in explained and f"{due.day}" in explained
    sms = rig.standin.wait_for(
        lambda: [r for r in rig.standin.created("Messages") if r.form["To"] == phone],
        what="the reminder text",
    )
    body = sms[0].form["Body"]
    assert "£12.99" in body and due.strftime("%B") in body and FROM_NUMBER in body


def test_reminder_talk_to_a_person(rig: Rig) -> None:
    phone = "+447700900107"
    cid = rig.add_customer(
        "Mr Gus Hale",
        phone,
        "30000107",
        maturing_product="fixed rate savings bond",
        maturing_date=datetime.now(UTC).date() + timedelta(days=10),
    )
    call = rig.outbound.schedule(cid, "reminder", actor="test")
    assert call.topic == "maturing"
    created = rig.wait_calls_to(phone)[0]

    async def person(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(spoken("yes"))
        await wait_key(sim, "reminder_choice")
        await sim.press("3")  # talk to a person

    sim = run(answered(rig, created, person))
    assert ET.fromstring(sim.action_twiml or "<Response/>").find("Dial") is not None
    done = rig.wait_call(call.id, lambda c: c.status == "completed")
    assert done.outcome == "transferred"
    assert "reminder_maturing" in _said(rig, created.sid)
    esc = rig.deps.escalation.for_call(created.sid)
    assert esc is not None and esc.trigger_kind == "person_request"


def test_satisfaction_call_back_stored_against_ticket_and_agent(rig: Rig) -> None:
    phone = "+447700900108"
    cid = rig.add_customer("Mrs Hetty Shaw", phone, "30000108")
    ticket = rig.store.create_ticket("My card was charged twice.", customer_id=cid)
    alice = client_for(rig.base, "alice")
    answer = alice.post(
        f"/api/agent/tickets/{ticket.reference}/status",
        json={"status": "resolved", "note": "refund sent"},
    )
    assert answer.status_code == 200, answer.text
    survey = rig.standin.wait_for(  # made by the scheduler loop from the resolved ticket
        lambda: rig.records.calls(customer_id=cid, kind="survey"), what="a survey call"
    )[0]
    assert survey.ticket_id == ticket.id and survey.agent == "alice"
    created = rig.wait_calls_to(phone)[0]

    async def person(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(spoken("yes"))
        await wait_key(sim, "survey_score")
        await sim.press("4")  # the keypad for the score
        await wait_key(sim, "survey_resolved")
        await sim.say_pcm(spoken("yes"))  # the voice for yes

    run(answered(rig, created, person))
    done = rig.wait_call(survey.id, lambda c: c.status == "completed")
    assert done.outcome == "survey_done"
    [response] = rig.records.survey_responses(ticket_id=ticket.id)
    assert (response.agent, response.score, response.resolved) == ("alice", 4, True)
    assert response.via == "both" and response.customer_id == cid
    sam = client_for(rig.base, "sam")
    listed = sam.get("/api/outbound/surveys", params={"agent": "alice"}).json()
    assert [r["ticket_id"] for r in listed] == [ticket.id]
    assert alice.get("/api/outbound/surveys").status_code == 403  # supervisors only
    settle(1.0)
    assert len(rig.records.calls(customer_id=cid, kind="survey")) == 1  # one call-back, once
    alice.close()
    sam.close()


def test_api_bad_input_is_refused_clearly_and_changes_nothing(rig: Rig) -> None:
    cid = rig.add_customer("Mr Ivo Barr", "+447700900109", "30000109")
    nophone = rig.store.create_customer("Mrs No Phone", "30000110").id
    before = len(rig.records.calls(limit=1000))
    assert httpx.post(rig.base + "/api/outbound/calls", json={}).status_code == 401
    kim, alice = client_for(rig.base, "kim"), client_for(rig.base, "alice")
    body = {"customer_id": cid, "kind": "reminder"}
    assert kim.post("/api/outbound/calls", json=body).status_code == 403  # kiosk staff
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases = [
        ({"customer_id": 999999, "kind": "checkin"}, 404, "no customer"),
        ({"customer_id": nophone, "kind": "reminder"}, 422, "no phone number"),
        ({"customer_id": cid, "kind": "checkin"}, 422, "consent"),
        ({"customer_id": cid, "kind": "reminder"}, 422, "no payment or maturing"),
        ({"customer_id": cid, "kind": "survey"}, 422, "no resolved ticket"),
        ({"customer_id": cid, "kind": "survey", "ticket": "999999"}, 404, "no ticket"),
        ({"customer_id": cid, "kind": "nap"}, 422, "checkin"),
        ({"customer_id": cid, "kind": "checkin", "at": "2030-01-01T10:00:00"}, 422, "timezone"),
        ({"customer_id": cid, "kind": "checkin", "at": "tomorrow"}, 422, "datetime"),
    ]
    for payload, status, words in cases:
        answer = alice.post("/api/outbound/calls", json=payload)
        assert answer.status_code == status, (payload, answer.text)
        assert words in answer.text, (payload, answer.text)
    rig.consent(cid)  # consent on record: now only the time is wrong
    answer = alice.post(
        "/api/outbound/calls", json={"customer_id": cid, "kind": "checkin", "at": past}
    )
    assert answer.status_code == 422 and "in the past" in answer.text, answer.text
    plan = alice.put(f"/api/outbound/customers/{cid}/plans/reminder", json={"opted_in": True})
    assert plan.status_code == 422 and "no consent on record" in plan.text
    bad_day = alice.put(
        f"/api/outbound/customers/{cid}/plans/checkin",
        json={"opted_in": True, "weekday": "someday", "time": "10:00"},
    )
    assert bad_day.status_code == 422 and "day of the week" in bad_day.text
    bad_zone = kim.put(
        f"/api/outbound/customers/{cid}/preferences", json={"timezone": "Mars/Olympus"}
    )
    assert bad_zone.status_code == 422 and "unknown time zone" in bad_zone.text
    bad_window = kim.put(f"/api/outbound/customers/{cid}/preferences", json={"window": "9-5"})
    assert bad_window.status_code == 422 and "HH:MM" in bad_window.text
    assert len(rig.records.calls(limit=1000)) == before  # nothing was stored
    # a call in progress cannot be cancelled; a waiting one can, once
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    waiting = alice.post(
        "/api/outbound/calls", json={"customer_id": cid, "kind": "checkin", "at": later}
    )
    assert waiting.status_code == 201, waiting.text
    cancel = f"/api/outbound/calls/{waiting.json()['id']}/cancel"
    assert alice.post(cancel).status_code == 200
    again = alice.post(cancel)
    assert again.status_code == 409 and "cancelled" in again.text
    assert alice.post("/api/outbound/calls/999999/cancel").status_code == 404
    listed = alice.get("/api/outbound/calls", params={"customer_id": cid}).json()
    assert [c["status"] for c in listed] == ["cancelled"]
    assert alice.get("/api/outbound/calls", params={"status": "napping"}).status_code == 422
    plans = kim.get(f"/api/outbound/customers/{cid}/plans").json()
    assert [p["kind"] for p in plans["plans"]] == ["checkin"]
    assert plans["plans"][0]["consent_by"] == "the customer"
    viewed = [e for e in ContactBook(rig.store).audit_log(cid) if e.action == "viewed"]
    assert ("kim", "outbound_plans_api") in [(e.actor, e.data["what"]) for e in viewed]
    for client in (kim, alice):
        client.close()


# ----- check-ins nobody confirmed: answered then hung up, someone else answering -----


def _with_contacts(rig: Rig, cid: int, *numbers: str) -> None:
    book = ContactBook(rig.store)
    for n, number in enumerate(numbers):
        book.add(
            cid,
            ContactIn(
                name=f"Contact {n + 1}",
                relationship="daughter" if n == 0 else "son",
                phone=number,
                consent=ConsentIn(given_by=f"Contact {n + 1}", method="phone"),
            ),
            "staff:test",
        )


async def _hangs_up_at_the_wellbeing_question(sim) -> None:  # noqa: ANN001
    await wait_key(sim, "confirm_identity")
    await sim.say_pcm(spoken("yes"))
    await wait_key(sim, "checkin_ask")
    await sim.hangup()  # before saying whether they are well


def _retry_after(rig: Rig, call_id: int, attempts: int):  # noqa: ANN202
    """The call once its attempt `attempts` ended unsettled and the next one is waiting."""
    return rig.wait_call(
        call_id,
        lambda c: c.status == "scheduled" and len((c.result or {}).get("retries", [])) == attempts,
    )


def test_checkin_hung_up_before_answering_is_tried_again_then_well(rig: Rig) -> None:
    phone, daughter = "+447700900131", "+447700900132"
    cid = rig.add_customer("Mrs Jean Rowe", phone, "30000131")
    rig.consent(cid)
    _with_contacts(rig, cid, daughter)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    first = rig.wait_calls_to(phone)[0]
    run(answered(rig, first, _hangs_up_at_the_wellbeing_question))

    waiting = _retry_after(rig, call.id, 1)  # not completed as well: tried again soon
    [attempt] = rig.records.attempts(call.id)
    assert (attempt.result, attempt.outcome) == ("completed", "hung_up")
    delay = timedelta(seconds=rig.settings.outbound_unconfirmed_retry_s)
    assert delay == timedelta(minutes=15)  # the default
    assert waiting.due_at == attempt.ended_at + delay and waiting.deferred_count == 0
    assert waiting.outcome is None and waiting.raised_escalation_id is None
    [retry] = waiting.result["retries"]
    assert retry["result"] == "hung_up" and retry["after_attempt"] == 1
    assert "before they said whether they are well" in retry["why"]
    alice = client_for(rig.base, "alice")  # the API shows the retry and why
    shown = alice.get(f"/api/outbound/calls/{call.id}").json()
    assert shown["status"] == "scheduled" and shown["result"]["retries"] == [retry]
    assert shown["attempt_list"][0]["detail"]["why"] == retry["why"]
    assert shown["attempt_list"][0]["detail"]["retry_at"] == waiting.due_at.isoformat()
    alice.close()
    settle(1.0)
    assert len(rig.calls_to(phone)) == 1  # not before the delay
    # the clock reaches the retry (the scheduler's own pass, at that time)
    report = rig.outbound.tick(now=waiting.due_at + timedelta(seconds=1))
    assert (call.id, "queued") in [(d.call_id, d.action) for d in report.due]
    second = rig.wait_calls_to(phone, 2)[1]

    async def well(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(spoken("yes"))
        await wait_key(sim, "checkin_ask")
        await sim.say_pcm(spoken("yes"))  # "yes, I'm fine"

    run(answered(rig, second, well))
    done = rig.wait_call(call.id, lambda c: c.status == "completed")
    assert done.outcome == "well" and done.attempts == 2 and done.raised_escalation_id is None
    attempts = rig.records.attempts(call.id)
    assert [(a.result, a.outcome) for a in attempts] == [
        ("completed", "hung_up"),
        ("completed", "well"),
    ]
    assert "checkin_glad" in _said(rig, second.sid)
    settle(1.0)
    assert rig.deps.escalation.for_call(first.sid) is None
    assert rig.deps.escalation.for_call(second.sid) is None
    assert rig.calls_to(daughter) == [] and len(rig.calls_to(phone)) == 2


def test_checkin_silent_until_the_flow_gives_up_is_tried_again(rig: Rig) -> None:
    phone = "+447700900139"
    cid = rig.add_customer("Mrs Ivy Bell", phone, "30000139")
    rig.consent(cid)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    created = rig.wait_calls_to(phone)[0]

    async def silent(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(spoken("yes"))
        await wait_key(sim, "checkin_ask")  # then nothing: the line stays open, silent

    sim = run(answered(rig, created, silent))
    assert "<Hangup" in (sim.action_twiml or ""), sim.action_twiml  # not a silent transfer
    waiting = _retry_after(rig, call.id, 1)
    [attempt] = rig.records.attempts(call.id)
    assert (attempt.result, attempt.outcome) == ("completed", "no_reply")
    delay = timedelta(seconds=rig.settings.outbound_unconfirmed_retry_s)
    assert waiting.due_at == attempt.ended_at + delay
    said = _said(rig, created.sid)
    assert said.count("checkin_ask_reprompt") == 2 and said[-1] == "outbound_no_reply", said
    assert rig.deps.escalation.for_call(created.sid) is None


def test_checkin_hung_up_on_every_attempt_tells_the_first_contact(rig: Rig) -> None:
    phone, daughter, son = "+447700900133", "+447700900134", "+447700900135"
    cid = rig.add_customer("Mr Ken Rowe", phone, "30000133")
    rig.consent(cid)
    _with_contacts(rig, cid, daughter, son)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    assert call.max_attempts == rig.settings.outbound_max_attempts == 2
    first = rig.wait_calls_to(phone)[0]
    run(answered(rig, first, _hangs_up_at_the_wellbeing_question))
    waiting = _retry_after(rig, call.id, 1)
    assert rig.calls_to(daughter) == []  # one unconfirmed call does not escalate
    rig.outbound.tick(now=waiting.due_at + timedelta(seconds=1))
    second = rig.wait_calls_to(phone, 2)[1]

    async def hangs_up_at_once(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.hangup()  # picked up, and put the phone down again

    run(answered(rig, second, hangs_up_at_once))
    told = rig.wait_calls_to(daughter)[0]  # the escalation policy's first contact
    assert "/escalation/twilio/contact-call" in told.form["Url"]
    done = rig.wait_call(call.id, lambda c: c.raised_escalation_id is not None)
    assert done.status == "unanswered" and done.outcome == "hung_up" and done.attempts == 2
    assert "attempt 2 of 2" in done.result["why"]
    esc = rig.deps.escalation.get(done.raised_escalation_id)
    assert esc.trigger_kind == "checkin_no_answer" and esc.customer_id == cid
    assert esc.call_sid == second.sid  # the last answered call: its transcript goes along
    assert [a["outcome"] for a in esc.evidence["attempts"]] == ["hung_up", "hung_up"]
    assert esc.evidence["answered"] and "not confirmed well after 2" in esc.evidence["summary"]
    assert rig.calls_to(son) == []  # only the first contact so far
    assert len(rig.calls_to(phone)) == 2  # never a third dial


def test_wrong_person_is_tried_again_later_and_hears_nothing_personal(rig: Rig) -> None:
    phone, daughter = "+447700900136", "+447700900137"
    cid = rig.add_customer("Mr Walter Price", phone, "30000136")
    rig.consent(cid, weekday=0, time_of_day="10:30")
    _with_contacts(rig, cid, daughter)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    first = rig.wait_calls_to(phone)[0]

    async def someone_else(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(spoken("no"))  # "no, this is his neighbour"

    sim = run(answered(rig, first, someone_else))
    assert "<Hangup" in (sim.action_twiml or ""), sim.action_twiml
    waiting = _retry_after(rig, call.id, 1)
    [attempt] = rig.records.attempts(call.id)
    assert (attempt.result, attempt.outcome) == ("completed", "wrong_person")
    delay = timedelta(seconds=rig.settings.outbound_wrong_person_retry_s)
    assert delay == timedelta(hours=2)  # the default
    assert waiting.due_at == attempt.ended_at + delay
    assert "someone else answered" in waiting.result["retries"][0]["why"]
    # nothing personal: who is calling, "Am I speaking with ...?", an apology, goodbye
    assert _said(rig, first.sid) == [
        "outbound_hello",
        "listening_notice",
        "confirm_identity",
        "outbound_wrong_person",
    ]
    spoken_after = [
        s.text
        for s in rig.store.transcript(first.sid)
        if s.speaker == "system" and s.intent != "confirm_identity"
    ]
    for personal in ("Walter", "Price", "check-in", "well", "Monday", "account", "payment"):
        assert not any(personal.lower() in t.lower() for t in spoken_after), spoken_after
    settle(1.0)  # no escalation from a wrong person
    assert rig.deps.escalation.for_call(first.sid) is None
    assert rig.records.call(call.id).raised_escalation_id is None
    assert rig.calls_to(daughter) == [] and len(rig.calls_to(phone)) == 1
    # never reaching the person within the attempt limit ends like an unanswered check-in
    rig.outbound.tick(now=waiting.due_at + timedelta(seconds=1))
    second = rig.wait_calls_to(phone, 2)[1]
    run(answered(rig, second, someone_else))
    rig.wait_calls_to(daughter)
    done = rig.wait_call(call.id, lambda c: c.raised_escalation_id is not None)
    assert (done.status, done.outcome) == ("unanswered", "wrong_person")
    esc = rig.deps.escalation.get(done.raised_escalation_id)
    assert esc.trigger_kind == "checkin_no_answer"
    assert [a["outcome"] for a in esc.evidence["attempts"]] == ["wrong_person"] * 2


def test_quiet_hours_defer_a_checkin_retry(rig: Rig) -> None:
    phone = "+447700900138"
    zone = zone_where(range(18, 19))  # allowed now; two hours on is the quiet hours
    cid = rig.add_customer("Mrs Vera Holt", phone, "30000138", zone=zone)
    rig.consent(cid)
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    first = rig.wait_calls_to(phone)[0]

    async def someone_else(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.press("2")  # "no", by keypad

    run(answered(rig, first, someone_else))
    waiting = _retry_after(rig, call.id, 1)
    [attempt] = rig.records.attempts(call.id)
    wanted = attempt.ended_at + timedelta(seconds=rig.settings.outbound_wrong_person_retry_s)
    assert wanted.astimezone(ZoneInfo(zone)).hour >= 20  # inside 20:00-09:00
    local_due = waiting.due_at.astimezone(ZoneInfo(zone))
    assert (local_due.hour, local_due.minute) == (9, 0) and waiting.due_at > wanted
    assert waiting.due_at == next_allowed(wanted, _hours(rig, cid))
    assert waiting.deferred_count == 1 and "quiet hours 20:00-09:00" in waiting.deferred_reason
    [retry] = waiting.result["retries"]
    assert retry["retry_at"] == waiting.due_at.isoformat()
    assert "quiet hours 20:00-09:00" in retry["deferred"]
    settle(1.0)
    assert len(rig.calls_to(phone)) == 1 and rig.records.call(call.id).status == "scheduled"
