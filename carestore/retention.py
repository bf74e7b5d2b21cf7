"""Retention: transcripts and audio references older than the configured period are purged.

A purged transcript segment keeps its row (call, order, speaker, intent, time) but loses its
words (`text` becomes ""), its audio span and its `extra` (recognised phrase, cue timings), and
gets `purged_at`. Copies of the transcript inside escalation hand-off packages (transcript,
caller's words, cue timeline, the trigger's quoted words) and the words an escalation step
quotes as its evidence are removed the same way. Each batch
commits together with a chained audit entry of the purge itself (`retention_purge`: the
cut-off, how many rows, and a hash of their ids). The audit entries written when the segments
were recorded stay as they were, with the SHA-256 of the words, so `ivr audit verify` still
passes and can tell a purge on schedule (blank, older than a recorded cut-off) from an edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from carestore.audit_chain import append
from carestore.audit_hash import timestamp, value_sha256
from carestore.audit_records import event_data_kept
from carestore.audit_verify import PURGE_ACTION
from carestore.engine import StoreBase
from carestore.escalation_models import EscalationEventRow, EscalationRow
from carestore.models import SegmentRow
from carestore.timeutil import utcnow

BATCH_SIZE = 500
PACKAGE_TRANSCRIPT_KEYS = ("transcript", "caller_words", "cues")

Progress = Callable[[int], None]  # rows purged in the batch just committed


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, with `dry_run`, would remove)."""

    cutoff: datetime
    segments: int
    packages: int
    dry_run: bool
    events: int = 0  # escalation steps whose quoted words were removed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cutoff": timestamp(self.cutoff),
            "segments": self.segments,
            "packages": self.packages,
            "events": self.events,
            "dry_run": self.dry_run,
        }


def cutoff_for(retention_days: float, now: datetime | None = None) -> datetime:
    """The moment before which records are purged: `retention_days` before `now`."""
    if retention_days <= 0:
        raise ValueError(f"retention must be a positive number of days, not {retention_days}")
    return (now or utcnow()) - timedelta(days=retention_days)


def _due_segments(cutoff: datetime) -> Any:
    return (SegmentRow.created_at < cutoff, SegmentRow.purged_at.is_(None))


def _due_packages(cutoff: datetime) -> Any:
    return (
        EscalationRow.created_at < cutoff,
        EscalationRow.package.is_not(None),
        EscalationRow.package["purged_at"].as_string().is_(None),
    )


def count_due(store: StoreBase, cutoff: datetime) -> tuple[int, int, int]:
    """(segments, escalation packages, escalation steps) a purge at `cutoff` would remove
    words from."""
    with store.read() as session:
        segments = session.scalar(
            select(func.count()).select_from(SegmentRow).where(*_due_segments(cutoff))
        )
        packages = session.scalar(
            select(func.count()).select_from(EscalationRow).where(*_due_packages(cutoff))
        )
        events = session.scalar(
            select(func.count()).select_from(EscalationEventRow).where(*_due_events(cutoff))
        )
    return int(segments or 0), int(packages or 0), int(events or 0)


def _audit_purge(
    session: Any, actor: str, table: str, cutoff: datetime, ids: list[int], now: datetime
) -> None:
    append(
        session,
        actor,
        PURGE_ACTION,
        "retention",
        None,
        None,
        {
            "table": table,
            "cutoff": timestamp(cutoff),
            "purged_at": timestamp(now),
            "count": len(ids),
            "first_id": ids[0],
            "last_id": ids[-1],
            "ids_sha256": value_sha256(sorted(ids)),
        },
    )


