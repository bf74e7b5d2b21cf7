"""Simulated calls (real server, real espeak-ng voices, real store; see call_fixtures) asking for
the account: a Cantonese customer hears the balance in Cantonese wording, and a backend that
fails mid-call leaves the caller with an apology and a person, never a dead line."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
from call_fixtures import AUTH_TOKEN, IvrServer, closed_call, fresh_caller, wait_key

from ivr.twilio.simulator import TwilioCallSimulator


def _account_call(srv: IvrServer, phone: str, after: str) -> TwilioCallSimulator:
    """Confirm who is calling (key 1), choose the account (key 1), wait for `after`, then 0."""

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(srv.base_url, AUTH_TOKEN, from_=phone, speed=6) as call:
            await wait_key(call, "confirm_identity")
            await call.press("1")
            await wait_key(call, "main_menu")
            await call.press("1")
            await wait_key(call, after)
            if after == "hear_again":
                await call.press("0")
            await call.wait_closed()
            return call

    call = asyncio.run(scenario())
    closed_call(srv.deps.store, call.call_sid)
    return call


def test_cantonese_caller_hears_the_balance_by_keypad(ivr_server: IvrServer) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "陳美玲", pin="2468", language="cmn", dialect="yue")
    payment_day = date.today() + timedelta(days=10)
    srv.deps.store.set_account(
        customer.id,
        balance=Decimal("1250.40"),
        currency="HKD",
        next_payment_amount=Decimal("12500"),
        next_payment_date=payment_day,
    )
    call = _account_call(srv, customer.phone, "hear_again")

    events = srv.events_of(call.call_sid)
    assert not [e for e in events if e.kind == "error"], [e.data for e in events]
    prompts = {e.data["key"]: e.data for e in events if e.kind == "prompt"}
    assert prompts["balance"]["voice"] == "yue"  # espeak-ng's Cantonese voice spoke it
    assert "1,250 港元 40 仙" in prompts["balance"]["text"], prompts["balance"]
    nxt = prompts["next_payment"]["text"]
    assert "12,500 港元" in nxt, nxt
    assert f"{payment_day.month}月{payment_day.day}日 星期" in nxt, nxt
    heard = {e.data["key"] for e in events if e.kind == "heard_prompt"}
    assert {"balance", "next_payment", "hear_again"} <= heard  # played to the end
    stored = [e.kind for e in srv.deps.store.events(call.call_sid)]
    assert "step_failed" not in stored
    assert srv.deps.store.get_call(call.call_sid).outcome == "handed_off"  # key 0: a person


def test_a_failing_backend_mid_call_apologises_and_hands_to_a_person(
    ivr_server: IvrServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = ivr_server
    customer = fresh_caller(srv, "Mrs Ruth Abbott", pin="9753")
    srv.deps.store.set_account(customer.id, balance=Decimal("40.00"))

    def lost_connection(customer_id: int) -> None:
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(srv.deps.backend, "account_summary", lost_connection)
    call = _account_call(srv, customer.phone, "transfer_person")

    events = srv.events_of(call.call_sid)
    keys = [e.data["key"] for e in events if e.kind == "prompt"]
    assert keys[-2:] == ["step_failed", "transfer_person"], keys
    heard = [e.data["key"] for e in events if e.kind == "heard_prompt"]
    assert "step_failed" in heard and "transfer_person" in heard  # the caller heard both
    stored = {e.kind: e.data for e in srv.deps.store.events(call.call_sid)}
    assert stored["step_failed"] == {
        "state": "account_info",
        "step": "load_account",
        "error": "ConnectionError: server closed the connection unexpectedly",
    }
    assert stored["handoff_agent"]["reason"] == "step_failed"
    assert "<Dial" in (call.action_twiml or ""), call.action_twiml  # put through to the agent
    assert srv.deps.store.get_call(call.call_sid).outcome == "handed_off"
