"""The FastAPI application: wiring settings, store, speech engines, dialog and Twilio routes.

`create_app(settings)` builds everything once per process (one ASR model, one TTS worker, one
store) in the lifespan, and hands each call a `CallSession` through the media websocket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ivr.session.call import CallSession, SessionDeps
from ivr.session.events import SessionEvent
from ivr.settings import Settings, get_settings

log = logging.getLogger(__name__)


def build_deps(settings: Settings, listeners: list[Any] | None = None) -> SessionDeps:
    """Load (once) everything calls share: store, ASR engines, TTS, flow, dialects, registries."""
    from carestore import Store
    from ivr.flows import load_bundle
    from ivr.session.language import LanguageRegistry
    from ivr.store.backend import StoreBackend
    from ivr.twilio.handoff import HandoffRegistry
    from speech.cues import CueConfig
    from speech.endpointer import EndpointerConfig
    from speech.tts import TextToSpeech, VoiceSettings

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.from_settings(settings, upgrade=True)
    base_voice = VoiceSettings(voice=settings.tts_voice, rate_wpm=settings.tts_rate_wpm)
    languages = LanguageRegistry(settings.dialect, settings.models_dir, base_voice)
    default = languages.get(settings.dialect)
    bundle = load_bundle("default", default.language, dialect=default.dialect)
    tts = TextToSpeech(
        settings.tts_cache_dir, settings.tts_cache_max_mb * 1024 * 1024, default.voice
    )
    if default.engine is None:
        log.warning(
            "no recognizer for %s: callers will be asked to use the keypad", default.dialect
        )
    config = EndpointerConfig(
        trailing_silence_s=settings.trailing_silence_s,
        no_input_timeout_s=settings.no_input_timeout_s,
        max_utterance_s=settings.max_utterance_s,
    )
    cue_config = None
    if settings.voice_cues_enabled:
        cue_config = CueConfig(
            distress_elevated=settings.cue_distress_elevated,
            distress_high=settings.cue_distress_high,
            distress_elevated_cold=settings.cue_distress_elevated_cold,
            distress_high_cold=settings.cue_distress_high_cold,
        )
    return SessionDeps(
        store=store,
        backend=StoreBackend(store),
        engine=default.engine,
        tts=tts,
        bundle=bundle,
        voice=default.voice,
        endpointer_config=config,
        handoffs=HandoffRegistry(),
        listeners=list(listeners or []),
        free_form_everywhere=settings.asr_free_form_everywhere,
        min_confidence=settings.asr_min_confidence,
        languages=languages,
        dialect_detection=settings.dialect_detection,
        cue_config=cue_config,
    )


def create_app(settings: Settings | None = None, deps: SessionDeps | None = None) -> FastAPI:
    """Build the app. Pass `deps` to share already-loaded engines (tests, benchmarks)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal deps
        if deps is None:
            deps = build_deps(settings, listeners=[_log_event])
        from ivr.session.warmup import warm_up

        await asyncio.to_thread(warm_up, deps)
        app.state.deps = deps
        app.state.handoffs = deps.handoffs
        app.state.status_recorder = deps.store.record_status_callback

        async def factory(start: Any, sink: Any) -> CallSession:
            session = CallSession(deps, sink, channel="phone")
            await session.on_start(start)
            return session

        app.state.call_handler_factory = factory
        from ivr.twilio.signature import log_startup_warnings

        log_startup_warnings(settings)
        # escalation (issue 6): the service and its outbox worker (emergency_contact)
        from ivr.web.escalation_routes import setup_escalation, stop_escalation

        if deps.escalation is None:
            deps.escalation = setup_escalation(app, settings, deps.store)
        else:
            app.state.escalation = deps.escalation
        # metrics (issue 8): this app's registry hears its sessions and its escalations
        deps.listeners.append(metrics.on_session_event)
        deps.escalation.observers.add(metrics)
        # retention (issue 8): old transcripts purged on a schedule, the audit chain kept
        from ivr.retention import start_retention, stop_retention

        retention = start_retention(settings, deps.store)
        # outbound calls (issue 8): check-ins, reminders, call-backs, placed through the outbox
        from ivr.web.outbound_routes import setup_outbound, stop_outbound

        setup_outbound(app, settings, deps)
        try:
            yield
        finally:
            stop_outbound(app)
            await stop_retention(retention)
            stop_escalation(app)
            deps.escalation.observers.remove(metrics)
            if metrics.on_session_event in deps.listeners:
                deps.listeners.remove(metrics.on_session_event)

    app = FastAPI(title="Elder voice IVR", lifespan=lifespan)
    app.state.settings = settings
    from ivr.metrics import ServiceMetrics
    from ivr.web.metrics_routes import router as metrics_router

    metrics = ServiceMetrics()  # its own registry: several apps in one process never collide
    app.state.metrics = metrics  # outbound calls: app.state.metrics.outbound_attempt(kind, outcome)
    app.include_router(metrics_router)  # GET /metrics (IVR_METRICS_TOKEN to require a token)
    from ivr.web.escalation_routes import router as escalation_router
    from ivr.web.twilio_routes import router as twilio_router

    # before the Twilio router: it answers /twilio/next and /twilio/dial-done for escalations
    app.include_router(escalation_router)
    from ivr.web.outbound_routes import router as outbound_router

    app.include_router(outbound_router)  # /api/outbound/*, /outbound/twilio/* (issue 8)
    app.include_router(twilio_router)

    from ivr.web.auth_app import install_web

    install_web(app)  # agent console, kiosk page, sign-in, live events (issue 7)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"ok": True})

    return app


def _log_event(event: SessionEvent) -> None:
    log.info("call t=%.2fs %s %s", event.t, event.kind, event.data)
