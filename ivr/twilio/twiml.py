"""TwiML answers built with the `twilio` library's `VoiceResponse`, and a reader for one.

`stream_twiml` opens the bidirectional media stream:

    <Response><Connect action="https://.../twilio/next">
      <Stream url="wss://.../twilio/media"><Parameter name="token" value="..."/></Stream>
    </Connect></Response>

When our server closes the stream, `<Connect>` ends and Twilio requests the `action` URL, whose
answer (`dial_twiml` or `goodbye_twiml`) says what happens to the call next.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

TOKEN_PARAMETER = "token"


def stream_twiml(
    stream_url: str,
    token: str,
    action_url: str,
    extra_params: dict[str, str] | None = None,
) -> str:
    """TwiML opening a bidirectional stream to `stream_url`, with the token and extra parameters."""
    if not stream_url.startswith(("wss://", "ws://")):
        raise ValueError(f"stream URL must be ws:// or wss://, not {stream_url!r}")
    response = VoiceResponse()
    connect = Connect(action=action_url, method="POST")
    stream = connect.stream(url=stream_url)
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    for name, value in (extra_params or {}).items():
        if name == TOKEN_PARAMETER:
            raise ValueError("extra_params must not override the token parameter")
        if value is not None and value != "":
            stream.parameter(name=name, value=str(value))
    response.append(connect)
    return str(response)


def dial_twiml(
    agent: str,
    caller_id: str | None = None,
    say_text: str = "",
    action_url: str | None = None,
    timeout_s: int = 30,
    language: str | None = None,
) -> str:
    """TwiML handing the call to a person: `agent` is an E.164 number, `client:name` or `sip:..`."""
    if not agent:
        raise ValueError("no agent to dial")
    response = VoiceResponse()
    if say_text:
        response.say(say_text, language=language)
    dial_args: dict[str, object] = {"timeout": timeout_s}
    if caller_id:
        dial_args["caller_id"] = caller_id
    if action_url:
        dial_args["action"] = action_url
        dial_args["method"] = "POST"
    dial = Dial(**dial_args)
    if agent.startswith("client:"):
        dial.client(agent.removeprefix("client:"))
    elif agent.startswith("sip:"):
        dial.sip(agent)
    else:
        dial.number(agent)
    response.append(dial)
    return str(response)


def goodbye_twiml(text: str = "", language: str | None = None) -> str:
    """TwiML saying `text` (if any) and hanging up."""
    response = VoiceResponse()
    if text:
        response.say(text, language=language)
    response.hangup()
    return str(response)


@dataclass(frozen=True)
class StreamInstruction:
    """What Twilio reads from a `<Connect><Stream>` answer."""

    stream_url: str
    action_url: str | None
    action_method: str = "POST"
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        return self.parameters.get(TOKEN_PARAMETER)


def parse_stream_twiml(twiml: str) -> StreamInstruction:
    """Read the stream URL, `<Parameter>`s and action URL of a `<Connect><Stream>` answer."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise ValueError(f"TwiML is not XML: {exc}") from None
    if root.tag != "Response":
        raise ValueError(f"TwiML root is <{root.tag}>, not <Response>")
    connect = root.find("Connect")
    stream = connect.find("Stream") if connect is not None else None
    if connect is None or stream is None or not stream.get("url"):
        raise ValueError("TwiML has no <Connect><Stream url=...>")
    params = {
        p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter") if p.get("name")
    }
    return StreamInstruction(
        stream_url=stream.get("url", ""),
        action_url=connect.get("action"),
        action_method=(connect.get("method") or "POST").upper(),
        parameters=params,
    )
