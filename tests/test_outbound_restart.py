"""Outbound calls are never lost nor doubled: a scheduler process that stops between
scheduling and dialling, and an outbox worker SIGKILLed the moment Twilio accepted the call,
still leave exactly one call at the (stand-in) Twilio; two instances sharing PostgreSQL, each
with its scheduler and outbox worker, place every due call exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from outbound_rig import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, day_zone
from sqlalchemy import update
from twilio_standin import TwilioStandIn

from carestore import Store, upgrade
from carestore.outbound import OutboundRecords
from carestore.outbound_models import OutboundPlanRow
from emergency_contact.contacts import ConsentIn
from emergency_contact.notifier import TwilioNotifier
from emergency_contact.outbox import outbox_rows
from emergency_contact.policy import Policy
from emergency_contact.service import EscalationConfig, EscalationService
from emergency_contact.worker import OutboxWorker
from ivr.outbound.config import OutboundConfig
from ivr.outbound.hours import Window
from ivr.outbound.plans import set_plan, set_preferences
from ivr.outbound.service import OutboundService

REPO = Path(__file__).resolve().parents[1]
IVR = REPO / ".venv" / "bin" / "ivr"
BASE = "http://127.0.0.1:9"  # webhooks are not needed here: the dials are what is counted


@pytest.fixture
def standin():
    with TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN) as tw:
        yield tw


def _notifier(tw: TwilioStandIn) -> TwilioNotifier:
    return TwilioNotifier(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=tw.base_url)


def _customer(store: Store, n: int, zone: str) -> tuple[int, str]:
    phone = f"+4477009003{n:02d}"
    cid = store.create_customer(f"Customer {n}", f"5100{n:04d}", phone=phone).id
    set_preferences(store, cid, timezone=zone, actor="test")
    set_plan(
        store,
        cid,
        "checkin",
        opted_in=True,
        actor="staff:test",
        consent=ConsentIn(given_by=f"Customer {n}", method="phone"),
    )
    return cid, phone


def _ivr(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(IVR), *args], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_restart_between_scheduling_and_dialing_places_exactly_one_call(
    tmp_path: Path, standin: TwilioStandIn
) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    store = Store(url)
    zone = day_zone()
    cid, phone = _customer(store, 1, zone)
    env = {
        **os.environ,
        "IVR_DATABASE_URL": url,
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "IVR_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_TWILIO_API_BASE_URL": standin.base_url,
        "IVR_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "IVR_PUBLIC_BASE_URL": BASE,
        "IVR_OUTBOUND_TIMEZONE": zone,
    }
    _ivr(env, "outbound", "schedule", "--customer", str(cid), "--kind", "checkin")
    [call] = OutboundRecords(store).calls(customer_id=cid)

    # a scheduler process claims the due call, hands it to the outbox and is gone before any
    # dial (as a process killed right after its transaction committed)
    first = json.loads(_ivr(env, "outbound", "run-due", "--json").stdout)
    assert [(d["call_id"], d["action"]) for d in first["due"]] == [(call.id, "queued")]
    assert standin.requests == []
    [row] = outbox_rows(store)
    assert row["status"] == "pending" and row["key"] == f"outbound:{call.id}:a1"
    # the restarted scheduler finds nothing more to do for it
    again = json.loads(_ivr(env, "outbound", "run-due", "--json").stdout)
    assert again["due"] == [] and len(outbox_rows(store)) == 1

    # the outbox worker dials, and is SIGKILLed the moment Twilio has accepted the call
    timing = {"lease_s": 1.5}
    cmd = [str(IVR), "escalation", "worker", "--poll", "0.1", "--timing", json.dumps(timing)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed: list[str] = []

    def crash(kind: str, form: dict[str, str]) -> None:
        if kind == "Calls" and form["To"] == phone and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            killed.append(form["To"])

    standin.on_create = crash
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(x.decode(errors="replace") for x in proc.stdout), daemon=True
    )
    reader.start()
    try:
        standin.wait_for(lambda: killed, timeout=90, what="the worker killed mid-dial")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        reader.join(10)
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    assert outbox_rows(store)[0]["status"] == "sending"  # in flight when it died

    # restart: a new worker recovers the lease, asks Twilio, finds the call: no second dial
    policy = Policy.load().with_timing(**timing)
    escalation = EscalationService(store, policy, EscalationConfig(base_url=lambda: BASE))
    worker = OutboxWorker(escalation, _notifier(standin), poll_s=0.05).start()
    try:
        standin.wait_for(
            lambda: outbox_rows(store)[0]["status"] == "sent", timeout=60, what="recovery"
        )
    finally:
        worker.stop()
    [created] = standin.created("Calls")
    assert created.form["To"] == phone and "/outbound/twilio/answer" in created.form["Url"]
    row = outbox_rows(store)[0]
    assert row["provider_sid"] == created.sid and row["attempts"] == 1  # found, not resent
    after = json.loads(_ivr(env, "outbound", "run-due", "--json").stdout)
    assert after["due"] == []
    [attempt] = OutboundRecords(store).attempts(call.id)
    assert attempt.number == 1 and OutboundRecords(store).call(call.id).status == "dialing"
    assert len([r for r in standin.requests if r.kind == "Calls" and r.status == 201]) == 1
    store.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_instances_on_postgres_place_each_call_once(
    db_url: str, standin: TwilioStandIn
) -> None:
    upgrade(db_url)
    stores = [Store(db_url), Store(db_url)]
    zone = day_zone()
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    slot = (local - timedelta(minutes=5)).strftime("%H:%M")
    phones = []
    for n in range(8):
        cid, phone = _customer(stores[0], n, zone)
        phones.append(phone)
        # a weekly check-in agreed last week, whose slot today was five minutes ago
        set_plan(
            stores[0],
            cid,
            "checkin",
            opted_in=True,
            actor="staff:test",
            weekday=local.weekday(),
            time_of_day=slot,
        )
    with stores[0].write() as session:
        session.execute(
            update(OutboundPlanRow).values(updated_at=datetime.now(UTC) - timedelta(days=8))
        )
    config = OutboundConfig(
        base_url=lambda: BASE, quiet=Window.parse("20:00-09:00"), default_zone=zone
    )
    instances = []
    for store in stores:
        escalation = EscalationService(
            store, Policy.load(), EscalationConfig(base_url=lambda: BASE)
        )
        outbound = OutboundService(store, config, escalation)
        worker = OutboxWorker(escalation, _notifier(standin), poll_s=0.05, batch=2)
        instances.append((outbound, worker))
    standin.latency_s = 0.05  # a busy API: both instances are dialling at the same time
    start = threading.Barrier(2)
    queued = [0, 0]
    generated = [0, 0]

    def instance(i: int) -> None:
        outbound, _ = instances[i]
        start.wait()
        for _ in range(20):
            report = outbound.tick(limit=3)
            queued[i] += report.queued
            generated[i] += report.generated
            time.sleep(0.02)

    for _, worker in instances:
        worker.start()
    threads = [threading.Thread(target=instance, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        standin.wait_for(
            lambda: (
                all(r["status"] == "sent" for r in outbox_rows(stores[0]))
                and len(outbox_rows(stores[0])) == 8
            ),
            timeout=60,
            what="every dial sent",
        )
    finally:
        for _, worker in instances:
            worker.stop()
    assert sum(generated) == 8  # each weekly call made once, by one instance or the other
    assert sum(queued) == 8
    dialled = sorted(r.form["To"] for r in standin.created("Calls"))
    assert dialled == sorted(phones)  # each exactly once
    records = OutboundRecords(stores[0])
    calls = records.calls(limit=100)
    assert len(calls) == 8 and all(c.attempts == 1 and c.status == "dialing" for c in calls)
    print("claimed per instance:", queued, "made per instance:", generated, file=sys.stderr)
    for s in stores:
        s.close()
