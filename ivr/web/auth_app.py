"""Wiring of the web pages into the app: `install_web(app)` (one line in `create_app`).

Adds the sign-in, agent console and kiosk routers and `/static`, and wraps the app's lifespan so
that, once the app's own start-up has built `app.state.deps` and `app.state.escalation`, the
live event bus starts (Redis when `IVR_REDIS_URL`/`REDIS_URL` is set: unreachable Redis stops
the start-up with a clear error) and hears every call-session event and escalation change.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from itsdangerous import URLSafeTimedSerializer

from ivr.session.kiosk import KioskVisit
from ivr.web.auth import STATIC_DIR, SignInRequired, secret_key, sign_in_redirect
from ivr.web.auth_users import UserBook
from ivr.web.events import EventBus, redis_url_from

log = logging.getLogger(__name__)


@dataclass
class WebState:
    """`app.state.web`: what the pages share in one process."""

    users: UserBook
    serializer: URLSafeTimedSerializer
    bus: EventBus
    visits: dict[str, KioskVisit] = field(default_factory=dict)


def install_web(app: FastAPI) -> FastAPI:
    """Add the web pages to `app` (built by `ivr.app.create_app`); returns the app.
    Calling it again on the same app changes nothing."""
    from ivr.web import agent_routes, auth, kiosk_routes

    if getattr(app.state, "web_installed", False):
        return app
    app.state.web_installed = True

    app.include_router(auth.router)
    app.include_router(agent_routes.router)
    app.include_router(kiosk_routes.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_exception_handler(SignInRequired, sign_in_redirect)  # type: ignore[arg-type]
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            web = await start_web(app_)
            try:
                yield state
            finally:
                await stop_web(app_, web)

    app.router.lifespan_context = lifespan
    return app


async def start_web(app: FastAPI) -> WebState:
    """Build `app.state.web` and start the event bus (after the app's own start-up)."""
    settings = app.state.settings
    deps = app.state.deps
    bus = EventBus(redis_url_from(settings))
    await bus.start()
    web = WebState(
        users=UserBook(deps.store),
        serializer=URLSafeTimedSerializer(secret_key(settings), salt="ivr-web"),
        bus=bus,
    )
    app.state.web = web
    deps.listeners.append(bus.session_listener)
    svc = getattr(app.state, "escalation", None)
    if svc is not None:
        svc.hooks.listeners.append(bus.escalation_listener)
    log.info("web pages: events %s", "through Redis" if bus.distributed else "in-process")
    return web


async def stop_web(app: FastAPI, web: WebState) -> None:
    """End open kiosk visits, unhook the bus and stop it."""
    for visit in list(web.visits.values()):
        try:
            await visit.end()
        except Exception:
            log.exception("ending kiosk visit %s failed", visit.call_sid)
    deps = app.state.deps
    if web.bus.session_listener in deps.listeners:
        deps.listeners.remove(web.bus.session_listener)
    svc = getattr(app.state, "escalation", None)
    if svc is not None and web.bus.escalation_listener in svc.hooks.listeners:
        svc.hooks.listeners.remove(web.bus.escalation_listener)
    await web.bus.stop()
