"""Outbound calls: the JSON API for staff, the Twilio webhooks of the calls the service places,
and `setup_outbound` (the service and its scheduler thread, started in the app's lifespan).

JSON API (signed in, `ivr.web.auth.require_role`: 401 without a session, 403 for another role
or, on changes, a missing CSRF token; the signed-in user is the actor of every change):
  POST  /api/outbound/calls                     {"customer_id", "kind", "at"?, "topic"?,
                                                 "ticket"?, "escalation_id"?}   agent, supervisor
  GET   /api/outbound/calls?due=&status=&customer_id=&kind=                       agent, supervisor
  GET   /api/outbound/calls/{id}                the call and every attempt      agent, supervisor
  POST  /api/outbound/calls/{id}/cancel         409 once it is being dialled    agent, supervisor
  GET   /api/outbound/customers/{cid}/plans     plans and preferences (audited) + kiosk_staff
  PUT   /api/outbound/customers/{cid}/plans/{kind} {"opted_in", "weekday"?, "time"?,
                                                 "consent"?}                     + kiosk_staff
  PUT   /api/outbound/customers/{cid}/preferences {"timezone"?, "window"?}       + kiosk_staff
  GET   /api/outbound/surveys?agent=&ticket=&escalation_id=                       supervisor
Bad input is a clear 4xx: unknown customer 404, invalid phone number / time in the past /
no consent / nothing due 422, wrong state 409.
Twilio (signed, `verified_twilio_form`):
  POST /outbound/twilio/answer?a=ATTEMPT   a person: the media stream (the outbound flow);
                                           a machine: a short message, retried later
  POST /outbound/twilio/status?a=ATTEMPT   call status callbacks (no answer, busy, completed...)
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from emergency_contact.contacts import ConsentIn
from ivr.outbound.hours import parse_weekday
from ivr.settings import Settings
from ivr.twilio.signature import settings_of, verified_twilio_form
from ivr.twilio.twiml import stream_twiml
from ivr.web import twilio_routes
from ivr.web.auth import require_role
from ivr.web.auth_users import User, audit_view
from ivr.web.common import run_store

log = logging.getLogger(__name__)
router = APIRouter(tags=["outbound"])

CALL_ROLES = ("agent", "supervisor")
PLAN_ROLES = ("agent", "kiosk_staff", "supervisor")
call_user = require_role(*CALL_ROLES)
plan_user = require_role(*PLAN_ROLES)
survey_user = require_role("supervisor")
Kind = Literal["checkin", "reminder", "survey"]


# ---------------------------------------------------------------------------- wiring
def setup_outbound(app: FastAPI, settings: Settings, deps: Any, *, start: bool | None = None):  # noqa: ANN201
    """Build the outbound service on the app's store and escalation service, hand it to the
    call sessions (`deps.outbound`) and `app.state.outbound`, and start its scheduler thread
    (`IVR_OUTBOUND_ENABLED`). Returns the service."""
    from ivr.outbound.config import OutboundConfig
    from ivr.outbound.service import OutboundService

    def base_url() -> str:
        return settings.public_base_url or f"http://{settings.host}:{settings.port}"

    service = OutboundService(
        deps.store,
        OutboundConfig.from_settings(settings, base_url),
        deps.escalation,
        metrics=getattr(app.state, "metrics", None),
        default_dialect=settings.dialect,
        poll_s=settings.outbound_poll_s,
    )
    deps.outbound = service
    app.state.outbound = service
    if settings.outbound_enabled if start is None else start:
        service.start()
    return service


def stop_outbound(app: FastAPI) -> None:
    """Stop the scheduler thread started by `setup_outbound` (if any)."""
    service = getattr(app.state, "outbound", None)
    if service is not None:
        service.stop()


def outbound_of(request: Request) -> Any:
    """`app.state.outbound` (503 if the app did not set it up)."""
    service = getattr(request.app.state, "outbound", None)
    if service is None:
        raise HTTPException(status_code=503, detail="outbound calls are not set up in this app")
    return service


# ---------------------------------------------------------------------------- API bodies
class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: int
    kind: Kind
    at: datetime | None = Field(default=None, description="ISO 8601 with a zone; default now")
    topic: Literal["payment", "maturing"] | None = None
    ticket: str | None = Field(default=None, max_length=32, description="survey: ticket ref")
    escalation_id: int | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("at needs a timezone (e.g. 2026-03-14T10:30:00+00:00)")
        return value


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opted_in: bool
    weekday: str | int | None = Field(default=None, description="monday .. sunday, or 0 .. 6")
    time: str | None = Field(default=None, description="HH:MM local time")
    consent: ConsentIn | None = None

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str | int | None) -> int | None:
        return None if value is None else parse_weekday(value)


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str | None = Field(default=None, max_length=64)
    window: str | None = Field(default=None, max_length=11, description='"10:00-12:00"; "" clears')


# ---------------------------------------------------------------------------- API
@router.post("/api/outbound/calls", status_code=201)
async def schedule_call(
    body: ScheduleIn, request: Request, user: User = Depends(call_user)
) -> dict[str, Any]:
    """Schedule one call (now, or at `at`)."""
    svc = outbound_of(request)
    call = await run_store(
        svc.schedule,
        body.customer_id,
        body.kind,
        actor=user.username,
        at=body.at,
        topic=body.topic,
        ticket_reference=body.ticket,
        escalation_id=body.escalation_id,
    )
    return call.to_dict()


@router.get("/api/outbound/calls")
async def list_calls(
    request: Request,
    due: bool = False,
    status: str | None = None,
    customer_id: int | None = None,
    kind: Kind | None = None,
    user: User = Depends(call_user),
) -> list[dict[str, Any]]:
    """Outbound calls, soonest due first (`due=true`: only those due now)."""
    from carestore.outbound_models import OUTBOUND_STATUSES
    from carestore.timeutil import utcnow

    svc = outbound_of(request)
    statuses: tuple[str, ...] | None = None
    if status is not None:
        if status not in OUTBOUND_STATUSES:
            raise HTTPException(422, f"status must be one of {', '.join(OUTBOUND_STATUSES)}")
        statuses = (status,)
    if due:
        statuses = ("scheduled",)
    calls = await run_store(
        svc.records.calls,
        status=statuses,
        due_before=utcnow() if due else None,
        customer_id=customer_id,
        kind=kind,
    )
    return [c.to_dict() for c in calls]


@router.get("/api/outbound/calls/{call_id}")
async def get_call(
    call_id: int, request: Request, user: User = Depends(call_user)
) -> dict[str, Any]:
    """One call with every attempt and its result."""
    svc = outbound_of(request)
    call = await run_store(svc.records.call, call_id)
    if call is None:
        raise HTTPException(status_code=404, detail=f"no outbound call {call_id}")
    attempts = await run_store(svc.records.attempts, call_id)
    return {**call.to_dict(), "attempt_list": [a.to_dict() for a in attempts]}


@router.post("/api/outbound/calls/{call_id}/cancel")
async def cancel_call(call_id: int, request: Request, user: User = Depends(call_user)) -> dict:
    """Cancel a call not placed yet (409 once it is being dialled or is over)."""
    svc = outbound_of(request)
    call = await run_store(svc.records.call, call_id)
    if call is None:
        raise HTTPException(status_code=404, detail=f"no outbound call {call_id}")
    if call.status != "scheduled":
        raise HTTPException(status_code=409, detail=f"outbound call {call_id} is {call.status}")
    return (await run_store(svc.cancel, call_id, user.username)).to_dict()


def _plans_viewed(svc: Any, user: User, customer_id: int) -> dict[str, Any]:
    if svc.store.get_customer(customer_id) is None:
        from carestore.errors import NotFound

        raise NotFound(f"no customer with id {customer_id}")
    plans = [p.to_dict() for p in svc.records.plans(customer_id)]
    prefs = svc.records.preferences(customer_id)
    audit_view(svc.store, user, "outbound_plans_api", "customer", customer_id, customer_id)
    return {
        "customer_id": customer_id,
        "plans": plans,
        "preferences": prefs.__dict__ if prefs is not None else None,
        "quiet_hours": str(svc.config.quiet) if svc.config.quiet else None,
    }


@router.get("/api/outbound/customers/{customer_id}/plans")
async def get_plans(customer_id: int, request: Request, user: User = Depends(plan_user)) -> dict:
    """The customer's plans (with consent) and calling preferences (the view is audited)."""
    return await run_store(_plans_viewed, outbound_of(request), user, customer_id)


