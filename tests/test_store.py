"""The store on real SQLite and real PostgreSQL (see conftest_db.py for the fixtures)."""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from ivr.dialog.backend import DialogBackend
from ivr.store import (
    AlreadyExists,
    InvalidPhoneNumber,
    InvalidPin,
    InvalidValue,
    NotFound,
    Store,
    StoreError,
    UnknownCall,
    normalise_phone,
    normalise_url,
    upgrade,
)
from ivr.store.backend import StoreBackend
from ivr.store.migrate import current_revision, head_revision
from ivr.store.models import Base
from ivr.store.reference import is_valid_reference, luhn_check_digit
from ivr.store.seed import DEMO_CUSTOMERS, seed

REPO = Path(__file__).resolve().parents[1]

HOSTILE_TEXTS = [
    "Robert'); DROP TABLE transcript_segments;--",
    "' OR '1'='1' --",
    '"; DELETE FROM calls WHERE "1"="1',
    "back\\slash \\x00 \\n literal escapes and 100% %s %(name)s {0} {{}}",
    "line one\nline two\r\nline three\ttabbed",
    "\x01\x02\x07\x1b[31m control characters and ANSI \x7f",
    "할머니 전화 드렸어요 — 안녕하세요",
    "emoji 👵🏼📞 and combining e\u0301 and zero\u200bwidth",
    "\u202eright-to-left override\u202c and \ufeffBOM",
    "  leading and trailing spaces  ",
    "",
    "x" * 100_000,
]


def _run_threads(targets: list) -> None:
    errors: list[BaseException] = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --- migrations -------------------------------------------------------------------------------


def test_migrations_from_empty_match_models(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    upgrade(db_url)  # a second upgrade is a no-op
    store = Store(db_url)
    try:
        with store.engine.connect() as connection:
            names = set(inspect(connection).get_table_names())
            assert set(Base.metadata.tables) <= names
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"migrated schema differs from the models: {diff}"
    finally:
        store.close()


def test_url_normalisation() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h:5433/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ValueError, match="unsupported database"):
        normalise_url("mysql://u@h/db")


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    store = Store(url)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        # usable from a thread other than the one that opened it
        results: list[int] = []
        _run_threads([lambda: results.append(store.start_call("CA-thread", "phone"))])
        assert store.get_call("CA-thread").id == results[0]
    finally:
        store.close()


# --- calls, segments, events ------------------------------------------------------------------


def test_segments_and_events_visible_to_another_connection_before_call_ends(
    store: Store, db_url: str
) -> None:
    store.start_call("CA100", "phone", "+441632960001", "+442079460000")
    store.add_segment("CA100", "system", "Hello. You can speak or press keys.")
    store.add_segment(
        "CA100",
        "caller",
        "my balance please",
        intent="balance",
        confidence=0.82,
        audio_start_s=3.5,
        audio_end_s=4.75,
        extra={"words": [["balance", 0.9]]},
    )
    store.add_event("CA100", "state", state_from="greeting", state_to="menu", data={"why": "x"})

    other = Store(db_url)  # its own engine and connections
    try:
        call = other.get_call("CA100")
        assert call is not None and call.ended_at is None and call.status == "in-progress"
        segments = other.transcript("CA100")
        assert [(s.seq, s.speaker, s.text) for s in segments] == [
            (1, "system", "Hello. You can speak or press keys."),
            (2, "caller", "my balance please"),
        ]
        assert segments[1].intent == "balance"
        assert segments[1].confidence == pytest.approx(0.82)
        assert (segments[1].audio_start_s, segments[1].audio_end_s) == (3.5, 4.75)
        assert segments[1].extra == {"words": [["balance", 0.9]]}
        events = other.events("CA100")
        assert [(e.seq, e.kind, e.state_from, e.state_to, e.data) for e in events] == [
            (1, "state", "greeting", "menu", {"why": "x"})
        ]
        # and with plain SQL on that other connection
        with other.engine.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM transcript_segments s JOIN calls c ON c.id = s.call_id "
                    "WHERE c.call_sid = 'CA100'"
                )
            ).scalar()
        assert count == 2
    finally:
        other.close()


