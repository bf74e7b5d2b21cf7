"""A backend step that raises never drops the caller: an apology, the flow's person path, and
an event naming the step and the error (dialog engine over the real flows and prompts)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ivr.dialog.actions import Action, Event, Listen, Say, Transfer, UserInput
from ivr.dialog.backend import AccountSummary, CustomerInfo, InMemoryBackend
from ivr.dialog.engine import DialogEngine
from ivr.dialog.flow import parse_flow, validate_flow
from ivr.dialog.yamlfile import read_yaml
from ivr.flows import flow_path, load_bundle

PHONE = "+447700900123"


class BrokenBackend(InMemoryBackend):
    """The store behind the dialog failing the way a real one does (a lost connection)."""

    broken: tuple[str, ...] = ()

    def account_summary(self, customer_id: int) -> AccountSummary:
        if "account_summary" in self.broken:
            raise ConnectionError("server closed the connection unexpectedly")
        return super().account_summary(customer_id)

    def identify_by_phone(self, phone: str) -> CustomerInfo | None:
        if "identify_by_phone" in self.broken:
            raise TimeoutError("database is locked")
        return super().identify_by_phone(phone)


def _backend(*broken: str) -> BrokenBackend:
    b = BrokenBackend()
    b.broken = broken
    b.customers[1] = CustomerInfo(1, "Mrs Smith", phone=PHONE)
    b.accounts[1] = AccountSummary(balance=Decimal("10"), currency="GBP")
    return b


def _engine(b: InMemoryBackend, dialect: str | None = None) -> DialogEngine:
    bundle = load_bundle(dialect=dialect) if dialect else load_bundle()
    return DialogEngine(
        bundle.flow,
        bundle.prompts,
        b,
        caller_phone=PHONE,
        call_sid="CA-broken",
        lexicon=bundle.lexicon,
        today=lambda: date(2025, 3, 1),
        dialect=dialect,
    )


def _events(reply: list[Action], kind: str) -> list[Event]:
    return [a for a in reply if isinstance(a, Event) and a.kind == kind]


def _keys(reply: list[Action]) -> list[str]:
    return [a.key for a in reply if isinstance(a, Say)]


def _engine_with(data: dict, source: str) -> DialogEngine:
    """The default flow changed to `data`, validated, on a backend whose account summary fails."""
    bundle = load_bundle()
    flow = parse_flow(data, source=source)
    validate_flow(flow, prompts=bundle.prompts, lexicon=bundle.lexicon)
    return DialogEngine(
        flow,
        bundle.prompts,
        _backend("account_summary"),
        caller_phone=PHONE,
        lexicon=bundle.lexicon,
    )


def test_failing_balance_lookup_apologises_and_puts_the_caller_through() -> None:
    eng = _engine(_backend("account_summary"))
    eng.start()
    eng.handle(UserInput("dtmf", digits="1"))  # yes, that is me
    assert eng.state == "main_menu"
    reply = eng.handle(UserInput("dtmf", digits="1"))  # my account
    [failed] = _events(reply, "step_failed")
    assert failed.data == {
        "state": "account_info",
        "step": "load_account",
        "error": "ConnectionError: server closed the connection unexpectedly",
    }
    assert _keys(reply) == ["step_failed", "transfer_person"]
    says = {a.key: a.text for a in reply if isinstance(a, Say)}
    assert says["step_failed"].startswith("I am sorry. Something went wrong on our side")
    transfer = reply[-1]
    assert isinstance(transfer, Transfer)
    assert transfer.reason == "step_failed" and transfer.customer_id == 1
    assert transfer.state == "main_menu"  # where the caller was when it failed
    assert _events(reply, "transfer")[0].data["reason"] == "step_failed"
    assert eng.finished


def test_failure_at_the_start_of_the_call_still_greets_and_transfers() -> None:
    reply = _engine(_backend("identify_by_phone")).start()
    assert _keys(reply) == ["greeting", "listening_notice", "step_failed", "transfer_person"]
    assert _events(reply, "step_failed")[0].data["step"] == "identify_by_phone"
    assert "TimeoutError: database is locked" in _events(reply, "step_failed")[0].data["error"]
    assert isinstance(reply[-1], Transfer) and reply[-1].reason == "step_failed"


def test_the_apology_is_in_the_callers_language() -> None:
    eng = _engine(_backend("account_summary"), dialect="yue")
    eng.start()
    eng.handle(UserInput("dtmf", digits="1"))
    reply = eng.handle(UserInput("dtmf", digits="1"))
    says = {a.key: a.text for a in reply if isinstance(a, Say)}
    assert says["step_failed"] == "對唔住，我哋呢邊出咗問題，而家做唔到。"
    assert says["transfer_person"] == "而家幫你轉駁真人，請唔好收線。"
    assert isinstance(reply[-1], Transfer)


def test_a_person_path_that_is_a_question_lets_the_call_go_on() -> None:
    """When a flow's person path asks first (here: "would you like a person?"), the caller
    may decline and carry on where they were; a transfer asked for later is theirs."""
    data = read_yaml(flow_path("default"))
    data["global_intents"]["person"] = "offer_person"
    eng = _engine_with(data, "person-asks")
    eng.start()
    eng.handle(UserInput("dtmf", digits="1"))
    reply = eng.handle(UserInput("dtmf", digits="1"))
    assert _keys(reply) == ["step_failed", "offer_person"] and isinstance(reply[-1], Listen)
    assert eng.state == "offer_person" and not eng.finished
    reply = eng.handle(UserInput("dtmf", digits="2"))  # no thank you
    assert eng.state == "main_menu" and not eng.finished
    reply = eng.handle(UserInput("dtmf", digits="2"))  # report a problem instead: works
    assert eng.state == "report_problem"
    reply = eng.handle(UserInput("dtmf", digits="1"))  # this state's own key for a person
    assert isinstance(reply[-1], Transfer) and reply[-1].reason == "report_problem"


def test_a_failing_person_path_hands_the_call_on_directly() -> None:
    """If the way to a person runs a step that fails too, the call is still handed on."""
    data = read_yaml(flow_path("default"))
    data["global_intents"]["person"] = "person_lookup"
    data["states"]["person_lookup"] = {
        "type": "action",
        "run": "load_account",
        "outcomes": {"ok": "transfer_person", "unavailable": "transfer_person"},
    }
    eng = _engine_with(data, "person-lookup")
    eng.start()
    eng.handle(UserInput("dtmf", digits="1"))
    reply = eng.handle(UserInput("dtmf", digits="1"))
    assert [e.data["state"] for e in _events(reply, "step_failed")] == [
        "account_info",
        "person_lookup",
    ]
    assert _keys(reply).count("step_failed") == 1  # one apology
    assert isinstance(reply[-1], Transfer) and reply[-1].reason == "step_failed"
    assert eng.finished


@pytest.mark.parametrize("dialect", [None, "ko", "cmn", "yue", "en-scotland", "ko-gyeongsang"])
def test_every_shipped_language_has_the_apology(dialect: str | None) -> None:
    bundle = load_bundle(dialect=dialect) if dialect else load_bundle()
    assert bundle.prompts.texts["step_failed"].strip()
    outbound = load_bundle("outbound", dialect=dialect) if dialect else load_bundle("outbound")
    assert "step_failed" in outbound.prompts
