"""`ivr report` on real SQLite and PostgreSQL: a database seeded with known calls, answers,
dialog events (faults among them), escalations, notifications and tickets (some older than the
period) gives exactly the seeded figures, the questions callers struggle with in the right
order, the faults that sent callers to a person, JSON for tools, a valid multi-panel PNG, and a
clear error for a bad `--since` or a missing database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from carestore import Store
from carestore.escalation_models import EscalationEventRow, EscalationRow
from carestore.models import CallRow, EventRow, SegmentRow, TicketRow
from carestore.timeutil import utcnow
from ivr.cli import app as cli
from ivr.reporting import SinceError, build_report, parse_since
from ivr.reporting.queries import percentile

OLD = timedelta(days=8)  # outside a 7-day report


def _call(store: Store, sid: str, *, channel: str = "phone", direction: str = "inbound") -> None:
    store.start_call(
        call_sid=sid, channel=channel, from_number="+441632960001", direction=direction
    )


def _answer(store: Store, sid: str, confidence: float, dialect: str | None, kind: str) -> None:
    extra = {"phrase": None, "engine": "test", "input": kind}
    if dialect is not None:
        extra["dialect"] = dialect
    store.add_segment(sid, "caller", "words", confidence=confidence, extra=extra)


def _events(store: Store, sid: str, kind: str, data: dict, times: int = 1) -> None:
    for _ in range(times):
        store.add_event(sid, kind, data=data)


def _backdate(store: Store, sid: str) -> None:
    """Move a call and everything said and done in it to before the period."""
    then = utcnow() - OLD
    with store.write() as session:
        call_id = session.scalar(select(CallRow.id).where(CallRow.call_sid == sid))
        session.execute(update(CallRow).where(CallRow.id == call_id).values(started_at=then))
        session.execute(
            update(SegmentRow).where(SegmentRow.call_id == call_id).values(created_at=then)
        )
        session.execute(update(EventRow).where(EventRow.call_id == call_id).values(at=then))


def _escalation(
    store: Store,
    trigger: str,
    severity: str,
    *,
    wait_s: float | None,
    age: timedelta,
    to_person: bool = True,
    breach: bool = False,
) -> int:
    created = utcnow() - age
    with store.write() as session:
        row = EscalationRow(
            call_sid=None,
            customer_id=None,
            channel="phone",
            trigger_kind=trigger,
            severity=severity,
            evidence={},
            actions=["transfer"] if to_person else ["notify_contacts"],
            state="open",
            agent_status=("answered" if wait_s is not None else "queued") if to_person else "none",
            contact_plan=[],
            contact_index=-1,
            contact_round=0,
            raised_count=0,
            answered_at=created + timedelta(seconds=wait_s) if wait_s is not None else None,
            created_at=created,
            updated_at=created,
        )
        session.add(row)
        session.flush()
        if breach:
            session.add(
                EscalationEventRow(
                    escalation_id=row.id, at=created + timedelta(seconds=20), kind="sla_breach"
                )
            )
        return row.id


def seed(store: Store) -> None:
    """The known figures every test below checks."""
    # ---- calls: outcomes by channel
    _call(store, "CA-transfer")
    _events(store, "CA-transfer", "handoff_agent", {"reason": "caller_asked"})
    store.end_call("CA-transfer", status="completed", outcome="handed_off")
    _call(store, "CA-goodbye")
    _events(store, "CA-goodbye", "handoff_hangup", {"reason": "goodbye"})
    store.end_call("CA-goodbye", status="completed", outcome="handed_off")
    _call(store, "CA-hungup")
    store.end_call("CA-hungup", status="completed", outcome="caller_hung_up")
    _call(store, "KIOSK-1", channel="kiosk")
    _events(store, "KIOSK-1", "handoff_agent", {"reason": "kiosk_button"})
    store.end_call("KIOSK-1", status="completed", outcome="handed_off")
    _call(store, "CA-open")  # still in progress
    _call(store, "CA-out", direction="outbound")
    store.end_call("CA-out", status="completed", outcome="caller_hung_up")

    # ---- spoken answers: confidence and no-matches by dialect; keys are not answers
    for conf, kind in ((0.9, "speech"), (0.8, "speech"), (0.2, "no_match"), (0.5, "speech")):
        _answer(store, "CA-transfer", conf, "en", kind)
    _answer(store, "CA-goodbye", 0.7, "en-caribbean", "speech")
    _answer(store, "CA-goodbye", 0.1, "en-caribbean", "no_match")
    _answer(store, "CA-hungup", 0.3, None, "speech")  # before dialects were recorded
    store.add_segment("CA-hungup", "caller", "[key 1]", confidence=1.0, extra={"dtmf": True})
    store.add_segment("CA-hungup", "system", "Hello", intent="greeting", confidence=1.0)

    # ---- where callers struggle (dialog events, stored as the session writes them)
    sid = "CA-transfer"
    _events(store, sid, "state", {"from": "greeting", "to": "main_menu"}, 5)
    _events(store, sid, "state", {"from": "identify", "to": "ask_account"}, 3)
    _events(store, sid, "state", {"from": "identify", "to": "confirm_identity"}, 4)
    _events(store, sid, "state", {"from": "main_menu", "to": "confirm_goodbye"}, 2)
    _events(store, sid, "caller_request", {"state": "main_menu", "intent": "repeat"}, 2)
    _events(store, sid, "caller_request", {"state": "main_menu", "intent": "slower"}, 1)
    _events(store, sid, "caller_request", {"state": "main_menu", "intent": "person"}, 1)
    _events(store, sid, "caller_request", {"state": "main_menu", "intent": "more_time"}, 4)
    _events(store, sid, "failure", {"state": "main_menu", "kind": "no_match", "count": 1}, 2)
    _events(store, sid, "failure", {"state": "main_menu", "kind": "no_input", "count": 1}, 1)
    _events(store, sid, "failure", {"state": "ask_account", "kind": "no_match", "count": 1}, 3)
    _events(store, sid, "caller_request", {"state": "ask_account", "intent": "person"}, 2)
    _events(store, sid, "caller_request", {"state": "confirm_identity", "intent": "repeat"}, 1)
    _events(store, sid, "failure", {"state": "confirm_goodbye", "kind": "no_input", "count": 1})
    _events(store, sid, "input", {"state": "main_menu", "kind": "speech", "intent": "account"})

    # ---- faults of ours that sent callers to a person (engine: step_failed; session:
    # dialog_error, with state None when the dialog failed at the very start)
    failed = {"state": "account_info", "step": "load_account", "error": "ConnectionError: gone"}
    _events(store, sid, "step_failed", failed, 2)
    fault = {"type": "PromptError", "error": "PromptError: prompt 'welcome' needs ['balance']"}
    _events(store, sid, "dialog_error", {"where": "dtmf", "state": "confirm_identity", **fault})
    _events(store, "CA-goodbye", "dialog_error", {"where": "start", "state": None, **fault})

    # ---- an old call: none of it counts
    _call(store, "CA-old")
    _answer(store, "CA-old", 0.05, "en", "no_match")
    _events(store, "CA-old", "caller_request", {"state": "ask_account", "intent": "person"}, 9)
    _events(store, "CA-old", "handoff_agent", {"reason": "caller_asked"})
    _events(store, "CA-old", "dialog_error", {"where": "speech", "state": "main_menu"}, 3)
    store.end_call("CA-old", status="completed", outcome="handed_off")
    _backdate(store, "CA-old")

    # ---- escalations: waits 5, 12 and 40 s; one never answered; two SLA breaches
    hour = timedelta(hours=1)
    first = _escalation(store, "person_request", "low", wait_s=5, age=hour)
    _escalation(store, "person_request", "low", wait_s=12, age=hour)
    _escalation(store, "scam_signal", "medium", wait_s=40, age=hour, breach=True)
    _escalation(store, "emergency_word", "critical", wait_s=None, age=hour, breach=True)
    _escalation(store, "distress", "high", wait_s=None, age=hour, to_person=False)
    _escalation(store, "person_request", "low", wait_s=1, age=OLD * 2, breach=True)  # old
    with store.write() as session:  # notifications retried (2 calls, 1 text) and given up
        for kind, what in (
            ("send_retry", "contact_call"),
            ("send_retry", "contact_call"),
            ("send_retry", "contact_sms"),
            ("notification_failed", "contact_call"),
        ):
            session.add(EscalationEventRow(escalation_id=first, kind=kind, data={"kind": what}))

    # ---- tickets: three opened in the period, one resolved; an old one resolved now
    refs = [store.create_ticket(f"problem {n}", call_sid="CA-transfer").reference for n in range(3)]
    store.update_ticket_status(refs[0], "resolved", "sorted")
    old = store.create_ticket("an old problem").reference
    with store.write() as session:
        session.execute(
            update(TicketRow).where(TicketRow.reference == old).values(created_at=utcnow() - OLD)
        )
    store.update_ticket_status(old, "resolved", "finally")


def test_parse_since() -> None:
    assert parse_since("7d") == timedelta(days=7)
    assert parse_since("24h") == timedelta(hours=24)
    assert parse_since(" 30M ") == timedelta(minutes=30)
    assert parse_since("2w") == timedelta(weeks=2)
    for bad in ("", "7", "d", "7 days", "-1d", "1.5h", "7x", "0d", "4000w"):
        with pytest.raises(SinceError, match="--since"):
            parse_since(bad)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([40.0, 5.0, 12.0], 0.5) == 12.0
    assert percentile([40.0, 5.0, 12.0], 0.95) == 40.0
    assert percentile(range(1, 101), 0.95) == 95


def test_report_figures_equal_what_was_seeded(store: Store) -> None:
    seed(store)
    report = build_report(store, timedelta(days=7))

    calls = {(c.channel, c.outcome): c.count for c in report.calls}
    assert calls == {
        ("phone", "transferred"): 1,
        ("phone", "completed"): 1,
        ("phone", "caller_hung_up"): 1,
        ("phone", "in_progress"): 1,
        ("kiosk", "transferred"): 1,
        ("outbound", "caller_hung_up"): 1,
    }
    assert report.total_calls == 6

    rec = {r.dialect: r for r in report.recognition}
    assert set(rec) == {"en", "en-caribbean", "unknown"}
    assert (rec["en"].recognitions, rec["en"].no_matches) == (4, 1)
    assert rec["en"].no_match_rate == pytest.approx(0.25)
    assert rec["en"].mean_confidence == pytest.approx(0.6)
    assert rec["en"].median_confidence == pytest.approx(0.65)
    assert (rec["en-caribbean"].recognitions, rec["en-caribbean"].no_matches) == (2, 1)
    assert rec["en-caribbean"].mean_confidence == pytest.approx(0.4)
    assert (rec["unknown"].recognitions, rec["unknown"].no_matches) == (1, 0)

    escalations = {(e.trigger, e.severity): e.count for e in report.escalations}
    assert escalations == {
        ("person_request", "low"): 2,
        ("scam_signal", "medium"): 1,
        ("emergency_word", "critical"): 1,
        ("distress", "high"): 1,
    }
    t = report.time_to_person
    assert (t.to_person, t.answered, t.answered_within) == (4, 3, 2)
    assert t.waits_s == pytest.approx((5.0, 12.0, 40.0))
    assert (t.p50_s, t.p95_s) == (pytest.approx(12.0), pytest.approx(40.0))
    assert t.share_within == pytest.approx(0.5)
    assert t.sla_breaches == 2

    notes = {n.kind: (n.retries, n.given_up) for n in report.notifications}
    assert notes == {"contact_call": (2, 1), "contact_sms": (1, 0)}
    assert [(f.kind, f.state, f.what, f.count) for f in report.faults] == [
        ("step_failed", "account_info", "load_account", 2),
        ("dialog_error", "", "start", 1),
        ("dialog_error", "confirm_identity", "dtmf", 1),
    ]
    assert (report.tickets.opened, report.tickets.resolved, report.tickets.still_open) == (3, 2, 2)

    ranked = [
        (p.state, p.asked, p.repeats, p.no_matches, p.no_inputs, p.person_requests)
        for p in report.prompts
    ]
    assert ranked == [
        ("main_menu", 5, 3, 2, 1, 1),
        ("ask_account", 3, 0, 3, 0, 2),
        ("confirm_identity", 4, 1, 0, 0, 0),
        ("confirm_goodbye", 2, 0, 0, 1, 0),
    ]
    assert report.prompts[0].trouble == 6 and report.prompts[0].trouble_per_ask == 6 / 5

    # a shorter period than the old rows, a period that holds them
    assert build_report(store, timedelta(days=30)).time_to_person.to_person == 5
    month = build_report(store, timedelta(days=30))
    assert {p.state: p.person_requests for p in month.prompts}["ask_account"] == 11
    with pytest.raises(ValueError, match="empty"):
        build_report(store, utcnow(), until=utcnow() - timedelta(hours=1))


def test_outbound_attempts_by_kind_and_result(store: Store) -> None:
    from carestore.outbound_models import OutboundAttemptRow, OutboundCallRow

    customer = store.create_customer("Mrs Edith Harper", "11223344", phone="+441632960001")
    now = utcnow()
    results = {"checkin": ["no_answer", "answered_human"], "reminder": ["machine"]}
    with store.write() as session:
        for kind, attempts in results.items():
            call = OutboundCallRow(
                idempotency_key=f"test:{kind}",
                customer_id=customer.id,
                kind=kind,
                scheduled_for=now,
                due_at=now,
                status="completed",
                attempts=len(attempts),
                max_attempts=2,
                retry_after_s=900,
                created_by="test",
            )
            session.add(call)
            session.flush()
            for n, result in enumerate(attempts, 1):
                session.add(
                    OutboundAttemptRow(
                        outbound_call_id=call.id,
                        number=n,
                        outbox_key=f"{kind}:{n}",
                        to_number="+441632960001",
                        result=result,
                        started_at=now - timedelta(minutes=n),
                    )
                )
        session.add(  # an attempt before the period
            OutboundAttemptRow(
                outbound_call_id=call.id,
                number=9,
                outbox_key="old",
                to_number="+441632960001",
                result="busy",
                started_at=now - OLD,
            )
        )
    report = build_report(store, timedelta(days=7))
    assert report.notes == []
    assert [(o.kind, o.result, o.count) for o in report.outbound] == [
        ("checkin", "answered_human", 1),
        ("checkin", "no_answer", 1),
        ("reminder", "machine", 1),
    ]


def test_outbound_section_tolerates_a_database_without_it(store: Store) -> None:
    with store.write() as session:
        session.execute(text("DROP TABLE IF EXISTS outbound_attempts"))
    report = build_report(store, timedelta(days=1))
    assert report.outbound is None
    assert report.notes == ["no outbound call tables in this database"]


def test_cli_tables_json_and_plot(store: Store, tmp_path: Path) -> None:
    seed(store)
    url = store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    answer = runner.invoke(cli, ["report", "--since", "7d", "--db", url, "--json"])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.stdout)
    assert data["total_calls"] == 6
    assert data["time_to_person"]["share_within"] == pytest.approx(0.5)
    assert [p["state"] for p in data["prompts"]] == [
        "main_menu",
        "ask_account",
        "confirm_identity",
        "confirm_goodbye",
    ]
    assert data["prompts"][0]["trouble"] == 6
    assert data["faults"][0] == {
        "kind": "step_failed",
        "state": "account_info",
        "what": "load_account",
        "count": 2,
    }

    png = tmp_path / "plots" / "report.png"
    shown = runner.invoke(
        cli, ["report", "--since", "7d", "--db", url, "--plot", str(png)], env={"COLUMNS": "160"}
    )
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "Where callers struggle" in out and "main_menu" in out
    assert out.index("main_menu") < out.index("ask_account") < out.index("confirm_identity")
    assert "en-caribbean" in out and "person_request" in out and "plot written to" in out
    assert "Faults that sent callers to a person" in out and "load_account" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    height, width = pixels.shape[:2]
    assert width > 1000 and height > 800  # one page of six panels
    assert pixels[..., :3].std() > 0.05  # something was drawn, not a blank page


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["report", "--since", "seven days"])
    assert bad.exit_code == 2
    assert "--since 'seven days' is not understood" in bad.output and "7d" in bad.output
    missing = tmp_path / "nothing-here.db"
    gone = runner.invoke(cli, ["report", "--db", f"sqlite:///{missing}"])
    assert gone.exit_code == 2 and "no database at" in gone.output
    assert not missing.exists()  # a report never creates a database
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    unmigrated = runner.invoke(cli, ["report", "--db", f"sqlite:///{empty}"])
    assert unmigrated.exit_code == 2 and "ivr db upgrade" in unmigrated.output


def test_the_dialog_records_requests_against_the_question() -> None:
    """What the prompt ranking reads: `caller_request` events name the question (state) where
    the caller asked to hear it again (voice or key 9), slower, or for a person, whether the
    question handles the request itself (main menu, "a person" is choice 4) or the flow does."""
    from test_dialog_engine import call_at, keys, speech

    call = call_at("main_menu")
    call(keys("9"))  # repeat, by key
    call(speech("slower"))
    call(speech("repeat that"))
    call(keys("4"))  # a person: the menu's own choice
    requests = [(e.data["state"], e.data["intent"]) for e in call.events("caller_request")]
    assert requests == [
        ("main_menu", "repeat"),
        ("main_menu", "slower"),
        ("main_menu", "repeat"),
        ("main_menu", "person"),
    ]
    other = call_at("ask_account")
    other(keys("0"))  # a person, by the flow's global key
    assert [(e.data["state"], e.data["intent"]) for e in other.events("caller_request")] == [
        ("ask_account", "person")
    ]
