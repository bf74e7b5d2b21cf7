"""Twilio Media Streams messages: typed inbound events and outbound message builders.

The protocol (bidirectional `<Connect><Stream>`), as Twilio documents it:

inbound (Twilio -> us), JSON text frames:
  {"event": "connected", "protocol": "Call", "version": "1.0.0"}
  {"event": "start", "sequenceNumber": "1", "streamSid": "MZ..",
   "start": {"accountSid": "AC..", "streamSid": "MZ..", "callSid": "CA..", "tracks": ["inbound"],
             "customParameters": {..}, "mediaFormat": {"encoding": "audio/x-mulaw",
             "sampleRate": 8000, "channels": 1}}}
  {"event": "media", "sequenceNumber": "3", "streamSid": "MZ..",
   "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "<base64 mu-law>"}}
  {"event": "dtmf", "streamSid": "MZ..", "sequenceNumber": "5",
   "dtmf": {"track": "inbound_track", "digit": "1"}}
  {"event": "mark", "sequenceNumber": "4", "streamSid": "MZ..", "mark": {"name": "label"}}
  {"event": "stop", "sequenceNumber": "5", "streamSid": "MZ..",
   "stop": {"accountSid": "AC..", "callSid": "CA.."}}

outbound (us -> Twilio):
  {"event": "media", "streamSid": "MZ..", "media": {"payload": "<base64 mu-law 8 kHz>"}}
  {"event": "mark", "streamSid": "MZ..", "mark": {"name": "label"}}
  {"event": "clear", "streamSid": "MZ.."}

Twilio echoes a `mark` back once the audio sent before it has played (at once if nothing is
buffered); `clear` drops all buffered audio and makes Twilio send back every pending mark.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

MULAW_ENCODING = "audio/x-mulaw"
SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
DTMF_DIGITS = frozenset("0123456789*#ABCD")

# MediaProtocolError kinds
MALFORMED_JSON = "malformed_json"
BAD_BASE64 = "bad_base64"
UNKNOWN_EVENT = "unknown_event"
MISSING_FIELD = "missing_field"
BAD_FIELD = "bad_field"


class MediaProtocolError(ValueError):
    """An inbound message that does not follow the protocol. `kind` names the problem."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class MediaFormat:
    """The audio format Twilio announces in `start` (always mu-law 8 kHz mono for streams)."""

    encoding: str = MULAW_ENCODING
    sample_rate: int = SAMPLE_RATE
    channels: int = 1

    @property
    def is_mulaw_8k_mono(self) -> bool:
        return (self.encoding, self.sample_rate, self.channels) == (MULAW_ENCODING, SAMPLE_RATE, 1)


@dataclass(frozen=True)
class Connected:
    """First message on a new stream."""

    protocol: str = "Call"
    version: str = ""


@dataclass(frozen=True)
class Start:
    """Stream metadata; `custom_parameters` are the `<Parameter>`s of the TwiML `<Stream>`."""

    call_sid: str
    stream_sid: str
    account_sid: str = ""
    tracks: tuple[str, ...] = ("inbound",)
    media_format: MediaFormat = field(default_factory=MediaFormat)
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    """One chunk of caller audio (raw mu-law bytes, normally 160 = 20 ms)."""

    payload: bytes
    track: str = "inbound"
    chunk: int = 0
    timestamp_ms: int = 0
    stream_sid: str = ""


@dataclass(frozen=True)
class Dtmf:
    """A key the caller pressed."""

    digit: str
    track: str = "inbound_track"
    stream_sid: str = ""


@dataclass(frozen=True)
class Mark:
    """Twilio's echo of a mark we sent: the audio before it has played (or was cleared)."""

    name: str
    stream_sid: str = ""


@dataclass(frozen=True)
class Stop:
    """The stream ended (caller hung up, or the call moved on)."""

    call_sid: str = ""
    account_sid: str = ""
    stream_sid: str = ""


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop


def _obj(msg: dict[str, Any], key: str) -> dict[str, Any]:
    value = msg.get(key)
    if value is None:
        raise MediaProtocolError(MISSING_FIELD, key)
    if not isinstance(value, dict):
        raise MediaProtocolError(BAD_FIELD, f"{key} is not an object")
    return value


