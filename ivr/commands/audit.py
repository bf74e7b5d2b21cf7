"""`ivr audit verify|show|purge`: the tamper-evident audit log and transcript retention."""

from __future__ import annotations

import getpass
import json
import logging
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ivr.settings import get_settings

app = typer.Typer(
    help="The hash-chained audit log: check it, list it, purge old transcripts.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)  # long lines stay whole (scripts grep them)
err = Console(stderr=True, soft_wrap=True)


def _store() -> Any:
    """The configured store, at the latest schema (exit 2 with a clear message otherwise)."""
    from sqlalchemy.exc import OperationalError

    from carestore.db import Store
    from carestore.engine import normalise_url
    from carestore.migrate import current_revision, head_revision

    logging.getLogger("alembic").setLevel(logging.WARNING)  # the revision check is not news
    url = get_settings().effective_database_url
    shown = normalise_url(url).render_as_string(hide_password=True)
    try:
        current = current_revision(url)
    except OperationalError as exc:
        err.print(f"[red]cannot reach the database[/] {shown}: {exc.orig}")
        raise typer.Exit(2) from None
    if current != head_revision():
        err.print(
            f"[red]the database {shown} is at revision {current or '(none)'}, not "
            f"{head_revision()}[/]: run `ivr db upgrade` first"
        )
        raise typer.Exit(2)
    return Store(url)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )


@app.command()
def verify(
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Check the whole chain (numbering, links, every entry's hash, the chain head) and the
    records it vouches for (transcript segments, escalation steps, agent notes, ticket
    changes). Exits 1 and names the first broken entry when anything was changed."""
    from carestore.audit_verify import verify_store

    store = _store()
    try:
        with _bar() as bar:
            task = bar.add_task("verifying the audit chain", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = verify_store(store, progress=progress)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.ok:
        console.print(
            f"[green]OK[/]: audit chain intact, {report.entries} entries "
            f"(seq 1 to {report.last_seq}); {report.records_checked} records re-checked, "
            f"{report.records_purged} purged on schedule; head {report.head_hash}"
        )
    else:
        first = report.first_problem
        console.print(f"[red]BROKEN[/]: {escape(first.describe()) if first else ''}")
        for problem in report.problems[1:10]:
            console.print(f"  also: {escape(problem.describe())}")
        more = len(report.problems) - 10 if len(report.problems) > 10 else 0
        if more or report.problems_truncated:
            console.print("  (more problems follow; see --json)")
    raise typer.Exit(0 if report.ok else 1)


def _summary(data: dict[str, Any] | None, width: int = 70) -> str:
    if not data:
        return ""
    shown = {k: v for k, v in data.items() if k != "record"}
    text = json.dumps(shown, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def show(
    customer: int | None = typer.Option(None, "--customer", help="one customer's entries"),
    entity: str | None = typer.Option(
        None, help="one kind of entry (contact, escalation, transcript_segment, ticket...)"
    ),
    records: bool = typer.Option(
        False, "--records", help="include entries for every transcript segment and escalation step"
    ),
    limit: int = typer.Option(50, min=1, max=10_000, help="how many entries, newest first"),
    as_json: bool = typer.Option(False, "--json", help="print the entries as JSON"),
) -> None:
    """List audit entries, newest first."""
    from emergency_contact.audit import audit_entries

    store = _store()
    try:
        with store.read() as session:
            entries = audit_entries(
                session, customer_id=customer, entity=entity, limit=limit, records=records
            )
    finally:
        store.close()
    if as_json:
        rows = [{**e.__dict__, "at": e.at.isoformat()} for e in entries]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    title = f"audit entries{f' of customer {customer}' if customer is not None else ''}"
    table = Table(title=f"{title} (newest first)")
    for column in ("seq", "at (UTC)", "actor", "action", "entity", "details"):
        table.add_column(column)
    for e in entries:
        what = e.entity if e.entity_id is None else f"{e.entity} #{e.entity_id}"
        table.add_row(  # actors and data come from outside: never read as markup
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.actor),
            escape(e.action),
            escape(what),
            escape(_summary(e.data)),
        )
    console.print(table)
    if not entries:
        console.print("no entries")


@app.command()
def purge(
    older_than: int | None = typer.Option(
        None,
        "--older-than",
        min=1,
        metavar="DAYS",
        help="purge transcripts older than this many days (default: IVR_RETENTION_DAYS)",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="only count what would be purged"),
) -> None:
    """Remove the words and audio references of transcripts older than the retention period
    (and their copies in escalation hand-off packages). The audit entries stay, with the
    SHA-256 of the words, and the purge itself is chained: `ivr audit verify` still passes."""
    from carestore.retention import count_due, cutoff_for, purge_before

    days = older_than if older_than is not None else get_settings().retention_days
    cutoff = cutoff_for(days)
    store = _store()
    try:
        if dry_run:
            report = purge_before(store, cutoff, dry_run=True)
        else:
            due = sum(count_due(store, cutoff))
            with _bar() as bar:
                task = bar.add_task("purging transcripts", total=due or None)
                report = purge_before(
                    store,
                    cutoff,
                    actor=f"cli:{getpass.getuser()}",
                    progress=lambda n: bar.advance(task, n),
                )
    finally:
        store.close()
    verb = "would purge" if report.dry_run else "purged"
    console.print(
        f"{verb} {report.segments} transcript segment(s), {report.packages} hand-off "
        f"package(s) and {report.events} escalation step(s) quoting the caller, recorded "
        f"before {report.cutoff:%Y-%m-%d %H:%M} UTC ({days} days)"
    )
