"""Amounts, dates and reference numbers in plain spoken words, in the call's language.

The one place that words money and dates for callers: the inbound flow's account information
(`ivr.dialog.builtins`) and the outbound flow's reminders and check-in dates
(`ivr.dialog.outbound_steps`, `ivr.outbound.context`) all call `amount_words` and `date_words`.

- English ("en"): in words ("one hundred and twelve pounds and five pence", "Friday the
  fourteenth of March"); with `digits=True` as key words the slow TTS pauses around ("112
  pounds and 5 pence", "Friday the 14th of March"), as outbound calls say them.
- Korean ("ko"): amounts in Sino-Korean words before the unit ("만 이천오백 원"), dates
  "3월 14일 금요일" ("2027년 1월 14일 목요일" in another year).
- Chinese ("cmn", also "zh" and "yue"; the Cantonese pack speaks `cmn` wording): amounts in
  digits grouped by commas ("12,500 元 50 分": the voice reads one number, never digit by
  digit like a reference), dates "3月14日 星期五" ("2027年1月14日 星期四").
- Any other language: digits and ISO dates ("2026-03-14"), which every voice reads; nothing
  here raises for an unknown language.

Currency words (`one`, `many`, `minor_one`, `minor_many`) come from the language's prompts
file (`Prompts.currencies`); without them English says "units", any other language the
amount with its ISO code ("1,234.50 GBP").
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words

_FALLBACK_CURRENCY = {"one": "unit", "many": "units", "minor_one": "cent", "minor_many": "cents"}
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_KO_WEEKDAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_CHINESE = frozenset({"cmn", "zh", "yue"})
_MINUS = {"en": "minus ", "ko": "마이너스 ", "zh": "负 "}


def language_family(lang: str) -> str:
    """How amounts and dates are worded for `lang`: "en", "ko", "zh" or another base code.

    "en-GB" -> "en"; "cmn", "zh", "yue" (and their regional forms) -> "zh".
    """
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    return "zh" if base in _CHINESE else base


def number_words(n: int, lang: str = "en") -> str:
    """A whole number in words, without commas or hyphens ("one thousand two hundred").

    Digits ("1200") for a language num2words cannot word (Chinese, for one): never raises.
    """
    try:
        return num2words(n, lang=lang).replace(",", "").replace("-", " ")
    except NotImplementedError:
        return str(n)


def amount_words(
    amount: Decimal,
    currency_words: dict[str, str] | None = None,
    lang: str = "en",
    *,
    currency: str = "",
    digits: bool = False,
) -> str:
    """An amount of money as the caller hears it in `lang` (see the module docstring).

    `currency_words` has keys one, many, minor_one, minor_many (from the prompts file);
    `currency` is the ISO code, said when a non-English language has no words for it.
    `digits=True` gives English numbers in digits ("12 pounds and 99 pence"). Zero minor
    units are not said; a negative amount starts with "minus" (마이너스, 负, "-").
    """
    family = language_family(lang)
    cents = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    major, minor = divmod(cents, 100)
    words = currency_words
    if words is None and family != "en":
        sign = "-" if amount < 0 and cents else ""
        return f"{sign}{major:,}.{minor:02d} {currency}".rstrip()
    words = words or _FALLBACK_CURRENCY

    def number(n: int) -> str:
        if family == "en":
            return str(n) if digits else number_words(n, "en")
        if family == "ko":
            return number_words(n, "ko")
        return f"{n:,}"  # Chinese, and the fallback for any other language

    def unit(key: str) -> str:  # a pack may word a currency partly: never a KeyError
        return words.get(key) or words.get("many") or currency

    parts: list[str] = []
    if major or not minor:
        parts.append(f"{number(major)} {unit('one' if major == 1 else 'many')}".rstrip())
    if minor:
        minor_unit = unit("minor_one" if minor == 1 else "minor_many")
        parts.append(f"{number(minor)} {minor_unit}".rstrip())
    text = (" and " if family == "en" else " ").join(parts)
    if amount < 0 and cents:
        return _MINUS.get(family, "-") + text
    return text


def date_words(
    day: date, today: date | None = None, lang: str = "en", *, digits: bool = False
) -> str:
    """A date as the caller hears it in `lang`, the year only when it is not this year.

    English "Friday the fourteenth of March" (`digits=True`: "Friday the 14th of March"),
    Korean "3월 14일 금요일", Chinese "3月14日 星期五", any other language "2025-03-14".
    """
    today = today or date.today()
    family = language_family(lang)
    same_year = day.year == today.year
    if family == "ko":
        text = f"{day.month}월 {day.day}일 {_KO_WEEKDAYS[day.weekday()]}"
        return text if same_year else f"{day.year}년 {text}"
    if family == "zh":
        text = f"{day.month}月{day.day}日 {_ZH_WEEKDAYS[day.weekday()]}"
        return text if same_year else f"{day.year}年{text}"
    if family != "en":
        return day.isoformat()
    if digits:
        n = day.day
        suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        ordinal, year = f"{n}{suffix}", str(day.year)
    else:
        ordinal = num2words(day.day, to="ordinal", lang="en").replace("-", " ")
        year = num2words(day.year, to="year", lang="en").replace("-", " ")
    text = f"{_EN_WEEKDAYS[day.weekday()]} the {ordinal} of {_EN_MONTHS[day.month - 1]}"
    return text if same_year else f"{text} {year}"


def digits_spoken(reference: str) -> str:
    """A reference read one character at a time: "400001" -> "4 0 0 0 0 1"."""
    return " ".join(ch for ch in reference if not ch.isspace())
