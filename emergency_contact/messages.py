"""Plain, slow wording for everyone the escalation speaks to, per language (English, Korean;
other languages fall back to English), and the TwiML that carries it (`twilio` library).

Caller notices are spoken by the call session with its own slow TTS; contact calls are spoken by
Twilio's `<Say>` with pauses, slowly (`<prosody rate>` is not used: `<Pause>` between sentences
and the message repeated is what works on every voice).
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "emergency_services": (
            "If you need an ambulance, the police or the fire service, put the phone down and "
            "dial {number}. That is {spoken_number}. You can also stay on the line: I am getting "
            "a person to help you now."
        ),
        "stay_on_line": "I am staying on the line with you. Help is being arranged.",
        "calm_transfer": "Please stay on the line. I am connecting you to a person now.",
        "contact_call": (
            "Hello. This is {service} calling about your {relationship}, {caller}, who called us "
            "at {time} and {reason}. {agent_note} Press 1 if you can go to {them} or call {them} "
            "now, and we will connect you. Press 2 to hear this message again."
        ),
        "contact_voicemail": (
            "Hello. This is {service}. Please call us back about {caller} as soon as you can. "
            "It is urgent."
        ),
        "contact_accepted": "Thank you. We will tell {caller} that you are coming. Goodbye.",
        "contact_accepted_dial": "Thank you. Connecting you to {caller} now.",
        "already_accepted": "Thank you. Someone else is already helping {caller}. Goodbye.",
        "no_choice": "I did not hear a key. Goodbye, we will try again shortly.",
        "confirm_call": (
            "Hello. This is {service} again, about {caller}. Did help reach {them}? Press 1 for "
            "yes. Press 2 for no."
        ),
        "confirm_yes": "Thank you. We have noted that help arrived. Goodbye.",
        "confirm_no": "Thank you. We are raising this again with our team now. Goodbye.",
        "sms": (
            "{service}: {caller} called at {time} and {reason}. Reply YES if you can go to {them} "
            "or call {them} now. Details: {link}"
        ),
        "sms_accepted": "Thank you. We have noted that you are helping {caller}.",
        "sms_already": "Thank you. Someone else is already helping {caller}.",
        "sms_unknown": "Sorry, we did not understand. Reply YES if you can help.",
        # check-in calls the service places (issue 8): we called them, not they us
        "contact_call_checkin_no_answer": (
            "Hello. This is {service} calling about your {relationship}, {caller}. We called "
            "{them} for a check-in today and could not hear from {them} that all is well, the "
            "last time at {time}. Press 1 "
            "if you can go to {them} or call {them} now. Press 2 to hear this message again."
        ),
        "contact_call_checkin_not_well": (
            "Hello. This is {service} calling about your {relationship}, {caller}. On our "
            "check-in call at {time}, {caller} told us that something is wrong. {agent_note} "
            "Press 1 if you can go to {them} or call {them} now, and we will connect you. "
            "Press 2 to hear this message again."
        ),
        "sms_checkin_no_answer": (
            "{service}: we could not hear from {caller} that all is well on our check-in calls "
            "today (last at {time}). "
            "Reply YES if you can go to {them} or call {them} now. Details: {link}"
        ),
        "sms_checkin_not_well": (
            "{service}: on our check-in call at {time}, {caller} said something is wrong. "
            "Reply YES if you can go to {them} or call {them} now. Details: {link}"
        ),
        "reason_distressed": "sounded distressed",
        "reason_emergency": "said it was an emergency",
        "reason_help": "asked for help",
        "reason_other": "may need help",
        "agent_whisper": "Urgent call. Reason: {reason}. The case file is on your screen.",
        "no_agent": (
            "Nobody could answer just now. We are calling the people you trust. If you need an "
            "ambulance, dial {number}."
        ),
        "them": "them",
    },
    "ko": {
        "emergency_services": (
            "구급차나 경찰이 필요하시면 전화를 끊고 {number}번으로 전화하세요. {number}번입니다. "
            "전화를 끊지 않으셔도 됩니다. 지금 상담원을 연결해 드리겠습니다."
        ),
        "stay_on_line": "전화를 끊지 않고 함께 있겠습니다. 도움을 준비하고 있습니다.",
        "calm_transfer": "잠시만 기다려 주세요. 지금 상담원을 연결해 드리겠습니다.",
        "contact_call": (
            "안녕하세요. {service}입니다. {caller}님께서 {time}에 저희에게 전화하셨고 {reason}. "
            "{agent_note} 지금 가 보시거나 전화하실 수 있으면 1번을 누르세요. 다시 들으시려면 "
            "2번을 누르세요."
        ),
        "contact_voicemail": "{service}입니다. {caller}님 일로 급히 연락 부탁드립니다.",
        "contact_accepted": "감사합니다. {caller}님께 알려 드리겠습니다.",
        "contact_accepted_dial": "감사합니다. {caller}님께 연결해 드리겠습니다.",
        "already_accepted": "감사합니다. 다른 분이 이미 {caller}님을 돕고 있습니다.",
        "no_choice": "번호를 듣지 못했습니다. 곧 다시 연락드리겠습니다.",
        "confirm_call": (
            "{service}입니다. {caller}님께 도움이 도착했나요? 예는 1번, 아니오는 2번을 누르세요."
        ),
        "confirm_yes": "감사합니다. 도움이 도착한 것으로 기록했습니다.",
        "confirm_no": "감사합니다. 지금 바로 다시 조치하겠습니다.",
        "sms": (
            "{service}: {caller}님이 {time}에 전화하셨고 {reason}. 도와주실 수 있으면 YES 또는 "
            "1로 답장해 주세요. 자세히: {link}"
        ),
        "sms_accepted": "감사합니다. 도와주시는 것으로 기록했습니다.",
        "sms_already": "감사합니다. 다른 분이 이미 돕고 있습니다.",
        "sms_unknown": "죄송합니다. 도와주실 수 있으면 YES로 답장해 주세요.",
        "reason_distressed": "힘들어 보이셨습니다",
        "reason_emergency": "응급 상황이라고 하셨습니다",
        "reason_help": "도움을 요청하셨습니다",
        "reason_other": "도움이 필요할 수 있습니다",
        "agent_whisper": "긴급 전화입니다. 사유: {reason}.",
        "no_agent": (
            "지금은 상담원이 받지 못했습니다. 보호자께 연락하고 있습니다. 응급이면 {number}."
        ),
        "them": "그분",
    },
}
TWILIO_LANGUAGE = {"en": "en-GB", "ko": "ko-KR"}
SPOKEN_DIGITS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
}


def text(key: str, language: str = "en", **values: str) -> str:
    """The wording `key` in `language` (English when missing), filled with `values`."""
    lang = (language or "en").split("-")[0].lower()
    table = TEXTS.get(lang, TEXTS["en"])
    template = table.get(key) or TEXTS["en"][key]
    return template.format(**values) if values else template


def for_trigger(key: str, trigger_kind: str | None) -> str:
    """The wording key for a contact's call or SMS about an escalation of `trigger_kind`:
    `<key>_<trigger_kind>` where such wording exists (check-in calls), else `key`."""
    special = f"{key}_{trigger_kind}"
    return special if trigger_kind and special in TEXTS["en"] else key


def reason_key(trigger_kind: str) -> str:
    """Which plain reason wording a trigger kind gets."""
    if trigger_kind == "distress":
        return "reason_distressed"
    if trigger_kind in ("emergency_word", "kiosk_button", "keypad"):
        return "reason_emergency"
    if trigger_kind == "help_request":
        return "reason_help"
    return "reason_other"


@dataclass(frozen=True)
class CallerNotice:
    """Something the caller hears from the session before the transfer (slow, not
    interruptible): `key` names it for marks and the transcript."""

    key: str
    text: str
    repeat: int = 1
    rate_wpm: int | None = None


def emergency_notices(number: str, language: str = "en", rate_wpm: int = 110) -> list[CallerNotice]:
    """What a caller who said life-threatening words hears first: how to reach the emergency
    services (said twice, slowly) and that we stay on the line."""
    spoken = ", ".join(SPOKEN_DIGITS.get(d, d) for d in number)
    notice = text("emergency_services", language, number=number, spoken_number=spoken)
    return [
        CallerNotice("emergency_services", notice, repeat=2, rate_wpm=rate_wpm),
        CallerNotice("stay_on_line", text("stay_on_line", language), rate_wpm=rate_wpm),
    ]


def contact_call_twiml(message: str, gather_url: str, language: str = "en") -> str:
    """The contact's call: the message, slowly, twice, waiting for 1 (accept) or 2 (repeat)."""
    response = VoiceResponse()
    lang = TWILIO_LANGUAGE.get(language.split("-")[0], "en-GB")
    gather = Gather(num_digits=1, action=gather_url, method="POST", timeout=8)
    gather.say(message, language=lang)
    gather.pause(length=2)
    gather.say(message, language=lang)
    response.append(gather)
    response.redirect(gather_url, method="POST")  # no key: the action hears "no digits"
    return str(response)


def say_twiml(message: str, language: str = "en", dial: str | None = None) -> str:
    """Say `message`, then dial `dial` (if given) or hang up."""
    response = VoiceResponse()
    response.say(message, language=TWILIO_LANGUAGE.get(language.split("-")[0], "en-GB"))
    if dial:
        response.dial(dial)
    else:
        response.hangup()
    return str(response)


def sms_reply_twiml(message: str) -> str:
    """A reply to an inbound SMS."""
    response = MessagingResponse()
    response.message(message)
    return str(response)
