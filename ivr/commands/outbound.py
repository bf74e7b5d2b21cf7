"""`ivr outbound schedule|list|run-due|show|cancel|plan|prefs`: the calls the service places
(weekly check-ins, reminders, satisfaction call-backs)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from carestore.errors import StoreError
from ivr.settings import get_settings

app = typer.Typer(
    help="Outbound calls: weekly check-ins, reminders, satisfaction call-backs.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
KINDS = ("checkin", "reminder", "survey")


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


def _service(with_escalation: bool = True):  # noqa: ANN202
    """(settings, OutboundService) on the configured database (migrated)."""
    from ivr.outbound.config import OutboundConfig
    from ivr.outbound.service import OutboundService

    settings = get_settings()
    if with_escalation:
        from ivr.commands.escalation import _service as escalation_service

        _, escalation = escalation_service()
        store = escalation.store
    else:
        from carestore.db import Store

        escalation, store = None, Store.from_settings(settings, upgrade=True)
    try:
        config = OutboundConfig.from_settings(settings)
    except ValueError as exc:
        _fail(f"outbound settings: {exc}")
    service = OutboundService(store, config, escalation, default_dialect=settings.dialect)
    return settings, service


def _customer_zone(service: Any, customer_id: int) -> Any:
    from ivr.outbound.hours import check_zone

    prefs = service.records.preferences(customer_id)
    return check_zone(prefs.timezone if prefs is not None else service.config.default_zone)


def parse_at(text: str, zone: Any, now: datetime) -> datetime:
    """`--at`: ISO 8601 (a time without a zone is the customer's local time), or HH:MM today
    in the customer's zone. ValueError saying what is wrong."""
    text = text.strip()
    try:
        if len(text) == 5 and text[2] == ":":
            from ivr.outbound.hours import parse_hhmm

            return datetime.combine(now.astimezone(zone).date(), parse_hhmm(text), tzinfo=zone)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--at {text!r}: write an ISO time (2026-03-14T10:30, zone optional) or HH:MM"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def _local(when: datetime | None, zone: Any) -> str:
    return when.astimezone(zone).strftime("%a %d %b %H:%M %Z") if when else "-"


@app.command()
def schedule(
    customer: int = typer.Option(..., "--customer", help="customer id"),
    kind: str = typer.Option(..., "--kind", help="checkin | reminder | survey"),
    at: str = typer.Option("", "--at", help="when: ISO time, or HH:MM today (customer's zone)"),
    weekly: tuple[str, str] | None = typer.Option(  # noqa: UP007 (typer reads the hint)
        None, "--weekly", help="a weekly check-in: DAY HH:MM (e.g. monday 10:30)"
    ),
    consent_by: str = typer.Option("", help="who agreed to the calls (needed to opt in)"),
    consent_method: str = typer.Option("phone", help="phone | kiosk | staff | written"),
    topic: str = typer.Option("", help="reminder: payment | maturing (default: what is due)"),
    ticket: str = typer.Option("", help="survey: the ticket reference it asks about"),
    escalation: int = typer.Option(0, help="survey: the escalation id it asks about"),
    actor: str = typer.Option("cli", help="who is scheduling (kept in the audit log)"),
    as_json: bool = typer.Option(False, "--json", help="print the call as JSON"),
) -> None:
    """Schedule a call now, at a time, or (check-in) every week at a day and time."""
    from carestore.timeutil import utcnow
    from emergency_contact.contacts import ConsentIn
    from ivr.outbound.hours import parse_weekday
    from ivr.outbound.plans import set_plan

    if kind not in KINDS:
        _fail(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    _, service = _service()
    now = utcnow()
    try:
        zone = _customer_zone(service, customer)
        if weekly is not None:
            if kind != "checkin":
                _fail("--weekly is for check-in calls (--kind checkin)")
            if at:
                _fail("give either --at or --weekly, not both")
            day = parse_weekday(weekly[0])
            consent = ConsentIn(given_by=consent_by, method=consent_method) if consent_by else None
            plan = set_plan(
                service.store,
                customer,
                "checkin",
                opted_in=True,
                actor=actor,
                weekday=day,
                time_of_day=weekly[1],
                consent=consent,
            )
            service.scheduler.generate(now)
            upcoming = service.records.calls(status=("scheduled",), customer_id=customer, kind=kind)
            nxt = next((c for c in upcoming if c.plan_id == plan.id), None)
            console.print(
                f"weekly check-in for customer {customer}: {weekly[0]} at {plan.time_of_day} "
                f"({zone.key}); next call {_local(nxt.due_at if nxt else None, zone)}"
            )
            if as_json and nxt is not None:
                console.print_json(json.dumps(nxt.to_dict()))
            return
        if kind == "checkin" and consent_by:
            set_plan(
                service.store,
                customer,
                "checkin",
                opted_in=True,
                actor=actor,
                consent=ConsentIn(given_by=consent_by, method=consent_method),
            )
        when = parse_at(at, zone, now) if at else None
        call = service.schedule(
            customer,
            kind,
            actor=actor,
            at=when,
            topic=topic or None,
            ticket_reference=ticket or None,
            escalation_id=escalation or None,
        )
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(call.to_dict()))
        return
    moved = f" (moved: {call.deferred_reason})" if call.deferred_count else ""
    console.print(
        f"outbound call {call.id}: {call.kind} for customer {call.customer_id}, due "
        f"{_local(call.due_at, zone)}{moved}"
    )


@app.command("list")
def list_(
    due: bool = typer.Option(False, "--due", help="only calls due now"),
    show_all: bool = typer.Option(False, "--all", help="finished calls too"),
    customer: int = typer.Option(0, "--customer", help="one customer's calls"),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table"),
) -> None:
    """Outbound calls, soonest due first (waiting and in progress unless --all)."""
    from carestore.timeutil import utcnow

    _, service = _service(with_escalation=False)
    statuses = None if show_all else ("scheduled", "dialing", "in_progress")
    if due:
        statuses = ("scheduled",)
    calls = service.records.calls(
        status=statuses,
        due_before=utcnow() if due else None,
        customer_id=customer or None,
        limit=500,
    )
    if as_json:
        console.print_json(json.dumps([c.to_dict() for c in calls]))
        return
    table = Table("id", "kind", "customer", "status", "due (local)", "tries", "outcome", "note")
    for c in calls:
        zone = _customer_zone(service, c.customer_id)
        retries = (c.result or {}).get("retries") or []
        retry = f"retry: {retries[-1]['why']}" if retries and c.status == "scheduled" else ""
        note = (
            c.deferred_reason or retry or (c.topic or "") or (f"agent {c.agent}" if c.agent else "")
        )
        table.add_row(
            str(c.id),
            c.kind,
            str(c.customer_id),
            c.status,
            _local(c.due_at, zone),
            f"{c.attempts}/{c.max_attempts}",
            c.outcome or "",
            note,
        )
    console.print(table)
    console.print(f"{len(calls)} call(s)")


@app.command("run-due")
def run_due(
    limit: int = typer.Option(50, help="most calls claimed in this pass"),
    send: bool = typer.Option(
        False, help="also run one outbox pass here (without a running server's worker)"
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table"),
) -> None:
    """One scheduler pass: make the calls the plans and records ask for, then claim the due
    calls (row-locked) and hand them to the outbox; calls in quiet hours are moved on."""
    settings, service = _service()
    report = service.tick(limit=limit)
    sent = 0
    if send:
        from emergency_contact.worker import OutboxWorker
        from ivr.commands.escalation import _notifier

        worker = OutboxWorker(service.escalation, _notifier(settings, ""))
        try:
            sent = worker.run_once()
        finally:
            worker.stop()
        service.reconcile()  # dry runs and refused dials are known now
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "generated": report.generated,
                    "reconciled": report.reconciled,
                    "due": [
                        {**d.__dict__, "due_at": d.due_at.isoformat() if d.due_at else None}
                        for d in report.due
                    ],
                    "outbox_processed": sent,
                }
            )
        )
        return
    table = Table("call", "kind", "action", "attempt", "detail")
    for d in report.due:
        table.add_row(str(d.call_id), d.kind, d.action, str(d.attempt or ""), d.detail)
    console.print(table)
    console.print(
        f"{report.generated} call(s) made from plans and records, {report.reconciled} "
        f"reconciled, {report.queued} handed to the outbox, {report.deferred} moved out of "
        f"quiet hours" + (f", {sent} outbox item(s) processed" if send else "")
    )