@pytest.mark.parametrize("writers", [4])
def test_seq_is_gap_free_and_ordered_under_concurrent_writers(store: Store, writers: int) -> None:
    per_writer = 15
    store.start_call("CA-conc", "kiosk")

    def writer(n: int):
        def run() -> None:
            for i in range(per_writer):
                store.add_segment("CA-conc", "caller", f"w{n}-{i}")
                store.add_event("CA-conc", "tick", data={"w": n, "i": i})

        return run

    _run_threads([writer(n) for n in range(writers)])
    segments = store.transcript("CA-conc")
    events = store.events("CA-conc")
    total = writers * per_writer
    assert [s.seq for s in segments] == list(range(1, total + 1))
    assert [e.seq for e in events] == list(range(1, total + 1))
    assert sorted(s.text for s in segments) == sorted(
        f"w{n}-{i}" for n in range(writers) for i in range(per_writer)
    )
    for n in range(writers):  # each writer's own items keep its order
        mine = [int(s.text.split("-")[1]) for s in segments if s.text.startswith(f"w{n}-")]
        assert mine == list(range(per_writer))
        mine_events = [e.data["i"] for e in events if e.data["w"] == n]
        assert mine_events == list(range(per_writer))


def test_start_call_is_idempotent_even_concurrently(store: Store) -> None:
    ids: list[int] = []
    _run_threads([lambda: ids.append(store.start_call("CA-same", "phone")) for _ in range(4)])
    assert len(set(ids)) == 1
    assert store.start_call("CA-same", "phone", "+441632960001") == ids[0]
    assert store.get_call("CA-same").from_number is None  # the first start's values stay


def test_end_call_is_idempotent(store: Store) -> None:
    store.start_call("CA-end", "phone")
    first = store.end_call("CA-end", status="completed")
    assert first.ended_at is not None and first.ended_at.tzinfo is not None
    assert first.outcome is None
    again = store.end_call("CA-end", status="failed", outcome="caller hung up")
    assert again.ended_at == first.ended_at
    assert again.status == "completed"
    assert again.outcome == "caller hung up"  # a missing outcome is filled in
    third = store.end_call("CA-end", outcome="something else")
    assert third.outcome == "caller hung up"
    assert store.get_call("CA-end") == third
    with pytest.raises(UnknownCall, match="CA-nope"):
        store.end_call("CA-nope")
    with pytest.raises(UnknownCall):
        store.add_segment("CA-nope", "caller", "hello")


def test_bad_call_values_rejected(store: Store) -> None:
    with pytest.raises(InvalidValue, match="channel"):
        store.start_call("CA-bad", "fax")
    assert store.get_call("CA-bad") is None
    store.start_call("CA-v", "phone")
    with pytest.raises(InvalidValue, match="speaker"):
        store.add_segment("CA-v", "robot", "hi")
    with pytest.raises(InvalidValue, match="finite"):
        store.add_segment("CA-v", "caller", "hi", confidence=float("nan"))
    with pytest.raises(InvalidValue, match="JSON"):
        store.add_event("CA-v", "x", data={"obj": object()})
    with pytest.raises(InvalidValue, match="timezone-aware"):
        store.add_event("CA-v", "x", at=datetime(2024, 1, 1))
    assert store.transcript("CA-v") == [] and store.events("CA-v") == []
    # rejected writes used no sequence numbers
    assert store.add_segment("CA-v", "caller", "ok").seq == 1


def test_hostile_text_is_stored_verbatim(store: Store, db_url: str) -> None:
    store.start_call("CA-hostile", "phone", from_number="'; DROP TABLE calls;--")
    for item in HOSTILE_TEXTS:
        store.add_segment("CA-hostile", "caller", item, extra={"echo": item})
    other = Store(db_url)
    try:
        segments = other.transcript("CA-hostile")
        assert [s.text for s in segments] == HOSTILE_TEXTS
        assert [s.extra["echo"] for s in segments] == HOSTILE_TEXTS
        assert other.get_call("CA-hostile").from_number == "'; DROP TABLE calls;--"
    finally:
        other.close()
    with pytest.raises(InvalidValue, match="NUL"):
        store.add_segment("CA-hostile", "caller", "nul\x00inside")
    assert len(store.transcript("CA-hostile")) == len(HOSTILE_TEXTS)


def test_timestamps_are_utc_aware(store: Store) -> None:
    before = datetime.now(UTC)
    store.start_call("CA-t", "phone")
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(hours=2)
    event = store.add_event(
        "CA-t", "x", at=at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Seoul"))
    )
    events = store.events("CA-t")
    assert events[0].at == at and events[0].at.utcoffset() == timedelta(0)
    assert event.at == at
    call = store.get_call("CA-t")
    assert call.started_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= call.started_at <= datetime.now(UTC)


