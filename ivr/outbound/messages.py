"""What outbound calls say outside the dialog: the answering-machine message (Twilio `<Say>`)
and the reminder text message. Only the service's name and a number to call back go on a
machine: never the customer's name or anything about their account."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from twilio.twiml.voice_response import VoiceResponse

from emergency_contact.messages import SPOKEN_DIGITS, TWILIO_LANGUAGE

MACHINE = {
    "en": (
        "Hello. This is {service}, with a call for this household. There is nothing to worry "
        "about. Please call us back when it suits you, on {number}. Thank you. Goodbye."
    ),
}
MACHINE_NO_NUMBER = {
    "en": "Hello. This is {service}. We will call again later. Thank you. Goodbye.",
}
SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€"}


def spoken_number(number: str) -> str:
    """A phone number read digit by digit in groups ("0 1 6 3 2, 9 6 0...")."""
    digits = [SPOKEN_DIGITS.get(d, d) for d in number if d.isdigit()]
    groups = [" ".join(digits[i : i + 3]) for i in range(0, len(digits), 3)]
    return ", ".join(groups)


def machine_twiml(service: str, callback_number: str, language: str = "en") -> str:
    """The message left on an answering machine (slowly: said, a pause, the number again)."""
    lang = (language or "en").split("-")[0]
    voice_lang = TWILIO_LANGUAGE.get(lang, "en-GB")
    response = VoiceResponse()
    if callback_number:
        text = MACHINE.get(lang, MACHINE["en"]).format(
            service=service, number=spoken_number(callback_number)
        )
        response.say(text, language=voice_lang)
        response.pause(length=1)
        response.say(f"That number again: {spoken_number(callback_number)}.", language=voice_lang)
    else:
        response.say(
            MACHINE_NO_NUMBER.get(lang, MACHINE_NO_NUMBER["en"]).format(service=service),
            language=voice_lang,
        )
    response.hangup()
    return str(response)


def hangup_twiml() -> str:
    """Hang up at once (a call that is no longer wanted)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def money(amount: Decimal, currency: str) -> str:
    """An amount for a text message: "£45.00", "12.50 CHF"."""
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def reminder_sms(
    service: str,
    topic: str,
    *,
    amount: Decimal | None,
    currency: str,
    due: date | None,
    product: str | None,
    callback_number: str,
) -> str:
    """The text message a customer asked for on a reminder call."""
    when = f"{due:%A} {due.day} {due:%B %Y}" if due else "soon"
    if topic == "maturing" and product:
        body = f"{service}: a reminder. Your {product} comes to an end on {when}."
    elif amount is not None:
        amount_text = money(amount, currency)
        body = f"{service}: a reminder. Your next payment of {amount_text} is due on {when}."
    else:
        body = f"{service}: a reminder about your account."
    if callback_number:
        body += f" Questions? Call us on {callback_number}."
    return body
