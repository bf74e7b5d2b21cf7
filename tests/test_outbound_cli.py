"""`ivr outbound schedule|list|run-due|show|cancel|plan|prefs`: bad input gets a clear message
and exit code 2 and stores nothing; good input schedules, lists, and hands due calls to the
outbox (a dry run without Twilio credentials)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from outbound_rig import day_zone
from typer.testing import CliRunner

from carestore import Store, upgrade
from carestore.outbound import OutboundRecords
from emergency_contact.outbox import outbox_rows
from ivr.commands.outbound import app
from ivr.settings import get_settings

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    for name, value in {
        "IVR_DATABASE_URL": url,
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_OUTBOUND_TIMEZONE": day_zone(),
        "IVR_TWILIO_ACCOUNT_SID": "",
        "IVR_TWILIO_AUTH_TOKEN": "",
        "IVR_TWILIO_FROM_NUMBER": "",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    store = Store(url)
    try:
        yield store
    finally:
        store.close()
        get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_bad_input_is_refused_with_a_clear_message(db: Store) -> None:
    cid = db.create_customer("Mrs Ann Cole", "60000001", phone="+447700900401").id
    cases = [
        (["--customer", "999", "--kind", "checkin"], "no customer with id 999"),
        (["--customer", str(cid), "--kind", "nap"], "--kind must be one of"),
        (["--customer", str(cid), "--kind", "checkin"], "not agreed to check-in calls"),
        (["--customer", str(cid), "--kind", "reminder", "--at", "2020-01-01T10:00"], "past"),
        (["--customer", str(cid), "--kind", "reminder", "--at", "tomorrow"], "write an ISO"),
        (["--customer", str(cid), "--kind", "checkin", "--weekly", "someday", "10:00"], "day of"),
        (
            ["--customer", str(cid), "--kind", "checkin", "--weekly", "mon", "25:00"],
            "HH:MM",
        ),
        (["--customer", str(cid), "--kind", "checkin", "--weekly", "mon", "10:00"], "consent"),
        (["--customer", str(cid), "--kind", "reminder", "--weekly", "mon", "10:00"], "check-in"),
        (["--customer", str(cid), "--kind", "survey"], "no resolved ticket or escalation"),
    ]
    for args, words in cases:
        code, out = _run("schedule", *args)
        assert code == 2, (args, out)
        assert words in out, (args, out)
    code, out = _run("prefs", "--customer", str(cid), "--window", "9-5")
    assert code == 2 and "HH:MM" in out
    code, out = _run("plan", "--customer", str(cid), "--kind", "reminder", "--opt-in")
    assert code == 2 and "no consent on record" in out
    assert OutboundRecords(db).calls() == [] and outbox_rows(db) == []  # nothing stored


def test_weekly_checkin_list_cancel_and_run_due(db: Store) -> None:
    cid = db.create_customer("Mr Bob Dale", "60000002", phone="+447700900402").id
    code, out = _run(
        "schedule",
        "--customer",
        str(cid),
        "--kind",
        "checkin",
        "--weekly",
        "monday",
        "10:30",
        "--consent-by",
        "Mr Bob Dale",
    )
    assert code == 0, out
    assert "weekly check-in" in out and "next call Mon" in out and "10:30" in out
    code, out = _run("list", "--json")
    [weekly] = json.loads(out)
    assert weekly["key"].startswith("checkin:") and weekly["status"] == "scheduled"
    code, out = _run("list", "--due", "--json")
    assert json.loads(out) == []  # next Monday is not due yet
    code, out = _run("cancel", str(weekly["id"]))
    assert code == 0 and "cancelled" in out
    code, out = _run("cancel", str(weekly["id"]))
    assert code == 2 and "cannot be cancelled" in out
    code, out = _run("schedule", "--customer", str(cid), "--kind", "checkin", "--json")
    assert code == 0, out
    now_call = json.loads(out)
    code, out = _run("run-due", "--json", "--send")
    assert code == 0, out
    report = json.loads(out[out.index("{") :])
    assert [(d["call_id"], d["action"]) for d in report["due"]] == [(now_call["id"], "queued")]
    assert report["outbox_processed"] == 1
    [row] = outbox_rows(db)
    assert row["dry_run"] and row["status"] == "sent" and row["to"] == "+447700900402"
    done = OutboundRecords(db).call(now_call["id"])
    assert done.status == "dry_run" and done.outcome == "dry_run"  # never silently "placed"
    code, out = _run("show", str(now_call["id"]))
    assert code == 0 and "attempt 1: dry_run" in out
    code, out = _run("list", "--all")
    assert code == 0 and "dry_run" in out and "cancelled" in out


def test_show_says_why_a_checkin_is_tried_again(db: Store) -> None:
    from ivr.outbound import results
    from ivr.outbound.config import OutboundConfig

    cid = db.create_customer("Mrs Ada Wren", "60000003", phone="+447700900403").id
    code, out = _run(
        "schedule", "--customer", str(cid), "--kind", "checkin", "--consent-by", "Ada Wren"
    )
    assert code == 0, out
    [call] = OutboundRecords(db).calls(customer_id=cid)
    code, out = _run("run-due", "--json")  # in the outbox; not sent here
    assert code == 0, out
    [attempt] = OutboundRecords(db).attempts(call.id)
    config = OutboundConfig.from_settings(get_settings())
    answer = {"AnsweredBy": "human", "CallSid": "CAcli0001"}
    assert results.on_answer(db, config, attempt.id, answer).verdict == "human"
    done = results.finish(db, config, "CAcli0001")  # the line went dead before any answer
    assert done is not None and done.outcome == "hung_up" and done.end.retry_at is not None
    code, out = _run("show", str(call.id))
    assert code == 0, out
    assert "attempt 1: completed (hung_up) answered by human" in out
    assert "answered, but the call ended before they said whether they are well" in out
    assert "; retry at " in out and "next attempt " in out
    shown = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert shown["status"] == "scheduled" and shown["result"]["retries"][0]["result"] == "hung_up"
