"""`ivr users add|list|unlock|disable`: staff who sign in to the agent console and kiosk pages."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from carestore.errors import AlreadyExists, InvalidValue, NotFound
from carestore.web_models import ROLES

app = typer.Typer(help="Staff users of the web pages (agents, kiosk staff, supervisors).")
console = Console()


def _book():  # noqa: ANN202
    from carestore.db import Store
    from ivr.settings import get_settings
    from ivr.web.auth_users import UserBook

    return UserBook(Store.from_settings(get_settings(), upgrade=True))


@app.command("add")
def add(
    username: str = typer.Argument(..., help="sign-in name (a-z, 0-9, . _ -)"),
    role: str = typer.Option(..., "--role", "-r", help=f"one of {', '.join(ROLES)}"),
    name: str = typer.Option("", "--name", help="name shown on the pages"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input (scripts)"
    ),
) -> None:
    """Add a user; the password is asked for twice (or read from stdin)."""
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            console.print("[red]the passwords differ[/red]")
            raise typer.Exit(1)
    try:
        user = _book().add(username, password, role, name or None)
    except (InvalidValue, AlreadyExists) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"added {user.username} ({user.role})")


@app.command("list")
def list_users() -> None:
    """All users with their role and last sign-in."""
    table = Table("username", "name", "role", "active", "last sign-in")
    for u in _book().list():
        last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never"
        table.add_row(u.username, u.display_name, u.role, "yes" if u.active else "no", last)
    console.print(table)


@app.command("unlock")
def unlock(username: str) -> None:
    """Clear a lock-out after repeated failed sign-ins."""
    try:
        _book().unlock(username, "cli")
    except NotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"unlocked {username}")


@app.command("disable")
def disable(username: str) -> None:
    """Disable a user (every session of theirs ends)."""
    try:
        _book().set_active(username, False, "cli")
    except NotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"disabled {username}")
