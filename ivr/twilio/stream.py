"""The media websocket adapter: Twilio Media Streams JSON <-> a `CallHandler`.

One `MediaStreamAdapter` serves one websocket (one call):

- `connected` then `start`: the token in `start.customParameters.token` must be genuine,
  unexpired and for `start.callSid`, else the socket is closed with 1008 (policy violation) and
  no handler is made. Then the app's `CallHandlerFactory(start, sink)` builds the handler.
- `media` / `dtmf` / `mark` go to the handler's `on_audio` / `on_dtmf` / `on_mark`, in order.
- Malformed JSON, bad base64, unknown events, frames before `start`, oversized or binary
  messages, duplicate `start`s and frames of another stream or track are counted per reason
  (`StreamStats.dropped`, and process-wide in `MediaStats`) and dropped with a log line: they
  never end the call. A handler exception on one frame is logged and counted; the call goes on.
- `on_stop` runs exactly once: on `stop`, on a dropped socket, or after the sink was closed.

The sink (`TwilioMediaSink`) serialises outbound writes and splits audio into 20 ms frames; a
`send_clear` also cuts short any `send_audio` still in progress.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from ivr.twilio.media import (
    FRAME_BYTES,
    Connected,
    Dtmf,
    InboundEvent,
    Mark,
    Media,
    MediaProtocolError,
    Start,
    Stop,
    clear_message,
    mark_message,
    media_message,
    parse_message,
)
from ivr.twilio.session_api import CallHandler, CallHandlerFactory
from ivr.twilio.tokens import StreamTokenError, StreamTokens
from ivr.twilio.twiml import TOKEN_PARAMETER

log = logging.getLogger(__name__)

# drop reasons besides the MediaProtocolError kinds
OVERSIZED = "oversized"
BINARY_FRAME = "binary_frame"
BEFORE_START = "before_start"
DUPLICATE_START = "duplicate_start"
DUPLICATE_CONNECTED = "duplicate_connected"
WRONG_STREAM = "wrong_stream"
OTHER_TRACK = "other_track"

CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011

_LOG_FIRST = 5  # per reason per call, then every _LOG_EVERY-th
_LOG_EVERY = 100


@dataclass
class StreamStats:
    """Counters for one stream (one call)."""

    call_sid: str = ""
    stream_sid: str = ""
    dropped: Counter[str] = field(default_factory=Counter)
    handler_errors: int = 0
    missing_connected: bool = False
    frames_in: int = 0
    audio_bytes_in: int = 0
    dtmf_in: int = 0
    marks_in: int = 0
    frames_out: int = 0
    audio_bytes_out: int = 0
    marks_out: int = 0
    clears_out: int = 0
    close_code: int | None = None


class MediaStats:
    """Process-wide counters over all streams (thread-safe; `app.state.media_stats`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.dropped: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.handler_errors = 0
        self.streams_started = 0
        self.streams_active = 0
        self.streams_ended = 0

    def drop(self, reason: str) -> None:
        with self._lock:
            self.dropped[reason] += 1

    def refuse(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1

    def handler_error(self) -> None:
        with self._lock:
            self.handler_errors += 1

    def started(self) -> None:
        with self._lock:
            self.streams_started += 1
            self.streams_active += 1

    def ended(self) -> None:
        with self._lock:
            self.streams_active -= 1
            self.streams_ended += 1

    def snapshot(self) -> dict[str, Any]:
        """A copy of all counters, for stats endpoints and tests."""
        with self._lock:
            return {
                "dropped": dict(self.dropped),
                "refused": dict(self.refused),
                "handler_errors": self.handler_errors,
                "streams_started": self.streams_started,
                "streams_active": self.streams_active,
                "streams_ended": self.streams_ended,
            }


class TwilioMediaSink:
    """`MediaSink` over one Twilio websocket."""

    def __init__(self, websocket: WebSocket, stream_sid: str, stats: StreamStats) -> None:
        self._ws = websocket
        self.stream_sid = stream_sid
        self.stats = stats
        self._lock = asyncio.Lock()
        self._closed = False
        self._clear_generation = 0

    @property
    def closed(self) -> bool:
        return self._closed

    async def _send(self, text: str) -> bool:
        async with self._lock:
            return await self._send_locked(text)

    async def _send_locked(self, text: str) -> bool:
        if self._closed:
            return False
        try:
            await self._ws.send_text(text)
            return True
        except Exception as exc:  # the socket went away under us
            log.info("stream %s: send failed (%s); stream closed", self.stream_sid, exc)
            self._closed = True
            return False

    async def send_audio(self, mulaw: bytes) -> None:
        """Send mu-law audio as 20 ms `media` messages (the last one may be shorter)."""
        generation = self._clear_generation
        for offset in range(0, len(mulaw), FRAME_BYTES):
            if self._closed or generation != self._clear_generation:
                return  # closed, or a clear arrived: the rest must not play
            frame = mulaw[offset : offset + FRAME_BYTES]
            async with self._lock:
                if generation != self._clear_generation:
                    return
                if not await self._send_locked(media_message(self.stream_sid, frame)):
                    return
            self.stats.frames_out += 1
            self.stats.audio_bytes_out += len(frame)

    async def send_mark(self, name: str) -> None:
        """Send a mark; Twilio echoes it when the audio before it has played."""
        if await self._send(mark_message(self.stream_sid, name)):
            self.stats.marks_out += 1

    async def send_clear(self) -> None:
        """Drop Twilio's buffered audio, and stop any `send_audio` still sending."""
        self._clear_generation += 1
        if await self._send(clear_message(self.stream_sid)):
            self.stats.clears_out += 1

    async def close(self) -> None:
        """End the stream (normal closure); Twilio then requests the `<Connect action>` URL."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            await _close_quietly(self._ws, CLOSE_NORMAL)
        self.stats.close_code = self.stats.close_code or CLOSE_NORMAL

    def mark_closed(self) -> None:
        self._closed = True


async def _close_quietly(websocket: WebSocket, code: int, reason: str = "") -> None:
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    try:
        await websocket.close(code=code, reason=reason)
    except Exception as exc:  # already closed by the peer
        log.debug("close(%s) failed: %s", code, exc)


class MediaStreamAdapter:
    """Runs one Twilio media websocket to its end."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        tokens: StreamTokens,
        factory: CallHandlerFactory,
        max_message_bytes: int,
        stats: MediaStats | None = None,
    ) -> None:
        self.websocket = websocket
        self.tokens = tokens
        self.factory = factory
        self.max_message_bytes = max_message_bytes
        self.process_stats = stats or MediaStats()
        self.stats = StreamStats()
        self.start: Start | None = None
        self.sink: TwilioMediaSink | None = None
        self.handler: CallHandler | None = None
        self._connected = False
        self._stopped = False
        self._counted_active = False

    @property
    def _who(self) -> str:
        return f"call {self.stats.call_sid or '?'} stream {self.stats.stream_sid or '?'}"

    def _drop(self, reason: str, detail: str = "") -> None:
        self.stats.dropped[reason] += 1
        self.process_stats.drop(reason)
        n = self.stats.dropped[reason]
        if n <= _LOG_FIRST or n % _LOG_EVERY == 0:
            log.warning(
                "%s: dropped message (%s%s), %d so far",
                self._who,
                reason,
                f": {detail}" if detail else "",
                n,
            )

    async def run(self) -> None:
        """Accept the websocket and serve it until it ends."""
        await self.websocket.accept()
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    self.stats.close_code = self.stats.close_code or message.get("code")
                    break
                if not await self._on_message(message):
                    break
        except Exception:
            log.exception("%s: media stream failed", self._who)
        finally:
            await self._finish()

    async def _on_message(self, message: dict[str, Any]) -> bool:
        """Handle one websocket message; False ends the stream."""
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            if len(data) > self.max_message_bytes:
                self._drop(OVERSIZED, f"{len(data)} bytes")
            else:
                self._drop(BINARY_FRAME, f"{len(data)} bytes")
            return True
        if len(text) > self.max_message_bytes // 4:  # only encode when it could be too big
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > self.max_message_bytes:
                self._drop(OVERSIZED, f"{size} bytes")
                return True
        try:
            event = parse_message(text)
        except MediaProtocolError as exc:
            self._drop(exc.kind, exc.detail)
            return True
        return await self._on_event(event)

    async def _on_event(self, event: InboundEvent) -> bool:
        if isinstance(event, Connected):
            if self._connected or self.start is not None:
                self._drop(DUPLICATE_CONNECTED)
            self._connected = True
            return True
        if isinstance(event, Start):
            if self.start is not None:
                self._drop(DUPLICATE_START)
                return True
            return await self._on_start(event)
        if self.start is None:
            if isinstance(event, Stop):
                log.info("stream stopped before it started")
                return False
            self._drop(BEFORE_START, type(event).__name__.lower())
            return True
        if isinstance(event, Stop):
            return False
        stream_sid = getattr(event, "stream_sid", "")
        if stream_sid and stream_sid != self.start.stream_sid:
            self._drop(WRONG_STREAM, stream_sid)
            return True
        if isinstance(event, Media):
            if event.track not in ("inbound", "inbound_track"):
                self._drop(OTHER_TRACK, event.track)
                return True
            self.stats.frames_in += 1
            self.stats.audio_bytes_in += len(event.payload)
            await self._call(self.handler.on_audio if self.handler else None, event.payload)
        elif isinstance(event, Dtmf):
            self.stats.dtmf_in += 1
            await self._call(self.handler.on_dtmf if self.handler else None, event.digit)
        elif isinstance(event, Mark):
            self.stats.marks_in += 1
            await self._call(self.handler.on_mark if self.handler else None, event.name)
        return True

    async def _on_start(self, start: Start) -> bool:
        self.stats.call_sid = start.call_sid
        self.stats.stream_sid = start.stream_sid
        if not self._connected:
            self.stats.missing_connected = True
            log.warning("%s: start without a connected message first", self._who)
        token = start.custom_parameters.get(TOKEN_PARAMETER)
        try:
            self.tokens.verify(token, start.call_sid)
        except StreamTokenError as exc:
            log.warning("%s: refused media stream: token %s", self._who, exc.reason)
            self.process_stats.refuse(exc.reason)
            await self._refuse(CLOSE_POLICY_VIOLATION, f"stream token {exc.reason}")
            return False
        if not start.media_format.is_mulaw_8k_mono:
            log.error(
                "%s: refused media stream: unsupported format %s", self._who, start.media_format
            )
            self.process_stats.refuse("media_format")
            await self._refuse(CLOSE_UNSUPPORTED_DATA, "unsupported media format")
            return False
        self.start = start
        self.sink = TwilioMediaSink(self.websocket, start.stream_sid, self.stats)
        self.process_stats.started()
        self._counted_active = True
        log.info(
            "%s: media stream started (params %s)",
            self._who,
            sorted(k for k in start.custom_parameters if k != TOKEN_PARAMETER),
        )
        try:
            self.handler = await self.factory(start, self.sink)
        except Exception:
            log.exception("%s: could not start the call session", self._who)
            await self._refuse(CLOSE_INTERNAL_ERROR, "session failed to start")
            return False
        return True

    async def _refuse(self, code: int, reason: str) -> None:
        self.stats.close_code = code
        if self.sink is not None:
            async with self.sink._lock:
                self.sink.mark_closed()
                await _close_quietly(self.websocket, code, reason)
        else:
            await _close_quietly(self.websocket, code, reason)

    async def _call(self, fn: Callable[[Any], Awaitable[None]] | None, arg: Any) -> None:
        if fn is None:
            return
        try:
            await fn(arg)
        except Exception:
            self.stats.handler_errors += 1
            self.process_stats.handler_error()
            if self.stats.handler_errors <= _LOG_FIRST or self.stats.handler_errors % 100 == 0:
                log.exception(
                    "%s: handler %s failed (%d so far); the call goes on",
                    self._who,
                    getattr(fn, "__name__", "?"),
                    self.stats.handler_errors,
                )

    async def _finish(self) -> None:
        if self.sink is not None:
            async with self.sink._lock:
                self.sink.mark_closed()
        if self.handler is not None and not self._stopped:
            self._stopped = True
            try:
                await self.handler.on_stop()
            except Exception:
                self.stats.handler_errors += 1
                self.process_stats.handler_error()
                log.exception("%s: handler on_stop failed", self._who)
        await _close_quietly(self.websocket, CLOSE_NORMAL)
        if self._counted_active:
            self._counted_active = False
            self.process_stats.ended()
        log.info(
            "%s: media stream ended (in %d frames, out %d frames, %d marks, %d clears, "
            "dropped %s, handler errors %d)",
            self._who,
            self.stats.frames_in,
            self.stats.frames_out,
            self.stats.marks_out,
            self.stats.clears_out,
            dict(self.stats.dropped) or "none",
            self.stats.handler_errors,
        )