def _str(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise MediaProtocolError(MISSING_FIELD, f"{where}.{key}")
        return ""
    if not isinstance(value, str):
        raise MediaProtocolError(BAD_FIELD, f"{where}.{key} is not a string")
    return value


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise MediaProtocolError(BAD_FIELD, f"{where}.{key} is not a number")
    try:
        return int(value)  # Twilio sends numbers as strings ("chunk": "1")
    except (TypeError, ValueError):
        raise MediaProtocolError(BAD_FIELD, f"{where}.{key} is not a number") from None


def _parse_start(msg: dict[str, Any]) -> Start:
    start = _obj(msg, "start")
    call_sid = _str(start, "callSid", "start")
    stream_sid = _str(start, "streamSid", "start", required=False) or _str(
        msg, "streamSid", "message"
    )
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise MediaProtocolError(BAD_FIELD, "start.tracks is not a list of strings")
    fmt_raw = start.get("mediaFormat", {})
    if not isinstance(fmt_raw, dict):
        raise MediaProtocolError(BAD_FIELD, "start.mediaFormat is not an object")
    fmt = MediaFormat(
        encoding=_str(fmt_raw, "encoding", "start.mediaFormat", required=False) or MULAW_ENCODING,
        sample_rate=_int(fmt_raw, "sampleRate", "start.mediaFormat") or SAMPLE_RATE,
        channels=_int(fmt_raw, "channels", "start.mediaFormat") or 1,
    )
    params_raw = start.get("customParameters") or {}
    if not isinstance(params_raw, dict):
        raise MediaProtocolError(BAD_FIELD, "start.customParameters is not an object")
    params = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in params_raw.items()}
    return Start(
        call_sid=call_sid,
        stream_sid=stream_sid,
        account_sid=_str(start, "accountSid", "start", required=False),
        tracks=tuple(tracks),
        media_format=fmt,
        custom_parameters=params,
    )


def _parse_media(msg: dict[str, Any]) -> Media:
    media = _obj(msg, "media")
    payload_b64 = _str(media, "payload", "media")
    try:
        payload = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError):
        raise MediaProtocolError(BAD_BASE64, "media.payload") from None
    return Media(
        payload=payload,
        track=_str(media, "track", "media", required=False) or "inbound",
        chunk=_int(media, "chunk", "media"),
        timestamp_ms=_int(media, "timestamp", "media"),
        stream_sid=_str(msg, "streamSid", "message", required=False),
    )


def _parse_dtmf(msg: dict[str, Any]) -> Dtmf:
    dtmf = _obj(msg, "dtmf")
    digit = _str(dtmf, "digit", "dtmf")
    if len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
        raise MediaProtocolError(BAD_FIELD, f"dtmf.digit {digit!r} is not a keypad key")
    return Dtmf(
        digit=digit.upper(),
        track=_str(dtmf, "track", "dtmf", required=False) or "inbound_track",
        stream_sid=_str(msg, "streamSid", "message", required=False),
    )


def _parse_mark(msg: dict[str, Any]) -> Mark:
    mark = _obj(msg, "mark")
    return Mark(
        name=_str(mark, "name", "mark"), stream_sid=_str(msg, "streamSid", "message", False)
    )


def _parse_stop(msg: dict[str, Any]) -> Stop:
    stop = msg.get("stop") or {}
    if not isinstance(stop, dict):
        raise MediaProtocolError(BAD_FIELD, "stop is not an object")
    return Stop(
        call_sid=_str(stop, "callSid", "stop", required=False),
        account_sid=_str(stop, "accountSid", "stop", required=False),
        stream_sid=_str(msg, "streamSid", "message", required=False),
    )


def _parse_connected(msg: dict[str, Any]) -> Connected:
    return Connected(
        protocol=_str(msg, "protocol", "connected", required=False) or "Call",
        version=_str(msg, "version", "connected", required=False),
    )


_PARSERS = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}


def parse_message(text: str | bytes) -> InboundEvent:
    """Parse one inbound websocket text message; raise `MediaProtocolError(kind)` if it is bad."""
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise MediaProtocolError(MALFORMED_JSON, "not JSON") from None
    if not isinstance(msg, dict):
        raise MediaProtocolError(MALFORMED_JSON, "not a JSON object")
    event = msg.get("event")
    if event is None:
        raise MediaProtocolError(MISSING_FIELD, "event")
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        raise MediaProtocolError(UNKNOWN_EVENT, repr(event)[:40])
    return parser(msg)


def media_message(stream_sid: str, mulaw: bytes) -> str:
    """An outbound `media` message carrying raw mu-law 8 kHz audio."""
    payload = base64.b64encode(mulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """An outbound `mark`: Twilio echoes it when the audio sent before it has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """An outbound `clear`: drop all audio Twilio has buffered (barge-in)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
