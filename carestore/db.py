"""`Store`: the one object the application holds for the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import URL

from carestore.calls import CallStore
from carestore.customers import CustomerStore
from carestore.engine import normalise_url, sqlite_path
from carestore.tickets import TicketStore
from carestore.voice import VoiceProfileStore


class DatabaseSettings(Protocol):
    """What `Store.from_settings` reads (the application's settings object has it)."""

    @property
    def effective_database_url(self) -> str: ...


__all__ = ["Store", "normalise_url", "prepare_sqlite_dir"]


def prepare_sqlite_dir(url: str | URL) -> None:
    """Create the directory a SQLite file will live in (nothing for other databases)."""
    path = sqlite_path(normalise_url(url))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


class Store(CallStore, CustomerStore, TicketStore, VoiceProfileStore):
    """The database: calls and transcripts, customers and accounts, tickets.

    `Store(url)` takes any SQLAlchemy URL for SQLite or PostgreSQL (`postgresql://` is run
    through psycopg 3). Each method is one short transaction; the object is safe to share
    between threads. Data comes back as frozen dataclasses from `carestore.records`.
    """

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        """Open the database at `url` (it is not migrated: see `upgrade`)."""
        super().__init__(url, **engine_kwargs)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings, *, upgrade: bool = False) -> Store:
        """The store at `settings.effective_database_url`; the SQLite directory is created.
        With `upgrade`, the schema is migrated to the latest revision first."""
        url = settings.effective_database_url
        prepare_sqlite_dir(url)
        if upgrade:
            from carestore.migrate import upgrade as run_upgrade

            run_upgrade(url)
        return cls(url)

    def upgrade(self) -> None:
        """Migrate this database to the latest schema revision."""
        from carestore.migrate import upgrade as run_upgrade

        run_upgrade(self.url, engine=self.engine)
