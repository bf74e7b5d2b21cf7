"""Helpers of the outbound-call tests (no tests here): the real app (real engines, SQLite,
outbox worker, outbound scheduler loop) on a real server, the Twilio REST stand-in it dials
through, and Twilio's side of an answered call played over the real media websocket.

Time zones: calls are only placed outside the quiet hours (20:00-09:00) of the customer's own
zone, so each test customer lives in a fixed-offset zone where it is now mid-day (or, for the
quiet-hours test, the middle of the night) whatever the time this suite runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from twilio_standin import Received, TwilioStandIn

from carestore.outbound import OutboundRecords
from emergency_contact.contacts import ConsentIn
from ivr.app import build_deps, create_app
from ivr.outbound.plans import set_plan, set_preferences
from ivr.session.events import SessionEvent
from ivr.settings import Settings
from ivr.twilio.local_server import LocalServer
from ivr.twilio.simulator import TwilioCallSimulator
from ivr.web.auth_users import UserBook

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "outbound-test-auth-token"
FROM_NUMBER = "+441632960900"
PASSWORD = "correct horse battery staple"
STAFF = {"alice": "agent", "kim": "kiosk_staff", "sam": "supervisor"}


def zone_where(hours: range, now: datetime | None = None) -> str:
    """A fixed-offset zone (Etc/GMT±N) whose local hour is now in `hours`."""
    now = now or datetime.now(UTC)
    for offset in range(-12, 15):
        name = f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}" if offset else "Etc/GMT"
        if now.astimezone(ZoneInfo(name)).hour in hours:
            return name
    raise AssertionError(f"no zone has a local hour in {hours}")


def day_zone() -> str:
    """A zone where it is early afternoon (calls allowed for hours to come)."""
    return zone_where(range(12, 15))


def night_zone() -> str:
    """A zone where it is the middle of the night (inside the 20:00-09:00 quiet hours)."""
    return zone_where(range(1, 4))


@dataclass
class Rig:
    base: str
    standin: TwilioStandIn
    settings: Settings
    deps: Any
    app: Any
    events: list[SessionEvent] = field(default_factory=list)

    @property
    def store(self):  # noqa: ANN201
        return self.deps.store

    @property
    def outbound(self):  # noqa: ANN201
        return self.app.state.outbound

    @property
    def records(self) -> OutboundRecords:
        return OutboundRecords(self.deps.store)

    def add_customer(
        self,
        name: str,
        phone: str,
        account: str,
        zone: str | None = None,
        *,
        language: str = "en",
        dialect: str | None = None,
        **account_values: Any,
    ) -> int:
        """A customer in `zone` (a day zone by default), with an account when values given;
        `dialect` is the preferred dialect on the profile (a pack id such as "ko")."""
        customer = self.store.create_customer(
            name, account, phone=phone, language=language, dialect=dialect
        )
        set_preferences(self.store, customer.id, timezone=zone or day_zone(), actor="test")
        if account_values:
            self.store.set_account(customer.id, balance=Decimal("100.00"), **account_values)
        return customer.id

    def consent(self, customer_id: int, kind: str = "checkin", **plan: Any) -> None:
        """The customer agreed (on the phone) to `kind` calls."""
        set_plan(
            self.store,
            customer_id,
            kind,
            opted_in=True,
            actor="test",
            consent=ConsentIn(given_by="the customer", method="phone"),
            **plan,
        )

    def calls_to(self, number: str) -> list[Received]:
        """Calls the stand-in accepted to `number`, in order."""
        return [r for r in self.standin.created("Calls") if r.form["To"] == number]

    def wait_calls_to(self, number: str, n: int = 1, timeout: float = 60) -> list[Received]:
        return self.standin.wait_for(
            lambda: (found := self.calls_to(number)) and len(found) >= n and found,
            timeout=timeout,
            what=f"{n} call(s) to {number}",
        )

    def wait_call(self, call_id: int, check: Callable[[Any], bool], timeout: float = 60) -> Any:
        """The outbound call once `check(call)` holds."""
        return self.standin.wait_for(
            lambda: (c := self.records.call(call_id)) is not None and check(c) and c,
            timeout=timeout,
            what=f"outbound call {call_id} to reach the expected state",
        )


@contextmanager
def outbound_rig(tmp_path: Path, **overrides: Any) -> Iterator[Rig]:
    """The app with the outbound scheduler running (polling every 0.3 s, retry after 1 s,
    call-backs right after a case is resolved), dialling through the stand-in."""
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)
    standin.start()
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_api_base_url": standin.base_url,
        "twilio_from_number": FROM_NUMBER,
        "agent_number": "client:duty-agent",
        "outbound_poll_s": 0.3,
        "outbound_retry_after_s": 1,
        "outbound_survey_delay_s": 0,
        "outbound_quiet_hours": "20:00-09:00",
        "outbound_timezone": day_zone(),
        "voice_cues_enabled": False,  # a synthetic voice is not an older caller's
    }
    values.update(overrides)
    settings = Settings(**values)
    events: list[SessionEvent] = []
    deps = build_deps(settings, listeners=[events.append])
    users = UserBook(deps.store)
    for name, role in STAFF.items():
        users.add(name, PASSWORD, role, name.title())
    app = create_app(settings, deps)
    server = LocalServer(app)
    base = server.start()
    settings.public_base_url = base
    try:
        yield Rig(base, standin, settings, deps, app, events)
    finally:
        server.stop()
        standin.stop()


def path_of(url: str) -> str:
    """The path and query of a URL (the simulator signs it against the public base)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def answered(
    rig: Rig,
    created: Received,
    script: Callable[[TwilioCallSimulator], Awaitable[None]],
    *,
    answered_by: str = "human",
    speed: float = 5,
) -> TwilioCallSimulator:
    """Play Twilio's side of an outbound call a person answered: the signed fetch of the
    call's `Url` (with `AnsweredBy`), then the media stream; `script(call)` is the person."""
    form = created.form
    sim = TwilioCallSimulator(
        rig.base,
        AUTH_TOKEN,
        from_=form["From"],
        to=form["To"],
        call_sid=created.sid,
        account_sid=ACCOUNT_SID,
        speed=speed,
        voice_path=path_of(form["Url"]),
        extra_form={"AnsweredBy": answered_by, "Direction": "outbound-api"},
    )
    async with sim as call:
        await script(call)
        await call.wait_closed(timeout=120)
    return sim


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def settle(seconds: float) -> None:
    """Let the app's loops run (no assertion depends on how long this is)."""
    time.sleep(seconds)
