"""The hash-chained audit log on real SQLite and real PostgreSQL: every kind of service record
extends one chain, `verify` passes, and edits or deletions made behind the application's back
(raw SQL on the audit log, on a transcript segment, on an agent's note) are caught and named;
concurrent writers from two engines keep one unbroken chain; the migration chains entries
written before it; `ivr audit verify` exits 1 on tampering and 0 otherwise."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from escalation_fixtures import add_customer_with_contacts, make_service
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from carestore import Store, upgrade
from carestore.audit_chain import CHAIN_STARTED, GENESIS_HASH, ChainFields, row_fields
from carestore.audit_hash import text_sha256
from carestore.audit_verify import VerifyReport, verify_store
from carestore.escalation_models import AuditChainHeadRow, AuditRow
from emergency_contact.audit import audit, audit_entries
from emergency_contact.records import Trigger
from ivr.cli import app as cli_app
from ivr.settings import get_settings
from ivr.web.agent_routes import add_note

CALLER_WORDS = "I have fallen in the kitchen and I cannot get up"


def _entries(store: Store) -> list[AuditRow]:
    with store.read() as session:
        rows = list(session.scalars(select(AuditRow).order_by(AuditRow.seq)))
        session.expunge_all()  # plain objects after the read transaction ends
        return rows


def _new_since(store: Store, seq: int) -> list[tuple[str, str]]:
    return [(e.action, e.entity) for e in _entries(store) if e.seq > seq]


def _last_seq(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.max(AuditRow.seq))) or 0


def _raw(store: Store, sql: str, **params: Any) -> int:
    """Change the database behind the application's back; returns the rows touched."""
    with store.engine.begin() as connection:
        return connection.execute(text(sql), params).rowcount


def _json_param(store: Store) -> str:
    return "CAST(:data AS JSON)" if store.dialect == "postgresql" else ":data"


def _world(store: Store) -> dict[str, Any]:
    """A customer with a contact (consent given, then withdrawn), a call with a transcript, an
    escalation an agent accepts and notes on, and a ticket an agent moves on."""
    svc = make_service(store)
    cid, (contact_id,) = add_customer_with_contacts(
        store, svc, [{"name": "Susan Harper", "relationship": "daughter", "phone": "+441632960011"}]
    )
    svc.contacts.withdraw_consent(cid, contact_id, "staff:amy")
    store.start_call("CA-audit-1", "phone", "+441632960001", customer_id=cid)
    store.add_segment("CA-audit-1", "system", "Hello. How can I help you today?", intent="menu")
    caller = store.add_segment(
        "CA-audit-1",
        "caller",
        CALLER_WORDS,
        intent="help",
        confidence=0.81,
        audio_start_s=3.25,
        audio_end_s=6.5,
        extra={"phrase": "help", "cues": [{"name": "fall", "start_s": 3.25}]},
    )
    decision = svc.trigger(
        "CA-audit-1", cid, Trigger(kind="help_request", evidence={"reason": "help"})
    )
    svc.accept_agent(decision.escalation_id, "alice")
    add_note(store, decision.escalation_id, "alice", "Daughter is on her way")
    ticket = store.create_ticket("My card was swallowed", customer_id=cid, call_sid="CA-audit-1")
    store.update_ticket_status(ticket.reference, "in_progress", "agent assigned", actor="alice")
    return {
        "svc": svc,
        "customer_id": cid,
        "escalation_id": decision.escalation_id,
        "segment_id": caller.id,
        "ticket": ticket.reference,
    }


def _first(report: VerifyReport) -> Any:
    assert not report.ok, "the tampering was not caught"
    return report.first_problem


# --- the chain grows and verifies ---------------------------------------------------------------


