"""Calls, their transcript segments and dialog events, and Twilio status callbacks.

Every write is its own short transaction, committed before the method returns, so whatever
happened up to a hangup or a dropped websocket is already on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carestore.audit_chain import append
from carestore.engine import StoreBase
from carestore.errors import NotFound, UnknownCall
from carestore.models import (
    CHANNELS,
    DIRECTIONS,
    SPEAKERS,
    CallRow,
    CustomerRow,
    EventRow,
    SegmentRow,
    StatusCallbackRow,
)
from carestore.records import CallRecord, DialogEvent, Segment, StatusCallback
from carestore.timeutil import utcnow
from carestore.values import (
    check_choice,
    check_json,
    check_number,
    check_optional_text,
    check_rate,
    check_text,
    check_time,
)

# Twilio call statuses after which the call is over
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def call_record(row: CallRow) -> CallRecord:
    """The record of a call row."""
    return CallRecord(
        id=row.id,
        call_sid=row.call_sid,
        channel=row.channel,
        direction=row.direction,
        from_number=row.from_number,
        to_number=row.to_number,
        customer_id=row.customer_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        status=row.status,
        outcome=row.outcome,
        preferred_rate_wpm=row.preferred_rate_wpm,
    )


def _segment(row: SegmentRow, call_sid: str) -> Segment:
    return Segment(
        id=row.id,
        call_sid=call_sid,
        seq=row.seq,
        speaker=row.speaker,
        text=row.text,
        intent=row.intent,
        confidence=row.confidence,
        audio_start_s=row.audio_start_s,
        audio_end_s=row.audio_end_s,
        created_at=row.created_at,
        extra=row.extra,
    )


def _event(row: EventRow, call_sid: str) -> DialogEvent:
    return DialogEvent(
        id=row.id,
        call_sid=call_sid,
        seq=row.seq,
        kind=row.kind,
        state_from=row.state_from,
        state_to=row.state_to,
        data=row.data,
        at=row.at,
    )


def _status_callback(row: StatusCallbackRow) -> StatusCallback:
    return StatusCallback(
        id=row.id, call_sid=row.call_sid, status=row.status, at=row.at, raw=row.raw
    )


def chain_segment(session: Session, row: SegmentRow, call_sid: str) -> None:
    """Append the segment's audit entry (its words only as a hash) in the same transaction."""
    customer_id = session.scalar(select(CallRow.customer_id).where(CallRow.id == row.call_id))
    append(
        session,
        "system",
        "segment_recorded",
        "transcript_segment",
        row.id,
        customer_id,
        {"call_sid": call_sid, "seq": row.seq, "speaker": row.speaker, "intent": row.intent},
        record=row,
    )


def _call_id(session: Session, call_sid: str) -> int:
    call_id = session.scalar(select(CallRow.id).where(CallRow.call_sid == call_sid))
    if call_id is None:
        raise UnknownCall(f"no call with call SID {call_sid!r} was started")
    return call_id


def _next_seq(session: Session, call_sid: str, counter: Any) -> tuple[int, int]:
    """(call id, next sequence number) from the call's counter, atomically.

    The UPDATE takes the call row's write lock (PostgreSQL) or the database write lock
    (SQLite) until the transaction commits, so concurrent writers get distinct, gap-free numbers.
    """
    found = session.execute(
        update(CallRow)
        .where(CallRow.call_sid == call_sid)
        .values({counter: counter + 1})
        .returning(CallRow.id, counter)
    ).first()
    if found is None:
        raise UnknownCall(f"no call with call SID {call_sid!r} was started")
    return found[0], found[1]


