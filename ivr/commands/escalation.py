"""`ivr escalation worker|list|show|contacts|stats`: run and inspect escalations."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ivr.settings import get_settings

app = typer.Typer(
    help="Emergency-contact escalations: worker and inspection.", no_args_is_help=True
)
console = Console()
log = logging.getLogger(__name__)


def _service(policy: Path | None = None, timing: str = ""):  # noqa: ANN202
    from carestore.db import Store
    from emergency_contact.policy import Policy
    from emergency_contact.service import EscalationConfig, EscalationService

    settings = get_settings()
    store = Store.from_settings(settings, upgrade=True)
    loaded = Policy.load(policy or getattr(settings, "escalation_policy", None) or None)
    if timing:
        loaded = loaded.with_timing(**{k: float(v) for k, v in json.loads(timing).items()})
    config = EscalationConfig(
        base_url=lambda: settings.public_base_url or f"http://{settings.host}:{settings.port}",
        service_name=getattr(settings, "service_name", "") or "the care line",
        agent_number=settings.agent_number,
        supervisor_number=getattr(settings, "supervisor_number", "") or "",
        emergency_number=getattr(settings, "emergency_number", "") or "",
    )
    return settings, EscalationService(store, loaded, config)


def _notifier(settings, from_number: str):  # noqa: ANN001, ANN202
    from emergency_contact.notifier import ConsoleNotifier, TwilioNotifier

    from_number = from_number or getattr(settings, "twilio_from_number", "") or ""
    if settings.twilio_account_sid and settings.twilio_auth_token and from_number:
        return TwilioNotifier(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            from_number,
            api_base_url=settings.twilio_api_base_url,
        )
    console.print("[yellow]no Twilio credentials / from number: DRY RUN (console + store)[/]")
    return ConsoleNotifier()


@app.command()
def worker(
    policy: Path | None = typer.Option(None, help="escalation policy TOML (default: packaged)"),
    from_number: str = typer.Option("", "--from", help="Twilio number to call and text from"),
    once: bool = typer.Option(False, help="one pass, then exit"),
    poll: float = typer.Option(0.5, help="seconds between passes when idle"),
    timing: str = typer.Option("", help='JSON overrides of policy timings, e.g. {"lease_s": 2}'),
    metrics_port: int = typer.Option(
        0, help="serve this worker's GET /metrics on IVR_HOST:PORT (0: none)", min=0, max=65535
    ),
) -> None:
    """Send queued notifications and run escalation deadlines until interrupted (several
    workers may share one PostgreSQL database; on SQLite run one)."""
    from emergency_contact.worker import OutboxWorker

    settings, svc = _service(policy, timing)
    if metrics_port:
        _serve_metrics(settings, svc, metrics_port)
    w = OutboxWorker(svc, _notifier(settings, from_number), poll_s=poll)
    if once:
        done = w.run_once()
        console.print(f"{done} item(s) processed")
        w.stop()
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    w.start()
    console.print(f"outbox worker {w.worker_id} running (Ctrl-C stops)")
    try:
        while not stop.is_set():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    w.stop()


def _serve_metrics(settings, svc, port: int) -> None:  # noqa: ANN001
    """A worker run apart from the app has metrics of its own (notification retries, SLA
    breaches, escalations its deadlines raise): serve them with the app's own /metrics route
    (same bearer token rule) on a small server in a daemon thread."""
    import uvicorn
    from fastapi import FastAPI

    from ivr.metrics import ServiceMetrics
    from ivr.web.metrics_routes import router

    metrics = ServiceMetrics()
    svc.observers.add(metrics)
    api = FastAPI(title="ivr escalation worker", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.settings = settings
    api.state.metrics = metrics
    api.include_router(router)
    config = uvicorn.Config(api, host=settings.host, port=port, log_level="warning")
    threading.Thread(target=uvicorn.Server(config).run, name="metrics", daemon=True).start()
    console.print(f"metrics on http://{settings.host}:{port}/metrics")


@app.command("list")
def list_(waiting: bool = typer.Option(False, help="only the agents' queue")) -> None:
    """Recent escalations (or the agents' queue, most urgent first)."""
    from sqlalchemy import select

    from carestore.escalation_models import EscalationRow

    _, svc = _service()
    if waiting:
        items = svc.queue()
    else:
        with svc.store.read() as session:
            ids = session.scalars(
                select(EscalationRow.id).order_by(EscalationRow.id.desc()).limit(50)
            ).all()
        items = [svc.get(i) for i in ids]
    table = Table("id", "created", "severity", "trigger", "state", "agent", "customer", "call")
    for e in items:
        table.add_row(
            str(e.id),
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.severity,
            e.trigger_kind,
            e.state,
            e.agent_status,
            str(e.customer_id or "-"),
            e.call_sid or "-",
        )
    console.print(table)


@app.command()
def show(escalation_id: int, package: bool = typer.Option(False, help="print the package")) -> None:
    """One escalation: its history, outbox and (with --package) the hand-off package."""
    from emergency_contact.outbox import outbox_rows

    _, svc = _service()
    esc = svc.get(escalation_id)
    console.print_json(json.dumps(esc.to_dict()))
    for e in svc.events(escalation_id):
        console.print(
            f"{e.at:%H:%M:%S.%f}"[:-3], e.kind, e.contact_id or "", json.dumps(e.data or {})
        )
    for row in outbox_rows(svc.store, escalation_id):
        mark = " [DRY RUN]" if row["dry_run"] else ""
        console.print(
            f"outbox {row['key']}: {row['status']} x{row['attempts']}{mark}",
            row["last_error"] or "",
        )
    if package:
        console.print_json(json.dumps(svc.package(escalation_id)))


@app.command()
def contacts(customer_id: int) -> None:
    """A customer's emergency contacts, in order, with their consent."""
    _, svc = _service()
    table = Table("#", "id", "name", "relationship", "phone", "channel", "hours", "consent")
    for c in svc.contacts.list(customer_id, include_inactive=True):
        hours = f"{c.call_from}-{c.call_until}" if c.call_from else "any"
        consent = (
            f"{c.consent_method} by {c.consent_by} {c.consent_at:%Y-%m-%d}"
            if c.has_consent
            else "[red]none[/]"
        )
        table.add_row(
            str(c.position), str(c.id), c.name, c.relationship, c.phone, c.channel, hours, consent
        )
    console.print(table)


@app.command()
def stats(within: float = typer.Option(15.0, help="seconds for 'answered within'")) -> None:
    """Queue figures: share answered by a person within N seconds, SLA breaches, waiting."""
    _, svc = _service()
    console.print_json(json.dumps(svc.stats(within)))
