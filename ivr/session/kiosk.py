"""The kiosk media adapter: a browser microphone and speaker instead of a Twilio stream.

A kiosk visit runs the same `CallSession` as a phone call, with `channel="kiosk"`. The browser
sends PCM16 (any rate from 8 to 48 kHz, announced once); it is resampled with soxr to 8 kHz and
mu-law encoded in 20 ms frames for `CallSession.on_audio`. The session's replies go back as
PCM16 8 kHz binary frames for the browser to play, each prompt followed by a `mark` message the
browser echoes once it has played it (as Twilio does), so the session knows what was heard.

The visit outlives its websocket: if the page reloads or the network drops, nothing is lost;
marks sent while no page was connected count as played so the conversation never stalls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.session.call import CallSession, SessionDeps
from ivr.twilio.media import Start
from speech import mulaw
from speech.resample import StreamResampler

log = logging.getLogger(__name__)

FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz
MIN_RATE, MAX_RATE = 8000, 48000
MIN_WPM, MAX_WPM = 80, 220


class KioskError(ValueError):
    """A request the visit cannot carry out (the message is safe to show to staff)."""


class KioskSink:
    """`MediaSink` for a browser page: attach a websocket-like sender, or none."""

    def __init__(self) -> None:
        self._send_bytes: Callable[[bytes], Awaitable[None]] | None = None
        self._send_json: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self._closed = False
        self.on_unheard_mark: Callable[[str], None] | None = None
        self.audio_bytes_out = 0

    def attach(
        self,
        send_bytes: Callable[[bytes], Awaitable[None]],
        send_json: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Send to this page from now on."""
        self._send_bytes, self._send_json = send_bytes, send_json

    def detach(self) -> None:
        """No page is listening (audio is dropped, marks count as played)."""
        self._send_bytes = self._send_json = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_audio(self, mulaw_bytes: bytes) -> None:
        """Reply audio to the page as PCM16 8 kHz."""
        if self._closed or self._send_bytes is None:
            return
        pcm = mulaw.decode(mulaw_bytes)
        self.audio_bytes_out += len(pcm)
        await self._safe(self._send_bytes, pcm)

    async def send_mark(self, name: str) -> None:
        """The page echoes the mark when the audio before it has played."""
        if self._closed:
            return
        if self._send_json is None or not await self._safe(
            self._send_json, {"type": "mark", "name": name}
        ):
            if self.on_unheard_mark is not None:
                self.on_unheard_mark(name)

    async def send_clear(self) -> None:
        """Stop what the page is playing (barge-in)."""
        if not self._closed and self._send_json is not None:
            await self._safe(self._send_json, {"type": "clear"})

    async def close(self) -> None:
        """The conversation has ended (handed on or finished)."""
        if self._closed:
            return
        self._closed = True
        if self._send_json is not None:
            await self._safe(self._send_json, {"type": "ended"})

    async def _safe(self, fn: Callable[[Any], Awaitable[None]], arg: Any) -> bool:
        try:
            await fn(arg)
            return True
        except Exception:  # the page went away: the visit goes on
            log.info("kiosk page gone; visit continues without it")
            self.detach()
            return False