def test_every_kind_of_record_extends_one_unbroken_chain(store: Store) -> None:
    start = _entries(store)
    assert [e.action for e in start] == [CHAIN_STARTED]  # the migration opened the chain
    assert start[0].prev_hash == GENESIS_HASH

    svc = make_service(store)
    cid, (contact_id,) = add_customer_with_contacts(
        store, svc, [{"name": "Susan Harper", "relationship": "daughter", "phone": "+441632960011"}]
    )
    assert _new_since(store, 1) == [("contact_added", "contact")]
    seq = _last_seq(store)
    svc.contacts.withdraw_consent(cid, contact_id, "staff:amy")
    assert _new_since(store, seq) == [("consent_withdrawn", "contact")]

    seq = _last_seq(store)
    store.start_call("CA-audit-1", "phone", "+441632960001", customer_id=cid)
    segment = store.add_segment(
        "CA-audit-1", "caller", CALLER_WORDS, intent="help", audio_start_s=1.0, audio_end_s=2.5
    )
    assert _new_since(store, seq) == [("segment_recorded", "transcript_segment")]
    entry = _entries(store)[-1]
    assert entry.entity_id == segment.id and entry.customer_id == cid
    assert CALLER_WORDS not in json.dumps(entry.data)  # the words only as their hash
    assert entry.data["record"]["text_sha256"] == text_sha256(CALLER_WORDS)
    assert entry.data["speaker"] == "caller" and entry.data["intent"] == "help"

    seq = _last_seq(store)
    decision = svc.trigger(
        "CA-audit-1", cid, Trigger(kind="help_request", evidence={"reason": "help"})
    )
    steps = _new_since(store, seq)
    assert steps and set(steps) == {("escalation_step", "escalation_event")}
    kinds = [e.data["kind"] for e in _entries(store) if e.seq > seq]
    assert kinds[0] == "triggered"

    seq = _last_seq(store)
    svc.accept_agent(decision.escalation_id, "alice")
    assert set(_new_since(store, seq)) == {
        ("escalation_step", "escalation_event"),
        ("escalation_accepted", "escalation"),
    }
    seq = _last_seq(store)
    add_note(store, decision.escalation_id, "alice", "Daughter is on her way")
    assert _new_since(store, seq) == [("agent_note", "escalation")]
    note_entry = _entries(store)[-1]
    assert note_entry.actor == "alice" and note_entry.data["record"]["table"] == "agent_notes"

    seq = _last_seq(store)
    ticket = store.create_ticket("My card was swallowed", customer_id=cid)
    store.update_ticket_status(ticket.reference, "in_progress", actor="alice")
    assert _new_since(store, seq) == [
        ("ticket_opened", "ticket"),
        ("ticket_status_changed", "ticket"),
    ]
    seq = _last_seq(store)
    svc.resolve(decision.escalation_id, "alice", "daughter arrived")
    assert ("escalation_resolved", "escalation") in _new_since(store, seq)

    entries = _entries(store)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.entry_hash
    assert all(row_fields(e).digest() == e.entry_hash for e in entries)
    with store.read() as session:
        head = session.get(AuditChainHeadRow, 1)
        assert (head.seq, head.entry_hash) == (entries[-1].seq, entries[-1].entry_hash)

    report = verify_store(store)
    assert report.ok, [p.describe() for p in report.problems]
    assert report.entries == len(entries) and report.last_seq == len(entries)
    with_records = [e for e in entries if "record" in (e.data or {})]
    assert report.records_checked == len(with_records) and report.records_purged == 0

    # the customer's trail of people's actions leaves the per-record entries out
    with store.read() as session:
        trail = audit_entries(session, customer_id=cid)
        everything = audit_entries(session, customer_id=cid, records=True)
    assert {e.entity for e in trail}.isdisjoint({"transcript_segment", "escalation_event"})
    assert len(everything) > len(trail) and everything[0].seq > everything[-1].seq


def test_an_entry_is_written_only_when_its_change_commits(store: Store) -> None:
    before = _last_seq(store)
    with pytest.raises(RuntimeError, match="changed my mind"), store.write() as session:
        audit(session, "staff:amy", "contact_added", "contact", 1, None, {"x": 1})
        raise RuntimeError("changed my mind")
    with store.write() as session:
        audit(session, "staff:amy", "contact_added", "contact", 2)
    assert [(e.seq, e.entity_id) for e in _entries(store)][1:] == [(before + 1, 2)]
    with pytest.raises(ValueError, match="needs an actor"), store.write() as session:
        audit(session, "  ", "contact_added", "contact", 3)
    with pytest.raises(ValueError, match="plain JSON data"), store.write() as session:
        audit(session, "staff:amy", "contact_added", "contact", 4, None, {"x": float("nan")})
    with pytest.raises(ValueError, match="no audit fingerprint"), store.write() as session:
        audit(session, "staff:amy", "viewed", "customer", 4, record=AuditRow())
    assert _last_seq(store) == before + 1  # nothing half-written by the refused ones
    assert verify_store(store).ok


# --- tampering is caught -----------------------------------------------------------------------


def test_editing_an_entry_behind_the_applications_back_is_named(store: Store) -> None:
    _world(store)
    target = next(e for e in _entries(store) if e.action == "consent_withdrawn")
    assert verify_store(store).ok
    forged = json.dumps({"note": "consent was never withdrawn"})
    touched = _raw(
        store,
        f"UPDATE audit_log SET data = {_json_param(store)} WHERE seq = :seq",
        data=forged,
        seq=target.seq,
    )
    assert touched == 1
    problem = _first(verify_store(store))
    assert (problem.seq, problem.entry_id) == (target.seq, target.id)
    assert "changed after it was written" in problem.what
    assert len(verify_store(store).problems) == 1  # the next entries' links still hold


