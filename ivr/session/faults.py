"""A fault in the dialog layer of a call: what is recorded, and what the caller hears.

`CallSession` runs every dialog entry point (the start, each key, answer, time limit and dialect
switch) under one guard. An exception the dialog did not handle itself is a `dialog_error`:
logged with the call and state, stored as an event (`fault_data`), and the caller hears the
`step_failed` apology and goes to a person with the reason "dialog_error", as if they had asked
for one. If even that fails, `FALLBACK_SAY` is what Twilio says before it dials a person.
"""

from __future__ import annotations

DIALOG_ERROR = "dialog_error"  # the event, the session event and the transfer reason
APOLOGY_KEYS = ("step_failed", "transfer_person")  # said in the caller's wording, in order
MAX_ERROR_CHARS = 500
# said by Twilio itself (English only) when our own speech cannot be produced
FALLBACK_SAY = "I am sorry. Something went wrong on our side. I am putting you through to a person."


class DialogFault(Exception):
    """An exception raised by the dialog, carried to the session's guard with where it came from
    (used where the guard is further up than the dialog call, e.g. in recognition)."""

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__(f"{where}: {type(error).__name__}: {error}")
        self.where = where
        self.error = error


def error_text(error: BaseException) -> str:
    """`Type: message`, cut to a size fit for an event row."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def fault_data(where: str, state: str | None, error: BaseException) -> dict[str, object]:
    """The `dialog_error` event's data: where the dialog was entered (start, dtmf, speech,
    no_input, ...), the state it was in, the exception's type and `Type: message`."""
    return {
        "where": where,
        "state": state,
        "type": type(error).__name__,
        "error": error_text(error),
    }
