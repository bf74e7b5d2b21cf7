"""Shared fixtures. The database fixtures (`db_url`, `store`, `pg_database`) live in
`conftest_db.py`."""

from conftest_db import db_url, pg_database, store  # noqa: F401
