"""The canonical form that audit hashes cover: sorted-key JSON, ASCII only, no NaN.

One serialisation for everything the audit chain hashes (its entries and the fingerprints of
the records they describe), so a value hashes the same when it is written and when it is read
back from SQLite or PostgreSQL years later.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def canonical_json(value: Any) -> bytes:
    """`value` as canonical JSON bytes (sorted keys, no spaces, ASCII escapes, no NaN)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` as 64 lower-case hex digits."""
    return hashlib.sha256(data).hexdigest()


def text_sha256(text: str) -> str:
    """The SHA-256 of a text's UTF-8 bytes (what anyone holding the words can recompute)."""
    return sha256_hex(text.encode("utf-8", "surrogatepass"))


def value_sha256(value: Any) -> str:
    """The SHA-256 of a JSON-ready value's canonical form."""
    return sha256_hex(canonical_json(value))


def timestamp(value: datetime | None) -> str | None:
    """An aware datetime as UTC ISO 8601 with microseconds (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: audit hashes need timezone-aware times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def json_ready(name: str, value: Any) -> Any:
    """`value` as it reads back from a JSON column (dict keys become strings, tuples lists),
    so what is hashed is what is stored. A clear ValueError for anything JSON cannot hold."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be plain JSON data (no NaN, dates as text): {exc}") from None
