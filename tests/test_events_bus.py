"""The live event bus: in-process delivery (also from worker threads), a clear error when the
configured Redis is unreachable, and two real app instances sharing one SQLite file and the
Redis at 127.0.0.1:6379: an agent connected to instance A sees what instance B handles."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
import websockets
from test_web_support import client_for, web_server

from emergency_contact.records import Trigger
from ivr.session.events import SessionEvent
from ivr.web.events import EventBus, EventBusError

REDIS_URL = "redis://127.0.0.1:6379/0"


def _require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise AssertionError(
            f"Redis at {REDIS_URL} is needed for the multi-instance test and is unreachable "
            f"({exc}): apt-get install redis-server && redis-server --daemonize yes"
        ) from None


def test_in_process_bus_delivers_from_threads() -> None:
    async def main() -> list[dict]:
        bus = EventBus("")
        await bus.start()
        got = []
        async with bus.subscribe() as queue:
            t = threading.Thread(
                target=bus.session_listener,
                args=(SessionEvent("heard", 1.5, {"text": "hello"}, call_sid="CAx"),),
            )
            t.start()
            t.join()
            bus.escalation_listener({"type": "escalation_created", "escalation": {"id": 7}})
            for _ in range(2):
                got.append(await asyncio.wait_for(queue.get(), 10))
        await bus.stop()
        return got

    got = asyncio.run(main())
    # the thread's event is handed to the loop; the loop's own is delivered at once
    first, second = sorted(got, key=lambda e: e["type"] != "session")
    assert first["type"] == "session" and first["call_sid"] == "CAx"
    assert first["kind"] == "heard" and first["data"] == {"text": "hello"} and first["t"] == 1.5
    assert second["type"] == "escalation_created" and second["escalation"] == {"id": 7}


def test_unreachable_redis_fails_loudly() -> None:
    async def main() -> None:
        await EventBus("redis://127.0.0.1:1/0").start()

    with pytest.raises(EventBusError, match="unreachable"):
        asyncio.run(main())


def test_two_instances_share_live_events_through_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_redis()
    monkeypatch.setenv("IVR_REDIS_URL", REDIS_URL)
    data_dir = tmp_path / "shared"  # one SQLite file (and cookie key) for both instances
    with web_server(data_dir) as a, web_server(data_dir, seed=False) as b:
        assert a.app.state.web.bus.distributed and b.app.state.web.bus.distributed
        assert a.app.state.web.bus.instance != b.app.state.web.bus.instance
        store_b = b.store
        customer = store_b.create_customer("Mrs Ivy Lane", "99887766", phone="+441632960077")
        sid = "CAinstanceB01"
        store_b.start_call(
            call_sid=sid, channel="phone", from_number=customer.phone, to_number=None
        )
        alice = client_for(a.base_url, "alice")  # signed in on A
        cookie = f"ivr_session={alice.cookies['ivr_session']}"
        ws_url = a.base_url.replace("http://", "ws://") + "/agent/live"

        async def agent_on_a() -> tuple[list[dict], dict]:
            headers = {"Cookie": cookie, "Origin": a.base_url}
            async with websockets.connect(ws_url, additional_headers=headers) as ws:
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert snapshot == {"type": "queue", "items": []}
                await ws.send(json.dumps({"watch": sid}))
                await asyncio.sleep(0.5)  # the watch is read before B speaks
                # instance B: the call session's events and an escalation
                for listener in list(b.deps.listeners):
                    listener(SessionEvent("heard", 2.0, {"text": "I need help"}, call_sid=sid))
                await asyncio.to_thread(
                    b.escalation.trigger, sid, customer.id, Trigger("help_request")
                )
                queue_items: list[dict] = []
                line: dict = {}
                while not (queue_items and line):
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if msg["type"] == "queue" and msg["items"]:
                        queue_items = msg["items"]
                    elif msg["type"] == "session":
                        line = msg
                return queue_items, line

        items, line = asyncio.run(agent_on_a())
        esc = b.escalation.for_call(sid)
        assert [i["id"] for i in items] == [esc.id]
        assert items[0]["severity"] == "high" and items[0]["channel"] == "phone"
        assert line["call_sid"] == sid and line["kind"] == "heard"
        assert line["data"]["text"] == "I need help"
        # and A serves B's escalation from the shared store
        assert alice.get(f"/api/agent/escalations/{esc.id}").json()["escalation"]["id"] == esc.id
        alice.close()
