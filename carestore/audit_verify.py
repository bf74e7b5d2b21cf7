"""Check the audit chain end to end (`ivr audit verify`).

Walks every entry in `seq` order and checks: the numbering has no gap (a deleted entry), each
`prev_hash` is the hash of the entry before, each `entry_hash` is the hash of the entry as it
is now (an edited entry), and the chain head matches the last entry (entries deleted from the
end). Entries about stored records are re-checked against the rows that still exist: a
transcript segment edited behind the application's back, or deleted, is caught. Segments that
retention purged are not compared (their words are gone on purpose) but must be blank and
covered by a purge that is itself in the chain; they are counted as purged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carestore.audit_chain import CHAIN_STARTED, GENESIS_HASH, chain_head, row_fields
from carestore.audit_records import COVERED, KINDS, check_record
from carestore.engine import StoreBase
from carestore.escalation_models import AuditRow

PURGE_ACTION = "retention_purge"
BATCH = 1000

Progress = Callable[[int, int], None]  # (entries checked, entries in all)


@dataclass(frozen=True)
class Problem:
    """One broken entry (or the chain head, or a record no entry vouches for): where it is and
    what does not match."""

    seq: int | None
    entry_id: int | None
    action: str | None
    what: str
    subject: str = "entry"

    def describe(self) -> str:
        """One line for people."""
        if self.seq is None:
            return f"{self.subject}: {self.what}"
        action = f" [{self.action}]" if self.action else ""
        return f"entry seq {self.seq} (id {self.entry_id}){action}: {self.what}"


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_chain` found."""

    entries: int
    last_seq: int
    head_hash: str
    records_checked: int
    records_purged: int
    problems: list[Problem] = field(default_factory=list)
    problems_truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is broken."""
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        """The first broken entry (lowest seq; the chain head last)."""
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`ivr audit verify --json`)."""
        out = asdict(self)
        out["ok"] = self.ok
        out["first_problem"] = None if self.ok else asdict(self.problems[0])
        return out


def _batches(session: Session) -> Iterator[list[AuditRow]]:
    last = None
    while True:
        query = select(AuditRow).order_by(AuditRow.seq).limit(BATCH)
        if last is not None:
            query = query.where(AuditRow.seq > last)
        rows = list(session.scalars(query))
        if not rows:
            return
        yield rows
        last = rows[-1].seq
        session.expunge_all()


