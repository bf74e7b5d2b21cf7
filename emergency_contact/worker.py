"""The outbox worker: runs due deadlines and sends queued notifications, with retries.

`OutboxWorker(service, notifier).run_once()` does one pass; `start()` runs passes in a thread
until `stop()`, woken at once when the service queues work (so a trigger reaches the provider
in well under a second) and otherwise every `poll_s`. Several workers (threads or processes,
any number of app instances on PostgreSQL) may run against one database; on SQLite run one.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from emergency_contact.notifier import Notifier, SendError, SendResult
from emergency_contact.outbox import Claimed, Outbox
from emergency_contact.polling import PollingLoop
from emergency_contact.service import EscalationService

log = logging.getLogger(__name__)


_LINK = re.compile(r"/handoff/[A-Za-z0-9_\-]+")


def redact(payload: dict) -> dict:
    """What was sent, as kept in the store: hand-off link tokens replaced by a mask."""
    return {
        k: _LINK.sub("/handoff/•••", v) if isinstance(v, str) else v for k, v in payload.items()
    }


class OutboxWorker:
    """Sends the outbox of `service.store` through `notifier`."""

    def __init__(
        self,
        service: EscalationService,
        notifier: Notifier,
        *,
        worker_id: str | None = None,
        poll_s: float = 0.5,
        batch: int = 8,
        senders: int = 4,
    ) -> None:
        self.service = service
        self.notifier = notifier
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.outbox = Outbox(service.store, service.policy.outbox, self.worker_id)
        self.batch = batch
        self._pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="outbox-send")
        self._loop = PollingLoop(self.run_once, poll_s=poll_s, name="outbox-worker")
        self.sent = 0
        self.failures = 0
        service.wakers.append(self._loop.wake)

    def run_once(self) -> int:
        """One pass: due deadlines, then every claimable notification. Returns work done."""
        done = 0
        try:
            done += self.service.process_due()
        except Exception:
            log.exception("escalation deadlines failed (will retry)")
        while not self._loop.stopping:
            claimed = self.outbox.claim(self.batch)
            if not claimed:
                break
            list(self._pool.map(self._send, claimed))
            done += len(claimed)
        return done

    def _send(self, claimed: Claimed) -> None:
        item = claimed.item
        sent: dict | None = None
        try:
            if claimed.recovering:
                since = claimed.claimed_at.replace(microsecond=0) - timedelta(seconds=1)
                found = self.notifier.find_existing(item, since)
                if found is not None:
                    log.warning(
                        "outbox %s: interrupted attempt had reached the provider (%s)",
                        item.key,
                        found.sid,
                    )
                    if self.outbox.mark_sent(item.id, found):
                        self.service.sent(item, found)
                    return
            if item.channel == "log":
                log.warning("SUPERVISOR ALERT escalation %s: %s", item.escalation_id, item.payload)
                result = SendResult(f"LOG{item.id}", "logged", dry_run=True)
            else:
                rendered = self.service.render(item)
                result = self.notifier.send(rendered)
                sent = redact(rendered.payload)
        except SendError as exc:
            self.failures += 1
            outcome = self.outbox.mark_failed(item.id, item.attempts, str(exc), exc.retryable)
            log.warning(
                "outbox %s attempt %s failed (%s): %s", item.key, item.attempts, outcome, exc
            )
            self.service.failed(item, str(exc), outcome)
            if outcome == "retry":
                self._loop.wake()
            return
        except Exception as exc:  # a bug or a store hiccup: retry later, never lose the row
            self.failures += 1
            log.exception("outbox %s: unexpected failure", item.key)
            outcome = self.outbox.mark_failed(item.id, item.attempts, repr(exc), True)
            self.service.failed(item, repr(exc), outcome)
            return
        if self.outbox.mark_sent(item.id, result, sent):
            self.sent += 1
            self.service.sent(item, result)
        else:
            log.error("outbox %s: sent but the lease was lost (another worker took it)", item.key)

    def start(self) -> OutboxWorker:
        """Run in a background thread."""
        self._loop.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current pass (claimed rows finish or are recovered later)."""
        self._loop.stop(timeout_s)
        if self._loop.wake in self.service.wakers:
            self.service.wakers.remove(self._loop.wake)
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        """Run a pass now."""
        self._loop.wake()
