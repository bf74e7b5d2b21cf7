"""Twilio webhooks and the media websocket (`router`, included by the app factory).

Routes:
  POST /twilio/voice      signed; answers `<Connect action=/twilio/next><Stream>` with a token
  POST /twilio/next       signed; Twilio asks what next once the stream ended: `<Dial>` or goodbye
  POST /twilio/dial-done  signed; the `<Dial action>`: apologise if nobody answered, then hang up
  POST /twilio/status     signed; call status callbacks, passed to the status recorder
  WS   /twilio/media      the bidirectional media stream (`ivr.twilio.stream`)

What the app provides on `app.state` (the lead's `create_app` wires these):
  settings: Settings                     (else `get_settings()`)
  handoffs: HandoffRegistry              (made on first use if absent)
  call_handler_factory: CallHandlerFactory   async (Start, MediaSink) -> CallHandler; required
                                             for /twilio/media (the stream is closed with 1011
                                             if missing)
  status_recorder: callable(call_sid: str, status: str, form: dict[str, str]), sync (run in a
                   thread) or async; optional (callbacks are only logged without it)
  stream_tokens: StreamTokens            (made on first use from IVR_STREAM_TOKEN_SECRET)
  media_stats: MediaStats                (made on first use; process-wide stream counters)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, WebSocket

from ivr.settings import Settings
from ivr.twilio.handoff import HandoffRegistry
from ivr.twilio.signature import settings_of, verified_twilio_form
from ivr.twilio.stream import CLOSE_INTERNAL_ERROR, MediaStats, MediaStreamAdapter
from ivr.twilio.tokens import StreamTokens, resolve_secret
from ivr.twilio.twiml import dial_twiml, goodbye_twiml, stream_twiml

log = logging.getLogger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])

VOICE_PATH = "/twilio/voice"
NEXT_PATH = "/twilio/next"
DIAL_DONE_PATH = "/twilio/dial-done"
STATUS_PATH = "/twilio/status"
MEDIA_PATH = "/twilio/media"

SORRY_TRANSFER = "Sorry, something went wrong. I am connecting you to a person."
SORRY_NO_AGENT = "Sorry, nobody can take your call just now. Please call again later. Goodbye."
GOODBYE = "Thank you for calling. Goodbye."
_ANSWERED = {"completed", "answered"}


def _state(app: FastAPI, name: str, make: Any) -> Any:
    value = getattr(app.state, name, None)
    if value is None:
        value = make()
        setattr(app.state, name, value)
    return value


def get_stream_tokens(app: FastAPI, settings: Settings) -> StreamTokens:
    """`app.state.stream_tokens`, made from the settings on first use."""
    return _state(
        app, "stream_tokens", lambda: StreamTokens(resolve_secret(settings.stream_token_secret))
    )


def get_handoffs(app: FastAPI) -> HandoffRegistry:
    """`app.state.handoffs`, made on first use."""
    return _state(app, "handoffs", HandoffRegistry)


def get_media_stats(app: FastAPI) -> MediaStats:
    """`app.state.media_stats`, made on first use."""
    return _state(app, "media_stats", MediaStats)


def public_base(request: Request, settings: Settings) -> str:
    """The base URL Twilio reaches (`IVR_PUBLIC_BASE_URL`, else the URL this request came to)."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def websocket_base(http_base: str) -> str:
    """https://host -> wss://host, http://host -> ws://host."""
    if http_base.startswith("https://"):
        return "wss://" + http_base.removeprefix("https://")
    if http_base.startswith("http://"):
        return "ws://" + http_base.removeprefix("http://")
    raise ValueError(f"public base URL must be http(s)://, not {http_base!r}")


def _xml(twiml: str) -> Response:
    return Response(content=twiml, media_type="application/xml")


def _call_sid(form: dict[str, str]) -> str:
    call_sid = form.get("CallSid", "")
    if not call_sid:
        raise HTTPException(status_code=400, detail="CallSid is missing")
    return call_sid


