"""Run a whole call offline: a real server in this process, a simulated Twilio feeding it audio.

Used by `ivr call simulate` and by benchmarks. Steps are strings:

- `say:PATH.wav` (or a bare `PATH.wav`): the caller speaks this recording;
- `say-text:WORDS`: the caller speaks these words (synthesized with espeak-ng, a voice unlike the
  system's own);
- `press:DIGITS` (or bare digits, `*`, `#`): keypad presses;
- `wait:SECONDS`: the caller stays silent.

Before each step the caller waits until the system has finished speaking (as a polite caller
does); after the last step the call runs until the system hands it on or `--linger` seconds of
quiet pass, then the caller hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ivr.session.events import SessionEvent
from ivr.settings import Settings


class StepError(ValueError):
    """A simulate step that cannot be understood (the message says which and why)."""


@dataclass(frozen=True)
class Step:
    """One thing the simulated caller does."""

    kind: str  # say | say_text | press | wait
    value: str


def parse_step(raw: str) -> Step:
    """Parse one step string (see the module docstring)."""
    text = raw.strip()
    if not text:
        raise StepError("empty step")
    head, sep, rest = text.partition(":")
    head = head.lower()
    if sep and head in ("say", "say-text", "press", "wait"):
        if not rest:
            raise StepError(f"{raw!r}: nothing after '{head}:'")
        if head == "wait":
            try:
                seconds = float(rest)
            except ValueError:
                raise StepError(f"{raw!r}: wait needs seconds, e.g. wait:2") from None
            if not 0 <= seconds <= 300:
                raise StepError(f"{raw!r}: wait between 0 and 300 seconds")
        if head == "press" and not re.fullmatch(r"[0-9*#]+", rest):
            raise StepError(f"{raw!r}: keys are 0-9, * and #")
        if head == "say" and not Path(rest).is_file():
            raise StepError(f"{raw!r}: no such file {rest}")
        return Step({"say-text": "say_text"}.get(head, head), rest)
    if re.fullmatch(r"[0-9*#]+", text):
        return Step("press", text)
    if text.lower().endswith(".wav"):
        if not Path(text).is_file():
            raise StepError(f"{raw!r}: no such file")
        return Step("say", text)
    raise StepError(f"{raw!r}: use say:FILE.wav, say-text:WORDS, press:DIGITS or wait:SECONDS")


@dataclass
class SimulationResult:
    """What happened in a simulated call."""

    call_sid: str
    events: list[SessionEvent] = field(default_factory=list)
    heard_wav: bytes = b""
    action_twiml: str | None = None
    clears: int = 0


def caller_speech(text: str) -> bytes:
    """Synthesized caller speech as 8 kHz PCM16 (a lower, quicker voice than the system's)."""
    from speech.resample import resample_array
    from speech.tts import VoiceSettings, synthesize

    audio = synthesize(text, VoiceSettings(voice="en-us", rate_wpm=150, pitch=35))
    return resample_array(audio.samples, audio.sample_rate, 8000).astype("<i2").tobytes()


async def run_call(
    base_url: str,
    auth_token: str,
    steps: list[Step],
    *,
    from_: str,
    speed: float = 1.0,
    linger_s: float = 12.0,
    step_timeout_s: float = 120.0,
    reply_timeout_s: float = 15.0,
) -> tuple[str, str | None, bytes, int]:
    """Play `steps` as a caller against a running server; returns
    (call_sid, action TwiML, WAV of what the caller heard, number of clears)."""
    from ivr.twilio.simulator import CallEndedError, TwilioCallSimulator
    from speech.wav import read_wav

    async with TwilioCallSimulator(base_url, auth_token, from_=from_, speed=speed) as call:
        try:
            await call.wait_for_audio(timeout=step_timeout_s)
            for step in steps:
                # a polite caller waits for the system to finish (longer than its sentence pauses)
                await call.wait_until_quiet(quiet_s=1.5, timeout=step_timeout_s)
                if step.kind in ("say", "say_text"):
                    pcm = (
                        read_wav(step.value, rate=8000).pcm
                        if step.kind == "say"
                        else caller_speech(step.value)
                    )
                    await call.say_pcm(pcm)
                    # then waits for the answer to begin (after the endpointer's trailing silence)
                    with contextlib.suppress(TimeoutError):
                        await call.wait_for_audio(timeout=reply_timeout_s)
                elif step.kind == "press":
                    await call.press(step.value)
                elif step.kind == "wait":
                    await call.pause(float(step.value))
            try:
                await call.wait_closed(timeout=linger_s / max(speed, 1e-3) + 5)
            except TimeoutError:
                await call.hangup()
        except CallEndedError:
            pass
        return call.call_sid, call.action_twiml, call.heard_wav_bytes(), len(call.clears)


def simulate(
    settings: Settings,
    steps: list[Step],
    *,
    from_: str,
    speed: float = 1.0,
    linger_s: float = 12.0,
    on_event: Callable[[SessionEvent], None] | None = None,
) -> SimulationResult:
    """Start the app on 127.0.0.1, run one simulated call through the real websocket handler."""
    from ivr.app import build_deps, create_app
    from ivr.twilio.local_server import LocalServer

    settings = settings.model_copy()
    if not settings.twilio_auth_token:
        settings.twilio_auth_token = secrets.token_hex(16)  # signed like a real call
    events: list[SessionEvent] = []

    def listener(event: SessionEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    deps = build_deps(settings, listeners=[listener])
    server = LocalServer(create_app(settings, deps))
    base = server.start()
    settings.public_base_url = base
    try:
        sid, twiml, wav, clears = asyncio.run(
            run_call(
                base, settings.twilio_auth_token, steps, from_=from_, speed=speed, linger_s=linger_s
            )
        )
    finally:
        server.stop()
    return SimulationResult(sid, [e for e in events if e.call_sid == sid], wav, twiml, clears)
