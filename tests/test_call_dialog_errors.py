"""A fault in the dialog layer never leaves a caller in silence (real server, real store, real
espeak-ng and recognizers; see call_fixtures). The fault is a prompt whose placeholder has no
value yet (one the flow knows, so it still loads), which the dialog engine raises on
(PromptError) outside any backend step: on a key press, on a spoken answer, at the very start of
the call, and at a kiosk. The caller hears the `step_failed` apology and is put through to a
person (reason dialog_error), and the fault is stored as a `dialog_error` event. A fault of the
server outside the dialog at a kiosk is shown on the page as a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
import websockets
from call_fixtures import (
    AGENT,
    AUTH_TOKEN,
    IvrServer,
    closed_call,
    fresh_caller,
    spoken,
    wait_key,
)
from test_metrics import scrape, value
from test_web_support import PASSWORD, client_for

from ivr.session.faults import FALLBACK_SAY
from ivr.twilio.simulator import TwilioCallSimulator
from ivr.web.auth_users import UserBook
from ivr.web.kiosk_routes import DIALOG_FAULT, SERVER_FAULT

KIOSK_STAFF = "kiosk.kim"


def _english(srv: IvrServer) -> Any:
    """The prompts an English caller's dialog is built with (the default dialect's wording)."""
    return srv.deps.languages.get("en").prompts


def _break_prompt(srv: IvrServer, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Prompt `key` gains a placeholder not filled before the account is read (the flow knows
    it, so it loads): the engine raises when it says the prompt."""
    texts = _english(srv).texts
    monkeypatch.setitem(texts, key, texts[key] + " Your balance is {balance}.")


def _prompt_keys(srv: IvrServer, call_sid: str, kind: str = "prompt") -> list[str]:
    return [e.data["key"] for e in srv.events_of(call_sid) if e.kind == kind]


