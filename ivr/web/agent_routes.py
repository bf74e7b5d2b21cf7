"""The agent console: the live queue of escalations and transfers, the hand-off package of one,
and what an agent does with it (accept, notes, ticket status, resolve with an outcome,
follow-up call, satisfaction call-back).

Pages (server-rendered, autoescaped; small vanilla JS in `static/agent.js`):
  GET  /agent                               the queue (live over WS /agent/live)
  GET  /agent/escalations/{id}              the hand-off package (every view audited)
JSON API (role agent or supervisor; POSTs need the CSRF header):
  GET  /api/agent/queue
  GET  /api/agent/escalations/{id}          package + live transcript + notes (audited)
  POST /api/agent/escalations/{id}/accept   409 if another agent holds it
  POST /api/agent/escalations/{id}/notes    {"text"}
  POST /api/agent/escalations/{id}/resolve  {"outcome", "note"}
  POST /api/agent/escalations/{id}/follow-ups {"kind": "follow_up"|"satisfaction", "due_at",
                                            "note"}
  POST /api/agent/tickets/{reference}/status {"status", "note", "escalation_id"}
  WS   /agent/live                          {"type": "queue", "items"} snapshots, and the
                                            session events of the calls the page watches
                                            (client sends {"watch": call_sid})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from carestore.errors import NotFound
from carestore.models import TICKET_STATUSES
from carestore.timeutil import utcnow
from carestore.web_models import AgentNoteRow, FollowUpRow
from emergency_contact.audit import audit
from emergency_contact.masking import mask_text
from emergency_contact.package import lexical_timeline, transcript_entries
from emergency_contact.policy import SEVERITIES, severity_rank
from emergency_contact.service import EscalationService, UnknownEscalation
from ivr.web.auth import render, require_role, websocket_user
from ivr.web.auth_users import User, audit_view
from ivr.web.common import run_store, service_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["agent"])

AGENT_ROLES = ("agent", "supervisor")
OUTCOMES = (
    "helped_on_call",
    "contact_reached",
    "emergency_services",
    "ticket_opened",
    "no_action_needed",
    "could_not_reach",
)
QUEUE_EVENTS = ("escalation_created", "agent_accepted", "escalation_resolved", "queue_changed")

agent_api = require_role(*AGENT_ROLES)
agent_page = require_role(*AGENT_ROLES, page=True)


def _bus(app: Any) -> Any:
    return app.state.web.bus


# ---------------------------------------------------------------------------- queue
def queue_items(svc: EscalationService) -> list[dict[str, Any]]:
    """Waiting items, most severe first, then the earliest SLA deadline, then the oldest."""
    far = datetime.max.replace(tzinfo=utcnow().tzinfo)
    items = sorted(
        svc.queue(),
        key=lambda e: (-severity_rank(e.severity), e.agent_deadline_at or far, e.created_at),
    )
    return [
        {
            "id": e.id,
            "severity": e.severity,
            "trigger": e.trigger_kind,
            "channel": e.channel,
            "agent_status": e.agent_status,
            "created_at": e.created_at.isoformat(),
            "deadline_at": e.agent_deadline_at.isoformat() if e.agent_deadline_at else None,
        }
        for e in items
    ]


# ---------------------------------------------------------------------------- timeline picture
def flatten_cues(cues: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple]]:
    """Cues (Cue dicts, or Assessment dicts with nested cues) as a flat cue list and the
    distress points (t, score)."""
    flat: list[dict[str, Any]] = []
    distress: list[tuple[float, float]] = []
    for c in cues:
        if "cues" in c:
            inner = [dict(x) for x in c.get("cues", [])]
            t = c.get("t")
            if t is None:
                t = min((x.get("start_s", 0.0) or 0.0 for x in inner), default=0.0)
            if c.get("distress") is not None:
                distress.append((float(t), float(c["distress"])))
            flat.extend(inner)
        elif c.get("name"):
            flat.append(dict(c))
    return flat, sorted(distress)


def timeline(cues: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """Shapes of the cue timeline (drawn as inline SVG by the template, every text escaped):
    one row per cue name with a bar per occurrence (opacity = strength), and the distress
    score as a line (or, without a prosody assessment, the strongest cue at each time)."""
    flat, distress = flatten_cues(cues)
    end = max([duration_s, 1.0] + [float(c.get("end_s") or c.get("start_s") or 0) for c in flat])
    left, width, row_h = 150, 560, 26
    names = list(dict.fromkeys(str(c.get("name")) for c in flat))

    def x(t: float) -> float:
        return round(left + width * max(0.0, min(t, end)) / end, 1)

    bars = []
    for c in flat:
        s = float(c.get("start_s") or 0.0)
        e = max(float(c.get("end_s") or s), s + end / 200)
        strength = max(0.0, min(1.0, float(c.get("strength") or 0.0)))
        bars.append(
            {
                "x": x(s),
                "w": max(3.0, round(x(e) - x(s), 1)),
                "y": 30 + names.index(str(c.get("name"))) * row_h,
                "opacity": round(0.35 + 0.65 * strength, 2),
                "title": f"{c.get('name')} {strength:.2f} at {s:.1f}s: "
                f"{mask_text(str(c.get('evidence') or ''))}",
            }
        )
    score_label = "distress score"
    if not distress:
        score_label = "cue strength"
        distress = sorted(
            (float(c.get("start_s") or 0.0), float(c.get("strength") or 0.0)) for c in flat
        )
    top = 30 + len(names) * row_h + 14
    graph_h = 60
    points = " ".join(
        f"{x(t)},{round(top + graph_h - graph_h * max(0.0, min(v, 1.0)), 1)}" for t, v in distress
    )
    ticks = [{"x": x(end * i / 4), "label": f"{end * i / 4:.0f}s"} for i in range(5)]
    return {
        "width": left + width + 20,
        "height": top + graph_h + 30,
        "rows": [
            {"label": n, "y": 30 + i * row_h + row_h / 2 + 4, "line_y": 30 + i * row_h}
            for i, n in enumerate(names)
        ],
        "bars": bars,
        "points": points,
        "dots": [{"x": p.split(",")[0], "y": p.split(",")[1]} for p in points.split()],
        "graph_top": top,
        "graph_bottom": top + graph_h,
        "score_label": score_label,
        "assessed": score_label == "distress score",
        "ticks": ticks,
        "left": left,
        "right": left + width,
        "empty": not flat,
    }


# ---------------------------------------------------------------------------- detail
def _notes(store: Any, escalation_id: int) -> list[dict[str, Any]]:
    with store.read() as session:
        rows = session.scalars(
            select(AgentNoteRow)
            .where(AgentNoteRow.escalation_id == escalation_id)
            .order_by(AgentNoteRow.id)
        ).all()
        return [
            {"author": r.author, "kind": r.kind, "text": r.text, "at": r.at.isoformat()}
            for r in rows
        ]


def _follow_ups(store: Any, escalation_id: int) -> list[dict[str, Any]]:
    with store.read() as session:
        rows = session.scalars(
            select(FollowUpRow)
            .where(FollowUpRow.escalation_id == escalation_id)
            .order_by(FollowUpRow.due_at)
        ).all()
        return [
            {
                "kind": r.kind,
                "due_at": r.due_at.isoformat(),
                "note": r.note,
                "status": r.status,
                "requested_by": r.requested_by,
            }
            for r in rows
        ]


def _contacts_reached(svc: EscalationService, escalation_id: int) -> list[dict[str, Any]]:
    names: dict[int, str] = {}
    out = []
    for ev in svc.events(escalation_id):
        if ev.contact_id is None:
            continue
        if ev.contact_id not in names:
            contact = svc.contacts.get(ev.contact_id)
            names[ev.contact_id] = (
                f"{contact.name} ({contact.relationship})" if contact else f"#{ev.contact_id}"
            )
        data = ev.data or {}
        answer = data.get("answer") or data.get("status") or data.get("outcome") or ""
        out.append(
            {
                "at": ev.at.isoformat(),
                "contact": names[ev.contact_id],
                "what": ev.kind,
                "answer": str(answer),
            }
        )
    return out


def escalation_detail(svc: EscalationService, escalation_id: int) -> dict[str, Any]:
    """Everything the console shows for one escalation (the live transcript is read now)."""
    store = svc.store
    package = svc.package(escalation_id)
    esc = package["escalation"]
    call_sid = esc.get("call_sid")
    segments = []
    if call_sid:
        with contextlib.suppress(NotFound):
            segments = store.transcript(call_sid)
    transcript = transcript_entries(segments) if segments else package.get("transcript", [])
    cues = package.get("cues") or (lexical_timeline(segments) if segments else [])
    call = store.get_call(call_sid) if call_sid else None
    duration = max([0.0] + [float(t.get("end_s") or 0) for t in transcript])
    tickets = []
    customer_id = esc.get("customer_id")
    if customer_id is not None:
        tickets = [
            {
                "reference": t.reference,
                "status": t.status,
                "summary": mask_text(t.summary),
                "opened_at": t.created_at.isoformat(),
            }
            for t in store.tickets_for_customer(customer_id)
        ]
    return {
        "escalation": esc,
        "call": package.get("call"),
        "live": call is not None and call.ended_at is None,
        "caller": package.get("caller"),
        "transcript": transcript,
        "words_and_intents": [
            {"text": t["text"], "intent": t["intent"], "confidence": t["confidence"]}
            for t in transcript
            if t["speaker"] == "caller"
        ],
        "cues": cues,
        "timeline": timeline(cues, duration),
        "history": package.get("history", []),
        "tickets": tickets,
        "contacts": _contacts_reached(svc, escalation_id),
        "notes": _notes(store, escalation_id),
        "follow_ups": _follow_ups(store, escalation_id),
    }


def _detail_audited(svc: EscalationService, escalation_id: int, user: User, what: str) -> dict:
    detail = escalation_detail(svc, escalation_id)
    esc = detail["escalation"]
    audit_view(svc.store, user, what, "escalation", escalation_id, esc.get("customer_id"))
    return detail


@router.get("/agent", response_class=HTMLResponse)
async def agent_console(request: Request, user: User = Depends(agent_page)) -> HTMLResponse:
    """The queue page."""
    items = await run_store(queue_items, service_of(request))
    return render(request, "agent.html", items=items, severities=SEVERITIES)


@router.get("/agent/escalations/{escalation_id}", response_class=HTMLResponse)
async def escalation_page(
    escalation_id: int, request: Request, user: User = Depends(agent_page)
) -> HTMLResponse:
    """The hand-off package of one escalation."""
    detail = await run_store(
        _detail_audited, service_of(request), escalation_id, user, "handoff_page"
    )
    return render(
        request,
        "escalation.html",
        d=detail,
        outcomes=OUTCOMES,
        ticket_statuses=TICKET_STATUSES,
    )


@router.get("/api/agent/queue")
async def api_queue(request: Request, user: User = Depends(agent_api)) -> list[dict[str, Any]]:
    """The queue (no personal data)."""
    return await run_store(queue_items, service_of(request))


@router.get("/api/agent/escalations/{escalation_id}")
async def api_escalation(
    escalation_id: int, request: Request, user: User = Depends(agent_api)
) -> dict[str, Any]:
    """The console's data for one escalation (audited)."""
    return await run_store(_detail_audited, service_of(request), escalation_id, user, "handoff_api")


