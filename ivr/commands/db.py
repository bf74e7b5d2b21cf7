"""`ivr db upgrade|seed|status`: migrate the configured database and load demo data."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError

from ivr.settings import get_settings

app = typer.Typer(help="The database: migrations and demo data.", no_args_is_help=True)
console = Console()
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _url() -> str:
    from ivr.store.db import prepare_sqlite_dir

    url = get_settings().effective_database_url
    prepare_sqlite_dir(url)
    return url


def _shown(url: str) -> str:
    from ivr.store.engine import normalise_url

    return normalise_url(url).render_as_string(hide_password=True)


def _upgrade(url: str) -> None:
    from ivr.store.migrate import current_revision, upgrade

    try:
        upgrade(url)
        console.print(f"[green]database at revision {current_revision(url)}[/]: {_shown(url)}")
    except OperationalError as exc:
        console.print(f"[red]cannot reach the database[/] {_shown(url)}: {exc.orig}")
        raise typer.Exit(1) from None


@app.command()
def upgrade() -> None:
    """Migrate the configured database (IVR_DATABASE_URL, or SQLite in the data dir) to the
    latest schema."""
    _upgrade(_url())


@app.command()
def status() -> None:
    """Show the configured database and its schema revision."""
    from ivr.store.migrate import current_revision, head_revision

    url = _url()
    try:
        current = current_revision(url)
    except OperationalError as exc:
        console.print(f"[red]cannot reach the database[/] {_shown(url)}: {exc.orig}")
        raise typer.Exit(1) from None
    head = head_revision()
    state = "[green]up to date[/]" if current == head else "[yellow]run `ivr db upgrade`[/]"
    console.print(f"{_shown(url)}: revision {current or '(none)'}, latest {head}: {state}")


@app.command()
def seed() -> None:
    """Add demo customers (idempotent). New PINs are printed once and never stored in clear."""
    from ivr.store.db import Store
    from ivr.store.seed import seed as run_seed

    url = _url()
    _upgrade(url)
    store = Store(url)
    try:
        report = run_seed(store)
        if report.created:
            table = Table(title="Demo customers created (write the PINs down: shown only now)")
            for column in ("name", "phone", "account", "PIN", "language", "notes"):
                table.add_column(column)
            for customer, pin in report.created:
                notes = ", ".join(
                    part
                    for part in (
                        "keypad only" if customer.keypad_only else "",
                        f"{customer.preferred_rate_wpm} wpm" if customer.preferred_rate_wpm else "",
                        customer.dialect or "",
                    )
                    if part
                )
                table.add_row(
                    customer.name,
                    customer.phone or "-",
                    customer.account_number,
                    f"[bold]{pin}[/]",
                    customer.language,
                    notes,
                )
            console.print(table)
        for ticket in report.tickets:
            console.print(
                f"ticket [bold]{ticket.reference}[/] ({ticket.status}) for customer "
                f"{ticket.customer_id}: {ticket.summary}"
            )
        for customer in report.existing:
            console.print(
                f"already there: {customer.name} (account {customer.account_number}); PIN unchanged"
            )
    finally:
        store.close()