@router.put("/api/outbound/customers/{customer_id}/plans/{kind}")
async def put_plan(
    customer_id: int, kind: Kind, body: PlanIn, request: Request, user: User = Depends(plan_user)
) -> dict[str, Any]:
    """Opt in (with a consent on record) or out of a kind of call; a weekly check-in slot."""
    from ivr.outbound.plans import set_plan

    svc = outbound_of(request)
    plan = await run_store(
        set_plan,
        svc.store,
        customer_id,
        kind,
        opted_in=body.opted_in,
        actor=user.username,
        weekday=body.weekday,  # type: ignore[arg-type]  (validated to int)
        time_of_day=body.time,
        consent=body.consent,
    )
    svc.wake()  # the next weekly call is made on the next pass
    return plan.to_dict()


@router.put("/api/outbound/customers/{customer_id}/preferences")
async def put_preferences(
    customer_id: int,
    request: Request,
    body: PreferencesIn = Body(...),
    user: User = Depends(plan_user),
) -> dict[str, Any]:
    """The customer's time zone and preferred window."""
    from ivr.outbound.plans import set_preferences

    svc = outbound_of(request)
    prefs = await run_store(
        set_preferences,
        svc.store,
        customer_id,
        timezone=body.timezone,
        window=body.window,
        actor=user.username,
        default_zone=svc.config.default_zone,
    )
    return prefs.__dict__


