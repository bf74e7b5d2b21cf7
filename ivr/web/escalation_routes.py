"""Escalation routes: the contacts and escalations JSON API, hand-off links, and the Twilio
webhooks of escalation calls and messages (`router`; `setup_escalation` wires the service).

JSON API: every route needs a signed-in user (`ivr.web.auth.require_role`: 401 without a
session, 403 for another role or, on changes, a missing CSRF token). The signed-in user is the
actor of every audited change (an `X-Actor` header is ignored); views of personal data (contacts,
audit trail, escalation, package, events, outbox) are audited with `audit_view`.
Roles: /api/customers/* agent, kiosk_staff, supervisor; POST /api/escalations the same;
every other /api/escalations/* route agent, supervisor (admin always passes).
  GET|POST      /api/customers/{cid}/contacts
  PATCH|DELETE  /api/customers/{cid}/contacts/{contact_id}
  PUT           /api/customers/{cid}/contacts/order            {"contact_ids": [...]}
  POST|DELETE   /api/customers/{cid}/contacts/{contact_id}/consent
  GET           /api/customers/{cid}/audit
  POST          /api/escalations                               (kiosk button, staff)
  GET           /api/escalations/queue | /stats | /{id} | /{id}/package | /{id}/events
  GET           /api/escalations/{id}/outbox
  POST          /api/escalations/{id}/accept {"agent"?}        the signed-in agent takes it
                                                               (409 if another agent has it)
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

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from twilio.twiml.voice_response import Dial, VoiceResponse

from emergency_contact import messages, webhooks
from emergency_contact.contacts import ConsentIn, ContactIn, ContactUpdate
from emergency_contact.links import LinkError
from emergency_contact.policy import TRIGGER_KINDS, Policy
from emergency_contact.records import Trigger
from emergency_contact.service import (
    EscalationConfig,
    EscalationService,
)
from ivr.settings import Settings
from ivr.twilio.signature import settings_of, verified_twilio_form
from ivr.web import twilio_routes
from ivr.web.auth import require_role
from ivr.web.auth_users import User, audit_view
from ivr.web.common import run_store, service_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["escalation"])

CONTACT_ROLES = ("agent", "kiosk_staff", "supervisor")
AGENT_ROLES = ("agent", "supervisor")
TRIGGER_ROLES = ("agent", "kiosk_staff", "supervisor")
contacts_user = require_role(*CONTACT_ROLES)
agent_user = require_role(*AGENT_ROLES)
trigger_user = require_role(*TRIGGER_ROLES)


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


def _viewed(
    svc: EscalationService,
    user: User,
    what: str,
    entity: str,
    entity_id: int,
    customer_id: int | None,
    read: Callable[[], Any],
) -> Any:
    """`read()` and, once it succeeded, the audit row of who viewed it (same thread)."""
    result = read()
    audit_view(svc.store, user, what, entity, entity_id, customer_id)
    return result


def _xml(twiml: str) -> Response:
    return Response(content=twiml, media_type="application/xml")


# ---------------------------------------------------------------------------- contacts API
class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_ids: list[int]


@router.get("/api/customers/{customer_id}/contacts")
async def list_contacts(
    customer_id: int, request: Request, user: User = Depends(contacts_user)
) -> list[dict[str, Any]]:
    """The customer's emergency contacts in order (the view is audited)."""
    svc = service_of(request)
    contacts = await run_store(
        _viewed,
        svc,
        user,
        "contacts_api",
        "customer",
        customer_id,
        customer_id,
        lambda: svc.contacts.list(customer_id, include_inactive=True),
    )
    return [c.to_dict() for c in contacts]


@router.post("/api/customers/{customer_id}/contacts", status_code=201)
async def add_contact(
    customer_id: int, contact: ContactIn, request: Request, user: User = Depends(contacts_user)
) -> dict[str, Any]:
    """Add a contact (consent may come with it or later)."""
    svc = service_of(request)
    return (await run_store(svc.contacts.add, customer_id, contact, user.username)).to_dict()


