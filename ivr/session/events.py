"""Events a call session emits as it goes (for logs, the CLI simulator, and live consoles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SessionEvent:
    """Something that happened in a call, in call time (seconds of caller audio received)."""

    kind: str  # start | prompt | heard_prompt | heard | dtmf | state | barge_in | no_input ...
    t: float
    data: dict[str, Any] = field(default_factory=dict)
    call_sid: str = ""
    channel: str = ""  # phone | kiosk | outbound (the session's channel)
