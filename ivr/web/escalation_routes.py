"""Escalation routes: the contacts and escalations JSON API, hand-off links, and the Twilio
webhooks of escalation calls and messages (`router`; `setup_escalation` wires the service).

JSON API (changes need an `X-Actor` header naming who makes them; it is audited):
  GET|POST      /api/customers/{cid}/contacts
  PATCH|DELETE  /api/customers/{cid}/contacts/{contact_id}
  PUT           /api/customers/{cid}/contacts/order            {"contact_ids": [...]}
  POST|DELETE   /api/customers/{cid}/contacts/{contact_id}/consent
  GET           /api/customers/{cid}/audit
  POST          /api/escalations                               (kiosk button, staff)
  GET           /api/escalations/queue | /stats | /{id} | /{id}/package | /{id}/events
  GET           /api/escalations/{id}/outbox
  POST          /api/escalations/{id}/accept {"agent": ...}    (409 if another agent has it)
  POST          /api/escalations/{id}/resolve {"note": ...}
  GET           /handoff/{token}                               expiring, audited, limited view
Twilio (signed): /escalation/twilio/{contact-call,contact-gather,confirm-call,call-status,
  sms-status,sms,agent-status}; and `/twilio/next`, `/twilio/dial-done` for calls that have an
  escalation (others are passed to `ivr.web.twilio_routes`). Include this router BEFORE the
  Twilio router so these two take precedence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from twilio.twiml.voice_response import Dial, VoiceResponse

from carestore.errors import InvalidValue, NotFound
from emergency_contact import messages, webhooks
from emergency_contact.contacts import ConsentIn, ContactIn, ContactUpdate
from emergency_contact.links import LinkError
from emergency_contact.policy import TRIGGER_KINDS, Policy
from emergency_contact.records import Trigger
from emergency_contact.service import (
    Conflict,
    EscalationConfig,
    EscalationService,
    UnknownEscalation,
)
from ivr.settings import Settings
from ivr.twilio.signature import settings_of, verified_twilio_form
from ivr.web import twilio_routes

log = logging.getLogger(__name__)
router = APIRouter(tags=["escalation"])


# ---------------------------------------------------------------------------- wiring
def setup_escalation(app: FastAPI, settings: Settings, store: Any, *, start_worker: bool = True):  # noqa: ANN201
    """Build the service (and, unless told otherwise, start an outbox worker thread) and put
    them on `app.state.escalation` / `app.state.escalation_worker`. Returns the service.

    Reads, when the settings have them: `twilio_from_number`, `escalation_policy` (a TOML
    path), `supervisor_number`, `emergency_number`, `service_name`. Without Twilio credentials
    or a from-number the worker uses the dry-run console notifier.
    """
    from emergency_contact.notifier import ConsoleNotifier, TwilioNotifier
    from emergency_contact.worker import OutboxWorker

    def base_url() -> str:
        return settings.public_base_url or f"http://{settings.host}:{settings.port}"

    policy = Policy.load(getattr(settings, "escalation_policy", None) or None)
    config = EscalationConfig(
        base_url=base_url,
        service_name=getattr(settings, "service_name", "") or "the care line",
        agent_number=settings.agent_number,
        supervisor_number=getattr(settings, "supervisor_number", "") or "",
        emergency_number=getattr(settings, "emergency_number", "") or "",
    )
    service = EscalationService(store, policy, config)
    app.state.escalation = service
    from_number = getattr(settings, "twilio_from_number", "") or ""
    if settings.twilio_account_sid and settings.twilio_auth_token and from_number:
        notifier: Any = TwilioNotifier(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            from_number,
            api_base_url=settings.twilio_api_base_url,
        )
    else:
        log.warning(
            "escalations: no Twilio credentials or IVR_TWILIO_FROM_NUMBER: notifications are "
            "written to the console and the store (DRY RUN), not sent"
        )
        notifier = ConsoleNotifier()
    if start_worker:
        app.state.escalation_worker = OutboxWorker(service, notifier).start()
    app.state.escalation_notifier = notifier
    return service


def stop_escalation(app: FastAPI) -> None:
    """Stop the worker thread started by `setup_escalation` (if any)."""
    worker = getattr(app.state, "escalation_worker", None)
    if worker is not None:
        worker.stop()


def service_of(request: Request) -> EscalationService:
    """`app.state.escalation` (503 if the app did not set it up)."""
    svc = getattr(request.app.state, "escalation", None)
    if svc is None:
        raise HTTPException(status_code=503, detail="escalations are not set up in this app")
    return svc


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a store call off the event loop, mapping errors to HTTP answers."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except (NotFound, UnknownEscalation) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except (InvalidValue, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


def _actor(x_actor: str | None = Header(default=None)) -> str:
    if not x_actor or not x_actor.strip():
        raise HTTPException(status_code=400, detail="say who makes this change: X-Actor header")
    return x_actor.strip()


def _xml(twiml: str) -> Response:
    return Response(content=twiml, media_type="application/xml")


# ---------------------------------------------------------------------------- contacts API
class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_ids: list[int]


@router.get("/api/customers/{customer_id}/contacts")
async def list_contacts(customer_id: int, request: Request) -> list[dict[str, Any]]:
    """The customer's emergency contacts in order."""
    svc = service_of(request)
    return [c.to_dict() for c in await _run(svc.contacts.list, customer_id, include_inactive=True)]