def test_status_callbacks_recorded_and_close_the_call(store: Store) -> None:
    store.start_call("CA-cb", "phone")
    raw = {"CallSid": "CA-cb", "CallStatus": "in-progress", "Note": "ünïcode ' \""}
    store.record_status_callback("CA-cb", "in-progress", raw)
    assert store.get_call("CA-cb").ended_at is None
    store.record_status_callback("CA-cb", "completed", {"CallStatus": "completed"})
    call = store.get_call("CA-cb")
    assert call.status == "completed" and call.ended_at is not None
    # the session's own end afterwards keeps the end time and fills the outcome
    ended = store.end_call("CA-cb", outcome="resolved")
    assert ended.ended_at == call.ended_at and ended.outcome == "resolved"
    callbacks = store.status_callbacks("CA-cb")
    assert [c.status for c in callbacks] == ["in-progress", "completed"]
    assert callbacks[0].raw == raw
    # callbacks for calls we never saw are kept too
    store.record_status_callback("CA-unseen", "busy", {})
    assert [c.status for c in store.status_callbacks("CA-unseen")] == ["busy"]


# --- customers ---------------------------------------------------------------------------------


def test_phone_normalisation() -> None:
    assert normalise_phone("+44 1632 960001") == "+441632960001"
    assert normalise_phone("0044 (0)1632-960001") == "+441632960001"
    assert normalise_phone("01632 960001", "GB") == "+441632960001"
    assert normalise_phone("(202) 555-0143", "US") == "+12025550143"
    assert normalise_phone("+1 202-555-0143") == "+12025550143"
    assert normalise_phone("+82 10-1234-5678") == "+821012345678"
    with pytest.raises(InvalidPhoneNumber, match="country code"):
        normalise_phone("01632 960001")
    for bad in ["12345", "+44 1632", "+44 1234 567", "not a number", "", "+999 123456"]:
        with pytest.raises(InvalidPhoneNumber):
            normalise_phone(bad)


def test_customers_crud_and_phone_rules(store: Store) -> None:
    margaret = store.create_customer(
        "Margaret", "1000 0001", pin="4821", phone="+44 1632 960001", dialect="en-gb"
    )
    assert margaret.phone == "+441632960001" and margaret.account_number == "10000001"
    assert margaret.has_pin and not margaret.keypad_only
    with pytest.raises(InvalidPhoneNumber):
        store.create_customer("Bad", "10000009", phone="+44 12")
    assert store.customer_by_account("10000009") is None  # nothing half-stored
    with pytest.raises(AlreadyExists, match="phone"):
        store.create_customer("Twin", "10000002", phone="01632 960001", default_region="GB")
    with pytest.raises(AlreadyExists, match="account"):
        store.create_customer("Twin", "10000001")
    with pytest.raises(InvalidValue, match="account number"):
        store.create_customer("X", "12ab")
    assert store.customer_by_phone("+44 (0)1632 960001") == store.get_customer(margaret.id)
    assert store.customer_by_phone("anonymous") is None

    updated = store.update_customer(margaret.id, keypad_only=True, dialect=None, name="Maggie")
    assert (updated.keypad_only, updated.dialect, updated.name) == (True, None, "Maggie")
    assert updated.phone == "+441632960001"  # untouched
    assert updated.updated_at >= margaret.updated_at
    cleared = store.update_customer(margaret.id, phone=None)
    assert cleared.phone is None and store.customer_by_phone("+441632960001") is None

    store.start_call("CA-m", "phone", customer_id=margaret.id)
    store.set_preferred_rate(margaret.id, 110, call_sid="CA-m")
    assert store.get_customer(margaret.id).preferred_rate_wpm == 110
    assert store.get_call("CA-m").preferred_rate_wpm == 110
    with pytest.raises(InvalidValue, match="rate"):
        store.set_preferred_rate(margaret.id, 5)
    assert [c.call_sid for c in store.calls_for_customer(margaret.id)] == ["CA-m"]

    account = store.set_account(
        margaret.id,
        balance="1234.5",
        next_payment_amount=Decimal("45"),
        next_payment_date=date(2030, 1, 2),
        maturing_product="bond",
        maturing_date=date(2030, 6, 1),
    )
    assert account.balance == Decimal("1234.50") and account.currency == "GBP"
    assert store.get_account(margaret.id) == account

    store.delete_customer(margaret.id)
    assert store.get_customer(margaret.id) is None and store.get_account(margaret.id) is None
    assert store.get_call("CA-m").customer_id is None  # the call stays, unlinked
    with pytest.raises(NotFound):
        store.delete_customer(margaret.id)


