"""The store: customers, accounts, calls with their transcripts and dialog events, tickets.

`Store(url)` opens SQLite or PostgreSQL (SQLAlchemy 2, sync); every method is one short
transaction and is safe to call from several threads (the async call session uses
`asyncio.to_thread`). `upgrade(url)` applies the Alembic migrations kept in this package.
"""

from carestore.db import Store, normalise_url
from carestore.errors import (
    AlreadyExists,
    InvalidPhoneNumber,
    InvalidPin,
    InvalidValue,
    NotFound,
    StoreError,
    UnknownCall,
)
from carestore.migrate import upgrade
from carestore.phone import normalise_phone
from carestore.records import (
    Account,
    CallRecord,
    Customer,
    DialogEvent,
    Segment,
    StatusCallback,
    Ticket,
    TicketStatusChange,
)

__all__ = [
    "AlreadyExists",
    "Account",
    "CallRecord",
    "Customer",
    "DialogEvent",
    "InvalidPhoneNumber",
    "InvalidPin",
    "InvalidValue",
    "NotFound",
    "Segment",
    "StatusCallback",
    "Store",
    "StoreError",
    "Ticket",
    "TicketStatusChange",
    "UnknownCall",
    "normalise_phone",
    "normalise_url",
    "upgrade",
]
