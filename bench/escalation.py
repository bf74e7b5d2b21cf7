"""Escalation speed: from the trigger to the agent's <Dial> and to the first contact's call
request reaching Twilio (the local stand-in), with the naive baseline in the same run.

    .venv/bin/python bench/escalation.py [--n 20] [--db sqlite|postgres-url]

- ours: the outbox worker is woken the moment the trigger commits (and sends in parallel).
- naive: the same worker without the wake-up, polling the outbox every second with a single
  sender, as a plain cron-like job would.
Both run the real code: store (SQLite file by default), `twilio` REST client, HTTP to the stand-in.
The agent side is the time from the trigger to the app answering the signed `/twilio/next`
with the `<Dial>` (the agent's phone starts ringing when Twilio gets it).

Queue statistics: two simulated agents answer the queue in order while escalations arrive
(ring delay 3-12 s, handling 20-60 s, arrivals 2-10 s apart; all times x0.1 to keep the run
short); the share answered by a person within 15 s comes from the service's own stats.
Print only; nothing here is asserted (target: trigger -> ringing under 2 s).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from twilio_standin import TwilioStandIn  # noqa: E402

from carestore import Store, upgrade  # noqa: E402
from emergency_contact.contacts import ConsentIn, ContactIn  # noqa: E402
from emergency_contact.notifier import TwilioNotifier  # noqa: E402
from emergency_contact.policy import Policy  # noqa: E402
from emergency_contact.service import EscalationConfig, EscalationService  # noqa: E402
from emergency_contact.worker import OutboxWorker  # noqa: E402
from ivr.twilio.signature import SIGNATURE_HEADER, sign  # noqa: E402

SID, TOKEN, FROM = "AC" + "2" * 32, "bench-token", "+441632960900"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(mode: str, url: str, n: int, standin: TwilioStandIn) -> tuple[list[float], list[float]]:
    """(trigger -> contact call request, trigger -> agent <Dial>) in seconds for n triggers."""
    from fastapi import FastAPI

    from ivr.settings import Settings
    from ivr.twilio.local_server import LocalServer
    from ivr.web.escalation_routes import router

    store = Store(url)
    svc = EscalationService(store, Policy.load(), EscalationConfig(base_url=lambda: base))
    settings = Settings(twilio_auth_token=TOKEN, agent_number="+441632960999")
    app = FastAPI()
    app.state.settings, app.state.escalation = settings, svc
    app.include_router(router)
    server = LocalServer(app)
    base = server.start()
    settings.public_base_url = base
    notifier = TwilioNotifier(SID, TOKEN, FROM, api_base_url=standin.base_url)
    if mode == "ours":
        worker = OutboxWorker(svc, notifier, poll_s=0.5)
    else:
        worker = OutboxWorker(svc, notifier, poll_s=1.0, senders=1)
        svc.wakers.clear()  # no wake-up: polling only
    worker.start()
    agents = SimulatedAgents(svc).__enter__()
    contact_s, agent_s = [], []
    http = httpx.Client(timeout=30)
    try:
        for i in range(n):
            customer = store.create_customer(
                f"Bench {mode} {i}", f"{7 if mode == 'ours' else 8}{i:07d}"
            )
            phone = f"+4416329604{i:02d}" if mode == "ours" else f"+4416329605{i:02d}"
            svc.contacts.add(
                customer.id,
                ContactIn(
                    name="C",
                    relationship="son",
                    phone=phone,
                    consent=ConsentIn(given_by="C", method="phone"),
                ),
                "bench",
            )
            call_sid = f"CA{mode}{i:06d}"
            store.start_call(call_sid, customer_id=customer.id)
            store.add_segment(call_sid, "caller", "help i've fallen", intent="emergency")
            before = len(standin.requests)
            t0 = time.monotonic()
            svc.on_transfer(call_sid, customer.id, "help", "urgent")
            form = {"CallSid": call_sid, "AccountSid": SID, "CallStatus": "in-progress"}
            r = http.post(
                base + "/twilio/next",
                data=form,
                headers={SIGNATURE_HEADER: sign(TOKEN, base + "/twilio/next", form)},
            )
            assert "<Dial" in r.text, r.text
            agent_s.append(time.monotonic() - t0)
            got = standin.wait_for(
                lambda b=before, p=phone: next(
                    (x for x in standin.requests[b:] if x.form.get("To") == p), None
                ),
                30,
            )
            contact_s.append(got.at - t0)
            time.sleep(random.uniform(0.2, 1.0))  # escalations arrive 2-10 s apart (x0.1)
    finally:
        agents.__exit__()
        worker.stop()
        server.stop()
    store.close()
    return contact_s, agent_s


class SimulatedAgents:
    """Agents taking the queue in order while escalations arrive: each waits a ring delay
    (3-12 s), accepts (409 from a colleague's race is skipped) and is then busy handling the
    call (20-60 s); times are multiplied by `scale` to keep the run short."""

    def __init__(self, svc: EscalationService, count: int = 2, scale: float = 0.1) -> None:
        self.svc, self.scale = svc, scale
        self.stop = threading.Event()
        self.rng = random.Random(7)
        self.threads = [
            threading.Thread(target=self._agent, args=(f"agent{k}",)) for k in range(count)
        ]

    def _agent(self, name: str) -> None:
        from emergency_contact.service import Conflict

        while not self.stop.is_set():
            waiting = self.svc.queue()
            if not waiting:
                time.sleep(0.02)
                continue
            time.sleep(self.rng.uniform(3, 12) * self.scale)
            try:
                self.svc.accept_agent(waiting[0].id, name)
            except Conflict:
                continue
            time.sleep(self.rng.uniform(20, 60) * self.scale)

    def __enter__(self) -> SimulatedAgents:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        deadline = time.monotonic() + 60
        while self.svc.queue() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop.set()
        for t in self.threads:
            t.join()
        s = self.svc.stats(within_s=15 * self.scale)
        share = s["share_answered_within"] or 0.0
        print(
            f"    queue (2 simulated agents, time x{self.scale}): {s['answered']}/"
            f"{s['escalations']} answered by a person, {share:.0%} within 15 s, median "
            f"{(s['median_answer_s'] or 0) / self.scale:.1f} s, SLA breaches {s['sla_breaches']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TwilioStandIn(SID, TOKEN) as standin:
        for mode in ("naive", "ours"):
            url = args.db or f"sqlite:///{Path(tmp) / (mode + '.db')}"
            upgrade(url)
            contact, agent = run(mode, url, args.n, standin)
            p50 = statistics.median(contact) * 1000
            print(
                f"{mode:>5}: trigger -> contact call request p50 {p50:6.0f} ms"
                f"  p95 {pct(contact, 0.95) * 1000:6.0f} ms  max {max(contact) * 1000:6.0f} ms;"
                f"  trigger -> agent <Dial> p50 {statistics.median(agent) * 1000:5.0f} ms"
                f"  p95 {pct(agent, 0.95) * 1000:5.0f} ms;"
                f"  under 2 s: {sum(c < 2 for c in contact)}/{len(contact)}"
            )


if __name__ == "__main__":
    main()