def test_pin_verification(store: Store) -> None:
    customer = store.create_customer("Harold", "10000002", pin="2580")
    assert store.verify_pin("10000002", "2580") == customer
    assert store.verify_pin("1000 0002", "2580") == customer
    assert store.verify_pin("10000002", "2581") is None
    assert store.verify_pin("10000002", "") is None
    assert store.verify_pin("99999999", "2580") is None
    assert store.verify_pin("not digits", "2580") is None
    with store.read() as session:
        stored = session.execute(text("SELECT pin_hash FROM customers")).scalar()
    assert stored.startswith("$argon2id$") and "2580" not in stored
    for bad in ["123", "123456789", "12a4", "١٢٣٤"]:
        with pytest.raises(InvalidPin):
            store.set_pin(customer.id, bad)
    store.set_pin(customer.id, "97531")
    assert store.verify_pin("10000002", "2580") is None
    assert store.verify_pin("10000002", "97531") == store.get_customer(customer.id)
    no_pin = store.create_customer("No Pin", "10000003")
    assert not no_pin.has_pin and store.verify_pin("10000003", "") is None


# --- tickets -----------------------------------------------------------------------------------


def test_ticket_references_unique_with_status_history(store: Store) -> None:
    customer = store.create_customer("Dorothy", "20000143", phone="+12025550143")
    store.start_call("CA-t1", "phone", customer_id=customer.id)
    refs = [
        store.create_ticket(f"problem {i}", customer_id=customer.id, call_sid="CA-t1").reference
        for i in range(30)
    ]
    assert len(set(refs)) == len(refs)
    assert all(len(r) == 6 and is_valid_reference(r) for r in refs)

    # a colliding draw is retried
    taken = refs[0]
    fresh = "12345" + luhn_check_digit("12345")
    draws = iter([taken, taken, fresh])
    store.reference_factory = lambda: next(draws)
    ticket = store.create_ticket("My card was swallowed by the machine", customer_id=customer.id)
    assert ticket.reference == fresh and ticket.status == "received"
    store.reference_factory = lambda: taken
    with pytest.raises(StoreError, match="no free ticket reference"):
        store.create_ticket("never gets a reference")
    del store.reference_factory

    moved = store.update_ticket_status(fresh, "in_progress", note="agent assigned")
    assert moved.status == "in_progress" and moved.updated_at >= ticket.updated_at
    store.update_ticket_status(fresh, "in_progress")  # no change, no history row
    store.update_ticket_status("123 45-" + fresh[-1], "resolved")
    history = store.ticket_history(fresh)
    assert [(h.status_from, h.status_to, h.note) for h in history] == [
        (None, "received", None),
        ("received", "in_progress", "agent assigned"),
        ("in_progress", "resolved", None),
    ]
    with pytest.raises(InvalidValue, match="status"):
        store.update_ticket_status(fresh, "lost")
    with pytest.raises(NotFound):
        store.update_ticket_status("999999", "resolved")
    wrong_check = fresh[:-1] + str((int(fresh[-1]) + 1) % 10)
    assert store.get_ticket(wrong_check) is None

    mine = store.tickets_for_customer(customer.id, limit=100)
    assert mine[0].reference == fresh and len(mine) == 31
    assert mine[-1].reference == refs[0] and mine[-1].call_sid == "CA-t1"
    with pytest.raises(InvalidValue):
        store.create_ticket("   ")
    with pytest.raises(UnknownCall):
        store.create_ticket("x", call_sid="CA-never")


# --- the dialog backend ------------------------------------------------------------------------