def test_editing_the_actor_or_time_of_an_entry_is_caught(store: Store) -> None:
    _world(store)
    target = next(e for e in _entries(store) if e.action == "escalation_accepted")
    _raw(store, "UPDATE audit_log SET actor = 'mallory' WHERE id = :id", id=target.id)
    problem = _first(verify_store(store))
    assert problem.seq == target.seq and problem.action == "escalation_accepted"


def test_deleting_a_middle_entry_is_caught(store: Store) -> None:
    _world(store)
    entries = _entries(store)
    victim = entries[len(entries) // 2]
    assert _raw(store, "DELETE FROM audit_log WHERE id = :id", id=victim.id) == 1
    problem = _first(verify_store(store))
    after = entries[len(entries) // 2 + 1]
    assert (problem.seq, problem.entry_id) == (after.seq, after.id)
    assert f"seq {victim.seq}" in problem.what and "missing" in problem.what


def test_deleting_the_last_entries_is_caught_by_the_head(store: Store) -> None:
    _world(store)
    last = _last_seq(store)
    _raw(store, "DELETE FROM audit_log WHERE seq >= :seq", seq=last - 1)
    problem = _first(verify_store(store))
    assert problem.seq is None and problem.subject == "chain head"
    assert f"ends at seq {last}" in problem.what


def test_editing_a_transcript_segment_is_caught(store: Store) -> None:
    world = _world(store)
    sid = world["segment_id"]
    entry = next(
        e for e in _entries(store) if e.entity == "transcript_segment" and e.entity_id == sid
    )
    _raw(
        store,
        "UPDATE transcript_segments SET text = :t WHERE id = :id",
        t="I am fine, no need to call anyone",
        id=sid,
    )
    problem = _first(verify_store(store))
    assert (problem.seq, problem.entry_id) == (entry.seq, entry.id)
    assert f"transcript_segments #{sid}" in problem.what and "text was changed" in problem.what

    _raw(store, "UPDATE transcript_segments SET text = :t WHERE id = :id", t=CALLER_WORDS, id=sid)
    assert verify_store(store).ok  # put back exactly: the hash matches again
    _raw(store, "UPDATE transcript_segments SET audio_end_s = 9.0 WHERE id = :id", id=sid)
    assert "audio was changed" in _first(verify_store(store)).what
    _raw(store, "UPDATE transcript_segments SET audio_end_s = 6.5 WHERE id = :id", id=sid)
    _raw(store, "UPDATE transcript_segments SET speaker = 'agent' WHERE id = :id", id=sid)
    assert "kept fields" in _first(verify_store(store)).what
    _raw(store, "DELETE FROM transcript_segments WHERE id = :id", id=sid)
    assert f"transcript_segments #{sid} was deleted" in _first(verify_store(store)).what


def test_a_segment_added_behind_the_applications_back_is_caught(store: Store) -> None:
    _world(store)
    with store.read() as session:
        call_id = session.scalar(text("SELECT id FROM calls WHERE call_sid = 'CA-audit-1'"))
    _raw(
        store,
        "INSERT INTO transcript_segments (call_id, seq, speaker, text, created_at) "
        "VALUES (:c, 99, 'caller', 'please send my savings to this account', :at)",
        c=call_id,
        at=_entries(store)[-1].at.replace(tzinfo=None),
    )
    problem = _first(verify_store(store))
    assert problem.subject.startswith("transcript_segments #") and "no audit entry" in problem.what


def test_editing_an_agents_note_or_an_escalation_step_is_caught(store: Store) -> None:
    world = _world(store)
    _raw(store, "UPDATE agent_notes SET text = 'nothing happened'")
    assert "agent_notes #" in _first(verify_store(store)).what
    _raw(store, "UPDATE agent_notes SET text = 'Daughter is on her way'")
    assert verify_store(store).ok
    _raw(
        store,
        "UPDATE escalation_events SET kind = 'nothing' WHERE escalation_id = :e AND kind = :k",
        e=world["escalation_id"],
        k="agent_accepted",
    )
    problem = _first(verify_store(store))
    assert problem.action == "escalation_step" and "escalation_events #" in problem.what


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_writers_on_two_engines_keep_one_chain(db_url: str) -> None:
    upgrade(db_url)
    stores = [Store(db_url), Store(db_url)]
    threads_per_store, writes = 2, 15
    barrier = threading.Barrier(len(stores) * threads_per_store)
    errors: list[BaseException] = []

    def writer(store: Store, n: int) -> None:
        try:
            sid = f"CA-race-{n}"
            store.start_call(sid, "phone")
            barrier.wait()
            for i in range(writes):
                store.add_segment(sid, "caller", f"words {n}.{i}")
                with store.write() as session:
                    audit(session, f"writer-{n}", "viewed", "customer", i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(stores[k % 2], k))
        for k in range(len(stores) * threads_per_store)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        report = verify_store(stores[0])
        assert report.ok, [p.describe() for p in report.problems]
        expected = 1 + len(threads) * writes * 2
        assert report.entries == report.last_seq == expected
        assert [e.seq for e in _entries(stores[1])] == list(range(1, expected + 1))
    finally:
        for s in stores:
            s.close()


# --- the migration ------------------------------------------------------------------------------


def test_migration_chains_the_entries_written_before_it(db_url: str) -> None:
    upgrade(db_url, "0004_voice_profile")
    old = Store(db_url)
    try:
        with old.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO calls (call_sid, channel, direction, started_at, status, "
                    "last_segment_seq, last_event_seq) VALUES ('CA-old', 'phone', 'inbound', "
                    "'2025-01-02 03:04:05', 'completed', 1, 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO transcript_segments (call_id, seq, speaker, text, created_at) "
                    "SELECT id, 1, 'caller', 'an old call', '2025-01-02 03:04:06' FROM calls"
                )
            )
            for n, actor in enumerate(("staff:amy", "staff:bob", "system")):
                connection.execute(
                    text(
                        "INSERT INTO audit_log (at, actor, action, entity, entity_id) "
                        "VALUES (:at, :actor, 'contact_added', 'contact', :n)"
                    ),
                    {"at": f"2025-01-0{n + 1} 10:00:00", "actor": actor, "n": n},
                )
    finally:
        old.close()
    upgrade(db_url)
    store = Store(db_url)
    try:
        entries = _entries(store)
        assert [(e.seq, e.actor) for e in entries] == [
            (1, "staff:amy"),
            (2, "staff:bob"),
            (3, "system"),
            (4, "system"),
        ]
        assert entries[3].action == CHAIN_STARTED
        assert entries[3].data == {
            "recorded_before_chain": {"escalation_events": 0, "transcript_segments": 1}
        }
        expected = ChainFields(
            1,
            entries[0].at,
            "staff:amy",
            "contact_added",
            "contact",
            0,
            None,
            None,
            GENESIS_HASH,
        ).digest()
        assert entries[0].entry_hash == expected
        report = verify_store(store)  # the old segment predates the chain: not flagged
        assert report.ok and report.entries == 4, [p.describe() for p in report.problems]
        store.add_segment("CA-old", "system", "a new line on an old call")
        assert verify_store(store).ok
    finally:
        store.close()


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Run `ivr ...` against `db_url` (settings read from the environment, as in service)."""
    monkeypatch.setenv("IVR_DATABASE_URL", db_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_app, list(args))
    get_settings.cache_clear()


def test_cli_verify_exits_1_on_tampering_and_0_otherwise(store: Store, cli) -> None:  # noqa: ANN001
    world = _world(store)
    ok = cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output and f"{_last_seq(store)} entries" in ok.output

    shown = cli("audit", "show", "--customer", str(world["customer_id"]), "--json")
    assert shown.exit_code == 0, shown.output
    actions = [e["action"] for e in json.loads(shown.output)]
    assert "consent_withdrawn" in actions and "segment_recorded" not in actions
    records = cli("audit", "show", "--customer", str(world["customer_id"]), "--records", "--json")
    assert "segment_recorded" in [e["action"] for e in json.loads(records.output)]
    table = cli("audit", "show", "--customer", str(world["customer_id"]))
    assert table.exit_code == 0 and f"audit entries of customer {world['customer_id']}" in (
        table.output
    )

    _raw(
        store,
        "UPDATE transcript_segments SET text = 'all is well' WHERE id = :id",
        id=world["segment_id"],
    )
    broken = cli("audit", "verify")
    assert broken.exit_code == 1, broken.output
    entry = next(
        e
        for e in _entries(store)
        if e.entity == "transcript_segment" and e.entity_id == world["segment_id"]
    )
    assert "BROKEN" in broken.output
    assert f"entry seq {entry.seq} (id {entry.id}) [segment_recorded]" in broken.output
    as_json = cli("audit", "verify", "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["first_problem"]["seq"] == entry.seq


def test_cli_verify_refuses_a_database_that_is_not_migrated(db_url: str, cli) -> None:  # noqa: ANN001
    result = cli("audit", "verify")
    assert result.exit_code == 2
    assert "ivr db upgrade" in result.output
