"""A simulated Twilio for one call: signed webhooks, then the Media Streams protocol over a socket.

    async with TwilioCallSimulator(base_url, auth_token, from_="+15550100", speed=10) as call:
        first = await call.wait_for_mark()            # the greeting has played
        await call.say_pcm(pcm16_8k)                    # caller speech, then silence again
        await call.press("1")
        twiml = await call.wait_closed()              # the server handed the call on
    call.heard_wav_bytes()                            # what the caller heard

What it does, as Twilio does:
- POSTs a correctly signed `/twilio/voice` form (CallSid, AccountSid, From, To, ...), reads the
  TwiML's `<Connect action><Stream url><Parameter>`s;
- opens the websocket, sends `connected` and `start` (customParameters from the TwiML);
- then sends one 20 ms `media` frame per tick, always (caller speech when queued, else silence),
  at real time (`speed=1`) or `speed` times faster; `dtmf` and raw messages go out in order
  between frames;
- plays the server's audio on the same clock (160 bytes per tick), echoes each `mark` once the
  audio before it has played, and on `clear` drops unplayed audio and echoes pending marks;
- on `hangup()` sends `stop` and closes; when the server closes the stream it POSTs the signed
  `<Connect action>` URL and keeps the TwiML it answers (`action_twiml`).

Times are "stream seconds" (ticks x 20 ms, what the caller experiences) unless named `wall`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ivr.twilio.media import FRAME_BYTES, MULAW_ENCODING, SAMPLE_RATE
from ivr.twilio.signature import SIGNATURE_HEADER, sign
from ivr.twilio.twiml import StreamInstruction, parse_stream_twiml

log = logging.getLogger(__name__)

TICK_S = 0.02
SILENCE = b"\xff" * FRAME_BYTES  # mu-law digital silence


class SimulatorError(RuntimeError):
    """The server did not behave as Twilio expects (bad answer, refused stream, ...)."""


class CallEndedError(SimulatorError):
    """The stream ended while the script was still waiting or talking."""


@dataclass
class MarkRecord:
    """A mark the server sent, and when the simulated Twilio echoed it back."""

    name: str
    received_t: float
    echoed_t: float | None = None
    cleared: bool = False  # echoed because of a `clear`, not because its audio finished
    echoed_wall: float | None = None


@dataclass(frozen=True)
class ClearRecord:
    """A `clear` the server sent: `dropped_bytes` of unplayed audio were thrown away."""

    t: float
    dropped_bytes: int
    wall: float


@dataclass(frozen=True)
class OutboundFrame:
    """One `media` message from the server."""

    t: float
    wall: float
    payload_bytes: int
    stream_sid: str


@dataclass(frozen=True)
class SaidAudio:
    """Caller audio the simulator sent: from `start_t` to `end_t` (stream s); `end_wall`."""

    start_t: float
    end_t: float
    end_wall: float


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened on the call (for printing a conversation)."""

    t: float
    wall: float
    kind: str  # say | dtmf | raw | audio_start | mark | clear | closed | stop | action
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _InItem:
    kind: str  # media | dtmf | raw
    data: Any
    done: asyncio.Future[float] | None = None