@router.patch("/api/customers/{customer_id}/contacts/{contact_id}")
async def update_contact(
    customer_id: int,
    contact_id: int,
    changes: ContactUpdate,
    request: Request,
    user: User = Depends(contacts_user),
) -> dict[str, Any]:
    """Change a contact's details."""
    svc = service_of(request)
    return (
        await run_store(svc.contacts.update, customer_id, contact_id, changes, user.username)
    ).to_dict()


@router.delete("/api/customers/{customer_id}/contacts/{contact_id}", status_code=204)
async def remove_contact(
    customer_id: int, contact_id: int, request: Request, user: User = Depends(contacts_user)
) -> Response:
    """Remove a contact."""
    await run_store(service_of(request).contacts.remove, customer_id, contact_id, user.username)
    return Response(status_code=204)


@router.put("/api/customers/{customer_id}/contacts/order")
async def reorder_contacts(
    customer_id: int, order: OrderIn, request: Request, user: User = Depends(contacts_user)
) -> list[dict[str, Any]]:
    """Set the order in which contacts are tried."""
    svc = service_of(request)
    return [
        c.to_dict()
        for c in await run_store(
            svc.contacts.reorder, customer_id, order.contact_ids, user.username
        )
    ]


@router.post("/api/customers/{customer_id}/contacts/{contact_id}/consent")
async def record_consent(
    customer_id: int,
    contact_id: int,
    consent: ConsentIn,
    request: Request,
    user: User = Depends(contacts_user),
) -> dict[str, Any]:
    """Record consent (who, when, how)."""
    svc = service_of(request)
    return (
        await run_store(
            svc.contacts.record_consent, customer_id, contact_id, consent, user.username
        )
    ).to_dict()


@router.delete("/api/customers/{customer_id}/contacts/{contact_id}/consent")
async def withdraw_consent(
    customer_id: int, contact_id: int, request: Request, user: User = Depends(contacts_user)
) -> dict[str, Any]:
    """Withdraw consent: the contact is never reached until consent is recorded again."""
    svc = service_of(request)
    return (
        await run_store(svc.contacts.withdraw_consent, customer_id, contact_id, user.username)
    ).to_dict()


@router.get("/api/customers/{customer_id}/audit")
async def audit_log(
    customer_id: int, request: Request, user: User = Depends(contacts_user)
) -> list[dict[str, Any]]:
    """The customer's audit trail, newest first (this view is audited after it is read)."""
    svc = service_of(request)
    entries = await run_store(
        _viewed,
        svc,
        user,
        "audit_api",
        "customer",
        customer_id,
        customer_id,
        lambda: svc.contacts.audit_log(customer_id),
    )
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
    agent: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="optional; if given it must be the signed-in user's username",
    )


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = ""


