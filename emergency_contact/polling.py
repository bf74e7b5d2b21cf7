"""A pass of work run in a background thread every `poll_s` seconds, or at once when woken.

Shared by the escalation outbox worker and the outbound-call scheduler: a pass that raises is
logged and tried again on the next, so a store hiccup never stops the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PollingLoop:
    """Calls `run_pass()` in a daemon thread named `name` until `stop()`."""

    def __init__(self, run_pass: Callable[[], object], *, poll_s: float, name: str) -> None:
        self.run_pass = run_pass
        self.poll_s = poll_s
        self.name = name
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """True once `stop()` was asked: a long pass should end early."""
        return self._stop.is_set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception:
                log.exception("%s pass failed (will retry)", self.name)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def start(self) -> None:
        """Start the thread (no effect while it runs)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current pass; waits up to `timeout_s` for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """Run a pass now (or right after the current one)."""
        self._wake.set()
