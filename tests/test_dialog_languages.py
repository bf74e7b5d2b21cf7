"""Amounts and dates in every shipped language: the wording (`ivr.dialog.spoken`) and a caller
asking for the balance and next payment through the real inbound flow and each pack's prompts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from ivr.dialog.actions import Action, Say, UserInput
from ivr.dialog.backend import AccountSummary, CustomerInfo, InMemoryBackend
from ivr.dialog.engine import DialogEngine
from ivr.dialog.prompts import load_prompts
from ivr.dialog.spoken import amount_words, date_words, language_family, number_words
from ivr.flows import load_bundle, prompts_path
from ivr.flows.packs import language_pack

TODAY = date(2025, 3, 1)
PHONE = "+447700900123"
EN = load_prompts(prompts_path("en")).currencies
KO = language_pack("ko").prompts.currencies
CMN = language_pack("cmn").prompts.currencies
YUE = language_pack("yue").prompts.currencies
LATIN = re.compile(r"[A-Za-z]")
ENGLISH_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


# ----- the wording ----------------------------------------------------------------------------


def test_english_wording_is_unchanged() -> None:
    gbp = EN["GBP"]
    assert amount_words(Decimal("1234.50"), gbp) == (
        "one thousand two hundred and thirty four pounds and fifty pence"
    )
    assert amount_words(Decimal("-12.05"), gbp, "en") == "minus twelve pounds and five pence"
    assert date_words(date(2025, 3, 14), TODAY) == "Friday the fourteenth of March"
    assert date_words(date(2026, 1, 2), TODAY) == "Friday the second of January twenty twenty six"
    # outbound key words: numbers in digits
    assert amount_words(Decimal("12.99"), gbp, digits=True) == "12 pounds and 99 pence"
    assert date_words(date(2026, 1, 2), TODAY, digits=True) == "Friday the 2nd of January 2026"


@pytest.mark.parametrize("digits", [False, True])
def test_korean_dates_have_no_english_words(digits: bool) -> None:
    for day in (date(2025, 12, 5), date(2025, 3, 14), date(2026, 1, 2)):
        text = date_words(day, TODAY, "ko", digits=digits)
        assert not LATIN.search(text), text
        assert "요일" in text and f"{day.month}월" in text and f"{day.day}일" in text, text
    assert date_words(date(2025, 12, 5), TODAY, "ko") == "12월 5일 금요일"
    assert date_words(date(2026, 1, 2), TODAY, "ko") == "2026년 1월 2일 금요일"


def test_korean_amounts_in_sino_korean_words() -> None:
    assert amount_words(Decimal("12500"), KO["KRW"], "ko") == "만 이천오백 원"
    assert amount_words(Decimal("1250000"), KO["KRW"], "ko") == "백이십오만 원"
    assert amount_words(Decimal("45.50"), KO["GBP"], "ko") == "사십오 파운드 오십 펜스"
    assert amount_words(Decimal("-3"), KO["KRW"], "ko") == "마이너스 삼 원"


@pytest.mark.parametrize("lang", ["cmn", "yue", "zh-CN"])
def test_chinese_amounts_and_dates_never_raise(lang: str) -> None:
    assert language_family(lang) == "zh"
    assert amount_words(Decimal("12500.50"), CMN["CNY"], lang) == "12,500 元 50 分"
    assert amount_words(Decimal("0.05"), CMN["CNY"], lang) == "5 分"
    assert amount_words(Decimal("1234.50"), CMN["GBP"], lang) == "1,234 英镑 50 便士"
    assert date_words(date(2025, 3, 14), TODAY, lang) == "3月14日 星期五"
    assert date_words(date(2026, 1, 2), TODAY, lang) == "2026年1月2日 星期五"
    assert number_words(12500, lang) == "12500"  # num2words has no Chinese: digits


def test_cantonese_pack_has_its_own_currency_words() -> None:
    assert amount_words(Decimal("1250.40"), YUE["HKD"], "cmn") == "1,250 港元 40 仙"
    assert YUE["CNY"] == CMN["CNY"]  # the rest from the Mandarin base


def test_every_shipped_language_words_the_currencies_accounts_hold() -> None:
    for words in (EN, KO, CMN, YUE):
        assert {"GBP", "USD", "EUR", "HKD", "CNY", "KRW"} <= set(words), sorted(words)


@pytest.mark.parametrize("lang", ["fr", "xx", "de-AT", ""])
def test_an_unknown_language_falls_back_to_digits(lang: str) -> None:
    assert amount_words(Decimal("1234.5"), None, lang, currency="EUR") == "1,234.50 EUR"
    assert amount_words(Decimal("-3"), None, lang, currency="EUR") == "-3.00 EUR"
    # with words from its prompts file: digits before them
    unit = {"one": "euro", "many": "euros", "minor_one": "centime", "minor_many": "centimes"}
    assert amount_words(Decimal("1234.05"), unit, lang) == "1,234 euros 5 centimes"
    assert date_words(date(2025, 3, 14), TODAY, lang) == "2025-03-14"
    # a currency worded only in part never raises either
    assert amount_words(Decimal("2.50"), {"many": "x"}, lang) == "2 x 50 x"


# ----- through the real inbound flow ----------------------------------------------------------


def _backend(summary: AccountSummary, language: str, dialect: str) -> InMemoryBackend:
    b = InMemoryBackend()
    b.customers[1] = CustomerInfo(1, "王秀英", phone=PHONE, language=language, dialect=dialect)
    b.accounts[1] = summary
    return b


def _engine(dialect: str, b: InMemoryBackend) -> DialogEngine:
    bundle = load_bundle(dialect=dialect)
    return DialogEngine(
        bundle.flow,
        bundle.prompts,
        b,
        caller_phone=PHONE,
        call_sid="CA-lang",
        lexicon=bundle.lexicon,
        today=lambda: TODAY,
        dialect=dialect,
    )


def _says(reply: list[Action]) -> dict[str, str]:
    return {a.key: a.text for a in reply if isinstance(a, Say)}


def _ask_for_account(eng: DialogEngine, answer: UserInput) -> dict[str, str]:
    eng.start()
    assert eng.state == "confirm_identity"
    eng.handle(UserInput("dtmf", digits="1"))
    assert eng.state == "main_menu"
    said = _says(eng.handle(answer))
    assert eng.state == "account_again", said
    return said


@pytest.mark.parametrize(
    "answer",
    [UserInput("speech", text="余额", confidence=0.9), UserInput("dtmf", digits="1")],
    ids=["says-balance", "presses-1"],
)
@pytest.mark.parametrize("dialect", ["cmn", "cmn-sichuan"])
def test_mandarin_caller_hears_balance_and_next_payment_in_chinese(
    dialect: str, answer: UserInput
) -> None:
    summary = AccountSummary(
        balance=Decimal("12500.50"),
        currency="CNY",
        next_payment_amount=Decimal("1250.00"),
        next_payment_date=date(2025, 3, 14),
        maturing_product="定期存款",
        maturing_date=date(2026, 1, 2),
    )
    said = _ask_for_account(_engine(dialect, _backend(summary, "cmn", dialect)), answer)
    assert said["balance"] == "您的余额是 12,500 元 50 分。"
    assert said["next_payment"] == "您下次付款金额是 1,250 元。付款日期是 3月14日 星期五。"
    assert said["maturing"] == "您的 定期存款 将在 2026年1月2日 星期五 到期。"
    text = " ".join(said.values())
    assert not LATIN.search(text), text  # no English weekday, month or unit


def test_mandarin_caller_with_a_pound_account_hears_chinese_units() -> None:
    summary = AccountSummary(
        balance=Decimal("2418.50"),
        currency="GBP",
        next_payment_amount=Decimal("45"),
        next_payment_date=date(2025, 3, 10),
    )
    said = _ask_for_account(
        _engine("cmn", _backend(summary, "cmn", "cmn")), UserInput("dtmf", digits="1")
    )
    assert said["balance"] == "您的余额是 2,418 英镑 50 便士。"
    assert "45 英镑" in said["next_payment"] and "3月10日 星期一" in said["next_payment"]


def test_cantonese_caller_hears_balance_in_hong_kong_dollars() -> None:
    summary = AccountSummary(
        balance=Decimal("1250.40"),
        currency="HKD",
        next_payment_amount=Decimal("300"),
        next_payment_date=date(2025, 3, 14),
    )
    eng = _engine("yue", _backend(summary, "cmn", "yue"))
    said = _ask_for_account(eng, UserInput("dtmf", digits="1"))
    assert "1,250 港元 40 仙" in said["balance"]
    assert "300 港元" in said["next_payment"] and "3月14日 星期五" in said["next_payment"]


@pytest.mark.parametrize(
    "answer",
    [UserInput("speech", text="잔액", confidence=0.9), UserInput("dtmf", digits="1")],
    ids=["says-balance", "presses-1"],
)
def test_korean_caller_hears_balance_and_next_payment_in_korean(answer: UserInput) -> None:
    summary = AccountSummary(
        balance=Decimal("1250000"),
        currency="KRW",
        next_payment_amount=Decimal("12500"),
        next_payment_date=date(2025, 12, 5),
        maturing_product="정기 예금",
        maturing_date=date(2026, 1, 2),
    )
    said = _ask_for_account(_engine("ko", _backend(summary, "ko", "ko")), answer)
    assert said["balance"] == "잔액은 백이십오만 원 입니다."
    assert said["next_payment"] == (
        "다음 납부 금액은 만 이천오백 원 입니다. 납부일은 12월 5일 금요일 입니다."
    )
    assert said["maturing"] == "정기 예금 만기일은 2026년 1월 2일 금요일 입니다."
    text = " ".join(said.values())
    assert _hangul(text) and not LATIN.search(text), text
    assert not any(day in text for day in ENGLISH_DAYS)


def test_caller_switching_to_mandarin_hears_the_balance_in_chinese() -> None:
    """The wording follows the language the caller chose mid-call (language menu, key 3)."""

    def loader(dialect: str):  # noqa: ANN202
        lp = language_pack(dialect)
        return lp.prompts, lp.lexicon

    summary = AccountSummary(balance=Decimal("88.20"), currency="CNY")
    base = load_bundle()
    eng = DialogEngine(
        base.flow,
        base.prompts,
        _backend(summary, "en", "en"),
        caller_phone=PHONE,
        lexicon=base.lexicon,
        today=lambda: TODAY,
        dialect_loader=loader,
    )
    eng.start()
    eng.handle(UserInput("dtmf", digits="1"))
    english = _says(eng.handle(UserInput("dtmf", digits="1")))
    assert english["balance"] == "Your balance is eighty eight yuan and twenty fen."
    eng.handle(UserInput("dtmf", digits="2"))  # no, not again
    eng.handle(UserInput("dtmf", digits="8"))  # the language menu
    eng.handle(UserInput("dtmf", digits="3"))  # Mandarin
    assert eng.language == "cmn" and eng.state == "anything_else"
    eng.handle(UserInput("dtmf", digits="1"))  # yes, something else: the main menu
    said = _says(eng.handle(UserInput("dtmf", digits="1")))
    assert said["balance"] == "您的余额是 88 元 20 分。"
