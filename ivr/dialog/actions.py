"""What the dialog engine asks the call session to do, and what the session tells the engine.

The engine is pure logic: `DialogEngine.start()` and `DialogEngine.handle(UserInput)` return a
list of actions, in order. Every list ends with exactly one of `Listen`, `Transfer` or `Hangup`
(the session plays the `Say`s before it, applies `SetRate` to the `Say`s that follow it, and
stores every `Event`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Say:
    """Speak `text` (already worded and filled in). `key` is the prompt key it came from.

    `interruptible=False` marks a safety notice: the caller's speech must not cut it off
    (no barge-in). `rate_wpm`, when set, is the rate for this prompt only (e.g. a reference
    number read back slowly); otherwise the call's current rate applies.
    """

    key: str
    text: str
    interruptible: bool = True
    rate_wpm: int | None = None


@dataclass(frozen=True)
class Listen:
    """Wait for the caller. Describes what the current state accepts.

    - `phrases`: the recognizer's phrase list (the state's intents plus the global ones, and
      the spoken digits it accepts); `phrase_intents` maps each phrase to its intent ("digits"
      for digit words in a digit-entry state).
    - `free_form`: an open question: decode free speech, not the phrase list.
    - `digits`: a digit-string entry (account number, PIN): keys are collected by the engine
      one by one (`#` ends, `*` corrects); `max_digits` ends the entry by itself.
    - `secret`: what the caller says or types here must not be written to the transcript.
    - `timeout_s`: seconds of silence, counted from the end of the last prompt, before the
      session reports `no_input`; `warn_before_timeout_s` seconds before that it reports
      `timeout_warning` (0 = no warning).
    """

    state: str
    phrases: list[str]
    phrase_intents: dict[str, str]
    free_form: bool = False
    digits: bool = False
    max_digits: int = 0
    timeout_s: float = 10.0
    warn_before_timeout_s: float = 4.0
    secret: bool = False


@dataclass(frozen=True)
class Transfer:
    """Hand the call to a person. `priority` is "normal" or "urgent".

    `customer_id` (when the caller is identified) and `state` (where the caller was) are for
    the agent hand-off.
    """

    reason: str
    priority: str = "normal"
    customer_id: int | None = None
    state: str = ""


@dataclass(frozen=True)
class Hangup:
    """End the call (after the `Say`s before it have been played)."""

    reason: str


@dataclass(frozen=True)
class SetRate:
    """Speak at `wpm` words per minute from now on, for the rest of the call."""

    wpm: int


@dataclass(frozen=True)
class Event:
    """Something to store: `kind` is one of "state", "input", "failure", "customer_identified",
    "identity_failed", "rate_changed", "free_form", "ticket_opened", "ticket_read", "transfer",
    "hangup". `data` is JSON-serialisable and never holds a PIN.
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Action = Say | Listen | Transfer | Hangup | SetRate | Event

InputKind = Literal["speech", "dtmf", "no_input", "no_match", "timeout_warning"]
INPUT_KINDS: tuple[str, ...] = ("speech", "dtmf", "no_input", "no_match", "timeout_warning")


@dataclass(frozen=True)
class UserInput:
    """What the caller did.

    - "speech": `text` is what the recognizer heard; `phrase` the phrase-list entry it matched
      (if any); `intent` may be given when the session already knows it; `confidence` 0..1.
    - "dtmf": `digits` holds one or more keys ("0"-"9", "*", "#"), handled in order.
    - "no_input": the time limit ran out in silence. "no_match": speech was heard but not
      understood (e.g. below the confidence bar). "timeout_warning": the time limit is near.
    """

    kind: InputKind
    text: str = ""
    phrase: str | None = None
    intent: str | None = None
    digits: str = ""
    confidence: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"UserInput kind {self.kind!r} is not one of {INPUT_KINDS}")
        bad = [d for d in self.digits if d not in "0123456789*#"]
        if bad:
            raise ValueError(f"UserInput digits {self.digits!r} hold non-keypad characters {bad}")
