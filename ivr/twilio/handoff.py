"""What a call session decided to do with the call when it closes the media stream.

The session records a `Handoff` for the CallSid and closes the stream; Twilio then requests the
`<Connect action>` URL (`/twilio/next`), which pops the decision and answers the next TwiML.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

HandoffKind = Literal["agent", "hangup"]


@dataclass(frozen=True)
class Handoff:
    """`kind` agent: `<Dial>` the configured agent; hangup: say goodbye and hang up."""

    kind: HandoffKind
    reason: str = ""
    say_text: str = ""  # said by Twilio before dialling / hanging up ("" says nothing)
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.kind not in ("agent", "hangup"):
            raise ValueError(f"handoff kind must be 'agent' or 'hangup', not {self.kind!r}")


class HandoffRegistry:
    """In-memory, thread-safe CallSid -> Handoff map; entries older than `max_age_s` are pruned."""

    def __init__(self, max_age_s: float = 3600.0) -> None:
        self._items: dict[str, Handoff] = {}
        self._lock = threading.Lock()
        self._max_age_s = max_age_s

    def set(self, call_sid: str, handoff: Handoff) -> None:
        """Record (or replace) the decision for a call."""
        now = time.time()
        with self._lock:
            stale = [k for k, v in self._items.items() if now - v.created_at > self._max_age_s]
            for key in stale:
                del self._items[key]
            self._items[call_sid] = handoff

    def pop(self, call_sid: str) -> Handoff | None:
        """Take the decision for a call (None if the session recorded none)."""
        with self._lock:
            return self._items.pop(call_sid, None)

    def peek(self, call_sid: str) -> Handoff | None:
        """The decision for a call, left in place."""
        with self._lock:
            return self._items.get(call_sid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
