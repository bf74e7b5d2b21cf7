"""Twilio protocol pieces on their own: Media Streams messages, stream tokens, TwiML, hand-offs."""

from __future__ import annotations

import base64
import json
import threading
import xml.etree.ElementTree as ET

import pytest

from ivr.twilio import media
from ivr.twilio.handoff import Handoff, HandoffRegistry
from ivr.twilio.media import MediaProtocolError, parse_message
from ivr.twilio.tokens import StreamTokenError, StreamTokens
from ivr.twilio.twiml import dial_twiml, goodbye_twiml, parse_stream_twiml, stream_twiml

# ---- inbound messages, in the shapes Twilio documents ------------------------------------------

START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC123",
        "streamSid": "MZ456",
        "callSid": "CA789",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"token": "t", "from": "+15550100"},
    },
    "streamSid": "MZ456",
}


def test_parse_documented_messages() -> None:
    connected = parse_message('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    assert connected == media.Connected(protocol="Call", version="1.0.0")

    start = parse_message(json.dumps(START))
    assert isinstance(start, media.Start)
    assert (start.call_sid, start.stream_sid, start.account_sid) == ("CA789", "MZ456", "AC123")
    assert start.tracks == ("inbound",)
    assert start.media_format.is_mulaw_8k_mono
    assert start.custom_parameters == {"token": "t", "from": "+15550100"}

    audio = bytes(range(160))
    msg = {
        "event": "media",
        "sequenceNumber": "3",
        "media": {
            "track": "inbound",
            "chunk": "1",
            "timestamp": "5",
            "payload": base64.b64encode(audio).decode(),
        },
        "streamSid": "MZ456",
    }
    got = parse_message(json.dumps(msg))
    assert got == media.Media(
        payload=audio, track="inbound", chunk=1, timestamp_ms=5, stream_sid="MZ456"
    )

    dtmf = parse_message(
        '{"event": "dtmf", "streamSid": "MZ456", "sequenceNumber": "5",'
        ' "dtmf": {"track": "inbound_track", "digit": "#"}}'
    )
    assert dtmf == media.Dtmf(digit="#", track="inbound_track", stream_sid="MZ456")

    mark = parse_message(
        '{"event": "mark", "sequenceNumber": "4", "streamSid": "MZ456", "mark": {"name": "p1"}}'
    )
    assert mark == media.Mark(name="p1", stream_sid="MZ456")

    stop = parse_message(
        '{"event": "stop", "sequenceNumber": "5", "streamSid": "MZ456",'
        ' "stop": {"accountSid": "AC123", "callSid": "CA789"}}'
    )
    assert stop == media.Stop(call_sid="CA789", account_sid="AC123", stream_sid="MZ456")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_json"),
        ('"media"', "malformed_json"),
        ('{"event": "wiggle"}', "unknown_event"),
        ('{"event": 7}', "unknown_event"),
        ('{"sequenceNumber": "1"}', "missing_field"),
        ('{"event": "media"}', "missing_field"),
        ('{"event": "media", "media": {"track": "inbound"}}', "missing_field"),
        ('{"event": "media", "media": {"payload": "@@not base64@@"}}', "bad_base64"),
        ('{"event": "media", "media": {"payload": "AAA"}}', "bad_base64"),
        ('{"event": "media", "media": {"payload": "AAAA", "chunk": "x"}}', "bad_field"),
        ('{"event": "media", "media": "AAAA"}', "bad_field"),
        ('{"event": "start", "start": {"streamSid": "MZ1"}}', "missing_field"),
        ('{"event": "start", "start": {"callSid": "CA1"}}', "missing_field"),
        (
            '{"event": "start", "streamSid": "MZ", "start": {"callSid": "CA", "tracks": "x"}}',
            "bad_field",
        ),
        ('{"event": "dtmf", "dtmf": {"digit": "12"}}', "bad_field"),
        ('{"event": "dtmf", "dtmf": {}}', "missing_field"),
        ('{"event": "mark", "mark": {"name": 3}}', "bad_field"),
    ],
)
def test_parse_rejects_bad_messages_with_a_kind(text: str, kind: str) -> None:
    with pytest.raises(MediaProtocolError) as info:
        parse_message(text)
    assert info.value.kind == kind