def test_store_backend_serves_the_dialog(store: Store) -> None:
    backend: DialogBackend = StoreBackend(store)
    customer = store.create_customer(
        "Margaret", "10000001", pin="4821", phone="+441632960001", preferred_rate_wpm=120
    )
    store.set_account(
        customer.id,
        balance=Decimal("10.00"),
        maturing_product="bond",
        maturing_date=date(2031, 1, 1),
    )
    store.start_call("CA-b", "phone", "+441632960001")

    found = backend.identify_by_phone("+44 1632 960001")
    assert found is not None and found.id == customer.id and found.preferred_rate_wpm == 120
    assert backend.identify_by_phone("+441632960099") is None
    assert backend.identify_by_phone("anonymous") is None
    assert backend.identify_by_account("10000001", "4821").id == customer.id
    assert backend.identify_by_account("10000001", "1111") is None
    summary = backend.account_summary(customer.id)
    assert summary.balance == Decimal("10.00") and summary.maturing_date == date(2031, 1, 1)

    ref = backend.create_ticket(customer.id, "CA-b", "The bank charged me twice for the same bill")
    assert store.get_ticket(ref).call_sid == "CA-b"
    assert backend.ticket_by_reference(" ".join(ref)).status == "received"
    lost_call_ref = backend.create_ticket(customer.id, "CA-not-recorded", "another problem")
    assert store.get_ticket(lost_call_ref).call_sid is None
    assert [t.reference for t in backend.latest_tickets(customer.id)] == [lost_call_ref, ref]
    assert backend.ticket_by_reference("000000") is None

    backend.set_preferred_rate(customer.id, 100)
    assert store.get_customer(customer.id).preferred_rate_wpm == 100
    other = store.create_customer("No account", "10000005")
    with pytest.raises(NotFound, match="no account"):
        backend.account_summary(other.id)


# --- demo data -------------------------------------------------------------------------------


def test_seed_is_idempotent(store: Store) -> None:
    first = seed(store)
    assert len(first.created) == len(DEMO_CUSTOMERS) and not first.existing
    for customer, pin in first.created:
        assert store.verify_pin(customer.account_number, pin) == store.get_customer(customer.id)
        assert store.get_account(customer.id) is not None
    assert len(first.tickets) == 1 and first.tickets[0].status == "in_progress"
    maturing = [store.get_account(c.id) for c, _ in first.created]
    assert any(a.maturing_product and a.maturing_date for a in maturing)
    second = seed(store)
    assert not second.created and not second.tickets
    assert len(second.existing) == len(DEMO_CUSTOMERS)
    assert len(store.list_customers()) == len(DEMO_CUSTOMERS)


def test_cli_db_upgrade_and_seed(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "IVR_DATABASE_URL": db_url, "IVR_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    ivr = [str(REPO / ".venv/bin/ivr")]
    up = subprocess.run(
        [*ivr, "db", "upgrade"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert up.returncode == 0, up.stderr
    assert head_revision() in up.stdout
    first = subprocess.run(
        [*ivr, "db", "seed"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert first.returncode == 0, first.stderr
    for demo in DEMO_CUSTOMERS:
        assert demo.account_number in first.stdout
    second = subprocess.run(
        [*ivr, "db", "seed"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "already there" in second.stdout and "PIN" not in second.stdout.replace(
        "PIN unchanged", ""
    )
    store = Store(db_url)
    try:
        assert len(store.list_customers()) == len(DEMO_CUSTOMERS)
    finally:
        store.close()


def test_cli_upgrade_creates_sqlite_data_dir(tmp_path: Path) -> None:
    env = {**os.environ, "IVR_DATA_DIR": str(tmp_path / "deep" / "data")}
    env.pop("IVR_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [str(REPO / ".venv/bin/ivr"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "deep" / "data" / "ivr.db").is_file()
    assert current_revision(f"sqlite:///{tmp_path / 'deep' / 'data' / 'ivr.db'}") == head_revision()


def test_voice_profile_opt_out_and_baseline(store) -> None:  # noqa: ANN001
    c = store.create_customer("Mr Voice", "70707070", phone="+441632960070")
    assert store.voice_profile(c.id).cues_opt_out is False
    assert store.voice_profile(c.id).baseline is None
    assert store.set_voice_baseline(c.id, {"utterances": 3, "stats": {"f0": [1.0, 2.0]}})
    assert store.voice_profile(c.id).baseline["utterances"] == 3
    store.set_voice_cues_opt_out(c.id, True)
    assert store.voice_profile(c.id).baseline is None
    assert store.set_voice_baseline(c.id, {"utterances": 1}) is False  # refused after opt-out
    store.set_voice_cues_opt_out(c.id, False)
    assert store.voice_profile(c.id).cues_opt_out is False
    from carestore.errors import NotFound

    with pytest.raises(NotFound):
        store.set_voice_cues_opt_out(999_999, True)
