"""Backend steps of the outbound flow (`ivr/flows/outbound.yaml`): calls the service places.

The call session fills the dialog's variables before the flow starts (`outbound_kind`, `name`,
`service`, `reminder_topic`, `next_call`) and sets the customer as pending, so the flow only
asks "Am I speaking with ...?" and never identifies the caller. What the person answers is
emitted as `Event("outbound_answer", {"name", "value"})`: the outbound service reads those
events from the store when the call ends.

Registered in `ivr.dialog.builtins.STEPS` (and the variables in `KNOWN_VARIABLES`).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ivr.dialog.actions import Event
from ivr.dialog.spoken import number_words

if TYPE_CHECKING:
    from ivr.dialog.builtins import ActionContext

ANSWER_EVENT = "outbound_answer"
KINDS = ("checkin", "reminder", "survey")


_KO_WEEKDAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def amount_key_words(amount: Decimal, words: dict[str, str] | None, language: str = "en") -> str:
    """An amount written so the slow TTS reads it as key words, with pauses around each
    number ("12 pounds and 99 pence"); espeak-ng reads "£12.99" as "pound twelve point...".

    Korean ("ko") is in Sino-Korean words before the unit ("만 이천오백 원"), as the inbound
    flow says amounts; Chinese ("cmn") in digits grouped by commas ("12,500 元 50 分": the
    voice reads them as one number, never digit by digit like a reference).
    """
    words = words or {"one": "unit", "many": "units", "minor_one": "cent", "minor_many": "cents"}
    cents = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    major, minor = divmod(cents, 100)

    def number(n: int) -> str:
        if language == "ko":
            return number_words(n, "ko")
        return f"{n:,}" if language == "cmn" else str(n)

    parts = []
    if major or not minor:
        parts.append(f"{number(major)} {words['one' if major == 1 else 'many']}")
    if minor:
        parts.append(f"{number(minor)} {words['minor_one' if minor == 1 else 'minor_many']}")
    return (" " if language in ("ko", "cmn") else " and ").join(parts)


def date_key_words(day: date, today: date, language: str = "en") -> str:
    """A date the slow TTS reads as a key word ("Friday the 14th of March", the year only
    when it is not this year); Korean "3월 14일 금요일", Chinese "3月14日 星期五"."""
    if language == "ko":
        text = f"{day.month}월 {day.day}일 {_KO_WEEKDAYS[day.weekday()]}"
        return text if day.year == today.year else f"{day.year}년 {text}"
    if language == "cmn":
        text = f"{day.month}月{day.day}日 {_ZH_WEEKDAYS[day.weekday()]}"
        return text if day.year == today.year else f"{day.year}年{text}"
    n = day.day
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    text = f"{day:%A} the {n}{suffix} of {day:%B}"
    return text if day.year == today.year else f"{text} {day.year}"


def outbound_route(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Which part of the flow this call is for (the session set `outbound_kind`)."""
    kind = str(ctx.variables.get("outbound_kind", ""))
    if kind not in KINDS:
        raise RuntimeError(f"outbound call without a known kind: {kind!r}")
    return kind


def load_reminder(ctx: ActionContext, args: dict[str, Any]) -> str:
    """What is due, read from the account now (it may have changed since the call was
    scheduled): `reminder_amount`, `reminder_date` (and `maturing_product`)."""
    if ctx.customer is None:
        return "nothing"
    try:
        summary = ctx.backend.account_summary(ctx.customer.id)
    except LookupError:
        return "nothing"
    today = ctx.today()
    topic = str(ctx.variables.get("reminder_topic", "payment"))
    words = ctx.currency_words(summary.currency)
    v = ctx.variables
    if (
        topic == "payment"
        and summary.next_payment_amount is not None
        and summary.next_payment_date is not None
        and summary.next_payment_date >= today
    ):
        v["reminder_amount"] = amount_key_words(summary.next_payment_amount, words, ctx.language)
        v["reminder_date"] = date_key_words(summary.next_payment_date, today, ctx.language)
        ctx.emit(Event("reminder_read", {"topic": "payment"}))
        return "payment"
    if (
        topic == "maturing"
        and summary.maturing_product
        and summary.maturing_date is not None
        and summary.maturing_date >= today
    ):
        v["maturing_product"] = summary.maturing_product
        v["reminder_date"] = date_key_words(summary.maturing_date, today, ctx.language)
        ctx.emit(Event("reminder_read", {"topic": "maturing"}))
        return "maturing"
    ctx.emit(Event("reminder_read", {"topic": topic, "nothing_due": True}))
    return "nothing"


def record_answer(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Note an answer (`args.name`, `args.value`) for the outbound service."""
    ctx.emit(Event(ANSWER_EVENT, {"name": str(args["name"]), "value": args.get("value")}))
    return "done"


def check_score(ctx: ActionContext, args: dict[str, Any]) -> str:
    """The survey score just entered (`survey_score`): a number from 1 to 5, else invalid."""
    raw = str(ctx.variables.pop("survey_score", ""))
    if raw.isdigit() and 1 <= int(raw) <= 5:
        ctx.emit(Event(ANSWER_EVENT, {"name": "survey_score", "value": int(raw)}))
        return "ok"
    ctx.emit(Event("survey_score_refused", {"entered": raw}))
    return "invalid"


OUTBOUND_STEPS = {
    "outbound_route": (outbound_route, KINDS),
    "load_reminder": (load_reminder, ("payment", "maturing", "nothing")),
    "record_answer": (record_answer, ("done",)),
    "check_score": (check_score, ("ok", "invalid")),
}
OUTBOUND_VARIABLES = frozenset(
    {"service", "next_call", "reminder_amount", "reminder_date", "survey_score"}
)