def _stored(
    srv: IvrServer, call_sid: str, *wanted: str, timeout_s: float = 15.0
) -> dict[str, dict]:
    """The call's stored events by kind, once every kind in `wanted` is there (the per-call
    writer stores them just after the caller or page hears about them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        stored = {e.kind: e.data for e in srv.deps.store.events(call_sid)}
        if all(k in stored for k in wanted) or time.monotonic() > deadline:
            return stored
        time.sleep(0.1)


def _call(srv: IvrServer, phone: str, answer: str | bytes | None) -> TwilioCallSimulator:
    """A call from `phone`: answer the identity question once heard (a key, or speech as
    PCM16; None: nothing), then wait until the server hands the call on."""

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(srv.base_url, AUTH_TOKEN, from_=phone, speed=6) as call:
            if answer is not None:
                await wait_key(call, "confirm_identity")
                if isinstance(answer, bytes):
                    await call.say_pcm(answer)
                else:
                    await call.press(answer)
            await call.wait_closed(timeout=90)
            return call

    call = asyncio.run(scenario())
    closed_call(srv.deps.store, call.call_sid)
    return call


def _assert_put_through(srv: IvrServer, call_sid: str, where: str, state: str | None) -> None:
    """The fault is stored, and the call went to a person like a request for one."""
    stored = _stored(srv, call_sid, "dialog_error", "handoff_agent")
    fault = stored["dialog_error"]
    assert (fault["where"], fault["state"], fault["type"]) == (where, state, "PromptError"), fault
    assert fault["error"].startswith("PromptError: ") and "balance" in fault["error"], fault
    assert "step_failed" not in stored  # not a backend step: the session caught it
    assert stored["handoff_agent"]["reason"] == "dialog_error"
    esc = srv.deps.escalation.for_call(call_sid)
    assert esc is not None, "no escalation: the agent would get no hand-off package"
    assert esc.trigger_kind == "person_request" and esc.evidence["reason"] == "dialog_error"
    assert srv.deps.store.get_call(call_sid).outcome == "handed_off"


def test_a_dialog_error_on_a_key_press_apologises_and_puts_the_caller_through(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mr Walter Dodd", pin="8642")
    _break_prompt(srv, monkeypatch, "welcome")  # said after "yes, that is me" (key 1)
    before = scrape(srv.base_url)
    call = _call(srv, customer.phone, "1")

    keys = _prompt_keys(srv, call.call_sid)
    after = keys[keys.index("confirm_identity") + 1 :]
    assert after == ["step_failed", "transfer_person"], keys
    heard = _prompt_keys(srv, call.call_sid, "heard_prompt")
    assert "step_failed" in heard and "transfer_person" in heard  # played to the end
    _assert_put_through(srv, call.call_sid, "dtmf", "confirm_identity")
    twiml = call.action_twiml or ""
    assert "<Dial" in twiml and AGENT in twiml, twiml  # Twilio puts the caller through
    # operators see it on /metrics, by channel and where the dialog was entered
    errors = "ivr_dialog_errors_total"
    after = scrape(srv.base_url)
    assert value(after, errors, channel="phone", where="dtmf") == (
        value(before, errors, channel="phone", where="dtmf") + 1
    )
    assert value(after, errors, channel="phone", where="speech") == value(
        before, errors, channel="phone", where="speech"
    )


def test_a_dialog_error_on_a_spoken_answer_is_not_taken_for_not_understood(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mrs Ada Frost", pin="7531")
    _break_prompt(srv, monkeypatch, "welcome")
    call = _call(srv, customer.phone, spoken("yes"))

    keys = _prompt_keys(srv, call.call_sid)
    after = keys[keys.index("confirm_identity") + 1 :]
    assert after[-2:] == ["step_failed", "transfer_person"], keys
    # not taken for "not understood": the question is not asked again (the voice cues may
    # offer a person first: calm_offer_person)
    assert not [k for k in after if k.startswith("confirm_identity")], keys
    heard = [e.data for e in srv.events_of(call.call_sid) if e.kind == "heard"]
    assert heard and heard[-1]["intent"] == "yes", heard  # understood; then the dialog failed
    _assert_put_through(srv, call.call_sid, "speech", "confirm_identity")


def test_a_dialog_error_at_the_start_still_greets_with_an_apology_and_a_person(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mrs Norah Pike", pin="1470")
    _break_prompt(srv, monkeypatch, "greeting")  # the very first prompt
    call = _call(srv, customer.phone, None)

    # the stream was not refused: the caller heard the apology from our own voice
    assert _prompt_keys(srv, call.call_sid) == ["step_failed", "transfer_person"]
    heard = _prompt_keys(srv, call.call_sid, "heard_prompt")
    assert heard == ["step_failed", "transfer_person"], heard
    _assert_put_through(srv, call.call_sid, "start", None)
    twiml = call.action_twiml or ""
    assert "<Dial" in twiml and AGENT in twiml, twiml
    assert "Sorry, something went wrong" not in twiml  # not /twilio/next's no-decision default


def test_when_even_the_apology_cannot_be_spoken_twilio_says_it_and_dials(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mr Cyril Bond", pin="3690")
    _break_prompt(srv, monkeypatch, "welcome")
    tts = srv.deps.tts
    render = tts.render_telephone_async
    apology = _english(srv).texts["step_failed"]

    async def speech_engine_down(text: str, voice: Any) -> bytes:
        if text == apology:  # the speech engine fails from the apology on
            raise OSError("espeak-ng: cannot open the audio device")
        return await render(text, voice)

    monkeypatch.setattr(tts, "render_telephone_async", speech_engine_down)
    call = _call(srv, customer.phone, "1")

    keys = _prompt_keys(srv, call.call_sid)
    assert keys[-1] == "confirm_identity", keys  # nothing more could be spoken by us...
    twiml = call.action_twiml or ""
    assert FALLBACK_SAY in twiml and "<Dial" in twiml, twiml  # ...so Twilio says it, then dials
    stored = _stored(srv, call.call_sid, "dialog_error", "handoff_agent")
    assert stored["dialog_error"]["where"] == "dtmf"
    assert stored["handoff_agent"]["reason"] == "dialog_error"
    assert srv.deps.store.get_call(call.call_sid).outcome == "handed_off"


# ------------------------------------------------------------------------------------- kiosk
def _kiosk_client(srv: IvrServer):  # noqa: ANN202
    book = UserBook(srv.deps.store)
    if book.by_name(KIOSK_STAFF) is None:
        book.add(KIOSK_STAFF, PASSWORD, "kiosk_staff", "Kim at the kiosk")
    return client_for(srv.base_url, KIOSK_STAFF)


async def _kiosk_visit(
    srv: IvrServer, cookie: str, call_sid: str, press_after: str | None
) -> list[dict[str, Any]]:
    """The page's side of a visit: echo every mark as played, press 1 once `press_after` has
    played; returns the control messages received until the socket closes."""
    url = srv.base_url.replace("http://", "ws://") + f"/kiosk/audio?visit={call_sid}"
    headers = {"Cookie": cookie, "Origin": srv.base_url}
    got: list[dict[str, Any]] = []
    closed = websockets.exceptions.ConnectionClosed
    async with websockets.connect(url, additional_headers=headers) as ws:

        async def send(msg: dict[str, Any]) -> None:
            with contextlib.suppress(closed):  # closing: what it sent before is still read
                await ws.send(json.dumps(msg))

        await send({"type": "hello", "rate": 16000})
        with contextlib.suppress(closed):  # the server closed the socket
            while True:
                message = await asyncio.wait_for(ws.recv(), 90)
                if isinstance(message, bytes):
                    continue  # reply audio
                msg = json.loads(message)
                got.append(msg)
                if msg["type"] == "ended":
                    break
                if msg["type"] == "mark":
                    await send({"type": "mark", "name": msg["name"]})
                    if press_after and msg["name"].endswith(":" + press_after):
                        await send({"type": "key", "digit": "1"})
    return got


def test_a_kiosk_visit_with_a_dialog_error_tells_the_page_and_is_put_through(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mrs Ivy Lamb", pin="2580")
    _break_prompt(srv, monkeypatch, "welcome")
    kim = _kiosk_client(srv)
    sid = kim.post("/api/kiosk/visits", json={"customer_id": customer.id}).json()["call_sid"]
    cookie = f"ivr_session={kim.cookies['ivr_session']}"
    got = asyncio.run(_kiosk_visit(srv, cookie, sid, press_after="confirm_identity"))

    kinds = [m["type"] for m in got]
    errors = [m for m in got if m["type"] == "error"]
    assert errors == [{"type": "error", "detail": DIALOG_FAULT, "where": "dtmf"}], got
    assert kinds[-1] == "ended", kinds  # the page is told the conversation has been handed on
    marks = [m["name"].split(":", 1)[1] for m in got if m["type"] == "mark"]
    assert marks[-2:] == ["step_failed", "transfer_person"], marks  # the visitor heard both
    spoken = [m["text"] for m in got if m["type"] == "transcript" and m["speaker"] == "system"]
    assert _english(srv).texts["step_failed"] in spoken
    stored = _stored(srv, sid, "dialog_error", "handoff_agent")
    assert stored["dialog_error"]["state"] == "confirm_identity"
    assert stored["handoff_agent"]["reason"] == "dialog_error"
    esc = srv.deps.escalation.for_call(sid)
    assert esc is not None and esc.channel == "kiosk" and esc.evidence["reason"] == "dialog_error"
    assert kim.post(f"/api/kiosk/visits/{sid}/end").status_code == 200
    assert closed_call(srv.deps.store, sid).outcome == "handed_off"
    kim.close()


def test_a_server_fault_at_the_kiosk_is_shown_not_a_frozen_page(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mr Len Hale", pin="9630")

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("server closed the connection unexpectedly")

    kim = _kiosk_client(srv)
    sid = kim.post("/api/kiosk/visits", json={"customer_id": customer.id}).json()["call_sid"]
    # the visit's start links the visit to the visitor's record: the database is gone by then
    monkeypatch.setattr(srv.deps.store, "identify_call", database_gone)
    cookie = f"ivr_session={kim.cookies['ivr_session']}"
    got = asyncio.run(_kiosk_visit(srv, cookie, sid, press_after=None))

    errors = [m for m in got if m["type"] == "error"]
    assert errors == [{"type": "error", "detail": SERVER_FAULT}], got
    monkeypatch.undo()
    assert kim.post(f"/api/kiosk/visits/{sid}/end").status_code == 200
    closed_call(srv.deps.store, sid)
    kim.close()
