"""Retention on real SQLite and real PostgreSQL: old transcripts lose their words and audio
references (and the hand-off package's copies), new ones are kept, the purge is itself in the
audit chain and `verify` still passes; a "purge" made behind the application's back is caught;
the scheduled purge runs in the background and stops when cancelled; `ivr audit purge`."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from escalation_fixtures import make_service
from pydantic import ValidationError
from sqlalchemy import select, text
from typer.testing import CliRunner

from carestore import Store
from carestore.audit_hash import text_sha256
from carestore.audit_verify import PURGE_ACTION, verify_store
from carestore.escalation_models import AuditRow, EscalationRow
from carestore.retention import cutoff_for, purge_before, purge_expired
from carestore.timeutil import utcnow
from ivr.cli import app as cli_app
from ivr.retention import retention_loop, start_retention, stop_retention
from ivr.settings import Settings, get_settings

OLD_WORDS = ["Hello, this is the care line.", "I have fallen and I cannot get up", "[key 1]"]
NEW_WORDS = ["Hello again.", "my balance please"]


def _call(store: Store, sid: str, words: list[str], customer_id: int | None = None) -> None:
    store.start_call(sid, "phone", "+441632960001", customer_id=customer_id)
    for n, said in enumerate(words):
        store.add_segment(
            sid,
            "system" if n == 0 else "caller",
            said,
            intent="help" if "fallen" in said else None,
            audio_start_s=2.0 * n,
            audio_end_s=2.0 * n + 1.5,
            extra={"phrase": said.lower()},
        )


def _purges(store: Store) -> list[AuditRow]:
    with store.read() as session:
        rows = list(
            session.scalars(
                select(AuditRow).where(AuditRow.action == PURGE_ACTION).order_by(AuditRow.seq)
            )
        )
        session.expunge_all()
        return rows


def test_purge_removes_old_words_keeps_new_ones_and_the_chain_verifies(store: Store) -> None:
    customer = store.create_customer("Mrs Edith Harper", "11223344", phone="+441632960001")
    _call(store, "CA-old", OLD_WORDS, customer.id)
    svc = make_service(store)
    trigger = svc.trigger_for_call("CA-old", "help")  # its evidence quotes the caller
    esc = svc.trigger("CA-old", customer.id, trigger)
    package = svc.package(esc.escalation_id)
    assert any("fallen" in w for w in package["caller_words"])  # the copies that must go too
    assert any("fallen" in w for w in package["escalation"]["evidence"]["words"])
    cutoff = utcnow()
    _call(store, "CA-new", NEW_WORDS, customer.id)

    dry = purge_before(store, cutoff, dry_run=True)
    assert (dry.segments, dry.packages, dry.events, dry.dry_run) == (len(OLD_WORDS), 1, 1, True)
    assert [s.text for s in store.transcript("CA-old")] == OLD_WORDS  # nothing touched
    assert _purges(store) == []

    done = purge_before(store, cutoff, actor="test", batch_size=2)  # several batches
    assert (done.segments, done.packages, done.events) == (len(OLD_WORDS), 1, 1)
    old = store.transcript("CA-old")
    assert [s.text for s in old] == ["", "", ""]
    assert all(s.audio_start_s is None and s.audio_end_s is None and not s.extra for s in old)
    assert [(s.speaker, s.intent) for s in old][:2] == [("system", None), ("caller", "help")]
    new = store.transcript("CA-new")
    assert [s.text for s in new] == NEW_WORDS and all(s.extra for s in new)

    with store.read() as session:
        row = session.get(EscalationRow, esc.escalation_id)
        stored_package, evidence = row.package, row.evidence
    assert stored_package["transcript"] == [] and stored_package["caller_words"] == []
    assert stored_package["purged_at"] and stored_package["caller"]["name"] == "Mrs Edith Harper"
    assert "words" not in stored_package["escalation"]["evidence"]
    assert "words" not in evidence and evidence["reason"] == "help"
    triggered = next(e for e in svc.events(esc.escalation_id) if e.kind == "triggered")
    assert "words" not in triggered.data["evidence"] and triggered.data["purged_at"]
    assert triggered.data["evidence"]["reason"] == "help"  # the rest of the step stays

    purges = _purges(store)
    assert [p.data["table"] for p in purges] == [
        "transcript_segments",
        "transcript_segments",
        "escalations.package",
        "escalation_events",
    ]
    assert sum(p.data["count"] for p in purges[:2]) == len(OLD_WORDS)
    assert all(p.actor == "test" for p in purges)

    # the entries written when the words were said still prove what was there
    with store.read() as session:
        entry = session.scalars(
            select(AuditRow).where(
                AuditRow.entity == "transcript_segment", AuditRow.entity_id == old[1].id
            )
        ).one()
        assert entry.data["record"]["text_sha256"] == text_sha256(OLD_WORDS[1])

    report = verify_store(store)
    assert report.ok, [p.describe() for p in report.problems]
    assert report.records_purged == len(OLD_WORDS) + 1  # and the step that quoted them
    assert report.records_checked >= len(NEW_WORDS)

    again = purge_before(store, cutoff)
    assert (again.segments, again.packages, again.events) == (0, 0, 0)
    assert len(_purges(store)) == len(purges)  # nothing purged, nothing recorded

    # a purged step is still guarded: what the purge kept cannot be changed unseen
    forged = json.dumps({**triggered.data, "severity": "low"})
    cast = "CAST(:d AS JSON)" if store.dialect == "postgresql" else ":d"
    with store.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE escalation_events SET data = {cast} WHERE id = :id"),
            {"d": forged, "id": triggered.id},
        )
    problem = verify_store(store).first_problem
    assert f"escalation_events #{triggered.id} was changed" in problem.what


def test_a_purge_made_behind_the_applications_back_is_caught(store: Store) -> None:
    _call(store, "CA-1", OLD_WORDS)
    seg = store.transcript("CA-1")[1]
    with store.engine.begin() as connection:  # looks like a purge, but none was recorded
        connection.execute(
            text(
                "UPDATE transcript_segments SET text = '', extra = NULL, audio_start_s = NULL, "
                "audio_end_s = NULL, purged_at = created_at WHERE id = :id"
            ),
            {"id": seg.id},
        )
    report = verify_store(store)
    assert not report.ok
    assert "no purge recorded in the chain covers it" in report.first_problem.what

    purge_before(store, utcnow())  # a real purge afterwards covers it: the chain is whole
    assert verify_store(store).ok
    with store.engine.begin() as connection:  # words put back into a purged row
        connection.execute(
            text("UPDATE transcript_segments SET text = 'I am fine' WHERE id = :id"),
            {"id": seg.id},
        )
    assert "marked purged but still holds its text" in verify_store(store).first_problem.what


def test_retention_period_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="positive number of days"):
        purge_expired(store, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        purge_before(store, utcnow().replace(tzinfo=None))
    with pytest.raises(ValidationError, match="retention_days"):
        Settings(retention_days=0)
    assert cutoff_for(30, utcnow()) < utcnow() - timedelta(days=29)
    assert Settings().retention_days == 365


def test_scheduled_purge_runs_in_the_background_and_stops(store: Store) -> None:
    _call(store, "CA-sched", OLD_WORDS)
    later = utcnow() + timedelta(days=400)  # a clock past the retention period

    async def run() -> None:
        task = asyncio.create_task(
            retention_loop(store, 365, 0.05, first_delay_s=0, clock=lambda: later)
        )
        for _ in range(600):  # up to 30 s on a busy machine; usually the first pass
            if all(s.text == "" for s in store.transcript("CA-sched")):
                break
            await asyncio.sleep(0.05)
        await stop_retention(task)
        assert task.cancelled()

    asyncio.run(run())
    assert [s.text for s in store.transcript("CA-sched")] == ["", "", ""]
    assert len(_purges(store)) == 1  # later passes found nothing more to do
    assert verify_store(store).ok

    async def wiring() -> None:
        assert start_retention(Settings(retention_purge_interval_s=0), store) is None
        task = start_retention(Settings(retention_purge_interval_s=3600), store)
        assert task is not None and not task.done()
        await stop_retention(task)
        assert task.cancelled()

    asyncio.run(wiring())


def test_cli_purge(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _call(store, "CA-cli", NEW_WORDS)
    monkeypatch.setenv("IVR_DATABASE_URL", db_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        dry = runner.invoke(cli_app, ["audit", "purge", "--older-than", "1", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would purge 0 transcript segment(s), 0 hand-off package(s)" in dry.output
        bad = runner.invoke(cli_app, ["audit", "purge", "--older-than", "0"])
        assert bad.exit_code == 2 and "--older-than" in bad.output
        done = runner.invoke(cli_app, ["audit", "purge"])  # the configured 365 days
        assert done.exit_code == 0 and "purged 0 transcript segment(s)" in done.output
        assert "(365 days)" in done.output
        assert [s.text for s in store.transcript("CA-cli")] == NEW_WORDS
        assert runner.invoke(cli_app, ["audit", "verify"]).exit_code == 0
    finally:
        get_settings.cache_clear()
