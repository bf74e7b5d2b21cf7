"""Outbound calls: how fast due calls reach (stand-in) Twilio, and how fast due calls are
claimed into the outbox, on SQLite and PostgreSQL.

    .venv/bin/python bench/outbound.py [--calls 30] [--claims 400] [--pg postgresql://...]

1. Schedule -> the call request at Twilio: `OutboundService.schedule` wakes the scheduler
   loop, which claims the call into the outbox and wakes the outbox worker. Naive baseline in
   the same run: the same loop, never woken, polling every `--naive-poll` seconds.
2. Claiming: `--claims` due calls claimed with `run_due(limit=50)` (one transaction per batch,
   `FOR UPDATE SKIP LOCKED`), against a naive one-call-per-transaction claim (`limit=1`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from twilio_standin import TwilioStandIn  # noqa: E402

from carestore import Store, upgrade  # noqa: E402
from emergency_contact.contacts import ConsentIn  # noqa: E402
from emergency_contact.notifier import TwilioNotifier  # noqa: E402
from emergency_contact.policy import Policy  # noqa: E402
from emergency_contact.service import EscalationConfig, EscalationService  # noqa: E402
from emergency_contact.worker import OutboxWorker  # noqa: E402
from ivr.outbound.config import OutboundConfig  # noqa: E402
from ivr.outbound.plans import set_plan  # noqa: E402
from ivr.outbound.service import OutboundService  # noqa: E402

SID, TOKEN, FROM = "AC" + "3" * 32, "bench-token", "+441632960900"
console = Console()


def _customers(store: Store, n: int, offset: int = 0) -> list[int]:
    ids = []
    for i in range(offset, offset + n):
        cid = store.create_customer(f"C{i}", f"7{i:07d}", phone=f"+447700900{i:03d}").id
        set_plan(
            store,
            cid,
            "checkin",
            opted_in=True,
            actor="bench",
            consent=ConsentIn(given_by=f"C{i}", method="phone"),
        )
        ids.append(cid)
    return ids


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def latency(url: str, calls: int, poll_s: float, woken: bool) -> list[float]:
    """Seconds from `schedule()` to the stand-in receiving the call request."""
    store = Store(url)
    with TwilioStandIn(SID, TOKEN) as tw:
        base = lambda: "http://127.0.0.1:9"  # noqa: E731
        escalation = EscalationService(store, Policy.load(), EscalationConfig(base_url=base))
        service = OutboundService(
            store, OutboundConfig(base_url=base, quiet=None), escalation, poll_s=poll_s
        )
        worker = OutboxWorker(
            escalation,
            TwilioNotifier(SID, TOKEN, FROM, api_base_url=tw.base_url),
            poll_s=poll_s,
        )
        if not woken:
            service.wake = lambda: None  # type: ignore[method-assign]
            escalation.wakers.clear()  # the naive worker polls too
        ids = _customers(store, calls, offset=0 if woken else 100)
        service.start()
        worker.start()
        out = []
        try:
            for cid in track(ids, description="woken" if woken else "naive polling"):
                before = len(tw.created("Calls"))
                t0 = time.monotonic()
                service.schedule(cid, "checkin", actor="bench")
                while len(tw.created("Calls")) == before:
                    time.sleep(0.002)
                out.append(tw.created("Calls")[-1].at - t0)
        finally:
            service.stop()
            worker.stop()
            store.close()
    return out


def claims(url: str, n: int, limit: int, offset: int) -> float:
    """Due calls claimed into the outbox per second."""
    store = Store(url)
    service = OutboundService(store, OutboundConfig(base_url=lambda: "http://x", quiet=None))
    for cid in _customers(store, n, offset):
        service.scheduler.schedule(cid, "checkin", actor="bench")
    t0 = time.perf_counter()
    done = 0
    while True:
        got = service.scheduler.run_due(limit=limit)
        if not got:
            break
        done += len(got)
    elapsed = time.perf_counter() - t0
    store.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="at most 100")
    parser.add_argument("--claims", type=int, default=400, help="at most 400")
    parser.add_argument("--naive-poll", type=float, default=2.0)
    parser.add_argument("--pg", default="", help="a PostgreSQL URL (an empty database)")
    args = parser.parse_args()
    if not (0 < args.calls <= 100 and 0 < args.claims <= 400):
        parser.error("--calls 1..100 and --claims 1..400 (fictional numbers 07700 900xxx)")
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    woken = latency(url, args.calls, 15.0, woken=True)
    naive = latency(url, args.calls, args.naive_poll, woken=False)
    for name, values in (("woken loop", woken), (f"naive {args.naive_poll}s poll", naive)):
        p50, p95 = statistics.median(values) * 1000, _percentile(values, 0.95) * 1000
        console.print(
            f"schedule -> Twilio call request, {name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms"
        )
    dbs = [("SQLite", url)]
    if args.pg:
        upgrade(args.pg)
        dbs.append(("PostgreSQL", args.pg))
    for name, db in dbs:
        batch = claims(db, args.claims, 50, 200)
        single = claims(db, args.claims, 1, 600)
        console.print(
            f"{name}: {batch:.0f} due calls/s claimed into the outbox (batches of 50); "
            f"naive one per transaction {single:.0f}/s"
        )


if __name__ == "__main__":
    main()
