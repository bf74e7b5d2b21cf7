"""The live event bus of the pages: call-session events and escalation changes.

In one process events go straight to the subscribers (asyncio queues). With a Redis URL
(`IVR_REDIS_URL` or `REDIS_URL`) every event is published on one Redis pub/sub channel and every
instance delivers what it reads from that channel, so an agent connected to instance A sees a
call handled by instance B. `publish` may be called from any thread (the call session's
listeners and the escalation service run in worker threads).

Events are JSON-ready dicts with a "type":
  {"type": "session", "call_sid", "kind", "t", "data"}   (a `SessionEvent`)
  {"type": "escalation_created" | "agent_accepted" | "escalation_resolved" | ..., "escalation"}
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "ivr:events"
QUEUE_SIZE = 1000


class EventBusError(RuntimeError):
    """The bus cannot run (Redis configured but unreachable)."""


def redis_url_from(settings: Any) -> str:
    """The Redis URL (`settings.redis_url`, from `IVR_REDIS_URL` or `REDIS_URL`); "" for
    in-process events only."""
    return getattr(settings, "redis_url", "") or ""


def session_event(event: Any) -> dict[str, Any]:
    """A `SessionEvent` as a bus event."""
    return {
        "type": "session",
        "call_sid": event.call_sid,
        "kind": event.kind,
        "t": event.t,
        "data": _jsonable(event.data),
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class EventBus:
    """Publish/subscribe for live pages; `start()` on the serving loop, `stop()` at the end."""

    def __init__(self, redis_url: str = "", channel: str = CHANNEL) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.instance = uuid.uuid4().hex[:12]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._redis: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._outgoing: asyncio.Queue[dict[str, Any]] | None = None
        self.published = 0
        self.delivered = 0

    @property
    def distributed(self) -> bool:
        """True when events go through Redis."""
        return bool(self.redis_url)

    async def start(self) -> None:
        """Bind to the running loop; with Redis, connect (EventBusError if unreachable) and start
        the reader and the publisher."""
        self._loop = asyncio.get_running_loop()
        if not self.redis_url:
            return
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.redis_url, socket_connect_timeout=5)
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise EventBusError(
                f"Redis at {self.redis_url} is unreachable ({exc}); start it "
                "(redis-server --daemonize yes) or unset IVR_REDIS_URL/REDIS_URL"
            ) from exc
        self._redis = client
        pubsub = client.pubsub()
        await pubsub.subscribe(self.channel)
        self._outgoing = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._read(pubsub), name="event-bus-reader"),
            asyncio.create_task(self._write(), name="event-bus-writer"),
        ]

    async def stop(self) -> None:
        """Stop the Redis tasks and close the connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # ---- publishing ------------------------------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to every subscriber (of every instance with Redis). Thread-safe;
        never raises (a live page is never worth breaking a call)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        event = {**_jsonable(event), "origin": self.instance}
        try:
            if _on_loop(loop):
                self._dispatch_or_send(event)
            else:
                loop.call_soon_threadsafe(self._dispatch_or_send, event)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def session_listener(self, event: Any) -> None:
        """For `SessionDeps.listeners`: every call-session event onto the bus."""
        self.publish(session_event(event))

    def escalation_listener(self, event: dict[str, Any]) -> None:
        """For `EscalationService.hooks.listeners`."""
        self.publish(event)

    def _dispatch_or_send(self, event: dict[str, Any]) -> None:
        self.published += 1
        if self._outgoing is not None:
            self._outgoing.put_nowait(event)
        else:
            self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # a stuck page loses its oldest events, never the process
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            queue.put_nowait(event)
            self.delivered += 1

    async def _write(self) -> None:
        assert self._outgoing is not None
        while True:
            event = await self._outgoing.get()
            try:
                await self._redis.publish(self.channel, json.dumps(event))
            except Exception:
                log.exception("event bus: publishing to Redis failed; delivered locally only")
                self._dispatch(event)

    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception:
                log.exception("event bus: reading from Redis failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                log.warning("event bus: dropped a message that is not JSON")
                continue
            self._dispatch(event)

    # ---- subscribing -----------------------------------------------------------------------
    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """`async with bus.subscribe() as queue:` events arrive on `queue` until the block ends."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
