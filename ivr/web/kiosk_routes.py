"""The kiosk page for community service points, and its API.

  GET  /kiosk                                   the page (role kiosk_staff or supervisor)
  GET  /api/kiosk/customers?q=                  look up by phone or name (audited)
  POST /api/kiosk/customers                     a new visitor {"name", "phone"?, "language"?}
  GET  /api/kiosk/customers/{id}                profile, contacts, history, tickets (audited)
  POST /api/kiosk/customers/{id}/contacts       add an emergency contact, with consent
  DELETE /api/kiosk/customers/{id}/contacts/{c} remove one
  POST /api/kiosk/customers/{id}/contacts/{c}/consent   record / DELETE: withdraw
  POST /api/kiosk/visits                        start a visit {"customer_id"?} -> {"call_sid"}
  POST /api/kiosk/visits/{sid}/settings         {"dialect"?, "rate_wpm"?}
  POST /api/kiosk/visits/{sid}/escalate         {"to": "agent"|"contacts", "note"?}
  POST /api/kiosk/visits/{sid}/end
  WS   /kiosk/audio?visit={sid}                 see `ivr.session.kiosk`; the page sends
      {"type": "hello", "rate": 16000} then binary PCM16 frames, echoes {"type": "mark"};
      the server sends binary PCM16 8 kHz replies, {"type": "mark"|"clear"|"ended"},
      {"type": "transcript", "speaker", "text", "intent"} lines and {"type": "error",
      "detail"} (a message for staff: a bad request, or a fault on our side).

Visits are calls with channel "kiosk": the agent console shows them in the same history.
Visits are kept in memory by the instance that serves their websocket; nothing times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from carestore.errors import AlreadyExists, NotFound
from carestore.phone import try_normalise_phone
from emergency_contact.contacts import ConsentIn, ContactIn
from emergency_contact.records import Trigger
from emergency_contact.service import EscalationService
from ivr.session.kiosk import KioskError, KioskVisit
from ivr.web.auth import render, require_role, websocket_user
from ivr.web.auth_users import User, audit_view
from ivr.web.common import run_store, service_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["kiosk"])

KIOSK_ROLES = ("kiosk_staff", "supervisor")
# what the page shows staff on a fault (never the exception text: it may hold what was said)
DIALOG_FAULT = (
    "Something went wrong in the conversation on our side. The visitor has heard an apology "
    "and is being put through to a person."
)
SERVER_FAULT = (
    "The connection to the conversation failed on our side. Use the escalation button if the "
    "visitor needs a person, or end the visit and start a new one."
)
kiosk_api = require_role(*KIOSK_ROLES)
kiosk_page = require_role(*KIOSK_ROLES, page=True)
MAX_RESULTS = 10


def _store(request: Request) -> Any:
    return request.app.state.deps.store


def _visits(app: Any) -> dict[str, KioskVisit]:
    return app.state.web.visits


def _dialects(language: str) -> list[dict[str, str]]:
    """The dialect packs a visit in `language` can switch to."""
    from ivr.flows.packs import pack_library

    lib = pack_library()
    out = []
    for pid in sorted(lib.files):
        try:
            pack = lib.resolve(pid)
        except Exception:  # a broken pack is reported by `ivr dialects check`
            continue
        if pack.language == language:
            out.append({"id": pid, "name": getattr(pack, "name", "") or pid})
    return out


@router.get("/kiosk", response_class=HTMLResponse)
async def kiosk(request: Request, user: User = Depends(kiosk_page)) -> HTMLResponse:
    """The kiosk page."""
    deps = request.app.state.deps
    language = deps.bundle.prompts.language
    dialects = await asyncio.to_thread(_dialects, language)
    return render(
        request,
        "kiosk.html",
        dialects=dialects,
        rate_wpm=int(getattr(deps.voice, "rate_wpm", 140)),
    )


# ---------------------------------------------------------------------------- customers
def _summary(c: Any) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "phone": c.phone, "language": c.language}


def find_customers(store: Any, query: str) -> list[dict[str, Any]]:
    """Customers whose phone is `query` (any common spelling) or whose name contains it."""
    q = query.strip()
    if len(q) < 2:
        raise ValueError("type at least two letters of the name, or the phone number")
    found = []
    phone = try_normalise_phone(q, None) if any(ch.isdigit() for ch in q) else None
    if phone is None and q.startswith("0"):
        phone = try_normalise_phone(q, "GB")
    if phone:
        c = store.customer_by_phone(phone)
        if c is not None:
            found.append(c)
    needle = q.casefold()
    for c in store.list_customers():
        if needle in c.name.casefold() and c not in found:
            found.append(c)
        if len(found) >= MAX_RESULTS:
            break
    return [_summary(c) for c in found]


def customer_view(store: Any, svc: EscalationService, customer_id: int) -> dict[str, Any]:
    """Profile, emergency contacts, history across phone and kiosk, tickets."""
    c = store.get_customer(customer_id)
    if c is None:
        raise NotFound(f"no customer with id {customer_id}")
    return {
        "customer": {
            **_summary(c),
            "dialect": c.dialect,
            "preferred_rate_wpm": c.preferred_rate_wpm,
        },
        "contacts": [x.to_dict() for x in svc.contacts.list(customer_id)],
        "history": [
            {
                "call_sid": h.call_sid,
                "channel": h.channel,
                "started_at": h.started_at.isoformat(),
                "outcome": h.outcome,
            }
            for h in store.calls_for_customer(customer_id, limit=20)
        ],
        "tickets": [
            {"reference": t.reference, "status": t.status, "summary": t.summary}
            for t in store.tickets_for_customer(customer_id)
        ],
    }


class NewVisitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    language: str = Field(default="en", min_length=2, max_length=16)


@router.get("/api/kiosk/customers")
async def search(q: str, request: Request, user: User = Depends(kiosk_api)) -> list[dict]:
    """Look a visitor up (audited: a search shows names and numbers)."""
    found = await run_store(find_customers, _store(request), q)
    await run_store(
        audit_view, _store(request), user, "customer_search", "customer", None, None,
        {"results": [f["id"] for f in found]},
    )  # fmt: skip
    return found


@router.post("/api/kiosk/customers", status_code=201)
async def new_visitor(
    body: NewVisitorIn, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """Register a new visitor (an account number is made up for them)."""
    store = _store(request)
    phone = (body.phone or "").strip() or None

    def create() -> Any:
        for _ in range(20):
            account = "".join(secrets.choice("0123456789") for _ in range(8))
            if store.customer_by_account(account) is None:
                return store.create_customer(
                    body.name.strip(), account, phone=phone, language=body.language,
                    default_region="GB",
                )  # fmt: skip
        raise AlreadyExists("could not find a free account number")

    customer = await run_store(create)
    return _summary(customer)


@router.get("/api/kiosk/customers/{customer_id}")
async def customer(
    customer_id: int, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """Everything the kiosk shows of a visitor (audited)."""
    view = await run_store(customer_view, _store(request), service_of(request), customer_id)
    await run_store(audit_view, _store(request), user, "kiosk_customer", "customer", customer_id,
               customer_id)  # fmt: skip
    return view


class KioskContactIn(BaseModel):
    """A contact as the kiosk form sends it: consent is captured with it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=40)
    channel: str = "call"
    consent_given_by: str = Field(default="", max_length=200)


