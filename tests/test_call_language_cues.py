"""Calls in the caller's dialect, switching language mid-call, and voice cues on every answer
(real server, real recognizer, real espeak-ng voices; see call_fixtures)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from call_fixtures import (
    AUTH_TOKEN,
    IvrServer,
    answer_then_ask_for_person,
    closed_call,
    fresh_caller,
    said_in,
    wait_key,
)

from ivr.twilio.simulator import TwilioCallSimulator


def test_profile_dialect_is_spoken_and_understood(ivr_server: IvrServer) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mr Angus Reid", pin="2468", dialect="en-scotland")

    # a Scottish answer; spoken with espeak-ng's en-us voice, the one PocketSphinx's US model
    # hears reliably (its Scottish voice is recognised poorly): this checks the dialect's words
    # and voice are wired in, not accent robustness
    call_sid = answer_then_ask_for_person(srv, customer.phone, said_in("en-us", "aye go on"))
    events = srv.events_of(call_sid)
    start = next(e for e in events if e.kind == "start")
    assert start.data["dialect"] == "en-scotland"
    voices = {e.data["voice"] for e in events if e.kind == "prompt"}
    assert voices == {"en-gb-scotland"}, voices
    heard = [e.data for e in events if e.kind == "heard"]
    assert heard and heard[0]["intent"] == "yes", heard  # "aye go on" is a Scottish yes
    caller = [s for s in srv.deps.store.transcript(call_sid) if s.speaker == "caller"]
    spoken = next(s for s in caller if not (s.extra or {}).get("dtmf"))
    assert spoken.extra["dialect"] == "en-scotland" and spoken.intent == "yes"


def test_caller_switches_language_by_keypad_and_profile_remembers(ivr_server: IvrServer) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mrs Kim Soon-ja", pin="1357")

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=customer.phone, speed=6
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.press("1")
            await wait_key(call, "main_menu")
            await call.press("8")  # the language menu
            await wait_key(call, "language_menu")
            await call.press("2")  # Korean
            await wait_key(call, "main_menu")  # the interrupted question, now in Korean
            await call.press("0")
            await call.wait_closed()
            return call

    call = asyncio.run(scenario())
    closed_call(srv.deps.store, call.call_sid)
    events = srv.events_of(call.call_sid)
    prompts = [e.data for e in events if e.kind == "prompt"]
    last_menu = [p for p in prompts if p["key"] == "main_menu"][-1]
    assert last_menu["voice"] == "ko"
    assert any("\uac00" <= ch <= "\ud7a3" for ch in last_menu["text"]), "menu not in Korean"
    switched = [e for e in events if e.kind == "dialect"]
    assert switched and switched[-1].data["dialect"].startswith("ko")
    assert srv.deps.store.get_customer(customer.id).dialect.startswith("ko")


def test_voice_cues_are_stored_on_each_answer_and_go_with_an_escalation(
    ivr_server: IvrServer,
) -> None:
    srv = ivr_server
    # a caller of its own: no voice baseline left on the profile by earlier tests' calls
    caller = fresh_caller(srv, "Mr Frank Moss", pin="1122")

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=caller.phone, speed=5
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.say_pcm(said_in("en-us", "yes"))
            await wait_key(call, "main_menu")
            await call.say_pcm(said_in("en-us", "I fell"))
            await call.wait_closed(timeout=120)
            return call

    call = asyncio.run(scenario())
    closed_call(srv.deps.store, call.call_sid)
    events = srv.events_of(call.call_sid)
    cue_events = [e.data for e in events if e.kind == "cues"]
    # one per answer ("yes" may be asked again if the recognizer was unsure of it)
    assert len(cue_events) >= 2, cue_events
    assert all(0.0 <= c["distress"] <= 1.0 for c in cue_events)
    assert "fall" in cue_events[-1]["cues"], cue_events
    assert cue_events[-1]["distress"] > cue_events[0]["distress"]
    segments = [
        s
        for s in srv.deps.store.transcript(call.call_sid)
        if s.speaker == "caller" and not (s.extra or {}).get("dtmf")
    ]
    fell = segments[-1]
    assert fell.intent == "emergency"
    assert any(c["name"] == "fall" for c in fell.extra["cues"])
    assert fell.extra["contributions"]["fall"] > 0
    assert any(e.kind == "escalation" for e in events), "no escalation was started"


def test_voice_baseline_is_kept_across_calls_and_opt_out_is_respected(
    ivr_server: IvrServer,
) -> None:
    srv = ivr_server
    store = srv.deps.store
    customer = fresh_caller(srv, "Mrs Olive Grant", pin="8642")
    store.set_account(customer.id, balance=Decimal("310.00"))

    async def call_once() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=customer.phone, speed=6
        ) as call:
            await wait_key(call, "confirm_identity")
            await call.say_pcm(said_in("en-us", "yes"))
            await wait_key(call, "main_menu")
            await call.say_pcm(said_in("en-us", "my balance"))
            await wait_key(call, "hear_again")
            await call.press("0")
            await call.wait_closed()
            return call

    first = asyncio.run(call_once())
    closed_call(srv.deps.store, first.call_sid)
    cues = [e.data for e in srv.events_of(first.call_sid) if e.kind == "cues"]
    assert cues and not cues[0]["baseline_used"]  # a first call starts cold
    profile = store.voice_profile(customer.id)
    assert profile.baseline is not None, "the learned baseline was not kept on the profile"

    second = asyncio.run(call_once())
    closed_call(srv.deps.store, second.call_sid)
    cues = [e.data for e in srv.events_of(second.call_sid) if e.kind == "cues"]
    assert cues and cues[0]["baseline_used"], "the next call did not use the caller's baseline"

    store.set_voice_cues_opt_out(customer.id, True)
    assert store.voice_profile(customer.id).baseline is None  # opting out forgets it
    third = asyncio.run(call_once())
    closed_call(srv.deps.store, third.call_sid)
    events = srv.events_of(third.call_sid)
    assert not [e for e in events if e.kind == "cues"], "cues computed for an opted-out caller"
    assert any(e.kind == "cues_off" for e in events)
    segments = [s for s in store.transcript(third.call_sid) if s.speaker == "caller"]
    assert segments and all("distress" not in (s.extra or {}) for s in segments)
