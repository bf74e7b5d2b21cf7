"""End-to-end calls: a simulated Twilio plays caller audio into the real media websocket of a
real server (real endpointer, recognizer, dialog, TTS, SQLite store) and checks what the caller
heard (marks), what was recognised, state changes, barge-in, keypad paths and the transcript."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

from call_fixtures import (
    AGENT,
    AUTH_TOKEN,
    IvrServer,
    closed_call,
    digits_spoken,
    key_of,
    recording,
    spoken,
    wait_key,
)

from ivr.twilio.simulator import TwilioCallSimulator


def run(coro):  # noqa: ANN001, ANN201 - tiny helper
    return asyncio.run(coro)


def marks_heard(call: TwilioCallSimulator) -> list[str]:
    return [key_of(m.name) for m in call.marks if m.echoed_t is not None and not m.cleared]


def dial_target(twiml: str | None) -> str:
    assert twiml, "no TwiML was fetched from the action URL"
    root = ET.fromstring(twiml)
    dial = root.find("Dial")
    assert dial is not None, f"expected <Dial> in {twiml}"
    return "".join(dial.itertext()).strip()


def test_known_caller_by_voice_hears_balance_then_reaches_a_person(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=srv.known.phone, speed=5
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.say_pcm(spoken("yes"))
            await wait_key(call, "main_menu")
            await call.say_pcm(spoken("my balance"))
            await wait_key(call, "hear_again")
            await call.say_pcm(spoken("operator"))
            twiml = await call.wait_closed()
            assert dial_target(twiml) == AGENT
            return call

    call = run(scenario())
    record = closed_call(srv.deps.store, call.call_sid)
    heard = marks_heard(call)
    assert heard[:2] == ["greeting", "listening_notice"]
    assert "balance" in heard and "main_menu" in heard
    assert not call.clears
    events = srv.events_of(call.call_sid)
    intents = [e.data["intent"] for e in events if e.kind == "heard"]
    assert intents == ["yes", "account", "person"], intents
    states = [e.data["after"] for e in events if e.kind == "state"]
    assert "main_menu" in states and "account_read" in states or "account_again" in states
    # the transcript is in the store, in order, with the caller's words and the prompts
    segments = srv.deps.store.transcript(call.call_sid)
    caller = [s for s in segments if s.speaker == "caller"]
    assert [s.intent for s in caller] == ["yes", "account", "person"]
    system_text = " ".join(s.text for s in segments if s.speaker == "system")
    assert "one thousand two hundred and fifty" in system_text.lower()
    assert record.customer_id == srv.known.customer_id


def test_unknown_caller_keypad_only_path(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_="+15555550123", speed=8
        ) as call:
            await wait_key(call, "ask_account")
            await call.press(srv.known.account + "#", gap_s=0.2)
            await wait_key(call, "ask_pin")
            await call.press(srv.known.pin + "#", gap_s=0.2)
            await wait_key(call, "main_menu")
            await call.press("1")
            await wait_key(call, "hear_again")
            await call.press("2")  # no, nothing again
            await wait_key(call, "anything_else")
            await call.press("0")  # a person, at once
            twiml = await call.wait_closed()
            assert dial_target(twiml) == AGENT
            return call

    call = run(scenario())
    record = closed_call(srv.deps.store, call.call_sid)
    segments = srv.deps.store.transcript(call.call_sid)
    keys = "".join(s.text for s in segments if s.speaker == "caller")
    assert srv.known.account in keys.replace("[key ", "").replace("]", "")
    assert srv.known.pin not in keys.replace("[key ", "").replace("]", ""), "PIN leaked"
    assert record.customer_id == srv.known.customer_id


def test_barge_in_clears_the_prompt_and_is_understood(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=srv.known.phone, speed=4
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.say_pcm(spoken("yes"))
            await wait_key(call, "welcome")
            # the main menu is long: speak over it as soon as it starts
            await call.wait_for_audio()
            await call.pause(1.0)
            await call.say_pcm(spoken("operator"))
            twiml = await call.wait_closed()
            assert dial_target(twiml) == AGENT
            return call

    call = run(scenario())
    assert call.clears, "the server never sent `clear` when the caller spoke over the menu"
    cleared = [key_of(m.name) for m in call.marks if m.cleared]
    assert "main_menu" in cleared
    kinds = [e.kind for e in srv.events_of(call.call_sid)]
    assert "barge_in" in kinds


def test_safety_notice_is_not_interrupted(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=srv.known.phone, speed=4
        ) as call:
            await wait_key(call, "greeting")
            # the listening notice is marked not interruptible: talking over it changes nothing
            await call.say_pcm(spoken("operator please"))
            await wait_key(call, "listening_notice")
            await wait_key(call, "confirm_identity")
            await call.press("0")
            await call.wait_closed()
            return call

    call = run(scenario())
    notice = [m for m in call.marks if key_of(m.name) == "listening_notice"]
    assert notice and not notice[0].cleared
    assert not any(key_of(m.name) == "listening_notice" for m in call.marks if m.cleared)


def test_problem_report_free_form_real_speech_opens_a_ticket(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=srv.known.phone, speed=5
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.press("1")
            await wait_key(call, "main_menu")
            await call.press("2")
            await wait_key(call, "report_problem")
            await call.say_pcm(recording("something-terribly-wrong"))
            await wait_key(call, "confirm_report", timeout=90)
            await call.press("1")
            await wait_key(call, "reference_number", timeout=90)
            await call.press("0")
            await call.wait_closed()
            return call

    call = run(scenario())
    tickets = srv.deps.store.tickets_for_customer(srv.known.customer_id)
    assert tickets, "no ticket was opened"
    ticket = tickets[0]
    assert ticket.description.strip(), "the ticket has no description"
    prompts = [e.data["text"] for e in srv.events_of(call.call_sid) if e.kind == "prompt"]
    spoken_ref = " ".join(ticket.reference)
    assert any(spoken_ref in p for p in prompts), (ticket.reference, prompts)


def test_spoken_account_number_with_real_digit_recordings(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_="+15555550124", speed=5
        ) as call:
            await wait_key(call, "ask_account")
            # spoken digits, then the hash key at once (before the pause after the words ends)
            await call.say_pcm(digits_spoken(srv.known.account))
            await call.press("#")
            await wait_key(call, "ask_pin")
            await call.press("*")  # an empty PIN entry: * goes back to the account number
            await wait_key(call, "ask_account")
            await call.press("0")
            await call.wait_closed()
            return call

    call = run(scenario())
    events = srv.events_of(call.call_sid)
    heard = [e for e in events if e.kind == "heard"]
    assert heard and heard[0].data["intent"] == "digits"
    assert heard[0].data["text"].split() != []
    hashes = [e.data for e in events if e.kind == "dtmf" and e.data["digit"] == "#"]
    assert hashes and hashes[0].get("consumed_by") == "spoken entry"
    assert "more_time_ack" not in [e.data["key"] for e in events if e.kind == "prompt"]
    states = [e.data["after"] for e in events if e.kind == "state"]
    assert "ask_pin" in states, "the spoken account number was not taken"


def test_silence_gets_a_warning_then_a_shorter_reprompt(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=srv.known.phone, speed=10
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.press("1")
            await wait_key(call, "main_menu")
            await wait_key(call, "main_menu_reprompt", timeout=120)
            await call.press("0")
            await call.wait_closed()
            return call

    call = run(scenario())
    events = srv.events_of(call.call_sid)
    kinds = [e.kind for e in events]
    assert "timeout_warning" in kinds and "no_input" in kinds
    assert kinds.index("timeout_warning") < kinds.index("no_input")
    texts = {e.data["key"]: e.data["text"] for e in events if e.kind == "prompt"}
    assert len(texts["main_menu_reprompt"]) < len(texts["main_menu"])


def test_dropped_socket_leaves_a_closed_call_and_full_transcript(ivr_server: IvrServer) -> None:
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        call = TwilioCallSimulator(srv.base_url, AUTH_TOKEN, from_=srv.known.phone, speed=5)
        await call.start()
        await wait_key(call, "confirm_identity")
        await call.say_pcm(spoken("yes"))
        await wait_key(call, "main_menu")
        await call.drop()
        await call.aclose()
        return call

    call = run(scenario())
    record = closed_call(srv.deps.store, call.call_sid)  # fails if a drop leaves it open
    assert record.outcome == "caller_hung_up"
    segments = srv.deps.store.transcript(call.call_sid)
    assert any(s.speaker == "caller" and s.intent == "yes" for s in segments)
    assert any(s.speaker == "system" for s in segments)


def test_real_time_call(ivr_server: IvrServer) -> None:
    """At real speed (20 ms per frame), the greeting plays and a key press reaches a person."""
    srv = ivr_server

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_="+15555550125", speed=1
        ) as call:
            await wait_key(call, "greeting", timeout=120)
            await call.press("0")
            twiml = await call.wait_closed(timeout=120)
            assert dial_target(twiml) == AGENT
            return call

    call = run(scenario())
    assert marks_heard(call)[0] == "greeting"
