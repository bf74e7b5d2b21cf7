"""Fingerprints of the service records the audit chain vouches for, and their re-check.

An audit entry about a stored record (a transcript segment, an escalation step, an agent's
note, a ticket status change) carries `data["record"]`: the record's table and id, the SHA-256
of the fields kept for ever (`sha256`), and one SHA-256 per piece of content that retention may
later remove (`text_sha256`, `audio_sha256` for transcript segments). The words themselves are
never copied into the audit log, so purging them leaves the chain whole, and the hash still
proves what was there.

`check_record` compares a row as it is now with the fingerprint taken when it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carestore.audit_hash import text_sha256, timestamp, value_sha256
from carestore.escalation_models import EscalationEventRow
from carestore.models import SegmentRow, TicketStatusRow
from carestore.web_models import AgentNoteRow


@dataclass(frozen=True)
class RecordKind:
    """How one table's rows are fingerprinted."""

    table: str
    model: type[Any]
    kept: Callable[[Any], dict[str, Any]]  # fields kept for ever
    # content retention may remove: name -> (hash function of the row, is it blank now?)
    purgeable: Mapping[str, tuple[Callable[[Any], str], Callable[[Any], bool]]] = field(
        default_factory=dict
    )
    purged_at: Callable[[Any], datetime | None] = lambda _row: None
    created_at: Callable[[Any], datetime] = lambda row: row.at
    # every row of the table has an entry of this entity (entity_id = the row's id), so a row
    # added behind the application's back is caught too; None: not checked that way
    covered_entity: str | None = None


def _segment_kept(row: SegmentRow) -> dict[str, Any]:
    return {
        "call_id": row.call_id,
        "seq": row.seq,
        "speaker": row.speaker,
        "intent": row.intent,
        "confidence": row.confidence,
        "created_at": timestamp(row.created_at),
    }


def _segment_audio(row: SegmentRow) -> str:
    return value_sha256(
        {"audio_start_s": row.audio_start_s, "audio_end_s": row.audio_end_s, "extra": row.extra}
    )


def _audio_blank(row: SegmentRow) -> bool:
    return row.audio_start_s is None and row.audio_end_s is None and not row.extra


SEGMENTS = RecordKind(
    table="transcript_segments",
    model=SegmentRow,
    kept=_segment_kept,
    purgeable={
        "text": (lambda row: text_sha256(row.text), lambda row: row.text == ""),
        "audio": (_segment_audio, _audio_blank),
    },
    purged_at=lambda row: row.purged_at,
    created_at=lambda row: row.created_at,
    covered_entity="transcript_segment",
)


def event_words(data: Any) -> Any:
    """The caller's words an escalation step quotes (`data["evidence"]["words"]`), if any:
    the one part of a step that retention removes."""
    evidence = data.get("evidence") if isinstance(data, dict) else None
    return evidence.get("words") if isinstance(evidence, dict) else None


def event_data_kept(data: Any) -> Any:
    """A step's data without the purgeable words and the purge's own mark."""
    if not isinstance(data, dict):
        return data
    out = {k: v for k, v in data.items() if k != "purged_at"}
    evidence = out.get("evidence")
    if isinstance(evidence, dict) and "words" in evidence:
        out["evidence"] = {k: v for k, v in evidence.items() if k != "words"}
    return out


def _event_purged_at(row: EscalationEventRow) -> datetime | None:
    mark = row.data.get("purged_at") if isinstance(row.data, dict) else None
    try:
        return datetime.fromisoformat(mark) if isinstance(mark, str) else None
    except ValueError:
        return None


ESCALATION_EVENTS = RecordKind(
    table="escalation_events",
    model=EscalationEventRow,
    kept=lambda row: {
        "escalation_id": row.escalation_id,
        "at": timestamp(row.at),
        "kind": row.kind,
        "contact_id": row.contact_id,
        "data": event_data_kept(row.data),
    },
    purgeable={
        "words": (
            lambda row: value_sha256(event_words(row.data)),
            lambda row: event_words(row.data) is None,
        )
    },
    purged_at=_event_purged_at,
    covered_entity="escalation_event",
)

AGENT_NOTES = RecordKind(
    table="agent_notes",
    model=AgentNoteRow,
    kept=lambda row: {
        "escalation_id": row.escalation_id,
        "author": row.author,
        "kind": row.kind,
        "text": row.text,
        "at": timestamp(row.at),
    },
)

TICKET_CHANGES = RecordKind(
    table="ticket_status_history",
    model=TicketStatusRow,
    kept=lambda row: {
        "ticket_id": row.ticket_id,
        "status_from": row.status_from,
        "status_to": row.status_to,
        "note": row.note,
        "at": timestamp(row.at),
    },
)

KINDS: dict[str, RecordKind] = {
    k.table: k for k in (SEGMENTS, ESCALATION_EVENTS, AGENT_NOTES, TICKET_CHANGES)
}
COVERED: dict[str, RecordKind] = {k.table: k for k in KINDS.values() if k.covered_entity}


def kind_of(row: Any) -> RecordKind:
    """The fingerprint rules for `row`'s table (ValueError for a table without any)."""
    table = getattr(row, "__tablename__", None)
    if table not in KINDS:
        raise ValueError(f"no audit fingerprint is defined for {type(row).__name__}")
    return KINDS[table]


def fingerprint(row: Any) -> dict[str, Any]:
    """`data["record"]` for an audit entry about `row` (which must have its id: flushed)."""
    kind = kind_of(row)
    if row.id is None:
        raise ValueError(f"{kind.table} row has no id yet: flush before fingerprinting it")
    out: dict[str, Any] = {
        "table": kind.table,
        "id": row.id,
        "sha256": value_sha256(kind.kept(row)),
    }
    for name, (digest, _blank) in kind.purgeable.items():
        out[f"{name}_sha256"] = digest(row)
    return out


@dataclass(frozen=True)
class RecordCheck:
    """What re-checking one record found: "ok", "purged" (content removed by retention: the
    caller confirms a recorded purge covers `created_at`) or "mismatch" (with `problem`)."""

    status: str
    problem: str = ""
    created_at: datetime | None = None


def check_record(row: Any | None, recorded: Mapping[str, Any]) -> RecordCheck:
    """Compare `row` (None: it no longer exists) with the fingerprint recorded for it."""
    table, row_id = recorded.get("table"), recorded.get("id")
    kind = KINDS.get(str(table))
    if kind is None:
        return RecordCheck("mismatch", f"the entry names an unknown table {table!r}")
    if row is None:
        return RecordCheck("mismatch", f"{table} #{row_id} was deleted")
    if value_sha256(kind.kept(row)) != recorded.get("sha256"):
        return RecordCheck(
            "mismatch", f"{table} #{row_id} was changed after it was recorded (kept fields)"
        )
    purged_at = kind.purged_at(row)
    for name, (digest, blank) in kind.purgeable.items():
        if purged_at is not None:
            if not blank(row):
                return RecordCheck(
                    "mismatch", f"{table} #{row_id} is marked purged but still holds its {name}"
                )
        elif digest(row) != recorded.get(f"{name}_sha256"):
            return RecordCheck(
                "mismatch", f"{table} #{row_id}: its {name} was changed after it was recorded"
            )
    if purged_at is not None:
        return RecordCheck("purged", created_at=kind.created_at(row))
    return RecordCheck("ok")