@router.post("/api/escalations", status_code=201)
async def create_escalation(
    body: TriggerIn, request: Request, user: User = Depends(trigger_user)
) -> dict[str, Any]:
    """Start an escalation by hand (the kiosk's escalation button, staff)."""
    svc = service_of(request)
    trigger = Trigger(body.kind, body.severity, body.evidence)
    decision = await run_store(
        svc.trigger,
        body.call_sid,
        body.customer_id,
        trigger,
        channel=body.channel,
        actor=user.username,
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
async def agent_queue(request: Request, user: User = Depends(agent_user)) -> list[dict[str, Any]]:
    """Waiting for an agent: most severe first, then longest waiting."""
    return [e.to_dict() for e in await run_store(service_of(request).queue)]


@router.get("/api/escalations/stats")
async def queue_stats(
    request: Request, within_s: float = 15.0, user: User = Depends(agent_user)
) -> dict[str, Any]:
    """Share answered by a person within `within_s` seconds, breaches, waiting."""
    return await run_store(service_of(request).stats, within_s)


def _escalation_viewed(
    svc: EscalationService, user: User, what: str, escalation_id: int, read: Callable[[], Any]
) -> Any:
    """`read()` of one escalation's data, then the audit row of the view (404 first if the
    escalation does not exist)."""
    esc = svc.get(escalation_id)
    return _viewed(svc, user, what, "escalation", escalation_id, esc.customer_id, read)


@router.get("/api/escalations/{escalation_id}")
async def get_escalation(
    escalation_id: int, request: Request, user: User = Depends(agent_user)
) -> dict[str, Any]:
    """One escalation (the view is audited)."""
    svc = service_of(request)
    esc = await run_store(
        _escalation_viewed,
        svc,
        user,
        "escalation_api",
        escalation_id,
        lambda: svc.get(escalation_id),
    )
    return esc.to_dict()


@router.get("/api/escalations/{escalation_id}/package")
async def get_package(
    escalation_id: int, request: Request, user: User = Depends(agent_user)
) -> dict[str, Any]:
    """The full hand-off package (for the agent console; the view is audited)."""
    svc = service_of(request)
    return await run_store(
        _escalation_viewed,
        svc,
        user,
        "package_api",
        escalation_id,
        lambda: svc.package(escalation_id),
    )


@router.get("/api/escalations/{escalation_id}/events")
async def get_events(
    escalation_id: int, request: Request, user: User = Depends(agent_user)
) -> list[dict[str, Any]]:
    """The escalation's history, oldest first (the view is audited)."""
    svc = service_of(request)
    events = await run_store(
        _escalation_viewed,
        svc,
        user,
        "events_api",
        escalation_id,
        lambda: svc.events(escalation_id),
    )
    return [{**e.__dict__, "at": e.at.isoformat()} for e in events]


@router.get("/api/escalations/{escalation_id}/outbox")
async def get_outbox(
    escalation_id: int, request: Request, user: User = Depends(agent_user)
) -> list[dict[str, Any]]:
    """What was (or will be) sent for the escalation (the view is audited)."""
    from emergency_contact.outbox import outbox_rows

    svc = service_of(request)
    return await run_store(
        _escalation_viewed,
        svc,
        user,
        "outbox_api",
        escalation_id,
        lambda: outbox_rows(svc.store, escalation_id),
    )


@router.post("/api/escalations/{escalation_id}/accept")
async def accept(
    escalation_id: int,
    request: Request,
    body: AcceptIn = Body(default_factory=AcceptIn),
    user: User = Depends(agent_user),
) -> dict[str, Any]:
    """The signed-in agent takes the item (exclusive: 409 when someone else holds it). An
    `agent` in the body must be the signed-in user (nobody accepts for someone else: 403)."""
    if body.agent is not None and body.agent.strip() != user.username:
        raise HTTPException(
            status_code=403,
            detail=f"signed in as {user.username}: you can only accept for yourself",
        )
    return (
        await run_store(service_of(request).accept_agent, escalation_id, user.username)
    ).to_dict()


@router.post("/api/escalations/{escalation_id}/resolve")
async def resolve(
    escalation_id: int,
    request: Request,
    body: ResolveIn = Body(default_factory=ResolveIn),
    user: User = Depends(agent_user),
) -> dict[str, Any]:
    """Close the escalation; the signed-in user is recorded as who resolved it."""
    svc = service_of(request)
    return (await run_store(svc.resolve, escalation_id, user.username, body.note)).to_dict()


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
    return _xml(await run_store(webhooks.contact_call, service_of(request), item, form, gather))


@router.post("/escalation/twilio/contact-gather")
async def contact_gather(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    item = _item(request)
    n = int(request.query_params.get("n", "0") or 0)
    replay = f"{_base(request)}/escalation/twilio/contact-gather?o={item}&n={n + 1}"
    return _xml(
        await run_store(webhooks.contact_gather, service_of(request), item, form, replay, n)
    )


@router.post("/escalation/twilio/call-status", status_code=204)
async def call_status(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    await run_store(webhooks.call_status, service_of(request), _item(request), form)
    return Response(status_code=204)


@router.post("/escalation/twilio/sms-status", status_code=204)
async def sms_status(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    await run_store(webhooks.sms_status, service_of(request), _item(request), form)
    return Response(status_code=204)


@router.post("/escalation/twilio/sms")
async def sms_inbound(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """A contact's SMS reply (configure the number's messaging webhook to this URL)."""
    return _xml(await run_store(webhooks.sms_reply, service_of(request), form))


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
        await run_store(
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
    esc = await run_store(svc.dial_ended, call_sid, status) if svc and call_sid else None
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
