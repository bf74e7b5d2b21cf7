"""Shared fixtures. The database fixtures (`db_url`, `store`, `pg_database`) live in
`conftest_db.py`."""

from call_fixtures import ivr_server  # noqa: F401,E402
from conftest_db import db_url, pg_database, store  # noqa: F401
