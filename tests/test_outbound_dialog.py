"""The outbound flow's endings that decide whether a check-in is settled, driven through the
real dialog engine with the real outbound flow and its English wording: silence until the flow
gives up ends the call politely (no_reply, tried again later) instead of handing a silent line
to a person; words that are not understood still reach a person; someone else answering hears
nothing personal. Reminders and surveys keep offering a person after silence."""

from __future__ import annotations

from ivr.dialog.actions import Action, Event, Hangup, Listen, Say, Transfer, UserInput
from ivr.dialog.backend import CustomerInfo, InMemoryBackend
from ivr.dialog.engine import DialogEngine
from ivr.outbound.context import outbound_bundle

NAME = "Mrs Olive Carter"
NO_INPUT = UserInput("no_input")
NOT_UNDERSTOOD = UserInput("no_match")


def _call(kind: str) -> tuple[DialogEngine, list[Action]]:
    """The outbound flow for a known customer, as the call session starts it."""
    bundle = outbound_bundle(None)
    engine = DialogEngine(
        bundle.flow,
        bundle.prompts,
        InMemoryBackend(),
        caller_phone="+447700900777",
        call_sid="CAoutbounddialog",
        lexicon=bundle.lexicon,
    )
    engine.pending_customer = CustomerInfo(7, NAME, phone="+447700900777")
    engine.variables.update(
        {"outbound_kind": kind, "name": NAME, "service": "the care line", "next_call": ""}
    )
    return engine, engine.start()


def _play(engine: DialogEngine, *inputs: UserInput) -> list[Action]:
    out: list[Action] = []
    for item in inputs:
        out += engine.handle(item)
    return out


def _keys(actions: list[Action]) -> list[str]:
    return [a.key for a in actions if isinstance(a, Say)]


def test_silence_at_the_wellbeing_question_ends_politely_for_a_retry() -> None:
    engine, _ = _call("checkin")
    _play(engine, UserInput("dtmf", digits="1"))  # "Am I speaking with ...?" yes
    assert engine.state == "checkin_ask"
    out = _play(engine, *[UserInput("timeout_warning"), NO_INPUT] * 3)
    end = out[-1]
    assert isinstance(end, Hangup) and end.reason == "no_reply", out
    assert "outbound_no_reply" in _keys(out) and not any(isinstance(a, Transfer) for a in out)
    failures = [a.data["kind"] for a in out if isinstance(a, Event) and a.kind == "failure"]
    assert failures == ["no_input"] * 3
    said = next(a.text for a in out if isinstance(a, Say) and a.key == "outbound_no_reply")
    assert NAME not in said and "well" not in said  # nothing personal: anyone may hear it


def test_words_not_understood_at_the_wellbeing_question_still_reach_a_person() -> None:
    engine, _ = _call("checkin")
    _play(engine, UserInput("dtmf", digits="1"))
    out = _play(engine, NOT_UNDERSTOOD, NO_INPUT, NO_INPUT)  # someone is there, talking
    end = out[-1]
    assert isinstance(end, Transfer) and end.reason == "repeated_failure", out


def test_silence_at_am_i_speaking_with_ends_a_checkin_but_a_reminder_offers_a_person() -> None:
    engine, _ = _call("checkin")
    out = _play(engine, NO_INPUT, NO_INPUT, NO_INPUT)
    assert isinstance(out[-1], Hangup) and out[-1].reason == "no_reply", out
    assert "checkin_intro" not in _keys(out)  # nothing said about a check-in
    for kind in ("reminder", "survey"):
        engine, _ = _call(kind)
        out = _play(engine, NO_INPUT, NO_INPUT, NO_INPUT)
        assert engine.state == "offer_person" and isinstance(out[-1], Listen), (kind, out)


def test_someone_else_answering_hears_nothing_personal() -> None:
    engine, first = _call("checkin")
    out = _play(engine, UserInput("dtmf", digits="2"))  # "no, I am not"
    assert isinstance(out[-1], Hangup) and out[-1].reason == "wrong_person"
    assert _keys(first) == ["outbound_hello", "listening_notice", "confirm_identity"]
    assert _keys(out) == ["outbound_wrong_person"]
    said = " ".join(a.text for a in out if isinstance(a, Say))
    for personal in ("Olive", "Carter", "check-in", "well", "account", "payment"):
        assert personal.lower() not in said.lower(), said