@router.post("/api/customers/{customer_id}/contacts", status_code=201)
async def add_contact(
    customer_id: int, contact: ContactIn, request: Request, actor: str = Depends(_actor)
) -> dict[str, Any]:
    """Add a contact (consent may come with it or later)."""
    svc = service_of(request)
    return (await _run(svc.contacts.add, customer_id, contact, actor)).to_dict()


@router.patch("/api/customers/{customer_id}/contacts/{contact_id}")
async def update_contact(
    customer_id: int,
    contact_id: int,
    changes: ContactUpdate,
    request: Request,
    actor: str = Depends(_actor),
) -> dict[str, Any]:
    """Change a contact's details."""
    svc = service_of(request)
    return (await _run(svc.contacts.update, customer_id, contact_id, changes, actor)).to_dict()


@router.delete("/api/customers/{customer_id}/contacts/{contact_id}", status_code=204)
async def remove_contact(
    customer_id: int, contact_id: int, request: Request, actor: str = Depends(_actor)
) -> Response:
    """Remove a contact."""
    await _run(service_of(request).contacts.remove, customer_id, contact_id, actor)
    return Response(status_code=204)


@router.put("/api/customers/{customer_id}/contacts/order")
async def reorder_contacts(
    customer_id: int, order: OrderIn, request: Request, actor: str = Depends(_actor)
) -> list[dict[str, Any]]:
    """Set the order in which contacts are tried."""
    svc = service_of(request)
    return [
        c.to_dict() for c in await _run(svc.contacts.reorder, customer_id, order.contact_ids, actor)
    ]


@router.post("/api/customers/{customer_id}/contacts/{contact_id}/consent")
async def record_consent(
    customer_id: int,
    contact_id: int,
    consent: ConsentIn,
    request: Request,
    actor: str = Depends(_actor),
) -> dict[str, Any]:
    """Record consent (who, when, how)."""
    svc = service_of(request)
    return (
        await _run(svc.contacts.record_consent, customer_id, contact_id, consent, actor)
    ).to_dict()


@router.delete("/api/customers/{customer_id}/contacts/{contact_id}/consent")
async def withdraw_consent(
    customer_id: int, contact_id: int, request: Request, actor: str = Depends(_actor)
) -> dict[str, Any]:
    """Withdraw consent: the contact is never reached until consent is recorded again."""
    svc = service_of(request)
    return (await _run(svc.contacts.withdraw_consent, customer_id, contact_id, actor)).to_dict()


@router.get("/api/customers/{customer_id}/audit")
async def audit_log(customer_id: int, request: Request) -> list[dict[str, Any]]:
    """The customer's audit trail, newest first."""
    entries = await _run(service_of(request).contacts.audit_log, customer_id)
    return [{**e.__dict__, "at": e.at.isoformat()} for e in entries]


# ---------------------------------------------------------------------------- escalations API
class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description=f"one of {TRIGGER_KINDS}")
    customer_id: int | None = None
    call_sid: str | None = None
    severity: str | None = None
    channel: str = "kiosk"
    evidence: dict[str, Any] = Field(default_factory=dict)


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(min_length=1, max_length=200)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = ""


@router.post("/api/escalations", status_code=201)
async def create_escalation(
    body: TriggerIn, request: Request, actor: str = Depends(_actor)
) -> dict[str, Any]:
    """Start an escalation by hand (the kiosk's escalation button, staff)."""
    svc = service_of(request)
    trigger = Trigger(body.kind, body.severity, body.evidence)
    decision = await _run(
        svc.trigger, body.call_sid, body.customer_id, trigger, channel=body.channel, actor=actor
    )
    return {
        "escalation_id": decision.escalation_id,
        "severity": decision.severity,
        "transfer": decision.transfer,
        "notify_contacts": decision.notify_contacts,
        "handoff_url": decision.handoff_url,
        "notices": [n.__dict__ for n in decision.notices],
    }