@router.get("/api/outbound/surveys")
async def surveys(
    request: Request,
    agent: str | None = None,
    ticket_id: int | None = None,
    escalation_id: int | None = None,
    user: User = Depends(survey_user),
) -> list[dict[str, Any]]:
    """Satisfaction answers, by agent, ticket or escalation."""
    svc = outbound_of(request)
    found = await run_store(
        svc.records.survey_responses, ticket_id=ticket_id, escalation_id=escalation_id, agent=agent
    )
    return [s.to_dict() for s in found]


# ---------------------------------------------------------------------------- Twilio
def _attempt(request: Request) -> int:
    try:
        return int(request.query_params.get("a", ""))
    except ValueError:
        raise HTTPException(status_code=400, detail="a (attempt) is missing") from None


def _xml(twiml: str) -> Response:
    return Response(content=twiml, media_type="application/xml")


@router.post("/outbound/twilio/answer")
async def answer(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """The outbound call was answered (answering-machine detection has decided): a person gets
    the media stream into the outbound flow; a machine a short message without personal
    details; a call we no longer wait for is hung up."""
    from ivr.outbound.messages import hangup_twiml, machine_twiml

    svc = outbound_of(request)
    settings = settings_of(request)
    attempt_id = _attempt(request)
    decision = await run_store(svc.on_answer, attempt_id, form)
    call_sid = form.get("CallSid", "")
    log.info("outbound attempt %s (%s): %s", attempt_id, call_sid, decision.verdict)
    if decision.verdict == "machine":
        return _xml(machine_twiml(svc.config.service_name, svc.config.callback_number))
    if decision.verdict != "human" or not call_sid:
        return _xml(hangup_twiml())
    base = twilio_routes.public_base(request, settings)
    token = twilio_routes.get_stream_tokens(request.app, settings).issue(
        call_sid, settings.stream_token_ttl_seconds
    )
    extra = {"from": form.get("From", ""), "to": form.get("To", ""), "direction": "outbound"}
    return _xml(
        stream_twiml(
            twilio_routes.websocket_base(base) + twilio_routes.MEDIA_PATH,
            token,
            base + twilio_routes.NEXT_PATH,
            extra,
        )
    )


@router.post("/outbound/twilio/status", status_code=204)
async def status(
    request: Request, form: dict[str, str] = Depends(verified_twilio_form)
) -> Response:
    """A status callback of an outbound call: stored, and the call moves on (retry later,
    unanswered, finished)."""
    svc = outbound_of(request)
    await run_store(svc.on_status, _attempt(request), form)
    call_sid = form.get("CallSid", "")
    if call_sid:
        try:
            await run_store(
                svc.store.record_status_callback, call_sid, form.get("CallStatus", ""), form
            )
        except HTTPException:
            log.warning("outbound status of %s not kept", call_sid)
    return Response(status_code=204)