def test_start_stream_sid_falls_back_to_top_level_and_format_is_reported() -> None:
    msg = json.loads(json.dumps(START))
    del msg["start"]["streamSid"]
    msg["start"]["mediaFormat"] = {"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}
    start = parse_message(json.dumps(msg))
    assert isinstance(start, media.Start)
    assert start.stream_sid == "MZ456"
    assert not start.media_format.is_mulaw_8k_mono


def test_outbound_builders_match_the_documented_shapes() -> None:
    audio = b"\x00\x7f\xff" * 10
    assert json.loads(media.media_message("MZ1", audio)) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(audio).decode()},
    }
    assert json.loads(media.mark_message("MZ1", "greeting")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "greeting"},
    }
    assert json.loads(media.clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


# ---- stream tokens ------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_round_trip_and_refusals() -> None:
    clock = Clock(1_700_000_000.0)
    tokens = StreamTokens(b"k" * 32, clock=clock)
    token = tokens.issue("CA1", ttl_s=300)
    assert tokens.verify(token, "CA1") is True

    def reason(tok: str | None, sid: str = "CA1", signer: StreamTokens = tokens) -> str:
        with pytest.raises(StreamTokenError) as info:
            signer.verify(tok, sid)
        return info.value.reason

    assert reason(None) == "missing"
    assert reason("") == "missing"
    assert reason("garbage") == "malformed"
    assert reason("12x.abc") == "malformed"
    assert reason(token, "CA2") == "forged"  # another call's token
    expiry, mac = token.split(".")
    assert reason(f"{int(expiry) + 1000}.{mac}") == "forged"  # extended expiry
    assert reason(f"{expiry}.{mac[:-2]}AA") == "forged"
    other = StreamTokens(b"x" * 32, clock=clock)
    assert reason(other.issue("CA1", 300)) == "forged"  # another key
    clock.now += 301
    assert reason(token) == "expired"
    assert not tokens.is_valid(token, "CA1")


def test_token_secret_must_be_long_enough() -> None:
    with pytest.raises(ValueError):
        StreamTokens(b"short")


# ---- TwiML --------------------------------------------------------------------------------------


def test_stream_twiml_is_connect_stream_with_token_and_action() -> None:
    text = stream_twiml(
        "wss://ivr.example.org/twilio/media",
        "123.abc",
        "https://ivr.example.org/twilio/next",
        {"from": "+15550100", "to": "+15550199", "empty": ""},
    )
    root = ET.fromstring(text)
    assert root.tag == "Response"
    connect = root.find("Connect")
    assert connect is not None
    assert connect.get("action") == "https://ivr.example.org/twilio/next"
    stream = connect.find("Stream")
    assert stream is not None and stream.get("url") == "wss://ivr.example.org/twilio/media"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"token": "123.abc", "from": "+15550100", "to": "+15550199"}
    parsed = parse_stream_twiml(text)
    assert parsed.token == "123.abc"
    assert parsed.action_url == "https://ivr.example.org/twilio/next"
    with pytest.raises(ValueError):
        stream_twiml("https://not-a-websocket", "t", "https://x/next")
    with pytest.raises(ValueError):
        parse_stream_twiml(goodbye_twiml("bye"))


def test_dial_and_goodbye_twiml() -> None:
    root = ET.fromstring(dial_twiml("+15551234567", say_text="Connecting you.", action_url="/d"))
    assert root.find("Say").text == "Connecting you."  # type: ignore[union-attr]
    dial = root.find("Dial")
    assert dial is not None and dial.get("action") == "/d"
    assert dial.find("Number").text == "+15551234567"  # type: ignore[union-attr]
    root = ET.fromstring(dial_twiml("client:alice", caller_id="+15550100"))
    assert root.find("Dial/Client").text == "alice"  # type: ignore[union-attr]
    assert root.find("Dial").get("callerId") == "+15550100"  # type: ignore[union-attr]
    assert root.find("Say") is None
    with pytest.raises(ValueError):
        dial_twiml("")
    root = ET.fromstring(goodbye_twiml("Goodbye."))
    assert [child.tag for child in root] == ["Say", "Hangup"]


# ---- hand-offs ----------------------------------------------------------------------------------


def test_handoff_registry_is_thread_safe_and_pops_once() -> None:
    registry = HandoffRegistry()

    def worker(n: int) -> None:
        for i in range(200):
            registry.set(f"CA{n}-{i}", Handoff(kind="agent", reason="asked"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(registry) == 800
    taken = registry.pop("CA1-5")
    assert taken is not None and taken.kind == "agent" and taken.reason == "asked"
    assert registry.pop("CA1-5") is None
    assert len(registry) == 799
    with pytest.raises(ValueError):
        Handoff(kind="voicemail")  # type: ignore[arg-type]


def test_handoff_registry_prunes_old_entries() -> None:
    registry = HandoffRegistry(max_age_s=60)
    registry.set("CAold", Handoff(kind="hangup", created_at=0.0))
    registry.set("CAnew", Handoff(kind="hangup"))
    assert registry.peek("CAold") is None
    assert registry.peek("CAnew") is not None