@router.post("/api/kiosk/customers/{customer_id}/contacts", status_code=201)
async def add_contact(
    customer_id: int, body: KioskContactIn, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """Add an emergency contact; consent (who gave it) is recorded as given at the kiosk."""
    consent = None
    if body.consent_given_by.strip():
        consent = ConsentIn(given_by=body.consent_given_by.strip(), method="kiosk")
    try:
        contact = ContactIn(
            name=body.name, relationship=body.relationship, phone=body.phone,
            channel=body.channel, consent=consent,
        )  # fmt: skip
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    svc = service_of(request)
    return (await run_store(svc.contacts.add, customer_id, contact, user.username)).to_dict()


@router.delete("/api/kiosk/customers/{customer_id}/contacts/{contact_id}", status_code=204)
async def remove_contact(
    customer_id: int, contact_id: int, request: Request, user: User = Depends(kiosk_api)
) -> Response:
    """Remove a contact."""
    await run_store(service_of(request).contacts.remove, customer_id, contact_id, user.username)
    return Response(status_code=204)


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_by: str = Field(min_length=1, max_length=200)


@router.post("/api/kiosk/customers/{customer_id}/contacts/{contact_id}/consent")
async def consent(
    customer_id: int,
    contact_id: int,
    body: ConsentBody,
    request: Request,
    user: User = Depends(kiosk_api),
) -> dict[str, Any]:
    """Record consent given at the kiosk."""
    svc = service_of(request)
    c = ConsentIn(given_by=body.given_by, method="kiosk")
    return (
        await run_store(svc.contacts.record_consent, customer_id, contact_id, c, user.username)
    ).to_dict()


@router.delete("/api/kiosk/customers/{customer_id}/contacts/{contact_id}/consent")
async def withdraw(
    customer_id: int, contact_id: int, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """Withdraw consent (the contact is never reached until it is given again)."""
    svc = service_of(request)
    return (
        await run_store(svc.contacts.withdraw_consent, customer_id, contact_id, user.username)
    ).to_dict()


# ---------------------------------------------------------------------------- visits
class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: int | None = None


class VisitSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dialect: str | None = Field(default=None, max_length=32)
    rate_wpm: int | None = None


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = "agent"
    note: str = Field(default="", max_length=2000)


def _visit(request: Request, call_sid: str) -> KioskVisit:
    visit = _visits(request.app).get(call_sid)
    if visit is None:
        raise HTTPException(status_code=404, detail="no such visit on this kiosk server")
    return visit


@router.post("/api/kiosk/visits", status_code=201)
async def start_visit(
    body: VisitIn, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """Prepare a visit; the conversation starts when the page opens `WS /kiosk/audio`."""
    deps = request.app.state.deps
    phone = None
    if body.customer_id is not None:
        c = await asyncio.to_thread(deps.store.get_customer, body.customer_id)
        if c is None:
            raise HTTPException(status_code=404, detail=f"no customer with id {body.customer_id}")
        phone = c.phone
    call_sid = "KV" + secrets.token_hex(16)
    _visits(request.app)[call_sid] = KioskVisit(
        call_sid, deps, user.username, customer_id=body.customer_id, customer_phone=phone
    )
    return {"call_sid": call_sid}


@router.post("/api/kiosk/visits/{call_sid}/settings")
async def visit_settings(
    call_sid: str, body: VisitSettingsIn, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """Switch dialect and/or speech rate."""
    visit = _visit(request, call_sid)
    out: dict[str, Any] = {}
    try:
        if body.rate_wpm is not None:
            out["rate_wpm"] = await visit.set_rate(body.rate_wpm)
        if body.dialect:
            out["dialect"] = await visit.set_dialect(body.dialect)
    except KioskError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return out


@router.post("/api/kiosk/visits/{call_sid}/escalate", status_code=201)
async def escalate(
    call_sid: str, body: EscalateIn, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """The one button: an agent (person request) or the emergency contacts (kiosk button:
    agent and contacts), with the visit's transcript attached to the hand-off package."""
    if body.to not in ("agent", "contacts"):
        raise HTTPException(status_code=422, detail="to must be agent or contacts")
    visit = _visit(request, call_sid)
    svc = service_of(request)
    store = svc.store
    segments = await asyncio.to_thread(store.transcript, call_sid)
    words = [s.text for s in segments if s.speaker == "caller"][-3:]
    kind = "kiosk_button" if body.to == "contacts" else "person_request"
    evidence = {"staff": user.username, "to": body.to, "note": body.note, "words": words}
    decision = await run_store(
        svc.trigger, call_sid, visit.customer_id, Trigger(kind, None, evidence),
        channel="kiosk", actor=user.username,
    )  # fmt: skip
    return {
        "escalation_id": decision.escalation_id,
        "severity": decision.severity,
        "transfer": decision.transfer,
        "notify_contacts": decision.notify_contacts,
    }


@router.post("/api/kiosk/visits/{call_sid}/end")
async def end_visit(
    call_sid: str, request: Request, user: User = Depends(kiosk_api)
) -> dict[str, Any]:
    """End the visit (its record is completed; the transcript stays)."""
    visit = _visits(request.app).pop(call_sid, None)
    if visit is None:
        raise HTTPException(status_code=404, detail="no such visit on this kiosk server")
    await visit.end()
    return {"ended": call_sid}


@router.websocket("/kiosk/audio")
async def kiosk_audio(websocket: WebSocket) -> None:
    """Microphone in, replies and live transcript out (see the module docstring)."""
    user = await websocket_user(websocket, *KIOSK_ROLES)
    if user is None:
        await websocket.close(code=4401)
        return
    visit = _visits(websocket.app).get(websocket.query_params.get("visit", ""))
    if visit is None or visit.ended:
        await websocket.close(code=4404)
        return
    await websocket.accept()
    bus = websocket.app.state.web.bus
    send_lock = asyncio.Lock()

    async def send_bytes(data: bytes) -> None:
        async with send_lock:
            await websocket.send_bytes(data)

    async def send_json(data: dict[str, Any]) -> None:
        async with send_lock:
            await websocket.send_json(data)

    async def forward(queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            event = await queue.get()
            if event.get("type") != "session" or event.get("call_sid") != visit.call_sid:
                continue
            line = _transcript_line(event)
            if line is not None:
                await send_json(line)

    async with bus.subscribe() as queue:
        forwarder = asyncio.create_task(forward(queue))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await visit.feed(message["bytes"])
                    continue
                await _control(visit, message.get("text") or "", send_bytes, send_json)
        except WebSocketDisconnect:
            pass
        except KioskError as exc:
            with contextlib.suppress(Exception):
                await send_json({"type": "error", "detail": str(exc)})
                await websocket.close(code=1003)
        except Exception:
            # a fault of ours: the page says so plainly (never a silent, frozen page); the
            # visit itself stays, so staff can use the escalation button or end it
            log.exception("kiosk visit %s: the audio socket failed", visit.call_sid)
            with contextlib.suppress(Exception):
                await send_json({"type": "error", "detail": SERVER_FAULT})
                await websocket.close(code=1011)
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forwarder
            visit.sink.detach()


async def _control(visit: KioskVisit, text: str, send_bytes: Any, send_json: Any) -> None:
    import json

    try:
        msg = json.loads(text)
    except ValueError:
        raise KioskError("control messages are JSON") from None
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "hello":
        visit.set_input_rate(int(msg.get("rate", 0)))
        visit.sink.attach(send_bytes, send_json)
        await send_json({"type": "ready", "call_sid": visit.call_sid})
        await visit.start()
    elif kind == "mark":
        await visit.mark(str(msg.get("name", "")))
    elif kind == "key":
        await visit.key(str(msg.get("digit", "")))
    else:
        raise KioskError(f"unknown control message {kind!r}")


def _transcript_line(event: dict[str, Any]) -> dict[str, Any] | None:
    data = event.get("data") or {}
    if event.get("kind") == "heard":
        return {
            "type": "transcript",
            "speaker": "visitor",
            "text": data.get("text", ""),
            "intent": data.get("intent"),
        }
    if event.get("kind") == "prompt":
        return {"type": "transcript", "speaker": "system", "text": data.get("text", "")}
    if event.get("kind") == "dialog_error":  # the visitor is being put through to a person
        return {"type": "error", "detail": DIALOG_FAULT, "where": data.get("where")}
    if event.get("kind") == "escalation":
        return {"type": "escalated", "id": data.get("id"), "severity": data.get("severity")}
    return None