class CallStore(StoreBase):
    """Calls and what happens in them."""

    def start_call(
        self,
        call_sid: str,
        channel: str = "phone",
        from_number: str | None = None,
        to_number: str | None = None,
        customer_id: int | None = None,
        direction: str = "inbound",
    ) -> int:
        """Record the start of a call; return its id. Starting the same `call_sid` again
        returns the first call's id and changes nothing (except filling a missing customer)."""
        check_text("call_sid", call_sid, 64)
        if not call_sid:
            raise ValueError("call_sid is empty")
        values = {
            "call_sid": call_sid,
            "channel": check_choice("channel", channel, CHANNELS),
            "direction": check_choice("direction", direction, DIRECTIONS),
            "from_number": check_optional_text("from_number", from_number, 64),
            "to_number": check_optional_text("to_number", to_number, 64),
            "customer_id": customer_id,
            "started_at": utcnow(),
            "status": "in-progress",
            "last_segment_seq": 0,
            "last_event_seq": 0,
        }
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        with self.write() as session:
            if customer_id is not None and session.get(CustomerRow, customer_id) is None:
                raise NotFound(f"no customer with id {customer_id}")
            session.execute(
                dialect_insert(CallRow)
                .values(values)
                .on_conflict_do_nothing(index_elements=["call_sid"])
            )
            row = session.scalars(select(CallRow).where(CallRow.call_sid == call_sid)).one()
            if row.customer_id is None and customer_id is not None:
                row.customer_id = customer_id
            return row.id

    def end_call(
        self, call_sid: str, status: str = "completed", outcome: str | None = None
    ) -> CallRecord:
        """Close the call. Safe to call more than once: the first end time and status stay;
        a later call only fills an outcome that is still missing."""
        check_text("status", status, 32)
        check_optional_text("outcome", outcome, 64)
        with self.write() as session:
            row = session.scalars(select(CallRow).where(CallRow.call_sid == call_sid)).first()
            if row is None:
                raise UnknownCall(f"no call with call SID {call_sid!r} was started")
            if row.ended_at is None:
                row.ended_at = utcnow()
                row.status = status
            if row.outcome is None and outcome is not None:
                row.outcome = outcome
            session.flush()
            return call_record(row)

    def identify_call(self, call_sid: str, customer_id: int) -> None:
        """Record who the caller turned out to be."""
        with self.write() as session:
            if session.get(CustomerRow, customer_id) is None:
                raise NotFound(f"no customer with id {customer_id}")
            result = session.execute(
                update(CallRow).where(CallRow.call_sid == call_sid).values(customer_id=customer_id)
            )
            if result.rowcount == 0:
                raise UnknownCall(f"no call with call SID {call_sid!r} was started")

    def set_call_rate(self, call_sid: str, rate_wpm: int) -> None:
        """Record the speech rate used for this call."""
        check_rate(rate_wpm)
        with self.write() as session:
            result = session.execute(
                update(CallRow)
                .where(CallRow.call_sid == call_sid)
                .values(preferred_rate_wpm=rate_wpm)
            )
            if result.rowcount == 0:
                raise UnknownCall(f"no call with call SID {call_sid!r} was started")

    def get_call(self, call_sid: str) -> CallRecord | None:
        """The call with this SID, if any."""
        with self.read() as session:
            row = session.scalars(select(CallRow).where(CallRow.call_sid == call_sid)).first()
            return None if row is None else call_record(row)

    def calls_for_customer(self, customer_id: int, limit: int = 50) -> list[CallRecord]:
        """The customer's calls and kiosk sessions, newest first."""
        with self.read() as session:
            rows = session.scalars(
                select(CallRow)
                .where(CallRow.customer_id == customer_id)
                .order_by(CallRow.started_at.desc(), CallRow.id.desc())
                .limit(limit)
            )
            return [call_record(row) for row in rows]

    def add_segment(
        self,
        call_sid: str,
        speaker: str,
        text: str,
        *,
        intent: str | None = None,
        confidence: float | None = None,
        audio_start_s: float | None = None,
        audio_end_s: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Segment:
        """Append one transcript segment (committed before returning); text is kept verbatim."""
        check_choice("speaker", speaker, SPEAKERS)
        check_text("text", text)
        check_optional_text("intent", intent, 64)
        values = {
            "confidence": check_number("confidence", confidence),
            "audio_start_s": check_number("audio_start_s", audio_start_s),
            "audio_end_s": check_number("audio_end_s", audio_end_s),
            "extra": check_json("extra", extra),
        }
        with self.write() as session:
            call_id, seq = _next_seq(session, call_sid, CallRow.last_segment_seq)
            row = SegmentRow(
                call_id=call_id,
                seq=seq,
                speaker=speaker,
                text=text,
                intent=intent,
                created_at=utcnow(),
                **values,
            )
            session.add(row)
            session.flush()
            chain_segment(session, row, call_sid)
            return _segment(row, call_sid)

    def add_event(
        self,
        call_sid: str,
        kind: str,
        *,
        state_from: str | None = None,
        state_to: str | None = None,
        data: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> DialogEvent:
        """Append one dialog event (committed before returning)."""
        check_text("kind", kind, 64)
        check_optional_text("state_from", state_from, 64)
        check_optional_text("state_to", state_to, 64)
        payload = check_json("data", data)
        check_time("at", at)
        with self.write() as session:
            call_id, seq = _next_seq(session, call_sid, CallRow.last_event_seq)
            row = EventRow(
                call_id=call_id,
                seq=seq,
                kind=kind,
                state_from=state_from,
                state_to=state_to,
                data=payload,
                at=at or utcnow(),
            )
            session.add(row)
            session.flush()
            return _event(row, call_sid)

    def transcript(self, call_sid: str) -> list[Segment]:
        """The call's transcript segments in order."""
        with self.read() as session:
            call_id = _call_id(session, call_sid)
            rows = session.scalars(
                select(SegmentRow).where(SegmentRow.call_id == call_id).order_by(SegmentRow.seq)
            )
            return [_segment(row, call_sid) for row in rows]

    def events(self, call_sid: str) -> list[DialogEvent]:
        """The call's dialog events in order."""
        with self.read() as session:
            call_id = _call_id(session, call_sid)
            rows = session.scalars(
                select(EventRow).where(EventRow.call_id == call_id).order_by(EventRow.seq)
            )
            return [_event(row, call_sid) for row in rows]

    def record_status_callback(
        self, call_sid: str, status: str, raw: Mapping[str, Any] | None = None
    ) -> StatusCallback:
        """Keep a Twilio status callback as received. When the call is known and still open,
        its status follows; a final status (completed, busy, failed...) also closes it."""
        check_text("call_sid", call_sid, 64)
        check_text("status", status, 32)
        payload = check_json("raw", raw)
        now = utcnow()
        with self.write() as session:
            row = StatusCallbackRow(call_sid=call_sid, status=status, at=now, raw=payload)
            session.add(row)
            call = session.scalars(select(CallRow).where(CallRow.call_sid == call_sid)).first()
            if call is not None and call.ended_at is None:
                call.status = status
                if status in TERMINAL_STATUSES:
                    call.ended_at = now
            session.flush()
            return _status_callback(row)

    def status_callbacks(self, call_sid: str) -> list[StatusCallback]:
        """The status callbacks received for a call, oldest first."""
        with self.read() as session:
            rows = session.scalars(
                select(StatusCallbackRow)
                .where(StatusCallbackRow.call_sid == call_sid)
                .order_by(StatusCallbackRow.id)
            )
            return [_status_callback(row) for row in rows]
