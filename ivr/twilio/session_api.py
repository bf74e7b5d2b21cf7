"""The interface between the media websocket adapter and a call session.

The adapter (`ivr.twilio.stream`) owns the Twilio protocol; the session owns the conversation.

- The adapter gives the session a `MediaSink` to speak through.
- The session implements `CallHandler`. The adapter builds it with the app's
  `CallHandlerFactory` once a `start` with a valid token arrived; the FACTORY is responsible for
  starting the session (the adapter never calls `on_start` itself).
- Callbacks are awaited one at a time, in arrival order, on the websocket's receive loop: keep
  them short (queue slow work). An exception in one is logged and counted; the call goes on.
- `on_stop` is called exactly once: on Twilio's `stop`, when the socket drops, or after
  `MediaSink.close()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from ivr.twilio.media import Start


@runtime_checkable
class MediaSink(Protocol):
    """What the session can send to the caller. Calls after the stream ended do nothing."""

    async def send_audio(self, mulaw: bytes) -> None:
        """Queue mu-law 8 kHz audio; split into 20 ms (160-byte) `media` messages."""
        ...

    async def send_mark(self, name: str) -> None:
        """Send a mark; the handler's `on_mark(name)` runs when the audio before it has played."""
        ...

    async def send_clear(self) -> None:
        """Drop the audio Twilio has buffered (barge-in). Twilio echoes all pending marks."""
        ...

    async def close(self) -> None:
        """End the stream; Twilio then requests the `<Connect action>` URL (`/twilio/next`).

        Audio still buffered at Twilio is not played: wait for the last mark before closing.
        """
        ...

    @property
    def closed(self) -> bool:
        """True once the stream has ended."""
        ...


@runtime_checkable
class CallHandler(Protocol):
    """Implemented by the call session."""

    async def on_start(self, start: Start) -> None: ...

    async def on_audio(self, mulaw: bytes) -> None: ...

    async def on_dtmf(self, digit: str) -> None: ...

    async def on_mark(self, name: str) -> None: ...

    async def on_stop(self) -> None: ...


CallHandlerFactory = Callable[[Start, MediaSink], Awaitable[CallHandler]]