class TwilioCallSimulator:
    """Plays Twilio's part in one call against a server at `base_url` (see module docstring)."""

    def __init__(
        self,
        base_url: str,
        auth_token: str = "",
        *,
        from_: str = "+15550100",
        to: str = "+15550199",
        call_sid: str | None = None,
        account_sid: str | None = None,
        speed: float = 1.0,
        public_base_url: str | None = None,
        voice_path: str = "/twilio/voice",
        status_path: str | None = None,
        extra_form: dict[str, str] | None = None,
        follow_action: bool = True,
        http_timeout_s: float = 30.0,
    ) -> None:
        if not 0 < speed <= 1000:
            raise ValueError("speed must be > 0 and <= 1000 (1 = real time)")
        self.base_url = base_url.rstrip("/")
        self.public_base_url = (public_base_url or base_url).rstrip("/")
        self.auth_token = auth_token
        self.from_ = from_
        self.to = to
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.speed = speed
        self.voice_path = voice_path
        self.status_path = status_path
        self.extra_form = dict(extra_form or {})
        self.follow_action = follow_action
        self._http = httpx.AsyncClient(timeout=http_timeout_s)

        # results
        self.voice_twiml: str = ""
        self.instruction: StreamInstruction | None = None
        self.action_twiml: str | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.closed_by_server = False
        self.marks: list[MarkRecord] = []
        self.clears: list[ClearRecord] = []
        self.outbound: list[OutboundFrame] = []
        self.events: list[TimelineEvent] = []
        self.protocol_errors: list[str] = []
        self.late_ticks = 0  # ticks the simulator itself sent late (machine too busy)
        self.underrun_ticks = 0  # silent ticks inside a prompt (audio played, mark not yet due)
        self.dropped_at_close_bytes = 0

        # state
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._seq = 0
        self._tick = 0
        self._in: deque[_InItem] = deque()
        self._play: deque[bytes | MarkRecord] = deque()
        self._heard: list[tuple[int, bytes]] = []
        self._in_prompt = False
        self._mark_cursor = 0
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._ended = asyncio.Event()  # stream over (either side)
        self._finished = asyncio.Event()  # and the action URL was fetched (if it applies)
        self._hung_up = False
        self._t0 = 0.0

    # ---- timing -------------------------------------------------------------------------------
    @property
    def t(self) -> float:
        """Current stream time in seconds."""
        return self._tick * TICK_S

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def _event(self, kind: str, **detail: Any) -> None:
        self.events.append(TimelineEvent(self.t, time.monotonic(), kind, detail))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- HTTP (signed like Twilio) ------------------------------------------------------------
    def _local(self, url: str) -> str:
        """Map a public URL (as in TwiML) to where the server really listens."""
        for public, local in (
            (self.public_base_url, self.base_url),
            (_ws_url(self.public_base_url), _ws_url(self.base_url)),
        ):
            if url.startswith(public):
                return local + url[len(public) :]
        return url

    def _form(self, status: str) -> dict[str, str]:
        form = {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        form.update(self.extra_form)
        return form

    async def post(self, url_or_path: str, form: dict[str, str]) -> httpx.Response:
        """POST `form` signed as Twilio would sign it for the public URL."""
        public = url_or_path if "://" in url_or_path else self.public_base_url + url_or_path
        headers = {SIGNATURE_HEADER: sign(self.auth_token, public, form)} if self.auth_token else {}
        return await self._http.post(self._local(public), data=form, headers=headers)

    async def post_status(self, status: str, **extra: str) -> httpx.Response:
        """POST a call status callback (`status_path`, default /twilio/status)."""
        form = self._form(status)
        form.update(extra)
        return await self.post(self.status_path or "/twilio/status", form)

    # ---- call set-up ---------------------------------------------------------------------------
    async def __aenter__(self) -> TwilioCallSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Ring the server: signed /twilio/voice, then open the stream and start ticking."""
        response = await self.post(self.voice_path, self._form("ringing"))
        if response.status_code != 200:
            raise SimulatorError(
                f"{self.voice_path} answered {response.status_code}: {response.text[:300]}"
            )
        self.voice_twiml = response.text
        try:
            self.instruction = parse_stream_twiml(response.text)
        except ValueError as exc:
            raise SimulatorError(f"{self.voice_path} TwiML: {exc}") from None
        self._ws = await connect(
            self._local(self.instruction.stream_url), max_size=2**24, open_timeout=30
        )
        await self._send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send_json(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {
                        "encoding": MULAW_ENCODING,
                        "sampleRate": SAMPLE_RATE,
                        "channels": 1,
                    },
                    "customParameters": dict(self.instruction.parameters),
                },
                "streamSid": self.stream_sid,
            }
        )
        self._t0 = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._reader(), name=f"sim-reader-{self.call_sid}"),
            asyncio.create_task(self._ticker(), name=f"sim-ticker-{self.call_sid}"),
        ]

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send_text(self, text: str) -> None:
        if self._ws is None:
            raise CallEndedError("not connected")
        async with self._send_lock:
            await self._ws.send(text)

    async def _send_json(self, msg: dict[str, Any]) -> None:
        await self._send_text(json.dumps(msg))

    # ---- caller side ---------------------------------------------------------------------------
    def _enqueue_frames(self, mulaw: bytes) -> asyncio.Future[float]:
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        frames = [mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)] or [b""]
        for i, frame in enumerate(frames):
            if len(frame) < FRAME_BYTES:
                frame = frame + SILENCE[len(frame) :]  # Twilio frames are always 20 ms
            self._in.append(_InItem("media", frame, done if i == len(frames) - 1 else None))
        return done

    async def _await_sent(self, done: asyncio.Future[float]) -> float:
        ended = asyncio.create_task(self._ended.wait())
        try:
            await asyncio.wait({done, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if not done.done() or done.cancelled():
            raise CallEndedError(f"the stream ended (code {self.close_code}) while sending")
        return done.result()

    async def say_mulaw(self, mulaw: bytes) -> SaidAudio:
        """Speak mu-law 8 kHz audio into the call (queued after earlier audio); wait until sent."""
        if self.ended:
            raise CallEndedError("the call has ended")
        start_t = self.t + len(self._pending_media()) * TICK_S
        self._event("say", seconds=len(mulaw) / SAMPLE_RATE)
        end_t = await self._await_sent(self._enqueue_frames(mulaw))
        return SaidAudio(start_t=start_t, end_t=end_t, end_wall=time.monotonic())

    async def say_pcm(self, pcm16: bytes, sample_rate: int = SAMPLE_RATE) -> SaidAudio:
        """Speak PCM16 little-endian mono audio (resampled to 8 kHz if needed)."""
        from speech import mulaw as g711
        from speech.resample import resample_pcm16

        if sample_rate != SAMPLE_RATE:
            pcm16 = resample_pcm16(pcm16, sample_rate, SAMPLE_RATE)
        return await self.say_mulaw(g711.encode(pcm16))

    async def say_wav(self, path: str | Path) -> SaidAudio:
        """Speak a WAV file (any rate; mono PCM16)."""
        from speech.wav import read_wav

        audio = read_wav(path, rate=SAMPLE_RATE)
        return await self.say_pcm(audio.pcm, SAMPLE_RATE)

    async def pause(self, seconds: float) -> float:
        """Let `seconds` of silence go by (after any queued speech); return the stream time."""
        ticks = max(1, round(seconds / TICK_S))
        return await self._await_sent(self._enqueue_frames(SILENCE * ticks))

    async def press(self, digits: str, gap_s: float = 0.3) -> None:
        """Press keys (one `dtmf` message each, `gap_s` of silence after each; the call may end
        during the last gap)."""
        for digit in digits:
            if self.ended:
                raise CallEndedError("the call has ended")
            done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            self._in.append(_InItem("dtmf", digit, done))
            self._event("dtmf", digit=digit)
            await self._await_sent(done)
            with contextlib.suppress(CallEndedError):  # the key may end the call: that's fine
                await self.pause(gap_s)

    async def send_raw(self, text: str) -> None:
        """Send any text message in order with the media (for robustness tests); wait until sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._in.append(_InItem("raw", text, done))
        await self._await_sent(done)

    def _pending_media(self) -> list[_InItem]:
        return [item for item in self._in if item.kind == "media"]

    # ---- the clock ---------------------------------------------------------------------------
    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        interval = TICK_S / self.speed
        start = loop.time()
        try:
            while not self._ended.is_set():
                due = start + self._tick * interval
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)  # catching up: still let the reader run
                    if -delay > max(TICK_S, interval):
                        self.late_ticks += 1
                await self._one_tick()
                self._tick += 1
                await self._notify()
        except (ConnectionClosed, CallEndedError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulator ticker failed")
            await self._end("simulator error")

    async def _one_tick(self) -> None:
        # caller -> server: control messages in order, then one 20 ms media frame
        frame = SILENCE
        done: asyncio.Future[float] | None = None
        while self._in:
            item = self._in.popleft()
            if item.kind == "media":
                frame, done = item.data, item.done
                break
            if item.kind == "dtmf":
                await self._send_json(
                    {
                        "event": "dtmf",
                        "streamSid": self.stream_sid,
                        "sequenceNumber": self._next_seq(),
                        "dtmf": {"track": "inbound_track", "digit": item.data},
                    }
                )
            else:
                await self._send_text(item.data)
                self._event("raw", size=len(item.data))
            if item.done is not None and not item.done.done():
                item.done.set_result(self.t)
        await self._send_json(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "media": {
                    "track": "inbound",
                    "chunk": str(self._tick + 1),
                    "timestamp": str(self._tick * 20),
                    "payload": base64.b64encode(frame).decode("ascii"),
                },
                "streamSid": self.stream_sid,
            }
        )
        if done is not None and not done.done():
            done.set_result(self.t + TICK_S)
        await self._play_tick()

    async def _play_tick(self) -> None:
        """Play up to 20 ms of the server's audio; echo marks whose audio has finished."""
        await self._echo_due_marks()
        played = bytearray()
        while self._play and len(played) < FRAME_BYTES and isinstance(self._play[0], bytes):
            chunk = self._play.popleft()
            assert isinstance(chunk, bytes)
            take = FRAME_BYTES - len(played)
            played += chunk[:take]
            if len(chunk) > take:
                self._play.appendleft(chunk[take:])
        if played:
            if not self._in_prompt:
                self._event("audio_start")
            self._in_prompt = True
            self._heard.append((self._tick, bytes(played)))
        elif self._in_prompt and not self._play:
            self.underrun_ticks += 1

    async def _echo_due_marks(self) -> None:
        while self._play and isinstance(self._play[0], MarkRecord):
            mark = self._play.popleft()
            assert isinstance(mark, MarkRecord)
            await self._echo(mark, cleared=False)
            self._in_prompt = False

    async def _echo(self, mark: MarkRecord, cleared: bool) -> None:
        mark.echoed_t = self.t
        mark.cleared = cleared
        mark.echoed_wall = time.monotonic()
        self._event("mark", name=mark.name, cleared=cleared)
        await self._send_json(
            {
                "event": "mark",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": mark.name},
            }
        )

    # ---- server side ---------------------------------------------------------------------------
    async def _reader(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                await self._on_server_message(message)
                await self._notify()
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulator reader failed")
        finally:
            self.close_code = self._ws.close_code
            self.close_reason = self._ws.close_reason or ""
            by_server = not self._hung_up
            await self._end("closed by server" if by_server else "hung up")
            if by_server:
                self.closed_by_server = True
                await self._after_server_close()
            self._finished.set()
            await self._notify()

    def _violation(self, text: str) -> None:
        self.protocol_errors.append(text)
        log.warning("server broke the Media Streams protocol: %s", text)

    async def _on_server_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._violation("binary message")
            return
        try:
            msg = json.loads(message)
        except ValueError:
            self._violation("message is not JSON")
            return
        if not isinstance(msg, dict):
            self._violation("message is not a JSON object")
            return
        event = msg.get("event")
        if msg.get("streamSid") != self.stream_sid:
            self._violation(f"{event} message with streamSid {msg.get('streamSid')!r}")
        if event == "media":
            payload = (msg.get("media") or {}).get("payload")
            try:
                audio = base64.b64decode(payload or "", validate=True)
            except (binascii.Error, ValueError, TypeError):
                self._violation("media payload is not base64")
                return
            self.outbound.append(
                OutboundFrame(self.t, time.monotonic(), len(audio), msg.get("streamSid", ""))
            )
            if audio:
                self._play.append(audio)
        elif event == "mark":
            name = (msg.get("mark") or {}).get("name")
            if not isinstance(name, str):
                self._violation("mark without mark.name")
                return
            record = MarkRecord(name=name, received_t=self.t)
            self.marks.append(record)
            self._play.append(record)
            if len(self._play) == 1:  # nothing buffered before it: Twilio echoes at once
                self._play.popleft()
                await self._echo(record, cleared=False)
                self._in_prompt = False
        elif event == "clear":
            dropped = 0
            pending: list[MarkRecord] = []
            while self._play:
                item = self._play.popleft()
                if isinstance(item, bytes):
                    dropped += len(item)
                else:
                    pending.append(item)
            self.clears.append(ClearRecord(self.t, dropped, time.monotonic()))
            self._event("clear", dropped_bytes=dropped)
            self._in_prompt = False
            for mark in pending:
                await self._echo(mark, cleared=True)
        else:
            self._violation(f"unknown event {event!r}")

    async def _end(self, why: str) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        self.dropped_at_close_bytes = sum(len(x) for x in self._play if isinstance(x, bytes))
        self._play.clear()
        for item in self._in:
            if item.done is not None and not item.done.done():
                item.done.cancel()
        self._in.clear()
        self._event("closed", why=why, code=self.close_code)

    async def _after_server_close(self) -> None:
        """Twilio's `<Connect>` ended: request its action URL (signed) and keep the answer."""
        if not self.follow_action or self.instruction is None or not self.instruction.action_url:
            return
        try:
            response = await self.post(self.instruction.action_url, self._form("in-progress"))
        except httpx.HTTPError as exc:
            self._violation(f"action URL failed: {exc}")
            return
        self._event("action", status=response.status_code)
        if response.status_code == 200:
            self.action_twiml = response.text
        else:
            self._violation(f"action URL answered {response.status_code}")

    # ---- waiting -------------------------------------------------------------------------------
    async def _wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        async def loop() -> Any:
            async with self._changed:
                while True:
                    result = check()
                    if result is not None:
                        return result
                    if self._finished.is_set():
                        raise CallEndedError(f"the call ended while waiting for {what}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no {what} within {timeout}s (marks echoed: "
                f"{[m.name for m in self.marks if m.echoed_t is not None]})"
            ) from None

    async def wait_for_mark(
        self,
        name: str | None = None,
        *,
        predicate: Callable[[str], bool] | None = None,
        timeout: float = 60.0,
    ) -> MarkRecord:
        """The next echoed mark (matching `name` or `predicate`) not returned before."""

        def check() -> MarkRecord | None:
            for i in range(self._mark_cursor, len(self.marks)):
                mark = self.marks[i]
                if mark.echoed_t is None:
                    continue
                if name is not None and mark.name != name:
                    continue
                if predicate is not None and not predicate(mark.name):
                    continue
                self._mark_cursor = i + 1
                return mark
            return None

        return await self._wait(check, timeout, f"mark {name or ''}".strip())

    async def wait_for_audio(self, timeout: float = 60.0) -> float:
        """Wait for the next tick in which server audio plays; return its stream time."""
        since = len(self._heard)
        return await self._wait(
            lambda: self._heard[since][0] * TICK_S if len(self._heard) > since else None,
            timeout,
            "audio",
        )

    async def wait_until_quiet(self, quiet_s: float = 1.0, timeout: float = 60.0) -> float:
        """Wait until nothing has played for `quiet_s` stream seconds; return the stream time."""

        def check() -> float | None:
            last = self._heard[-1][0] * TICK_S if self._heard else 0.0
            if not self._play and self.t - last >= quiet_s:
                return self.t
            return None

        return await self._wait(check, timeout, "quiet")

    async def wait_closed(self, timeout: float = 60.0) -> str | None:
        """Wait until the server closes the stream; return the action URL's TwiML (or None)."""
        try:
            await asyncio.wait_for(self._finished.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"the server did not close the stream within {timeout}s") from None
        return self.action_twiml

    # ---- ending ----------------------------------------------------------------------------------
    async def hangup(self) -> None:
        """The caller hangs up: `stop`, then close the socket (no action URL is requested)."""
        if self._ended.is_set() or self._ws is None:
            return
        self._hung_up = True
        with contextlib.suppress(ConnectionClosed, CallEndedError):
            await self._send_json(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
        self._event("stop")
        await self._end("hung up")
        await self._ws.close()
        if self.status_path:
            await self.post_status("completed", CallDuration=str(int(self.t)))

    async def drop(self) -> None:
        """The connection breaks: close the socket without `stop`."""
        if self._ended.is_set() or self._ws is None:
            return
        self._hung_up = True
        await self._end("dropped")
        self._ws.transport.abort()  # no close handshake, as when a network path dies

    async def aclose(self) -> None:
        """Hang up if still connected, stop the tasks, close the HTTP client."""
        await self.hangup()
        for task in self._tasks:
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), 5)
                except (TimeoutError, Exception):
                    task.cancel()
        await self._http.aclose()

    # ---- what the caller heard -----------------------------------------------------------------
    def heard_mulaw(self) -> bytes:
        """Everything the caller heard, on the stream clock (silence where nothing played)."""
        total = max(self._tick, (self._heard[-1][0] + 1) if self._heard else 0)
        out = bytearray(SILENCE[:1] * (total * FRAME_BYTES))
        for tick, audio in self._heard:
            out[tick * FRAME_BYTES : tick * FRAME_BYTES + len(audio)] = audio
        return bytes(out)

    def heard_pcm(self) -> bytes:
        """`heard_mulaw()` decoded to PCM16 8 kHz."""
        from speech import mulaw as g711

        return g711.decode(self.heard_mulaw())

    def heard_wav_bytes(self) -> bytes:
        """`heard_mulaw()` as a PCM16 8 kHz WAV file."""
        from speech.wav import Audio, wav_bytes

        return wav_bytes(Audio.from_pcm(self.heard_pcm(), SAMPLE_RATE))

    def first_audio_after(self, wall: float) -> float | None:
        """Wall time (`time.monotonic()`) of the first server audio frame received after `wall`.

        With `SaidAudio.end_wall` this gives the end-of-speech to first-reply latency.
        """
        for frame in self.outbound:
            if frame.wall > wall and frame.payload_bytes:
                return frame.wall
        return None

    @property
    def played(self) -> list[tuple[float, bytes]]:
        """(stream time, audio) of each 20 ms tick in which server audio played."""
        return [(tick * TICK_S, audio) for tick, audio in self._heard]

    def heard_seconds(self) -> float:
        """Seconds of server audio actually played to the caller."""
        return sum(len(a) for _, a in self._heard) / SAMPLE_RATE


def _ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url.removeprefix("https://")
    if http_url.startswith("http://"):
        return "ws://" + http_url.removeprefix("http://")
    return http_url
