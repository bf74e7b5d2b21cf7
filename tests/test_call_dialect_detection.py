"""Detecting an unknown caller's dialect in a live call with the evaluation's evidence: the
words, and how each candidate dialect's own recognizer heard the first answers (real server,
real recognizers with each dialect's accent variants and primed listener, espeak-ng caller
voices; see call_fixtures).

Answers in standard words say little of a dialect: every candidate hears "yes". These tests
check that the candidates' hearings reach the detector for each of the first answers and are
kept in the call's events, that a dialect's own words switch the call, and that the profile of
a caller identified after the switch remembers it.
"""

from __future__ import annotations

import asyncio

from call_fixtures import (
    AUTH_TOKEN,
    IvrServer,
    answer_then_ask_for_person,
    closed_call,
    fresh_caller,
    key_of,
    said_in,
    wait_key,
)

from ivr.flows.packs import pack_library
from ivr.twilio.simulator import TwilioCallSimulator

ENGLISH = pack_library().of_language("en")
QUESTIONS = {"confirm_identity", "confirm_identity_reprompt", "main_menu", "main_menu_reprompt"}


def test_first_answers_are_heard_by_every_candidate_recognizer(ivr_server: IvrServer) -> None:
    srv = ivr_server
    store = srv.deps.store
    customer = fresh_caller(srv, "Mrs Jean Baird")  # no dialect on the profile: detected
    assert srv.deps.dialect_model_answers == 3

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            srv.base_url, AUTH_TOKEN, from_=customer.phone, speed=5
        ) as call:
            await wait_key(call, "confirm_identity")
            # standard words, in the Scottish voice: the words alone say nothing of the dialect
            # (an answer not understood is asked again, and is evidence all the same)
            for words in ["yes", "repeat", "repeat", "repeat"]:  # a fourth answer too
                await call.say_pcm(said_in("en-gb-scotland", words))
                await call.wait_for_mark(predicate=lambda n: key_of(n) in QUESTIONS)
            await call.press("0")
            await call.wait_closed()
            return call

    call = asyncio.run(scenario())
    closed_call(store, call.call_sid)
    events = srv.events_of(call.call_sid)
    evidence = [e.data for e in events if e.kind == "dialect_evidence"]
    # the first three answers, not the fourth; every candidate's own recognizer on each
    assert [e["answer"] for e in evidence] == [1, 2, 3], evidence
    for e in evidence:
        assert set(e["candidates"]) == set(ENGLISH), e
        for heard in e["candidates"].values():
            assert 0.0 <= heard["confidence"] <= 1.0, e
        assert set(e["posteriors"]) == set(ENGLISH)
        assert abs(sum(e["posteriors"].values()) - 1.0) < 0.01
    # each candidate heard the first answer in its own list: "yes", a word every English
    # call listens for, is understood by most of them
    first = evidence[0]
    understood = [k for k, h in first["candidates"].items() if h["phrase"]]
    assert len(understood) >= 3, first
    assert first["current"] == "en"  # a word every dialect has does not switch the call
    heard = [e for e in events if e.kind == "heard"]
    assert len(heard) >= 4
    # kept in the call's stored events, in order, as the session reported them
    stored = [ev.data for ev in store.events(call.call_sid) if ev.kind == "dialect_evidence"]
    assert stored == evidence


def test_dialect_words_switch_the_call_and_the_identified_profile_remembers(
    ivr_server: IvrServer,
) -> None:
    srv = ivr_server
    store = srv.deps.store
    customer = fresh_caller(srv, "Mr Hamish Bell")

    # a Scottish yes, before the caller is identified (the answer identifies them)
    call_sid = answer_then_ask_for_person(srv, customer.phone, said_in("en-us", "aye go on"))
    events = srv.events_of(call_sid)
    evidence = [e.data for e in events if e.kind == "dialect_evidence"]
    # the words decide at once (the reply is already Scottish): no candidate recognizer is
    # asked to hear that answer, nor any later one
    assert evidence == [], "candidates were decoded after the words had decided"
    switched = [e.data for e in events if e.kind == "dialect"]
    assert switched and switched[-1]["dialect"] == "en-scotland"
    menu = [e.data for e in events if e.kind == "prompt" and e.data["key"] == "main_menu"]
    assert menu[-1]["voice"] == "en-gb-scotland"
    assert store.get_customer(customer.id).dialect == "en-scotland"


def test_known_dialect_caller_is_not_decoded_by_candidates(ivr_server: IvrServer) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mrs Ada Lowe", dialect="en-gb")

    call_sid = answer_then_ask_for_person(srv, customer.phone, said_in("en-gb", "yes"))
    events = srv.events_of(call_sid)
    assert [e for e in events if e.kind == "heard"]
    assert not [e for e in events if e.kind == "dialect_evidence"]
    assert not [e for e in events if e.kind == "dialect"]