@dataclass
class KioskVisit:
    """One visit at a kiosk: a `CallSession` with channel "kiosk" fed from a browser."""

    call_sid: str
    deps: SessionDeps
    staff: str
    customer_id: int | None = None
    customer_phone: str | None = None
    sink: KioskSink = field(default_factory=KioskSink)
    session: CallSession | None = None
    ended: bool = False
    _in_rate: int = 0
    _resampler: StreamResampler | None = None
    _pending: bytearray = field(default_factory=bytearray)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        """Start the session (the greeting is spoken to the attached page)."""
        if self.session is not None:
            return
        self.session = CallSession(self.deps, self.sink, channel="kiosk")
        self.sink.on_unheard_mark = self._mark_later
        params = {"to": "kiosk", "staff": self.staff}
        if self.customer_phone:
            params["from"] = self.customer_phone
        start = Start(call_sid=self.call_sid, stream_sid=self.call_sid, custom_parameters=params)
        await self.session.on_start(start)
        if self.customer_id is not None:
            await asyncio.to_thread(self.deps.store.identify_call, self.call_sid, self.customer_id)

    def _mark_later(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self.mark(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def set_input_rate(self, rate: int) -> None:
        """The sample rate of the PCM16 the page sends (8000 to 48000)."""
        if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            raise KioskError(f"microphone sample rate must be {MIN_RATE} to {MAX_RATE} Hz")
        if rate != self._in_rate:
            self._in_rate = rate
            self._resampler = StreamResampler(rate, 8000)

    async def feed(self, pcm16: bytes) -> None:
        """Microphone audio (PCM16 little-endian at the announced rate) into the session."""
        if self.session is None or self.ended:
            return
        if self._resampler is None:
            raise KioskError("say the microphone's sample rate first")
        if len(pcm16) % 2:
            raise KioskError("PCM16 audio must have an even number of bytes")
        pcm8k = self._resampler.process(pcm16)
        self._pending.extend(mulaw.encode(pcm8k))
        while len(self._pending) >= FRAME_BYTES:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            await self.session.on_audio(frame)

    async def mark(self, name: str) -> None:
        """The page has played the audio up to mark `name`."""
        if self.session is not None and not self.ended:
            await self.session.on_mark(name)

    async def key(self, digit: str) -> None:
        """A keypad press on the page (same meaning as on the phone)."""
        if digit not in "0123456789*#" or len(digit) != 1:
            raise KioskError(f"not a keypad key: {digit!r}")
        if self.session is not None and not self.ended:
            await self.session.on_dtmf(digit)

    async def set_rate(self, wpm: int) -> int:
        """Speak at `wpm` words per minute from the next prompt on (kept for the visit)."""
        if not isinstance(wpm, int) or not MIN_WPM <= wpm <= MAX_WPM:
            raise KioskError(f"speech rate must be {MIN_WPM} to {MAX_WPM} words per minute")
        session = self._session()
        session.rate_wpm = wpm
        session.rate_fixed = True
        if session.dialog is not None:
            session.dialog.rate_wpm = wpm
        await asyncio.to_thread(self.deps.store.set_call_rate, self.call_sid, wpm)
        await asyncio.to_thread(
            self.deps.store.add_event,
            self.call_sid,
            "rate_changed",
            data={"rate_wpm": wpm, "source": "kiosk_staff", "staff": self.staff},
        )
        return wpm

    async def set_dialect(self, dialect: str) -> str:
        """Speak and understand `dialect` from now on (voice, wording and recognizer follow);
        the current question is asked again in the new wording."""
        from ivr.flows.packs import language_pack

        session = self._session()
        if session.failed:  # a fault in the conversation: the visitor is going to a person
            raise KioskError("the conversation is being handed on to a person")
        if session.dialog is None:
            raise KioskError("the visit has not started")
        try:
            await asyncio.to_thread(language_pack, dialect)
        except Exception as exc:
            raise KioskError(f"unknown or broken dialect {dialect!r}: {exc}") from None
        try:
            await session.switch_dialect(dialect, source=f"kiosk_staff:{self.staff}")
        except ValueError as exc:  # its wording does not fit the flow: nothing was changed
            raise KioskError(f"dialect {dialect!r} cannot be used here: {exc}") from None
        return dialect

    async def end(self) -> None:
        """The visit is over: the session stops (its record is completed)."""
        if self.ended:
            return
        self.ended = True
        if self.session is not None:
            await self.session.on_stop()
        self.sink.detach()

    def _session(self) -> CallSession:
        if self.session is None or self.ended:
            raise KioskError("the visit is not running")
        return self.session