def _records(session: Session, rows: list[AuditRow]) -> dict[tuple[str, int], Any]:
    """The stored rows the entries in `rows` vouch for, by (table, id)."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        ref = (row.data or {}).get("record") if isinstance(row.data, dict) else None
        if isinstance(ref, dict) and ref.get("table") in KINDS and isinstance(ref.get("id"), int):
            wanted.setdefault(ref["table"], set()).add(ref["id"])
    found: dict[tuple[str, int], Any] = {}
    for table, ids in wanted.items():
        model = KINDS[table].model
        for record in session.scalars(select(model).where(model.id.in_(sorted(ids)))):
            found[(table, record.id)] = record
    return found


class _Walk:
    def __init__(self, max_problems: int) -> None:
        self.max_problems = max_problems
        self.problems: list[Problem] = []
        self.truncated = False
        self.entries = self.checked = self.purged = 0
        self.expected_seq, self.prev_hash = 1, GENESIS_HASH
        self.purge_cutoff: datetime | None = None  # the latest cutoff of a chained purge
        self.purged_rows: list[tuple[AuditRow, datetime | None]] = []
        self.unchained_before: dict[str, int] = {}  # table -> last id written before the chain

    def problem(self, row: AuditRow | None, what: str, subject: str = "chain head") -> None:
        if len(self.problems) >= self.max_problems:
            self.truncated = True
            return
        if row is None:
            self.problems.append(Problem(None, None, None, what, subject))
        else:
            self.problems.append(Problem(row.seq, row.id, row.action, what))

    def entry(self, row: AuditRow) -> None:
        self.entries += 1
        wrong: list[str] = []
        if row.seq != self.expected_seq:
            if row.seq > self.expected_seq:
                missing = (
                    f"seq {self.expected_seq}"
                    if row.seq == self.expected_seq + 1
                    else f"seq {self.expected_seq} to {row.seq - 1}"
                )
                wrong.append(f"the entry before it ({missing}) is missing: deleted")
            else:
                wrong.append(f"seq {row.seq} is out of order (expected {self.expected_seq})")
        if row.prev_hash != self.prev_hash:
            wrong.append("prev_hash does not match the hash of the entry before it")
        try:
            recomputed = row_fields(row).digest()
        except (TypeError, ValueError) as exc:
            recomputed = f"(cannot be hashed: {exc})"
        if recomputed != row.entry_hash:
            wrong.append(
                "its contents were changed after it was written "
                f"(stored hash {str(row.entry_hash)[:12]}..., recomputed {recomputed[:12]}...)"
            )
        if wrong:
            self.problem(row, "; ".join(wrong))
        elif row.action == CHAIN_STARTED and isinstance(row.data, dict):
            before = row.data.get("recorded_before_chain")
            if isinstance(before, dict):
                self.unchained_before = {str(k): int(v) for k, v in before.items()}
        self.expected_seq, self.prev_hash = row.seq + 1, row.entry_hash
        if row.action == PURGE_ACTION and isinstance(row.data, dict):
            cutoff = row.data.get("cutoff")
            try:
                at = datetime.fromisoformat(cutoff) if isinstance(cutoff, str) else None
            except ValueError:
                at = None  # a damaged purge entry covers nothing (its hash check failed above)
            if at is not None and at.tzinfo is not None:
                if self.purge_cutoff is None or at > self.purge_cutoff:
                    self.purge_cutoff = at

    def record(self, row: AuditRow, found: dict[tuple[str, int], Any]) -> None:
        ref = (row.data or {}).get("record") if isinstance(row.data, dict) else None
        if not isinstance(ref, dict):
            return
        stored = found.get((ref.get("table"), ref.get("id")))
        check = check_record(stored, ref)
        if check.status == "mismatch":
            self.problem(row, check.problem)
        elif check.status == "purged":
            self.purged_rows.append((row, check.created_at))
        else:
            self.checked += 1

    def finish_purged(self) -> None:
        """Purged rows must be older than a purge the chain recorded."""
        for row, created_at in self.purged_rows:
            ref = row.data["record"]
            if self.purge_cutoff is None or created_at is None or created_at >= self.purge_cutoff:
                self.problem(
                    row,
                    f"{ref['table']} #{ref['id']} is marked purged, but no purge recorded in "
                    "the chain covers it (its words were removed outside retention)",
                )
            else:
                self.purged += 1


def _unvouched(session: Session, walk: _Walk, limit: int = 5) -> None:
    """Records of covered tables (transcript segments, escalation steps) that no entry vouches
    for: added behind the application's back (or their entry was deleted, caught above)."""
    for table, kind in COVERED.items():
        model = kind.model
        vouched = (
            select(AuditRow.id)
            .where(AuditRow.entity == kind.covered_entity, AuditRow.entity_id == model.id)
            .exists()
        )
        ids = session.scalars(
            select(model.id)
            .where(model.id > walk.unchained_before.get(table, 0), ~vouched)
            .order_by(model.id)
            .limit(limit)
        ).all()
        for record_id in ids:
            walk.problem(
                None,
                "no audit entry vouches for it: it was added behind the application's back",
                subject=f"{table} #{record_id}",
            )


def verify_chain(
    session: Session, *, progress: Progress | None = None, max_problems: int = 50
) -> VerifyReport:
    """Check the whole chain and the records it vouches for (see the module docstring).
    `progress(done, total)` is called after each batch."""
    total = session.scalar(select(func.count()).select_from(AuditRow)) or 0
    walk = _Walk(max_problems)
    for rows in _batches(session):
        found = _records(session, rows)
        for row in rows:
            walk.entry(row)
            walk.record(row, found)
        if progress is not None:
            progress(walk.entries, total)
    walk.finish_purged()
    _unvouched(session, walk)
    head = chain_head(session)
    last_seq = walk.expected_seq - 1
    if head is None:
        walk.problem(None, "the chain head row (audit_chain_head) is missing")
    elif head.seq != last_seq or head.entry_hash != walk.prev_hash:
        if head.seq > last_seq:
            what = (
                f"the head says the chain ends at seq {head.seq}, but the last entry is seq "
                f"{last_seq}: entries at the end were deleted"
            )
        else:
            what = (
                f"the head (seq {head.seq}, hash {head.entry_hash[:12]}...) does not match the "
                f"last entry (seq {last_seq}, hash {walk.prev_hash[:12]}...)"
            )
        walk.problem(None, what)
    problems = sorted(walk.problems, key=lambda p: (p.seq is None, p.seq or 0))
    return VerifyReport(
        entries=walk.entries,
        last_seq=last_seq,
        head_hash=walk.prev_hash,
        records_checked=walk.checked,
        records_purged=walk.purged,
        problems=problems,
        problems_truncated=walk.truncated,
    )


def verify_store(
    store: StoreBase, *, progress: Progress | None = None, max_problems: int = 50
) -> VerifyReport:
    """`verify_chain` on one consistent snapshot of the database, so entries, records and the
    chain head written while it runs are never half-seen (PostgreSQL: a REPEATABLE READ, read
    only transaction; SQLite: one read transaction, a WAL snapshot)."""
    if store.dialect == "postgresql":
        with store.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                with Session(bind=connection) as session:
                    return verify_chain(session, progress=progress, max_problems=max_problems)
    with store.read() as session:
        return verify_chain(session, progress=progress, max_problems=max_problems)
