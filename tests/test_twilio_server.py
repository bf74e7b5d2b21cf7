"""The Twilio front end through a REAL uvicorn server on 127.0.0.1: webhooks, signatures, the
media websocket's protocol handling, and the simulated Twilio (`TwilioCallSimulator`).

The call handler here is a small recording one (the real session is tested elsewhere): it plays a
real recorded prompt on start, follows keypad commands, and records everything it receives.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ivr.settings import Settings
from ivr.twilio.handoff import Handoff, HandoffRegistry
from ivr.twilio.local_server import LocalServer
from ivr.twilio.media import Start
from ivr.twilio.session_api import MediaSink
from ivr.twilio.signature import NO_TOKEN_MESSAGE, log_startup_warnings, sign
from ivr.twilio.simulator import CallEndedError, TwilioCallSimulator
from ivr.twilio.stream import TwilioMediaSink
from ivr.twilio.tokens import StreamTokens
from ivr.twilio.twiml import parse_stream_twiml
from ivr.web.twilio_routes import get_media_stats, router
from speech import mulaw
from speech.wav import read_wav

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
AGENT = "+15557654321"
SOUNDS = Path("/usr/share/asterisk/sounds/en")


def prompt_mulaw(name: str) -> bytes:
    """A real recorded telephone prompt as mu-law 8 kHz."""
    path = SOUNDS / f"{name}.wav"
    assert path.exists(), f"missing real speech {path}: install asterisk-core-sounds-en-wav"
    return mulaw.encode(read_wav(path, rate=8000).pcm)


GREETING = prompt_mulaw("hello")
LONG_PROMPT = prompt_mulaw("hello-world") * 4


# ---- a recording call handler -------------------------------------------------------------


@dataclass
class CallLog:
    start: Start
    sink: MediaSink
    audio: bytearray = field(default_factory=bytearray)
    frames: int = 0
    digits: list[str] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    stops: int = 0


class RecordingHandler:
    """Greets, then on keys: 1 plays a prompt + mark, 2 plays a long prompt then clears it,
    3 hands the call to an agent, 4 hangs up, 9 raises (a handler bug)."""

    def __init__(self, log: CallLog, handoffs: HandoffRegistry) -> None:
        self.log = log
        self.handoffs = handoffs

    async def greet(self) -> None:
        await self.log.sink.send_audio(GREETING)
        await self.log.sink.send_mark("greeting")

    async def on_start(self, start: Start) -> None:  # the factory starts us
        await self.greet()

    async def on_audio(self, mulaw_bytes: bytes) -> None:
        self.log.audio += mulaw_bytes
        self.log.frames += 1

    async def on_dtmf(self, digit: str) -> None:
        self.log.digits.append(digit)
        sink = self.log.sink
        if digit == "1":
            await sink.send_audio(GREETING[:1000])
            await sink.send_mark("odd")
        elif digit == "2":
            await sink.send_audio(LONG_PROMPT)
            await sink.send_mark("long")
            await sink.send_clear()
        elif digit == "3":
            self.handoffs.set(self.log.start.call_sid, Handoff("agent", "caller asked"))
            await sink.close()
        elif digit == "4":
            self.handoffs.set(self.log.start.call_sid, Handoff("hangup", "done", "Goodbye now."))
            await sink.close()
        elif digit == "9":
            raise RuntimeError("handler bug on purpose")

    async def on_mark(self, name: str) -> None:
        self.log.marks.append(name)

    async def on_stop(self) -> None:
        self.log.stops += 1


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, CallLog] = {}
        self.statuses: list[tuple[str, str, dict[str, str]]] = []

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.statuses.clear()

    def call(self, call_sid: str) -> CallLog:
        with self.lock:
            return self.calls[call_sid]

    def record_status(self, call_sid: str, status: str, form: dict[str, str]) -> None:
        with self.lock:
            self.statuses.append((call_sid, status, form))


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` until truthy (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Env:
    app: FastAPI
    server: LocalServer
    recorder: Recorder

    @property
    def base(self) -> str:
        return self.server.base_url

    def configure(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "twilio_auth_token": AUTH_TOKEN,
            "public_base_url": self.base,
            "agent_number": AGENT,
            "allow_unsigned_webhooks": False,
            "max_media_message_bytes": 4096,
            "stream_token_ttl_seconds": 300,
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)
        self.app.state.settings = settings
        return settings


def build_app(recorder: Recorder) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.handoffs = HandoffRegistry()
    app.state.stream_tokens = StreamTokens(b"s" * 32)
    app.state.status_recorder = recorder.record_status

    async def factory(start: Start, sink: MediaSink) -> RecordingHandler:
        log = CallLog(start=start, sink=sink)
        with recorder.lock:
            recorder.calls[start.call_sid] = log
        handler = RecordingHandler(log, app.state.handoffs)
        await handler.on_start(start)
        return handler

    app.state.call_handler_factory = factory
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[Env]:
    recorder = Recorder()
    app = build_app(recorder)
    with LocalServer(app) as srv:
        yield Env(app, srv, recorder)


@pytest.fixture
def env(server: Env) -> Env:
    server.recorder.reset()
    server.configure()
    return server


def signed_post(
    env: Env, path: str, form: dict[str, str], public: str | None = None, token: str = AUTH_TOKEN
) -> httpx.Response:
    url = (public or env.base) + path
    headers = {"X-Twilio-Signature": sign(token, url, form)}
    return httpx.post(env.base + path, data=form, headers=headers, timeout=30)


def call_form(call_sid: str = "CA" + "1" * 32) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "2" * 32,
        "From": "+15550100",
        "To": "+15550199",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


# ---- webhooks and signatures --------------------------------------------------------------


def test_voice_answers_stream_twiml_with_a_token_for_this_call(env: Env) -> None:
    form = call_form()
    response = signed_post(env, "/twilio/voice", form)
    assert response.status_code == 200, response.text
    assert "xml" in response.headers["content-type"]
    root = ET.fromstring(response.text)
    stream = root.find("Connect/Stream")
    assert stream is not None
    assert stream.get("url") == env.base.replace("http://", "ws://") + "/twilio/media"
    assert root.find("Connect").get("action") == env.base + "/twilio/next"  # type: ignore[union-attr]
    params = parse_stream_twiml(response.text).parameters
    assert params["from"] == "+15550100" and params["to"] == "+15550199"
    tokens: StreamTokens = env.app.state.stream_tokens
    assert tokens.verify(params["token"], form["CallSid"])
    assert not tokens.is_valid(params["token"], "CA" + "9" * 32)


def test_unsigned_and_wrongly_signed_webhooks_get_403_and_a_log_line(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.twilio.signature")
    form = call_form()
    unsigned = httpx.post(env.base + "/twilio/voice", data=form, timeout=30)
    assert unsigned.status_code == 403
    wrong_key = signed_post(env, "/twilio/voice", form, token="f" * 32)
    assert wrong_key.status_code == 403
    tampered = dict(form)
    url = env.base + "/twilio/voice"
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, url, form)}
    tampered["From"] = "+15559999999"  # a parameter changed after signing
    changed = httpx.post(url, data=tampered, headers=headers, timeout=30)
    assert changed.status_code == 403
    for path in ("/twilio/next", "/twilio/status", "/twilio/dial-done"):
        assert httpx.post(env.base + path, data=form, timeout=30).status_code == 403
    refusals = [r for r in caplog.records if "refused webhook" in r.getMessage()]
    assert len(refusals) >= 6


def test_signature_uses_the_public_url_behind_a_proxy(env: Env) -> None:
    public = "https://ivr.example.org"
    env.configure(public_base_url=public)
    form = call_form()
    # Twilio signed the public URL: accepted although this server sees 127.0.0.1
    ok = signed_post(env, "/twilio/voice", form, public=public)
    assert ok.status_code == 200, ok.text
    instruction = parse_stream_twiml(ok.text)
    assert instruction.stream_url == "wss://ivr.example.org/twilio/media"
    assert instruction.action_url == "https://ivr.example.org/twilio/next"
    # a signature over the internal URL is not what Twilio sends: refused
    internal = signed_post(env, "/twilio/voice", form, public=env.base)
    assert internal.status_code == 403
    # the query string is part of what Twilio signs
    query = signed_post(env, "/twilio/voice?lang=en", form, public=public)
    assert query.status_code == 200
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, public + "/twilio/voice", form)}
    moved = httpx.post(env.base + "/twilio/voice?lang=en", data=form, headers=headers)
    assert moved.status_code == 403


def test_without_auth_token_webhooks_are_refused_with_advice(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    settings = env.configure(twilio_auth_token="")
    caplog.set_level(logging.WARNING)
    messages = log_startup_warnings(settings)
    assert any("IVR_TWILIO_AUTH_TOKEN" in m for m in messages)
    assert any("IVR_TWILIO_AUTH_TOKEN" in r.getMessage() for r in caplog.records)
    response = httpx.post(env.base + "/twilio/voice", data=call_form(), timeout=30)
    assert response.status_code == 503
    assert response.json()["detail"] == NO_TOKEN_MESSAGE
    # even a "signed" request cannot be checked, so it is refused too
    assert signed_post(env, "/twilio/voice", call_form(), token="").status_code == 503


def test_development_flag_accepts_unsigned_and_says_so_loudly(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    settings = env.configure(twilio_auth_token="", allow_unsigned_webhooks=True)
    caplog.set_level(logging.WARNING)
    assert any("IVR_ALLOW_UNSIGNED_WEBHOOKS" in m for m in log_startup_warnings(settings))
    caplog.clear()
    for _ in range(2):
        response = httpx.post(env.base + "/twilio/voice", data=call_form(), timeout=30)
        assert response.status_code == 200
    loud = [r for r in caplog.records if "WITHOUT signature check" in r.getMessage()]
    assert len(loud) == 2  # one per request


@pytest.mark.parametrize(
    ("handoff", "agent", "expect"),
    [
        (Handoff("agent", "asked", "Connecting you now."), AGENT, ["Say", "Dial"]),
        (Handoff("agent", "asked"), "client:alice", ["Dial"]),
        (Handoff("hangup", "done", "Goodbye."), AGENT, ["Say", "Hangup"]),
        (None, AGENT, ["Say", "Dial"]),  # no decision: a person is the safe default
        (Handoff("agent", "asked"), "", ["Say", "Hangup"]),  # nobody to dial: apologise
        (None, "", ["Say", "Hangup"]),
    ],
)
def test_next_answers_from_the_handoff_registry(
    env: Env, handoff: Handoff | None, agent: str, expect: list[str]
) -> None:
    env.configure(agent_number=agent)
    form = call_form("CA" + "3" * 32)
    registry: HandoffRegistry = env.app.state.handoffs
    if handoff is not None:
        registry.set(form["CallSid"], handoff)
    response = signed_post(env, "/twilio/next", form)
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.text)
    assert [child.tag for child in root] == expect
    if "Dial" in expect:
        dial = root.find("Dial")
        assert dial is not None and dial.get("action") == env.base + "/twilio/dial-done"
        target = (
            root.find("Dial/Client") if agent.startswith("client:") else root.find("Dial/Number")
        )
        assert target is not None and target.text == agent.removeprefix("client:")
    if handoff is not None and handoff.say_text:
        assert root.find("Say").text == handoff.say_text  # type: ignore[union-attr]
    assert registry.peek(form["CallSid"]) is None  # consumed


def test_dial_done_apologises_only_when_nobody_answered(env: Env) -> None:
    answered = signed_post(env, "/twilio/dial-done", call_form() | {"DialCallStatus": "completed"})
    assert [c.tag for c in ET.fromstring(answered.text)] == ["Hangup"]
    missed = signed_post(env, "/twilio/dial-done", call_form() | {"DialCallStatus": "no-answer"})
    assert [c.tag for c in ET.fromstring(missed.text)] == ["Say", "Hangup"]


def test_status_callbacks_reach_the_recorder(env: Env) -> None:
    form = call_form() | {"CallStatus": "completed", "CallDuration": "42"}
    response = signed_post(env, "/twilio/status", form)
    assert response.status_code == 204
    sid, status, got = env.recorder.statuses[-1]
    assert (sid, status, got["CallDuration"]) == (form["CallSid"], "completed", "42")
    missing_sid = signed_post(env, "/twilio/status", {"CallStatus": "completed"})
    assert missing_sid.status_code == 400


# ---- the media websocket ------------------------------------------------------------------------


def ws_url(env: Env) -> str:
    return env.base.replace("http://", "ws://") + "/twilio/media"


def start_msg(call_sid: str, token: str | None, stream_sid: str = "MZ" + "5" * 32) -> str:
    params = {"from": "+15550100"}
    if token is not None:
        params["token"] = token
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "accountSid": "AC" + "2" * 32,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def media_msg(payload: bytes, chunk: int, stream_sid: str = "MZ" + "5" * 32) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(chunk + 1),
            "streamSid": stream_sid,
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str(chunk * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


async def refused_close_code(env: Env, call_sid: str, token: str | None) -> int | None:
    ws = await connect(ws_url(env))
    try:
        await ws.send(CONNECTED)
        await ws.send(start_msg(call_sid, token))
        while True:
            await asyncio.wait_for(ws.recv(), 20)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    finally:
        await ws.close()


def test_media_stream_refuses_missing_forged_expired_and_foreign_tokens(env: Env) -> None:
    tokens: StreamTokens = env.app.state.stream_tokens
    sid = "CA" + "4" * 32
    expired = StreamTokens(b"s" * 32, clock=lambda: time.time() - 3600).issue(sid, 300)
    cases = {
        "missing": None,
        "forged": f"{int(time.time()) + 300}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "expired": expired,
        "foreign": tokens.issue("CA" + "8" * 32, 300),  # a genuine token for another call
        "malformed": "not-a-token",
    }
    before = dict(get_media_stats(env.app).refused)
    for name, token in cases.items():
        code = asyncio.run(refused_close_code(env, sid, token))
        assert code == 1008, f"{name} token: closed with {code}, expected 1008"
    assert sid not in env.recorder.calls  # no call session was made
    refused = get_media_stats(env.app).refused
    reasons = ("missing", "forged", "expired", "malformed")
    gained = {k: refused.get(k, 0) - before.get(k, 0) for k in reasons}
    assert gained == {"missing": 1, "forged": 2, "expired": 1, "malformed": 1}


def test_bad_frames_are_counted_and_dropped_and_the_call_goes_on(env: Env) -> None:
    sid = "CA" + "6" * 32
    stream_sid = "MZ" + "5" * 32
    token: str = env.app.state.stream_tokens.issue(sid, 300)
    speech = GREETING[:1600]  # ten real 20 ms frames

    async def scenario() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        async with connect(ws_url(env)) as ws:
            await ws.send(CONNECTED)
            await ws.send(media_msg(speech[:160], 0))  # before start
            await ws.send(start_msg(sid, token, stream_sid))
            await ws.send("{this is not json")
            await ws.send(
                json.dumps(
                    {
                        "event": "media",
                        "streamSid": stream_sid,
                        "media": {"payload": "***not base64***"},
                    }
                )
            )
            await ws.send(json.dumps({"event": "transcription", "streamSid": stream_sid}))
            await ws.send(media_msg(b"\xff" * 4000, 1))  # 5.4 kB JSON > 4096 limit
            await ws.send(b"\x00\x01binary")
            await ws.send(media_msg(speech[:160], 2, stream_sid="MZ" + "0" * 32))
            await ws.send(start_msg(sid, token, stream_sid))  # a second start
            for i in range(10):
                await ws.send(media_msg(speech[i * 160 : (i + 1) * 160], 3 + i, stream_sid))
            await ws.send(
                json.dumps(
                    {
                        "event": "dtmf",
                        "streamSid": stream_sid,
                        "sequenceNumber": "20",
                        "dtmf": {"track": "inbound_track", "digit": "9"},
                    }
                )
            )
            await ws.send(
                json.dumps(
                    {
                        "event": "dtmf",
                        "streamSid": stream_sid,
                        "sequenceNumber": "21",
                        "dtmf": {"track": "inbound_track", "digit": "7"},
                    }
                )
            )
            await ws.send(
                json.dumps(
                    {
                        "event": "mark",
                        "streamSid": stream_sid,
                        "sequenceNumber": "22",
                        "mark": {"name": "greeting"},
                    }
                )
            )
            wait_until(
                lambda: sid in env.recorder.calls and env.recorder.call(sid).marks == ["greeting"],
                what="mark at handler",
            )
            await ws.send(
                json.dumps(
                    {
                        "event": "stop",
                        "streamSid": stream_sid,
                        "sequenceNumber": "23",
                        "stop": {"accountSid": "AC", "callSid": sid},
                    }
                )
            )
            try:
                while True:
                    received.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            except ConnectionClosed:
                pass
        return received

    received = asyncio.run(scenario())
    call = env.recorder.call(sid)
    wait_until(lambda: call.stops == 1, what="on_stop")
    assert bytes(call.audio) == speech  # every valid frame arrived, in order, nothing else
    assert call.frames == 10
    assert call.digits == ["9", "7"]  # the handler failed on 9; 7 still arrived
    sink = call.sink
    assert isinstance(sink, TwilioMediaSink)
    assert dict(sink.stats.dropped) == {
        "before_start": 1,
        "malformed_json": 1,
        "bad_base64": 1,
        "unknown_event": 1,
        "oversized": 1,
        "binary_frame": 1,
        "wrong_stream": 1,
        "duplicate_start": 1,
    }
    assert sink.stats.handler_errors == 1
    # the greeting went out as 20 ms frames for this stream, then its mark
    media_out = [m for m in received if m["event"] == "media"]
    assert all(m["streamSid"] == stream_sid for m in received)
    sizes = [len(base64.b64decode(m["media"]["payload"])) for m in media_out]
    assert sizes == [160] * (len(GREETING) // 160) + (
        [len(GREETING) % 160] if len(GREETING) % 160 else []
    )
    assert b"".join(base64.b64decode(m["media"]["payload"]) for m in media_out) == GREETING
    assert received[len(media_out)] == {
        "event": "mark",
        "streamSid": stream_sid,
        "mark": {"name": "greeting"},
    }
    assert env.app.state.media_stats.snapshot()["dropped"]["oversized"] >= 1


def test_on_stop_runs_exactly_once_when_the_socket_drops(env: Env) -> None:
    async def scenario() -> str:
        call = TwilioCallSimulator(env.base, AUTH_TOKEN, speed=20)
        await call.start()
        await call.wait_for_mark("greeting")
        await call.pause(0.2)
        await call.drop()  # no stop message, no close handshake
        await call.aclose()
        return call.call_sid

    sid = asyncio.run(scenario())
    log = env.recorder.call(sid)
    wait_until(lambda: log.stops >= 1, what="on_stop after drop")
    time.sleep(0.3)  # a second on_stop would have arrived by now
    assert log.stops == 1
    assert env.recorder.call(sid).sink.closed


def test_simulated_call_round_trip_with_marks_clear_and_handoff(env: Env) -> None:
    caller_speech = prompt_mulaw("auth-thankyou")

    async def scenario() -> tuple[TwilioCallSimulator, Any, Any, Any, Any, str | None, Any]:
        async with TwilioCallSimulator(env.base, AUTH_TOKEN, speed=10, from_="+15550123") as call:
            greeting = await call.wait_for_mark("greeting")
            said = await call.say_mulaw(caller_speech)
            await call.press("1")
            odd = await call.wait_for_mark("odd")
            reply_wall = call.first_audio_after(said.end_wall)
            await call.press("2")
            long = await call.wait_for_mark("long")
            await call.pause(0.1)
            await call.press("3")
            twiml = await call.wait_closed()
        return call, greeting, said, odd, long, twiml, reply_wall

    call, greeting, said, odd, long, twiml, reply_wall = asyncio.run(scenario())
    log = env.recorder.call(call.call_sid)
    assert log.start.custom_parameters["from"] == "+15550123"
    # the greeting mark came back only after its audio had played on the stream clock
    assert greeting.echoed_t >= call.played[0][0] + len(GREETING) / 8000
    assert not greeting.cleared and not odd.cleared
    # the caller heard the greeting exactly, starting where it started playing
    played = b"".join(audio for _, audio in call.played)
    assert played[: len(GREETING)] == GREETING
    heard = call.heard_mulaw()  # the same audio, placed on the call's timeline
    for t, audio in call.played:
        at = round(t / 0.02) * 160
        assert heard[at : at + len(audio)] == audio
    # the server received the caller's speech exactly, in order, amid silence frames
    assert caller_speech in bytes(log.audio)
    assert said.end_t > said.start_t
    assert reply_wall is not None and reply_wall > said.end_wall  # the reply to key 1
    assert log.digits == ["1", "2", "3"]
    # outbound frames: 160 bytes except the last of a prompt; all for this stream
    assert all(f.stream_sid == call.stream_sid for f in call.outbound)
    sizes = [f.payload_bytes for f in call.outbound]
    assert all(0 < n <= 160 for n in sizes) and 40 in sizes  # "1": 1000 = 6 x 160 + 40
    # "2": a long prompt, then clear: unplayed audio dropped, its mark echoed as cleared
    assert len(call.clears) == 1 and call.clears[0].dropped_bytes > 0
    assert long.cleared
    assert log.marks == ["greeting", "odd", "long"]
    # "3": the session handed the call to an agent and closed; Twilio asked /twilio/next
    assert call.closed_by_server and call.close_code == 1000
    assert twiml is not None
    root = ET.fromstring(twiml)
    assert root.find("Dial/Number").text == AGENT  # type: ignore[union-attr]
    assert log.stops == 1
    assert call.protocol_errors == []
    wav = call.heard_wav_bytes()
    assert wav[:4] == b"RIFF" and len(wav) > len(GREETING) * 2


def test_caller_hangup_sends_stop_and_no_action_is_fetched(env: Env) -> None:
    async def scenario() -> TwilioCallSimulator:
        call = TwilioCallSimulator(env.base, AUTH_TOKEN, speed=20, status_path="/twilio/status")
        await call.start()
        await call.wait_for_mark("greeting")
        await call.hangup()
        await call.aclose()
        with pytest.raises(CallEndedError):
            await call.say_mulaw(b"\xff" * 160)
        return call

    call = asyncio.run(scenario())
    log = env.recorder.call(call.call_sid)
    wait_until(lambda: log.stops == 1, what="on_stop after hangup")
    assert call.action_twiml is None and not call.closed_by_server
    assert env.recorder.statuses[-1][:2] == (call.call_sid, "completed")


def test_hangup_handoff_says_goodbye(env: Env) -> None:
    async def scenario() -> str | None:
        async with TwilioCallSimulator(env.base, AUTH_TOKEN, speed=20) as call:
            await call.wait_for_mark("greeting")
            await call.press("4")
            return await call.wait_closed()

    twiml = asyncio.run(scenario())
    assert twiml is not None
    root = ET.fromstring(twiml)
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root.find("Say").text == "Goodbye now."  # type: ignore[union-attr]


def test_simulator_works_behind_a_proxy_base_url(env: Env) -> None:
    public = "https://ivr.example.org"
    env.configure(public_base_url=public)

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(
            env.base, AUTH_TOKEN, speed=20, public_base_url=public
        ) as call:
            await call.wait_for_mark("greeting")
            await call.press("3")
            await call.wait_closed()
        return call

    call = asyncio.run(scenario())
    assert call.instruction is not None
    assert call.instruction.stream_url == "wss://ivr.example.org/twilio/media"
    assert call.action_twiml is not None and AGENT in call.action_twiml


def test_stream_without_a_handler_factory_is_closed_not_hung(env: Env) -> None:
    factory = env.app.state.call_handler_factory
    env.app.state.call_handler_factory = None
    try:
        code = asyncio.run(refused_close_code(env, "CA" + "7" * 32, "x"))
    finally:
        env.app.state.call_handler_factory = factory
    assert code == 1011