@app.command()
def show(call_id: int) -> None:
    """One call with every attempt, its result, and why it was tried again."""
    _, service = _service(with_escalation=False)
    call = service.records.call(call_id)
    if call is None:
        _fail(f"no outbound call {call_id}")
    console.print_json(json.dumps(call.to_dict()))
    zone = _customer_zone(service, call.customer_id)
    for a in service.records.attempts(call_id):
        detail = a.detail or {}
        console.print(
            f"attempt {a.number}: {a.result}"
            + (f" ({a.outcome})" if a.outcome else "")
            + (f" answered by {a.answered_by}" if a.answered_by else "")
            + f" at {a.started_at:%Y-%m-%d %H:%M:%S}"
            + (f": {detail['why']}" if detail.get("why") else "")
            + (
                f"; retry at {_local(datetime.fromisoformat(detail['retry_at']), zone)}"
                if detail.get("retry_at")
                else ""
            )
        )
    if call.status == "scheduled" and call.attempts:
        console.print(f"next attempt {_local(call.due_at, zone)}")


@app.command()
def cancel(call_id: int, actor: str = typer.Option("cli", help="who cancels")) -> None:
    """Cancel a call that has not been placed yet."""
    _, service = _service(with_escalation=False)
    try:
        call = service.cancel(call_id, actor)
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"outbound call {call.id} cancelled")


