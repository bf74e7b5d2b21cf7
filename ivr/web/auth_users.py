"""Staff users of the web pages: argon2 password hashes, roles, sign-in with lock-out, and the
audit trail of every view of personal data.

All methods are synchronous short transactions on the `carestore.Store` (async callers use a
thread). Lock-out: `max_failures` failed sign-ins of one username within `window_s` seconds
(since its last success) lock it for the rest of the window; the lock-out is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from carestore.errors import AlreadyExists, InvalidValue, NotFound
from carestore.timeutil import utcnow
from carestore.web_models import ROLES, LoginAttemptRow, UserRow
from emergency_contact.audit import audit

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, for timing only")


class SignInError(Exception):
    """Sign-in refused (wrong name or password, inactive user); the message is safe to show."""


class LockedOut(SignInError):
    """Too many recent failures: sign-in refused until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__("too many failed sign-ins: try again later or ask an administrator")
        self.until = until


@dataclass(frozen=True)
class User:
    """A signed-in member of staff."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    session_version: int
    created_at: datetime
    last_login_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (no hash)."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


def _user(row: UserRow) -> User:
    return User(
        row.id,
        row.username,
        row.display_name,
        row.role,
        row.active,
        row.session_version,
        row.created_at,
        row.last_login_at,
    )


def check_username(username: str) -> str:
    """The username lower-cased; InvalidValue unless 2-64 of a-z 0-9 . _ - (letter/digit first)."""
    name = (username or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise InvalidValue(
            f"a username is 2 to 64 characters: letters, digits, '.', '_' or '-' (got {username!r})"
        )
    return name


def check_password(password: str) -> str:
    """The password unchanged; InvalidValue if shorter than `MIN_PASSWORD` characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidValue(f"a password needs at least {MIN_PASSWORD} characters")
    if "\x00" in password:
        raise InvalidValue("a password cannot contain the NUL character")
    return password


def check_role(role: str) -> str:
    """`role` if it is one of `ROLES`, else InvalidValue."""
    if role not in ROLES:
        raise InvalidValue(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return role


class UserBook:
    """Staff users on a store."""

    def __init__(self, store: Any, max_failures: int = 5, window_s: float = 900.0) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)

    # ---- users -----------------------------------------------------------------------------
    def add(self, username: str, password: str, role: str, display_name: str | None = None) -> User:
        """Add a user. InvalidValue for a bad name, password or role; AlreadyExists if taken."""
        name = check_username(username)
        row = UserRow(
            username=name,
            display_name=(display_name or name).strip()[:200] or name,
            password_hash=_hasher.hash(check_password(password)),
            role=check_role(role),
            active=True,
            session_version=1,
            created_at=utcnow(),
        )
        try:
            with self.store.write() as session:
                if session.scalars(select(UserRow.id).where(UserRow.username == name)).first():
                    raise AlreadyExists(f"user {name!r} already exists")
                session.add(row)
                session.flush()
                audit(session, "system", "user_added", "user", row.id, None, {"role": role})
                return _user(row)
        except IntegrityError as exc:
            raise AlreadyExists(f"user {name!r} already exists") from exc

    def list(self) -> list[User]:
        """All users by name."""
        with self.store.read() as session:
            return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.username))]

    def get(self, user_id: int) -> User | None:
        """The user with this id, if any."""
        with self.store.read() as session:
            row = session.get(UserRow, user_id)
            return None if row is None else _user(row)

    def by_name(self, username: str) -> User | None:
        """The user with this name, if any."""
        with self.store.read() as session:
            row = session.scalars(
                select(UserRow).where(UserRow.username == username.strip().lower())
            ).first()
            return None if row is None else _user(row)

    def set_password(self, username: str, password: str, actor: str) -> None:
        """Change a password; every session of the user ends (session version bumped)."""
        pw_hash = _hasher.hash(check_password(password))
        with self.store.write() as session:
            row = self._row(session, username)
            row.password_hash = pw_hash
            row.session_version += 1
            audit(session, actor, "password_changed", "user", row.id)

    def set_active(self, username: str, active: bool, actor: str) -> None:
        """Enable or disable a user (disabling ends every session)."""
        with self.store.write() as session:
            row = self._row(session, username)
            row.active = active
            row.session_version += 1
            audit(session, actor, "user_enabled" if active else "user_disabled", "user", row.id)

    def unlock(self, username: str, actor: str) -> None:
        """Clear a lock-out (records a successful attempt marker)."""
        with self.store.write() as session:
            row = self._row(session, username)
            session.add(
                LoginAttemptRow(username=row.username, at=utcnow(), ok=True, client="unlock")
            )
            audit(session, actor, "user_unlocked", "user", row.id)

    @staticmethod
    def _row(session: Any, username: str) -> UserRow:
        row = session.scalars(
            select(UserRow).where(UserRow.username == username.strip().lower())
        ).first()
        if row is None:
            raise NotFound(f"no user {username!r}")
        return row

    # ---- sign-in ---------------------------------------------------------------------------
    def _recent_failures(
        self, session: Any, name: str, now: datetime
    ) -> tuple[int, datetime | None]:
        since = now - self.window
        last_ok = session.scalar(
            select(func.max(LoginAttemptRow.at)).where(
                LoginAttemptRow.username == name, LoginAttemptRow.ok.is_(True)
            )
        )
        if last_ok is not None and last_ok > since:
            since = last_ok
        rows = session.scalars(
            select(LoginAttemptRow.at)
            .where(
                LoginAttemptRow.username == name,
                LoginAttemptRow.ok.is_(False),
                LoginAttemptRow.at > since,
            )
            .order_by(LoginAttemptRow.at)
        ).all()
        return len(rows), (rows[0] if rows else None)

    def authenticate(self, username: str, password: str, client: str = "") -> User:
        """The user if the password is right. SignInError otherwise (the same message for an
        unknown name and a wrong password); LockedOut after too many recent failures."""
        name = (username or "").strip().lower()[:64]
        now = utcnow()
        with self.store.read() as session:
            failures, first = self._recent_failures(session, name, now)
            row = session.scalars(select(UserRow).where(UserRow.username == name)).first()
            pw_hash = row.password_hash if row is not None else _DUMMY_HASH
            user_id = row.id if row is not None else None
            active = bool(row.active) if row is not None else False
        if failures >= self.max_failures and first is not None:
            _verify(_DUMMY_HASH, password or "")  # same cost as a real check
            raise LockedOut(first + self.window)
        ok = _verify(pw_hash, password or "") and user_id is not None and active
        with self.store.write() as session:
            session.add(LoginAttemptRow(username=name, at=now, ok=ok, client=client[:64] or None))
            if ok:
                db_row = session.get(UserRow, user_id)
                db_row.last_login_at = now
                if _hasher.check_needs_rehash(db_row.password_hash):
                    db_row.password_hash = _hasher.hash(password)
                audit(session, name, "signed_in", "user", user_id, None, {"client": client})
                return _user(db_row)
            if failures + 1 >= self.max_failures:
                audit(
                    session,
                    "system",
                    "user_locked_out",
                    "user",
                    user_id,
                    None,
                    {"username": name, "failures": failures + 1, "client": client},
                )
        raise SignInError("wrong username or password")


def _verify(pw_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(pw_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def audit_view(
    store: Any,
    user: User,
    what: str,
    entity: str,
    entity_id: int | None,
    customer_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write "who viewed what, when" to the audit log (one short transaction)."""
    with store.write() as session:
        audit(
            session,
            user.username,
            "viewed",
            entity,
            entity_id,
            customer_id,
            {"what": what, "role": user.role, **(data or {})},
        )