@router.get("/api/escalations/queue")
async def agent_queue(request: Request) -> list[dict[str, Any]]:
    """Waiting for an agent: most severe first, then longest waiting."""
    return [e.to_dict() for e in await _run(service_of(request).queue)]


@router.get("/api/escalations/stats")
async def queue_stats(request: Request, within_s: float = 15.0) -> dict[str, Any]:
    """Share answered by a person within `within_s` seconds, breaches, waiting."""
    return await _run(service_of(request).stats, within_s)


@router.get("/api/escalations/{escalation_id}")
async def get_escalation(escalation_id: int, request: Request) -> dict[str, Any]:
    return (await _run(service_of(request).get, escalation_id)).to_dict()


@router.get("/api/escalations/{escalation_id}/package")
async def get_package(escalation_id: int, request: Request) -> dict[str, Any]:
    """The full hand-off package (for the agent console)."""
    return await _run(service_of(request).package, escalation_id)


@router.get("/api/escalations/{escalation_id}/events")
async def get_events(escalation_id: int, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    await _run(svc.get, escalation_id)
    return [{**e.__dict__, "at": e.at.isoformat()} for e in await _run(svc.events, escalation_id)]


@router.get("/api/escalations/{escalation_id}/outbox")
async def get_outbox(escalation_id: int, request: Request) -> list[dict[str, Any]]:
    from emergency_contact.outbox import outbox_rows

    return await _run(outbox_rows, service_of(request).store, escalation_id)


@router.post("/api/escalations/{escalation_id}/accept")
async def accept(escalation_id: int, body: AcceptIn, request: Request) -> dict[str, Any]:
    """An agent takes the item (exclusive: 409 when someone else holds it)."""
    return (await _run(service_of(request).accept_agent, escalation_id, body.agent)).to_dict()


@router.post("/api/escalations/{escalation_id}/resolve")
async def resolve(
    escalation_id: int,
    request: Request,
    body: ResolveIn = Body(default_factory=ResolveIn),
    actor: str = Depends(_actor),
) -> dict[str, Any]:
    return (await _run(service_of(request).resolve, escalation_id, actor, body.note)).to_dict()


@router.get("/handoff/{token}")
async def handoff_link(token: str, request: Request) -> JSONResponse:
    """The limited view an expiring hand-off link opens (no login; every view audited)."""
    svc = service_of(request)
    viewer = f"link:{request.client.host if request.client else '?'}"
    try:
        grant, view = await asyncio.to_thread(svc.open_link, token, viewer)
    except LinkError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    view["expires_at"] = grant.expires_at.isoformat()
    return JSONResponse(view, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})


# ---------------------------------------------------------------------------- Twilio webhooks
def _base(request: Request) -> str:
    return twilio_routes.public_base(request, settings_of(request))


def _item(request: Request) -> int:
    try:
        return int(request.query_params.get("o", ""))
    except ValueError:
        raise HTTPException(status_code=400, detail="o (outbox item) is missing") from None