@app.command()
def plan(
    customer: int = typer.Option(..., "--customer", help="customer id"),
    kind: str = typer.Option(..., "--kind", help="checkin | reminder | survey"),
    opt_in: bool = typer.Option(..., "--opt-in/--opt-out", help="agree to, or stop, these calls"),
    consent_by: str = typer.Option("", help="who agreed (needed to opt in)"),
    consent_method: str = typer.Option("phone", help="phone | kiosk | staff | written"),
    at_time: str = typer.Option("", "--time", help="reminders: local HH:MM of the call"),
    actor: str = typer.Option("cli", help="who records it (audit log)"),
) -> None:
    """Opt a customer in (with the consent on record) or out of a kind of call."""
    from emergency_contact.contacts import ConsentIn
    from ivr.outbound.plans import set_plan

    _, service = _service(with_escalation=False)
    try:
        consent = ConsentIn(given_by=consent_by, method=consent_method) if consent_by else None
        result = set_plan(
            service.store,
            customer,
            kind,
            opted_in=opt_in,
            actor=actor,
            time_of_day=at_time or None,
            consent=consent,
        )
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    console.print_json(json.dumps(result.to_dict()))


@app.command()
def prefs(
    customer: int = typer.Option(..., "--customer", help="customer id"),
    timezone: str = typer.Option("", help="IANA zone, e.g. Europe/London"),
    window: str = typer.Option(None, help='preferred local window "10:00-12:00" ("" clears)'),
    actor: str = typer.Option("cli", help="who records it (audit log)"),
) -> None:
    """A customer's time zone and the window they like to be called in."""
    from ivr.outbound.plans import set_preferences

    _, service = _service(with_escalation=False)
    try:
        result = set_preferences(
            service.store,
            customer,
            timezone=timezone or None,
            window=window,
            actor=actor,
            default_zone=service.config.default_zone,
        )
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    quiet = service.config.quiet
    console.print(
        f"customer {customer}: zone {result.timezone}, preferred "
        f"{result.window_from or '-'}-{result.window_until or '-'}, quiet hours {quiet or 'none'}"
    )


__all__ = ["app", "parse_at"]