def _purge_segment_batch(
    store: StoreBase, cutoff: datetime, actor: str, batch_size: int
) -> tuple[bool, int]:
    """One batch in one transaction: (more may be due, rows purged)."""
    now = utcnow()
    with store.write() as session:
        ids = list(
            session.scalars(
                select(SegmentRow.id)
                .where(*_due_segments(cutoff))
                .order_by(SegmentRow.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return False, 0
        # `purged_at IS NULL` again: another instance purging at the same time is not counted
        purged = sorted(
            session.scalars(
                update(SegmentRow)
                .where(SegmentRow.id.in_(ids), SegmentRow.purged_at.is_(None))
                .values(text="", extra=None, audio_start_s=None, audio_end_s=None, purged_at=now)
                .returning(SegmentRow.id)
                .execution_options(synchronize_session=False)
            )
        )
        if purged:
            _audit_purge(session, actor, "transcript_segments", cutoff, purged, now)
        return True, len(purged)


def _stripped(package: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = {**package, "purged_at": timestamp(now)}
    for key in PACKAGE_TRANSCRIPT_KEYS:
        if key in out:
            out[key] = []
    head = out.get("escalation")
    if isinstance(head, dict) and isinstance(head.get("evidence"), dict):
        out["escalation"] = {**head, "evidence": _no_words(head["evidence"])}
    return out


def _no_words(evidence: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(evidence, dict) or "words" not in evidence:
        return evidence
    return {k: v for k, v in evidence.items() if k != "words"}


def _purge_package_batch(
    store: StoreBase, cutoff: datetime, actor: str, batch_size: int
) -> tuple[bool, int]:
    now = utcnow()
    with store.write() as session:
        rows = list(
            session.scalars(
                select(EscalationRow)
                .where(*_due_packages(cutoff))
                .order_by(EscalationRow.id)
                .limit(batch_size)
                .with_for_update()
            )
        )
        if not rows:
            return False, 0
        for row in rows:
            row.package = _stripped(row.package or {}, now)
            row.evidence = _no_words(row.evidence)
        ids = [row.id for row in rows]
        _audit_purge(session, actor, "escalations.package", cutoff, ids, now)
        return True, len(ids)


def _due_events(cutoff: datetime) -> Any:
    return (
        EscalationEventRow.at < cutoff,
        EscalationEventRow.data[("evidence", "words")].as_string().is_not(None),
    )


def _purge_event_batch(
    store: StoreBase, cutoff: datetime, actor: str, batch_size: int
) -> tuple[bool, int]:
    """Escalation steps that quote the caller (the trigger's evidence): the words go, the
    step stays, marked `purged_at` (its audit fingerprint holds the words' hash apart)."""
    now = utcnow()
    with store.write() as session:
        rows = list(
            session.scalars(
                select(EscalationEventRow)
                .where(*_due_events(cutoff))
                .order_by(EscalationEventRow.id)
                .limit(batch_size)
                .with_for_update()
            )
        )
        if not rows:
            return False, 0
        for row in rows:
            row.data = {**event_data_kept(row.data), "purged_at": timestamp(now)}
        ids = [row.id for row in rows]
        _audit_purge(session, actor, "escalation_events", cutoff, ids, now)
        return True, len(ids)


def purge_before(
    store: StoreBase,
    cutoff: datetime,
    *,
    actor: str = "retention",
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> PurgeReport:
    """Purge transcript words and audio references recorded before `cutoff` (see the module
    docstring); with `dry_run`, only count them. Safe to run from several instances at once."""
    if cutoff.tzinfo is None:
        raise ValueError("the purge cut-off must be timezone-aware")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if dry_run:
        segments, packages, events = count_due(store, cutoff)
        return PurgeReport(cutoff, segments, packages, dry_run=True, events=events)
    totals = [0, 0, 0]
    batches = (_purge_segment_batch, _purge_package_batch, _purge_event_batch)
    for index, purge_batch in enumerate(batches):
        more = True
        while more:
            more, done = purge_batch(store, cutoff, actor, batch_size)
            totals[index] += done
            if progress is not None and done:
                progress(done)
    return PurgeReport(cutoff, totals[0], totals[1], dry_run=False, events=totals[2])


def purge_expired(
    store: StoreBase,
    retention_days: float,
    *,
    now: datetime | None = None,
    actor: str = "retention",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> PurgeReport:
    """`purge_before` the cut-off `retention_days` before `now` (default: the current time)."""
    return purge_before(
        store, cutoff_for(retention_days, now), actor=actor, dry_run=dry_run, progress=progress
    )