@router.post("/escalation/twilio/contact-call")
@router.post("/escalation/twilio/confirm-call")
async def contact_call(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    item = _item(request)
    gather = f"{_base(request)}/escalation/twilio/contact-gather?o={item}&n=0"
    return _xml(await _run(webhooks.contact_call, service_of(request), item, form, gather))


@router.post("/escalation/twilio/contact-gather")
async def contact_gather(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    item = _item(request)
    n = int(request.query_params.get("n", "0") or 0)
    replay = f"{_base(request)}/escalation/twilio/contact-gather?o={item}&n={n + 1}"
    return _xml(await _run(webhooks.contact_gather, service_of(request), item, form, replay, n))


@router.post("/escalation/twilio/call-status", status_code=204)
async def call_status(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    await _run(webhooks.call_status, service_of(request), _item(request), form)
    return Response(status_code=204)


@router.post("/escalation/twilio/sms-status", status_code=204)
async def sms_status(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    await _run(webhooks.sms_status, service_of(request), _item(request), form)
    return Response(status_code=204)


@router.post("/escalation/twilio/sms")
async def sms_inbound(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """A contact's SMS reply (configure the number's messaging webhook to this URL)."""
    return _xml(await _run(webhooks.sms_reply, service_of(request), form))


@router.post("/escalation/twilio/agent-status", status_code=204)
async def agent_status(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """Status of the agent leg of the `<Dial>`: "in-progress"/"answered" marks the answer."""
    try:
        escalation_id = int(request.query_params.get("e", ""))
    except ValueError:
        raise HTTPException(status_code=400, detail="e (escalation) is missing") from None
    if form.get("CallStatus") in ("in-progress", "answered"):
        await _run(
            service_of(request).agent_answered, escalation_id, {"call_sid": form.get("CallSid", "")}
        )
    return Response(status_code=204)


def agent_dial_twiml(
    agent: str,
    say_text: str,
    action_url: str,
    status_url: str,
    timeout_s: int,
    handoff_url: str | None,
    escalation_id: int,
) -> str:
    """`<Dial>` to the agent with the SLA as ring timeout; the agent leg's answer is reported
    to `status_url`; a `client:` agent also gets the hand-off link as a `<Parameter>`."""
    response = VoiceResponse()
    if say_text:
        response.say(say_text)
    dial = Dial(timeout=max(5, timeout_s), action=action_url, method="POST")
    events = "initiated ringing answered completed"
    if agent.startswith("client:"):
        client = dial.client(status_callback=status_url, status_callback_event=events)
        client.identity(agent.removeprefix("client:"))
        if handoff_url:
            client.parameter(name="handoff_url", value=handoff_url)
        client.parameter(name="escalation_id", value=str(escalation_id))
    elif agent.startswith("sip:"):
        dial.sip(agent, status_callback=status_url, status_callback_event=events)
    else:
        dial.number(agent, status_callback=status_url, status_callback_event=events)
    response.append(dial)
    return str(response)


@router.post("/twilio/next")
async def next_step(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """Calls with an escalation waiting for an agent: `<Dial>` with the SLA and the package
    link; every other call: `ivr.web.twilio_routes.next_step`."""
    svc = getattr(request.app.state, "escalation", None)
    call_sid = form.get("CallSid", "")
    esc = await asyncio.to_thread(svc.for_call, call_sid) if svc and call_sid else None
    settings = settings_of(request)
    handoffs = twilio_routes.get_handoffs(request.app)
    handoff = handoffs.peek(call_sid) if call_sid else None
    if esc is None or esc.agent_status not in ("queued", "breached") or not settings.agent_number:
        return await twilio_routes.next_step(request, form)
    if handoff is not None and handoff.kind != "agent":
        return await twilio_routes.next_step(request, form)
    handoffs.pop(call_sid)
    base = _base(request)
    package = svc.link_url(await asyncio.to_thread(_agent_token, svc, esc.id))
    twiml = agent_dial_twiml(
        settings.agent_number,
        handoff.say_text if handoff is not None else "",
        f"{base}{twilio_routes.DIAL_DONE_PATH}",
        f"{base}/escalation/twilio/agent-status?e={esc.id}",
        int(svc.policy.sla_for(esc.severity)),
        package,
        esc.id,
    )
    log.info("call %s: escalation %s dialled to the agent (%s)", call_sid, esc.id, esc.severity)
    return _xml(twiml)


def _agent_token(svc: EscalationService, escalation_id: int) -> str:
    from emergency_contact.links import issue_token

    with svc.store.write() as session:
        return issue_token(session, escalation_id, "agent", svc.policy.link_ttl_s)


@router.post("/twilio/dial-done")
async def dial_done(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """After the agent `<Dial>`: for an escalation nobody answered, the policy's fallback runs
    now and the caller is told what happens; other calls: `twilio_routes.dial_done`."""
    svc = getattr(request.app.state, "escalation", None)
    call_sid = form.get("CallSid", "")
    status = form.get("DialCallStatus", "")
    esc = await _run(svc.dial_ended, call_sid, status) if svc and call_sid else None
    if esc is None or status in ("completed", "answered"):
        return await twilio_routes.dial_done(request, form)
    customer_phone = None
    language = "en"
    if esc.customer_id is not None:
        customer = await asyncio.to_thread(svc.store.get_customer, esc.customer_id)
        if customer is not None:
            customer_phone, language = customer.phone, customer.language
    number = svc.policy.emergency_number(customer_phone, svc.config.emergency_number)
    text = messages.text("no_agent", language, number=number)
    dial = svc.config.supervisor_number or None
    return _xml(messages.say_twiml(text, language, dial=dial))