# ---------------------------------------------------------------------------- actions
class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str
    note: str = Field(default="", max_length=4000)

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: str) -> str:
        if value not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        return value


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "follow_up"
    due_at: datetime | None = None  # default: tomorrow at this time
    note: str = Field(default="", max_length=2000)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ("follow_up", "satisfaction"):
            raise ValueError("kind must be follow_up or satisfaction")
        return value

    @field_validator("due_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("due_at needs a timezone (e.g. 2026-03-14T10:00:00Z)")
        return value


class TicketStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    note: str = Field(default="", max_length=2000)
    escalation_id: int | None = None


def add_note(store: Any, escalation_id: int, author: str, text: str, kind: str = "note") -> dict:
    """Store an agent's note (audited)."""
    with store.write() as session:
        from carestore.escalation_models import EscalationRow

        esc = session.get(EscalationRow, escalation_id)
        if esc is None:
            raise UnknownEscalation(f"no escalation {escalation_id}")
        row = AgentNoteRow(
            escalation_id=escalation_id, author=author, kind=kind, text=text, at=utcnow()
        )
        session.add(row)
        audit(
            session,
            author,
            f"agent_{kind}",
            "escalation",
            escalation_id,
            esc.customer_id,
            record=row,  # the note's words are fingerprinted, so a later edit is caught
        )
        return {"author": author, "kind": kind, "text": text, "at": row.at.isoformat()}


def schedule_follow_up(
    store: Any, escalation_id: int, requested_by: str, body: FollowUpIn
) -> dict[str, Any]:
    """Store a follow-up or satisfaction call-back for the scheduler (audited)."""
    from carestore.escalation_models import EscalationRow

    due = body.due_at or (utcnow() + timedelta(days=1))
    with store.write() as session:
        esc = session.get(EscalationRow, escalation_id)
        if esc is None:
            raise UnknownEscalation(f"no escalation {escalation_id}")
        if esc.customer_id is None:
            raise ValueError("this escalation has no known customer to call back")
        row = FollowUpRow(
            kind=body.kind,
            customer_id=esc.customer_id,
            escalation_id=escalation_id,
            due_at=due,
            note=body.note,
            requested_by=requested_by,
            status="pending",
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit(
            session,
            requested_by,
            f"{body.kind}_scheduled",
            "follow_up",
            row.id,
            esc.customer_id,
            {"due_at": due.isoformat(), "escalation_id": escalation_id},
        )
        return {"id": row.id, "kind": row.kind, "due_at": due.isoformat(), "status": "pending"}


@router.post("/api/agent/escalations/{escalation_id}/accept")
async def api_accept(
    escalation_id: int, request: Request, user: User = Depends(agent_api)
) -> dict[str, Any]:
    """Take the item (only one agent can hold it: 409 for the others)."""
    esc = await run_store(service_of(request).accept_agent, escalation_id, user.username)
    return esc.to_dict()


@router.post("/api/agent/escalations/{escalation_id}/notes", status_code=201)
async def api_note(
    escalation_id: int, body: NoteIn, request: Request, user: User = Depends(agent_api)
) -> dict[str, Any]:
    """Add a note."""
    return await run_store(
        add_note, service_of(request).store, escalation_id, user.username, body.text
    )


@router.post("/api/agent/escalations/{escalation_id}/resolve")
async def api_resolve(
    escalation_id: int, body: ResolveIn, request: Request, user: User = Depends(agent_api)
) -> dict[str, Any]:
    """Close the escalation with an outcome."""
    svc = service_of(request)
    text = f"{body.outcome}: {body.note}".rstrip(": ")
    esc = await run_store(svc.resolve, escalation_id, user.username, text)
    await run_store(add_note, svc.store, escalation_id, user.username, text, "outcome")
    _bus(request.app).publish({"type": "escalation_resolved", "escalation": esc.to_dict()})
    return esc.to_dict()


@router.post("/api/agent/escalations/{escalation_id}/follow-ups", status_code=201)
async def api_follow_up(
    escalation_id: int, body: FollowUpIn, request: Request, user: User = Depends(agent_api)
) -> dict[str, Any]:
    """Schedule a follow-up call or a satisfaction call-back."""
    svc = service_of(request)
    return await run_store(schedule_follow_up, svc.store, escalation_id, user.username, body)


@router.post("/api/agent/tickets/{reference}/status")
async def api_ticket_status(
    reference: str, body: TicketStatusIn, request: Request, user: User = Depends(agent_api)
) -> dict[str, Any]:
    """Change a ticket's status (noted on the escalation when one is given)."""
    svc = service_of(request)
    if body.status not in TICKET_STATUSES:
        raise HTTPException(422, f"status must be one of {', '.join(TICKET_STATUSES)}")
    note = f"{body.note} (by {user.username})".strip()
    ticket = await run_store(
        svc.store.update_ticket_status, reference, body.status, note, actor=user.username
    )
    if body.escalation_id is not None:
        text = f"ticket {reference} -> {body.status}" + (f": {body.note}" if body.note else "")
        await run_store(add_note, svc.store, body.escalation_id, user.username, text, "ticket")
    return {"reference": ticket.reference, "status": ticket.status}


# ---------------------------------------------------------------------------- live
@router.websocket("/agent/live")
async def agent_live(websocket: WebSocket) -> None:
    """Queue snapshots whenever the queue changes (on any instance), and the live session
    events of the call the page watches."""
    user = await websocket_user(websocket, *AGENT_ROLES)
    if user is None:
        await websocket.close(code=4401)
        return
    await websocket.accept()
    svc = getattr(websocket.app.state, "escalation", None)
    bus = _bus(websocket.app)
    watched: set[str] = set()

    async def snapshot() -> None:
        items = await asyncio.to_thread(queue_items, svc) if svc else []
        await websocket.send_json({"type": "queue", "items": items})

    async def receive() -> None:
        while True:
            msg = await websocket.receive_json()
            sid = msg.get("watch") if isinstance(msg, dict) else None
            if isinstance(sid, str) and 0 < len(sid) <= 64:
                watched.clear()
                watched.add(sid)

    async with bus.subscribe() as queue:
        reader = asyncio.create_task(receive())
        try:
            await snapshot()
            while not reader.done():
                get = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                event = get.result()
                kind = event.get("type")
                if kind in QUEUE_EVENTS or (
                    kind == "session" and event.get("kind") == "escalation"
                ):
                    await snapshot()
                if kind == "session" and event.get("call_sid") in watched:
                    await websocket.send_json(_live_line(event))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


def _live_line(event: dict[str, Any]) -> dict[str, Any]:
    """A session event for the page (caller words masked like the package)."""
    data = dict(event.get("data") or {})
    if "text" in data and isinstance(data["text"], str):
        data["text"] = mask_text(data["text"])
    return {
        "type": "session",
        "call_sid": event.get("call_sid"),
        "kind": event.get("kind"),
        "t": event.get("t"),
        "data": data,
    }
