"""The dialog engine driven with caller inputs over the default flow and an in-memory backend."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ivr.dialog.actions import (
    Action,
    Event,
    Hangup,
    Listen,
    Say,
    SetRate,
    Transfer,
    UserInput,
)
from ivr.dialog.backend import AccountSummary, CustomerInfo, InMemoryBackend, TicketInfo
from ivr.dialog.engine import DialogEngine
from ivr.dialog.prompts import long_sentences
from ivr.flows import load_bundle

PHONE = "+447700900123"
ACCOUNT = "47191234"
PIN = "2580"
TODAY = date(2025, 3, 1)
BUNDLE = load_bundle()
FLOW = BUNDLE.flow
INPUT_STATES = sorted(n for n, s in FLOW.states.items() if s.takes_input)


def backend(preferred_rate: int | None = None) -> InMemoryBackend:
    b = InMemoryBackend()
    b.customers[1] = CustomerInfo(1, "Mrs Smith", phone=PHONE, preferred_rate_wpm=preferred_rate)
    b.pins[ACCOUNT] = (1, PIN)
    b.accounts[1] = AccountSummary(
        balance=Decimal("1234.50"),
        currency="GBP",
        next_payment_amount=Decimal("45.00"),
        next_payment_date=date(2025, 3, 14),
        maturing_product="fixed saver",
        maturing_date=date(2026, 1, 2),
    )
    return b


def speech(text: str) -> UserInput:
    return UserInput("speech", text=text, confidence=0.9)


def keys(digits: str) -> UserInput:
    return UserInput("dtmf", digits=digits)


NO_INPUT = UserInput("no_input")


class Call:
    """An engine plus the record of everything it answered."""

    def __init__(self, phone: str | None = PHONE, b: InMemoryBackend | None = None) -> None:
        self.backend = b if b is not None else backend()
        self.engine = DialogEngine(
            FLOW,
            BUNDLE.prompts,
            self.backend,
            caller_phone=phone,
            call_sid="CA123",
            lexicon=BUNDLE.lexicon,
            today=lambda: TODAY,
        )
        self.replies: list[list[Action]] = [self._check(self.engine.start())]

    @staticmethod
    def _check(reply: list[Action]) -> list[Action]:
        ends = [a for a in reply if isinstance(a, Listen | Transfer | Hangup)]
        assert len(ends) == 1 and reply[-1] is ends[0], f"reply must end with one of them: {reply}"
        for say in (a for a in reply if isinstance(a, Say)):
            assert not long_sentences(say.text), f"sentence over 20 words: {say.text!r}"
        return reply

    def __call__(self, *inputs: UserInput) -> list[Action]:
        for inp in inputs:
            self.replies.append(self._check(self.engine.handle(inp)))
        return self.replies[-1]

    @property
    def state(self) -> str | None:
        return self.engine.state

    def events(self, kind: str) -> list[Event]:
        return [a for r in self.replies for a in r if isinstance(a, Event) and a.kind == kind]


def says(reply: list[Action]) -> list[Say]:
    return [a for a in reply if isinstance(a, Say)]


def spoken(reply: list[Action]) -> str:
    return " ".join(s.text for s in says(reply))


# How to reach every input state of the default flow, with the keypad only.
PATHS: dict[str, list[UserInput]] = {
    "confirm_identity": [],
    "ask_account": [keys("2")],
    "ask_pin": [keys("2"), keys(ACCOUNT + "#")],
    "main_menu": [keys("1")],
    "account_again": [keys("1"), keys("1")],
    "anything_else": [keys("1"), keys("1"), keys("2")],
    "report_problem": [keys("1"), keys("2")],
    "confirm_report": [keys("1"), keys("2"), speech("my card was taken")],
    "ticket_again": [keys("1"), keys("2"), speech("my card was taken"), keys("1")],
    "progress_again": [keys("1"), keys("3")],
    "offer_person": [keys("1"), NO_INPUT, NO_INPUT, NO_INPUT],
    "confirm_goodbye": [keys("1"), speech("goodbye")],
    "locked_offer_person": [keys("2")] + [keys(ACCOUNT + "#"), keys("1111#")] * 3,
    "language_menu": [keys("1"), keys("8")],
}


def call_at(state: str) -> Call:
    b = backend()
    b.create_ticket(1, "CA0", "the card machine kept my card")
    call = Call(b=b)
    call(*PATHS[state])
    assert call.state == state
    return call


def test_every_input_state_has_a_test_path() -> None:
    assert sorted(PATHS) == INPUT_STATES


def test_greeting_says_how_to_use_the_line_and_the_listening_notice() -> None:
    call = Call()
    first = call.replies[0]
    text = spoken(first)
    for words in ("speak or press keys", "Say repeat", "Say person or press 0", "urgent help"):
        assert words in text
    notice = next(s for s in says(first) if s.key == "listening_notice")
    assert notice.interruptible is False
    assert "Am I speaking with Mrs Smith?" in text
    assert call.state == "confirm_identity"


@pytest.mark.parametrize("answer", [speech("yes"), speech("that's right"), keys("1")])
def test_caller_id_confirmed_by_voice_or_keypad(answer: UserInput) -> None:
    call = Call()
    reply = call(answer)
    assert call.state == "main_menu"
    assert "Thank you, Mrs Smith." in spoken(reply)
    assert call.events("customer_identified")[0].data == {"customer_id": 1, "method": "caller_id"}


@pytest.mark.parametrize("answer", [speech("no"), keys("2")])
def test_caller_id_denied_asks_for_account(answer: UserInput) -> None:
    call = Call()
    call(answer)
    assert call.state == "ask_account"
    assert call.engine.customer is None


def test_unknown_caller_is_asked_for_account_number() -> None:
    call = Call(phone="+15550000000")
    assert call.state == "ask_account"
    assert Call(phone=None).state == "ask_account"


def test_account_and_pin_by_keypad_one_key_at_a_time() -> None:
    call = Call(phone=None)
    for key in ACCOUNT:
        reply = call(keys(key))
        assert isinstance(reply[-1], Listen) and not says(reply)
    call(keys("#"))
    assert call.state == "ask_pin"
    assert call.engine.listen is not None and call.engine.listen.secret
    call(keys(PIN + "#"))
    assert call.state == "main_menu"
    assert call.events("customer_identified")[0].data["method"] == "account_pin"


def test_account_and_pin_by_voice() -> None:
    call = Call(phone=None)
    call(speech("four seven one nine one two three four"))
    assert call.state == "ask_pin"
    assert call.engine.variables["account_number"] == ACCOUNT
    call(speech("two five eight oh"))
    assert call.state == "main_menu"


def test_voice_digits_understand_double_and_short_pauses() -> None:
    b = backend()
    b.pins["44719"] = (1, "2558")
    call = Call(phone=None, b=b)
    reply = call(speech("double four"))  # fewer than the minimum: the caller is paused
    assert call.state == "ask_account" and "go on" in spoken(reply)
    call(speech("seven one nine"))
    assert call.engine.variables["account_number"] == "44719"
    call(speech("two double five eight"))
    assert call.state == "main_menu"


def test_pin_never_appears_in_events() -> None:
    call = Call(phone=None)
    call(keys(ACCOUNT + "#"), speech("two five eight oh"))
    assert call.state == "main_menu"
    stored = repr([a.data for r in call.replies for a in r if isinstance(a, Event)])
    assert "2580" not in stored and "two five eight" not in stored
    assert ACCOUNT in stored  # the account number itself is not secret


def test_wrong_pin_retries_then_offers_a_person() -> None:
    call = Call(phone=None)
    reply = call(keys(ACCOUNT + "#"), keys("1111#"))
    assert "do not match" in spoken(reply)
    assert call.state == "ask_account"
    call(keys(ACCOUNT + "#"), keys("2222#"), keys(ACCOUNT + "#"))
    reply = call(keys("3333#"))
    assert call.state == "locked_offer_person"
    assert "talk to a person" in spoken(reply)
    assert len(call.events("identity_failed")) == 3
    reply = call(speech("yes"))
    assert isinstance(reply[-1], Transfer)
    assert reply[-1].reason == "identity_not_verified"


def test_star_clears_a_digit_entry_and_then_goes_back() -> None:
    call = Call(phone=None)
    call(keys(ACCOUNT + "#"), keys("25"))
    reply = call(keys("*"))
    assert "cleared" in spoken(reply) and call.state == "ask_pin"
    call(keys("*"))
    assert call.state == "ask_account"


def test_digit_entry_too_short_is_a_failure_and_typed_number_without_hash_is_taken() -> None:
    call = Call(phone=None)
    reply = call(keys("47#"))
    assert call.state == "ask_account" and call.events("failure")
    assert says(reply)[0].key == "ask_account_reprompt"
    call(keys(ACCOUNT), NO_INPUT)  # forgot the hash key: the number is taken
    assert call.state == "ask_pin"


@pytest.mark.parametrize(
    "choose",
    [[speech("account")], [speech("I would like my balance please")], [keys("1")]],
)
def test_account_information_in_plain_words_and_offered_again(choose: list[UserInput]) -> None:
    call = Call()
    call(keys("1"))
    reply = call(*choose)
    text = spoken(reply)
    assert "one thousand two hundred and thirty four pounds and fifty pence" in text
    assert "forty five pounds" in text and "Friday the fourteenth of March" in text
    assert "fixed saver" in text and "January twenty twenty six" in text
    assert "£" not in text and "1234" not in text
    assert call.state == "account_again"
    again = call(speech("yes please"))
    assert "fifty pence" in spoken(again) and call.state == "account_again"
    call(keys("2"))
    assert call.state == "anything_else"


def test_account_without_payment_or_product_skips_those_sentences() -> None:
    b = backend()
    b.accounts[1] = AccountSummary(balance=Decimal("0.01"), currency="GBP")
    call = Call(b=b)
    reply = call(keys("1"), keys("1"))
    text = spoken(reply)
    assert "Your balance is one penny." in text
    assert "next payment" not in text and "ends on" not in text


@pytest.mark.parametrize("by_voice", [True, False])
def test_report_a_problem_opens_ticket_and_reads_reference_digit_by_digit(by_voice: bool) -> None:
    call = Call()
    call(keys("1"))
    call(speech("report a problem") if by_voice else keys("2"))
    assert call.state == "report_problem"
    assert call.engine.listen is not None and call.engine.listen.free_form
    words = "Someone phoned me and asked for my card number, and now money is missing"
    call(speech(words))
    assert call.state == "confirm_report"
    assert not call.backend.tickets  # nothing changes before the caller confirms
    reply = call(speech("yes") if by_voice else keys("1"))
    [(reference, (customer, ticket))] = call.backend.tickets.items()
    assert customer == 1 and ticket.summary == words[:80]
    assert call.events("ticket_opened")[0].data == {"reference": reference, "description": words}
    readback = next(s for s in says(reply) if s.key == "reference_number")
    assert " ".join(reference) in readback.text
    assert readback.rate_wpm is not None and readback.rate_wpm < call.engine.rate_wpm
    again = call(speech("yes") if by_voice else keys("1"))
    assert " ".join(reference) in spoken(again) and call.state == "ticket_again"
    call(speech("no") if by_voice else keys("2"))
    assert call.state == "anything_else"


def test_report_declined_opens_no_ticket() -> None:
    call = Call()
    call(keys("1"), keys("2"), speech("the letter was wrong"), speech("no"))
    assert call.state == "anything_else" and not call.backend.tickets


def test_report_a_problem_keypad_path_goes_to_a_person() -> None:
    call = Call()
    reply = call(keys("1"), keys("2"), keys("1"))
    assert isinstance(reply[-1], Transfer) and reply[-1].reason == "report_problem"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("received", "We have received it"),
        ("in_progress", "Someone is working on it now"),
        ("waiting_for_customer", "waiting to hear from you"),
        ("resolved", "It has been sorted out"),
    ],
)
@pytest.mark.parametrize("choose", [speech("progress"), keys("3")])
def test_ticket_progress_in_plain_words(status: str, words: str, choose: UserInput) -> None:
    b = backend()
    b.tickets["123456"] = (1, TicketInfo("123456", status, "card"))
    call = Call(b=b)
    reply = call(keys("1"), choose)
    text = spoken(reply)
    assert words in text and "1 2 3 4 5 6" in text and "_" not in text
    assert call.state == "progress_again"


def test_no_tickets_is_said_plainly() -> None:
    call = Call()
    reply = call(keys("1"), keys("3"))
    assert "cannot find any problem reports" in spoken(reply)
    assert call.state == "anything_else"


@pytest.mark.parametrize("state", INPUT_STATES)
@pytest.mark.parametrize("how", ["repeat", "say that again", "9"])
def test_repeat_says_the_same_prompt_again(state: str, how: str) -> None:
    call = call_at(state)
    first = [(s.key, s.text) for s in says(call.replies[-1])]
    if how == "9" and FLOW.states[state].type == "digits":
        reply = call(keys("9"))  # 9 is a digit here; "repeat" is said instead
        assert not says(reply) and isinstance(reply[-1], Listen) and call.state == state
        return
    reply = call(keys("9") if how == "9" else speech(how))
    assert [(s.key, s.text) for s in says(reply)] == first
    assert call.state == state


def test_slower_lowers_rate_for_the_call_and_remembers_it() -> None:
    call = Call()
    call(keys("1"))
    reply = call(speech("slow down"))
    assert SetRate(125) in reply
    assert call.engine.rate_wpm == 125 and call.backend.rates == {1: 125}
    assert says(reply)[0].key == "slower_ack"
    assert says(reply)[-1].key == "main_menu"  # and the prompt is said again, slower
    for _ in range(5):
        reply = call(speech("slower"))
    assert call.engine.rate_wpm == 110 and call.backend.rates[1] == 110
    assert not any(isinstance(a, SetRate) for a in reply)
    assert says(reply)[0].key == "slowest_ack"


def test_slower_before_identification_is_remembered_once_identified() -> None:
    call = Call()
    call(speech("speak slower"))
    assert call.backend.rates == {}
    call(speech("yes"))
    assert call.backend.rates == {1: 125}


def test_preferred_rate_is_applied_when_caller_is_identified() -> None:
    call = Call(b=backend(preferred_rate=115))
    reply = call(keys("1"))
    assert SetRate(115) in reply and call.engine.rate_wpm == 115
    assert reply.index(SetRate(115)) < reply.index(says(reply)[0])


@pytest.mark.parametrize("state", INPUT_STATES)
@pytest.mark.parametrize("how", ["person", "I want a real person", "0"])
def test_person_or_zero_reaches_a_human_from_every_state(state: str, how: str) -> None:
    call = call_at(state)
    s = FLOW.states[state]
    if how == "0" and s.type == "digits" and not s.zero_for_person:
        reply = call(keys("0"))  # a PIN may start with 0: it is a digit here
        assert isinstance(reply[-1], Listen) and call.state == state
        return
    reply = call(keys("0") if how == "0" else speech(how))
    assert isinstance(reply[-1], Transfer)
    assert reply[-1].priority == "normal" and reply[-1].state == state
    assert says(reply), "the caller is told before being put through"
    assert call.engine.finished and call.engine.handle(speech("hello")) == []


@pytest.mark.parametrize("state", INPUT_STATES)
@pytest.mark.parametrize("words", ["help", "I've fallen", "I can't breathe", "emergency"])
def test_help_or_emergency_goes_to_a_person_urgently_after_a_calm_word(
    state: str, words: str
) -> None:
    call = call_at(state)
    reply = call(speech(words))
    assert isinstance(reply[-1], Transfer)
    assert (reply[-1].reason, reply[-1].priority) == ("help", "urgent")
    assert says(reply)[-1].key == "transfer_help"


def test_emergency_inside_an_open_answer_is_noticed_and_the_words_kept() -> None:
    call = call_at("report_problem")
    words = "I fell down the stairs and my chest pain is bad"
    reply = call(speech(words))
    assert isinstance(reply[-1], Transfer) and reply[-1].priority == "urgent"
    assert call.events("free_form")[-1].data["text"] == words


def test_open_answer_mentioning_a_person_is_a_report_not_a_transfer() -> None:
    call = call_at("report_problem")
    call(speech("a person at the branch was rude to me"))
    assert call.state == "confirm_report"


@pytest.mark.parametrize("failure", [NO_INPUT, UserInput("no_match"), speech("banana bread")])
def test_three_failures_offer_a_person(failure: UserInput) -> None:
    call = call_at("main_menu")
    for n in (1, 2):
        reply = call(failure)
        assert call.state == "main_menu" and says(reply)[0].key == "main_menu_reprompt"
        assert call.events("failure")[-1].data["count"] == n
    reply = call(failure)
    assert call.state == "offer_person"
    assert "talk to a person" in spoken(reply)
    yes = call(speech("yes"))
    assert isinstance(yes[-1], Transfer) and yes[-1].reason == "repeated_failure"


def test_declining_the_person_returns_to_where_the_caller_was() -> None:
    call = call_at("offer_person")
    reply = call(keys("2"))
    assert call.state == "main_menu" and says(reply)[-1].key == "main_menu"
    reply = call(NO_INPUT)  # the count starts again
    assert call.state == "main_menu"


def test_three_failures_while_offered_a_person_put_the_caller_through() -> None:
    call = call_at("offer_person")
    reply = call(NO_INPUT, NO_INPUT, NO_INPUT)
    assert isinstance(reply[-1], Transfer) and reply[-1].reason == "repeated_failure"


@pytest.mark.parametrize("state", INPUT_STATES)
@pytest.mark.parametrize("failure", [NO_INPUT, UserInput("no_match")])
def test_reprompt_is_shorter_than_first_prompt(state: str, failure: UserInput) -> None:
    call = call_at(state)
    first = spoken(call.replies[-1])
    again = call(failure)
    assert len(spoken(again)) < len(first), (spoken(again), first)
    assert call.state == state


def test_time_limit_warning_and_more_time() -> None:
    call = call_at("main_menu")
    before = call.engine.listen
    assert before is not None and 0 < before.warn_before_timeout_s < before.timeout_s
    reply = call(UserInput("timeout_warning"))
    assert "more time" in spoken(reply) and "hash" in spoken(reply)
    listen = reply[-1]
    assert isinstance(listen, Listen) and listen.warn_before_timeout_s == 0
    for ask in (speech("more time"), speech("hold on"), keys("#")):
        reply = call(ask)
        listen = reply[-1]
        assert isinstance(listen, Listen) and listen.timeout_s > before.timeout_s
        assert "Take as long as you need" in spoken(reply) and call.state == "main_menu"
    assert not call.events("failure")


def test_hash_alone_in_a_digit_entry_asks_for_more_time() -> None:
    call = call_at("ask_account")
    reply = call(keys("#"))
    assert "Take as long as you need" in spoken(reply) and call.state == "ask_account"


@pytest.mark.parametrize("state", ["main_menu", "account_again", "report_problem"])
def test_ending_the_call_is_confirmed_first(state: str) -> None:
    call = call_at(state)
    reply = call(speech("goodbye"))
    assert not any(isinstance(a, Hangup) for a in reply)
    assert call.state == "confirm_goodbye" and "end the call" in spoken(reply)
    call(speech("no"))
    assert call.state == state
    call(speech("bye"))
    reply = call(keys("1"))
    assert isinstance(reply[-1], Hangup) and "Goodbye" in spoken(reply)


def test_no_hangup_without_a_confirmation_in_the_flow() -> None:
    hangups = {n for n, s in FLOW.states.items() if s.type == "hangup"}
    assert hangups
    for name, s in FLOW.states.items():
        if hangups & set(s.targets()):
            assert s.type == "confirm" and s.yes in hangups and s.no not in hangups, name
    for intent, target in FLOW.global_intents.items():
        assert target not in hangups, intent


def test_anything_else_no_asks_to_end_the_call() -> None:
    call = call_at("anything_else")
    call(speech("no thank you"))
    assert call.state == "confirm_goodbye"
    call(speech("no"))
    assert call.state == "anything_else"


def test_back_goes_to_the_previous_question() -> None:
    call = call_at("confirm_report")
    call(speech("go back"))
    assert call.state == "report_problem"
    call(keys("*"))
    assert call.state == "main_menu"


@pytest.mark.parametrize("state", INPUT_STATES)
def test_phrase_list_has_the_global_intents(state: str) -> None:
    call = call_at(state)
    listen = call.engine.listen
    assert listen is not None and listen.state == state
    for intent in FLOW.global_intents:
        for phrase in BUNDLE.lexicon.phrases(intent):
            assert listen.phrase_intents.get(phrase) == intent, (state, phrase)
    assert set(listen.phrases) == set(listen.phrase_intents)
    last = call.replies[-1][-1]
    assert last == listen


def test_menu_phrase_list_has_its_choices_and_their_key_numbers() -> None:
    listen = call_at("main_menu").engine.listen
    assert listen is not None and not listen.free_form and not listen.digits
    for phrase, intent in [("balance", "account"), ("report a problem", "problem")]:
        assert listen.phrase_intents[phrase] == intent
    assert listen.phrase_intents["one"] == "account"
    assert listen.phrase_intents["zero"] == "person"
    digits = call_at("ask_account").engine.listen
    assert digits is not None and digits.digits and digits.max_digits == 12
    assert {"zero", "oh", "nine", "double"} <= set(digits.phrases)


def test_spoken_key_number_chooses_like_the_key() -> None:
    call = call_at("main_menu")
    call(speech("three"))
    assert call.state == "progress_again"


@pytest.mark.parametrize(
    ("state", "text", "intent"),
    [
        ("main_menu", "what is my balance", "account"),
        ("main_menu", "I'd like to REPORT A PROBLEM, please.", "problem"),
        ("main_menu", "um one moment", "more_time"),
        ("confirm_identity", "yes that's right", "yes"),
        ("confirm_identity", "yes no", None),
        ("confirm_identity", "the weather is nice", None),
        ("main_menu", "I need help with my account", "help"),
        ("ask_account", "hold on", "more_time"),
    ],
)
def test_intent_for_is_tolerant_but_not_a_guess(state: str, text: str, intent: str | None) -> None:
    assert call_at(state).engine.intent_for(text) == intent


def test_session_supplied_intent_is_used() -> None:
    call = call_at("main_menu")
    call(UserInput("speech", text="[unclear]", intent="progress"))
    assert call.state == "progress_again"


def test_type_ahead_keys_pass_through_states() -> None:
    call = Call()
    reply = call(keys("112"))  # yes, account, then "no" to hearing it again
    assert call.state == "anything_else"
    assert sum(isinstance(a, Listen) for a in reply) == 1


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="kind"):
        UserInput("shout")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keypad"):
        UserInput("dtmf", digits="1A")
    engine = DialogEngine(FLOW, BUNDLE.prompts, backend(), lexicon=BUNDLE.lexicon)
    with pytest.raises(RuntimeError, match="start"):
        engine.handle(keys("1"))


def test_return_unwinds_nested_questions() -> None:
    call = call_at("offer_person")  # reached from main_menu after three failures
    call(speech("goodbye"))
    assert call.state == "confirm_goodbye"
    call(speech("no"))
    assert call.state == "offer_person"
    call(speech("no"))
    assert call.state == "main_menu"
