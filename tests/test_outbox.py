"""The outbox and its worker: idempotency keys, leases, retries with backoff, the real `twilio`
REST client against the local stand-in (429, 500, 400, timeouts), the dry-run notifier, a
worker process killed in the middle of a send (resumed without a duplicate), and two workers
sharing PostgreSQL (each notification sent exactly once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from escalation_fixtures import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    add_customer_with_contacts,
    make_service,
)
from twilio_standin import TwilioStandIn

from carestore import Store, upgrade
from emergency_contact.contacts import ConsentIn, ContactIn
from emergency_contact.notifier import (
    ConsoleNotifier,
    OutboundItem,
    SendError,
    SendResult,
    TwilioNotifier,
)
from emergency_contact.outbox import Outbox, backoff_s, enqueue, outbox_rows
from emergency_contact.policy import OutboxTiming, Policy
from emergency_contact.records import Trigger
from emergency_contact.worker import OutboxWorker

REPO = Path(__file__).resolve().parents[1]
IVR = REPO / ".venv" / "bin" / "ivr"
C1, C2, C3 = "+441632960011", "+441632960012", "+441632960013"


@pytest.fixture
def standin():
    with TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN) as tw:
        yield tw


def _notifier(tw: TwilioStandIn, timeout_s: float = 5.0) -> TwilioNotifier:
    return TwilioNotifier(
        ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=tw.base_url, timeout_s=timeout_s
    )


def _item(channel: str = "call", to: str = C1) -> OutboundItem:
    payload = {"url": "http://127.0.0.1:9/twiml", "status_callback": "http://127.0.0.1:9/s"}
    if channel == "sms":
        payload = {"body": "hello"}
    return OutboundItem(1, "k1", "contact_" + channel, channel, to, payload, 1)


def test_enqueue_is_idempotent_and_claims_are_leases(store: Store) -> None:
    timing = OutboxTiming(max_attempts=3, retry_base_s=0.01, retry_max_s=0.05, lease_s=60)
    with store.write() as session:
        assert enqueue(
            session, key="a", kind="contact_call", channel="call", to_number=C1, payload={"n": 1}
        )
        assert not enqueue(
            session, key="a", kind="contact_call", channel="call", to_number=C2, payload={"n": 2}
        )
        assert enqueue(
            session, key="b", kind="contact_sms", channel="sms", to_number=C2, payload={}
        )
    rows = outbox_rows(store)
    assert [(r["key"], r["to"]) for r in rows] == [("a", C1), ("b", C2)]
    one, two = Outbox(store, timing, "w1"), Outbox(store, timing, "w2")
    got1 = one.claim(1)
    got2 = two.claim(5)
    assert [c.item.key for c in got1] == ["a"] and [c.item.key for c in got2] == ["b"]
    assert one.claim(5) == [] and two.claim(5) == []  # leased
    sent = SendResult("CA1", "queued")
    assert not two.mark_sent(got1[0].item.id, sent)  # not its lease
    assert one.mark_sent(got1[0].item.id, sent)
    assert two.mark_failed(got2[0].item.id, 1, "500", retryable=True) == "retry"
    time.sleep(0.1)
    again = two.claim(5)
    assert [c.item.attempts for c in again] == [2]
    assert two.mark_failed(again[0].item.id, 2, "400 bad number", retryable=False) == "dead"
    rows = {r["key"]: r for r in outbox_rows(store)}
    assert rows["a"]["status"] == "sent" and rows["a"]["provider_sid"] == "CA1"
    assert rows["b"]["status"] == "dead" and rows["b"]["last_error"] == "400 bad number"
    delays = [backoff_s(n, OutboxTiming(retry_base_s=1, retry_max_s=10)) for n in range(1, 7)]
    assert 1 <= delays[0] <= 1.2 and 2 <= delays[1] <= 2.4 and 8 <= delays[3] <= 9.6
    assert all(d <= 12 for d in delays) and delays[5] >= 10


def test_twilio_client_against_the_standin(standin: TwilioStandIn) -> None:
    notifier = _notifier(standin, timeout_s=1.0)
    result = notifier.send(_item())
    assert result.sid.startswith("CA") and result.status == "queued" and not result.dry_run
    sent = standin.created("Calls")[0].form
    assert sent["To"] == C1 and sent["From"] == FROM_NUMBER
    assert sent["Url"] == "http://127.0.0.1:9/twiml" and sent["MachineDetection"] == "Enable"
    sms = notifier.send(_item("sms", C2))
    assert sms.sid.startswith("SM") and standin.created("Messages")[0].form["Body"] == "hello"
    for status, retryable in ((429, True), (500, True), (503, True), (401, False)):
        standin.fail("Calls", status)
        with pytest.raises(SendError) as err:
            notifier.send(_item())
        assert err.value.retryable is retryable and err.value.status == status
    with pytest.raises(SendError, match="21211") as err:
        notifier.send(_item(to="+4412"))  # Twilio refuses the number: never retried
    assert not err.value.retryable
    standin.slow("Calls", 2.5)
    with pytest.raises(SendError, match="unreachable") as err:
        notifier.send(_item())  # the client times out after 1 s
    assert err.value.retryable
    found = notifier.find_existing(_item(), since=_utc(-60))
    assert found is not None and found.sid == result.sid
    assert notifier.find_existing(_item(), since=_utc(+60)) is None
    with pytest.raises(ValueError, match="auth token"):
        TwilioNotifier(ACCOUNT_SID, "", FROM_NUMBER)


def _utc(offset_s: float):  # noqa: ANN202
    from datetime import timedelta

    from carestore.timeutil import utcnow

    return utcnow() + timedelta(seconds=offset_s)


def test_worker_retries_then_gives_up_and_moves_on(store: Store, standin: TwilioStandIn) -> None:
    policy = Policy.load().with_timing(max_attempts=3, retry_base_s=0.05, answer_wait_s=60)
    svc = make_service(store, policy)
    cid, ids = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "A", "relationship": "daughter", "phone": C1},
            {"name": "B", "relationship": "son", "phone": C2},
        ],
    )
    standin.fail("Calls", 500, times=3)  # every attempt for the first contact fails
    worker = OutboxWorker(svc, _notifier(standin), poll_s=0.05).start()
    try:
        d = svc.trigger(None, cid, Trigger("kiosk_button"), actor="staff")
        standin.wait_for(lambda: standin.created("Calls"), timeout=30, what="a created call")
    finally:
        worker.stop()
    calls = [(r.form["To"], r.status) for r in standin.requests if r.kind == "Calls"]
    assert calls == [(C1, 500), (C1, 500), (C1, 500), (C2, 201)]
    rows = outbox_rows(store, d.escalation_id)
    assert [(r["to"], r["status"], r["attempts"]) for r in rows] == [
        (C1, "dead", 3),
        (C2, "sent", 1),
    ]
    events = svc.events(d.escalation_id)
    kinds = [e.kind for e in events]
    assert kinds.count("send_retry") == 2 and kinds.count("notification_failed") == 1
    ended = next(e for e in events if e.kind == "attempt_ended")
    assert ended.contact_id == ids[0] and ended.data["why"] == "could not be sent"


def test_without_credentials_notifications_are_dry_runs(store: Store, capsys) -> None:  # noqa: ANN001
    svc = make_service(store)
    cid, _ = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "B", "relationship": "son", "phone": C2, "channel": "both"},
        ],
    )
    d = svc.trigger(None, cid, Trigger("help_request"))
    worker = OutboxWorker(svc, ConsoleNotifier(), poll_s=0.05)
    assert worker.run_once() == 2
    worker.stop()
    rows = outbox_rows(store, d.escalation_id)
    assert [(r["channel"], r["status"], r["dry_run"]) for r in rows] == [
        ("call", "sent", True),
        ("sms", "sent", True),
    ]
    out = capsys.readouterr().out
    assert out.count("[DRY RUN - NOT SENT]") == 2 and "Mrs Edith Harper" in out
    body = rows[1]["sent"]["body"]  # the store keeps what would have gone out, link masked
    assert "Mrs Edith Harper" in body and body.endswith("/handoff/•••")
    assert "/escalation/twilio/contact-call" in rows[0]["sent"]["url"]


def test_killed_worker_resumes_without_duplicates(tmp_path: Path, standin: TwilioStandIn) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    store = Store(url)
    timing = {"lease_s": 1.5, "answer_wait_s": 2.0, "rounds": 1}
    policy = Policy.load().with_timing(**timing)
    svc = make_service(store, policy)
    cid, ids = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "A", "relationship": "daughter", "phone": C1},
            {"name": "B", "relationship": "son", "phone": C2},
            {"name": "C", "relationship": "neighbour", "phone": C3},
        ],
    )
    env = {
        **os.environ,
        "IVR_DATABASE_URL": url,
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "IVR_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_TWILIO_API_BASE_URL": standin.base_url,
        "IVR_PUBLIC_BASE_URL": "http://127.0.0.1:9",
    }
    cmd = [
        str(IVR),
        "escalation",
        "worker",
        "--from",
        FROM_NUMBER,
        "--poll",
        "0.1",
        "--timing",
        json.dumps(timing),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed: list[str] = []

    def crash(kind: str, form: dict[str, str]) -> None:
        # Twilio has the second contact's call; the worker dies before hearing the answer
        if kind == "Calls" and form["To"] == C2 and proc.poll() is None:
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
        standin.wait_for(lambda: any("running" in x for x in lines), timeout=60, what="worker up")
        d = svc.trigger(None, cid, Trigger("kiosk_button"), actor="staff")
        standin.wait_for(lambda: killed, timeout=60, what="the worker to be killed mid-send")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        reader.join(10)
    output = "".join(lines)
    assert proc.returncode == -signal.SIGKILL, output
    rows = {r["to"]: r for r in outbox_rows(store, d.escalation_id)}
    assert rows[C1]["status"] == "sent", (rows, output)
    assert rows[C2]["status"] == "sending"  # in flight when the worker died

    restarted = OutboxWorker(make_service(store, policy), _notifier(standin), poll_s=0.05)
    restarted.start()
    try:
        standin.wait_for(
            lambda: svc.get(d.escalation_id).state == "supervisor",
            timeout=60,
            what="every contact tried",
        )
    finally:
        restarted.stop()
    created = [r.form["To"] for r in standin.created("Calls")]
    assert created == [C1, C2, C3], created  # each contact called exactly once, in order
    rows = {r["to"]: r for r in outbox_rows(store, d.escalation_id)}
    assert all(r["status"] == "sent" for r in rows.values())
    assert rows[C2]["provider_sid"] == standin.created("Calls")[1].sid  # found, not resent
    assert rows[C2]["attempts"] == 1
    store.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_instances_on_postgres_send_each_notification_once(
    db_url: str, standin: TwilioStandIn
) -> None:
    upgrade(db_url)
    stores = [Store(db_url), Store(db_url)]
    services = [make_service(s) for s in stores]
    phones = []
    for i in range(8):
        customer = stores[0].create_customer(f"Customer {i}", f"5000{i:04d}")
        phone = f"+4416329601{i:02d}"
        phones.append(phone)
        services[0].contacts.add(
            customer.id,
            ContactIn(
                name=f"Contact {i}",
                relationship="son",
                phone=phone,
                channel="both",
                consent=ConsentIn(given_by="them", method="phone"),
            ),
            "staff",
        )
        services[0].trigger(None, customer.id, Trigger("kiosk_button"), actor="staff")
    assert len(outbox_rows(stores[0])) == 16
    standin.latency_s = 0.05  # a busy API: both instances are sending at the same time
    workers = [OutboxWorker(svc, _notifier(standin), poll_s=0.05, batch=2) for svc in services]
    for w in workers:
        w.start()
    try:
        standin.wait_for(
            lambda: all(r["status"] == "sent" for r in outbox_rows(stores[0])),
            timeout=60,
            what="every notification sent",
        )
    finally:
        for w in workers:
            w.stop()
    calls = sorted(r.form["To"] for r in standin.created("Calls"))
    texts = sorted(r.form["To"] for r in standin.created("Messages"))
    assert calls == sorted(phones) and texts == sorted(phones)  # each exactly once
    assert workers[0].sent + workers[1].sent == 16
    assert workers[0].sent > 0 and workers[1].sent > 0, [w.sent for w in workers]
    print("sent per instance:", [w.sent for w in workers], file=sys.stderr)
    for s in stores:
        s.close()