@router.post("/voice")
async def voice(request: Request, form: dict[str, str] = Depends(verified_twilio_form)) -> Response:
    """A call came in: answer the TwiML that opens the media stream."""
    settings = settings_of(request)
    call_sid = _call_sid(form)
    base = public_base(request, settings)
    token = get_stream_tokens(request.app, settings).issue(
        call_sid, settings.stream_token_ttl_seconds
    )
    extra = {"from": form.get("From", ""), "to": form.get("To", "")}
    log.info(
        "call %s from %s to %s: opening media stream",
        call_sid,
        extra["from"] or "?",
        extra["to"] or "?",
    )
    return _xml(stream_twiml(websocket_base(base) + MEDIA_PATH, token, base + NEXT_PATH, extra))


@router.post("/next")
async def next_step(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """The stream ended: hand the call to a person, or say goodbye, as the session decided."""
    settings = settings_of(request)
    call_sid = _call_sid(form)
    handoff = get_handoffs(request.app).pop(call_sid)
    agent = settings.agent_number
    dial_done = public_base(request, settings) + DIAL_DONE_PATH
    if handoff is None:
        # the stream ended without a decision (session failure, lost connection): never leave an
        # elderly caller stranded; a person is the safe default
        log.warning("call %s: stream ended without a hand-off decision", call_sid)
        if agent:
            return _xml(dial_twiml(agent, say_text=SORRY_TRANSFER, action_url=dial_done))
        return _xml(goodbye_twiml(SORRY_NO_AGENT))
    log.info("call %s: %s (%s)", call_sid, handoff.kind, handoff.reason or "no reason given")
    if handoff.kind == "agent":
        if not agent:
            log.error("call %s: transfer asked for but IVR_AGENT_NUMBER is not set", call_sid)
            return _xml(goodbye_twiml(SORRY_NO_AGENT))
        return _xml(dial_twiml(agent, say_text=handoff.say_text, action_url=dial_done))
    return _xml(goodbye_twiml(handoff.say_text))


@router.post("/dial-done")
async def dial_done(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """After `<Dial>`: if nobody answered, apologise; then hang up."""
    call_sid = _call_sid(form)
    status = form.get("DialCallStatus", "")
    log.info("call %s: dial ended (%s)", call_sid, status or "?")
    if status in _ANSWERED:
        return _xml(goodbye_twiml())
    return _xml(goodbye_twiml(SORRY_NO_AGENT))


@router.post("/status", status_code=204)
async def status_callback(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """Record a call status callback (`app.state.status_recorder`)."""
    call_sid = _call_sid(form)
    status = form.get("CallStatus", "")
    recorder = getattr(request.app.state, "status_recorder", None)
    if recorder is None:
        log.info("call %s status %s (no status recorder configured)", call_sid, status)
        return Response(status_code=204)
    try:
        if inspect.iscoroutinefunction(recorder):
            await recorder(call_sid, status, form)
        else:
            result = await asyncio.to_thread(recorder, call_sid, status, form)
            if inspect.isawaitable(result):
                await result
    except Exception:
        log.exception("call %s: recording status %s failed", call_sid, status)
        raise HTTPException(status_code=500, detail="status not recorded") from None
    return Response(status_code=204)


@router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    """The bidirectional media stream of one call."""
    app = websocket.app
    settings = settings_of(websocket)
    factory = getattr(app.state, "call_handler_factory", None)
    if factory is None:
        log.error("media stream refused: app.state.call_handler_factory is not set")
        await websocket.accept()
        await websocket.close(code=CLOSE_INTERNAL_ERROR, reason="no call handler")
        return
    adapter = MediaStreamAdapter(
        websocket,
        tokens=get_stream_tokens(app, settings),
        factory=factory,
        max_message_bytes=settings.max_media_message_bytes,
        stats=get_media_stats(app),
    )
    await adapter.run()
