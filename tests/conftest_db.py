"""Database fixtures: every store test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL is the real server at 127.0.0.1:5432 (database `test`, user `postgres` or `root`;
`IVR_TEST_POSTGRES_URL` overrides). The session creates one uniquely named database and drops it
at the end; each test gets its own schema in it. An unreachable PostgreSQL FAILS the PostgreSQL
tests, naming it; nothing is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from ivr.store import Store, upgrade

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DB = "test"
PG_USERS = ("postgres", "root")


def _pg_connect(dbname: str) -> tuple[psycopg.Connection, str]:
    """An autocommit connection to `dbname` and the conninfo user that worked."""
    override = os.environ.get("IVR_TEST_POSTGRES_URL")
    errors = []
    if override:
        url = make_url(override)
        users = (url.username or "postgres",)
        host, port = url.host or PG_HOST, url.port or PG_PORT
        password = url.password
    else:
        users, host, port, password = PG_USERS, PG_HOST, PG_PORT, None
    for user in users:
        try:
            conn = psycopg.connect(
                host=host,
                port=port,
                user=user,
                password=password,
                dbname=dbname,
                autocommit=True,
                connect_timeout=5,
            )
            return conn, user
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    pytest.fail(
        f"PostgreSQL is not reachable at {host}:{port} (database {dbname!r}); the store tests "
        f"need the real server (start it with scripts/setup.sh). Tried: {'; '.join(errors)}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (SQLAlchemy URL), dropped afterwards."""
    admin, user = _pg_connect(PG_ADMIN_DB)
    name = f"ivr_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = admin.info
    url = f"postgresql+psycopg://{user}@{info.host}:{info.port}/{name}"
    if info.password:
        url = f"postgresql+psycopg://{user}:{info.password}@{info.host}:{info.port}/{name}"
    try:
        yield url
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ivr.db'}"
        return
    base = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    parsed = make_url(base)
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.database,
            autocommit=True,
        ) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated `Store` on each database."""
    upgrade(db_url)
    opened = Store(db_url)
    try:
        yield opened
    finally:
        opened.close()
