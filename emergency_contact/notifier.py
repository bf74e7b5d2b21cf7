"""Sending calls and SMS: through the `twilio` REST client, or, without credentials, to the
console and the store ("DRY RUN", clearly marked) so nothing is silently dropped.

`Notifier.send(item)` makes one attempt and raises `SendError(retryable=...)` on failure: 429,
5xx, timeouts and connection errors are retryable; other 4xx (a bad number...) are not.
`find_existing(item, since)` answers whether an earlier, interrupted attempt did reach the
provider (used when a worker died between the request and recording its answer).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


@dataclass(frozen=True)
class OutboundItem:
    """One notification as the worker hands it to a notifier."""

    id: int
    key: str
    kind: str
    channel: str  # "call" | "sms"
    to_number: str
    payload: dict[str, Any]
    attempts: int
    contact_id: int | None = None
    escalation_id: int | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider's answer: its SID and status; `dry_run` when nothing was really sent."""

    sid: str
    status: str
    dry_run: bool = False


class SendError(Exception):
    """One failed attempt. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Notifier(Protocol):
    """What the outbox worker sends through."""

    dry_run: bool

    def send(self, item: OutboundItem) -> SendResult:
        """One attempt to send `item`."""
        ...

    def find_existing(self, item: OutboundItem, since: datetime) -> SendResult | None:
        """The provider's record of `item` if an attempt since `since` already reached it."""
        ...


class TwilioNotifier:
    """Calls and SMS through Twilio's REST API (`api_base_url` points the client elsewhere,
    e.g. at the local stand-in in tests)."""

    dry_run = False

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        api_base_url: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        """A client for the account; `from_number` is the caller ID / SMS sender (E.164)."""
        if not account_sid or not auth_token:
            raise ValueError("Twilio account SID and auth token are both needed")
        if not from_number:
            raise ValueError("a Twilio number to call and text from is needed")
        self.from_number = from_number
        self.client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout_s)
        )
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")

    def send(self, item: OutboundItem) -> SendResult:
        """Create the call or message."""
        p = item.payload
        try:
            if item.channel == "call":
                call = self.client.calls.create(
                    to=item.to_number,
                    from_=self.from_number,
                    url=p["url"],
                    method="POST",
                    status_callback=p.get("status_callback"),
                    status_callback_method="POST",
                    status_callback_event=CALL_EVENTS,
                    # "DetectMessageEndpoint" (outbound calls) waits for the beep to leave a message
                    machine_detection=p.get("machine_detection", "Enable"),
                    timeout=int(p.get("ring_timeout_s", 30)),
                )
                return SendResult(call.sid or "", call.status or "queued")
            if item.channel == "sms":
                message = self.client.messages.create(
                    to=item.to_number,
                    from_=self.from_number,
                    body=p["body"],
                    status_callback=p.get("status_callback"),
                )
                return SendResult(message.sid or "", message.status or "queued")
        except TwilioRestException as exc:
            retryable = exc.status == 429 or exc.status >= 500
            raise SendError(
                f"Twilio answered {exc.status} (code {exc.code}): {exc.msg}",
                retryable=retryable,
                status=exc.status,
            ) from None
        except requests.RequestException as exc:
            raise SendError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from None
        raise ValueError(f"unknown channel {item.channel!r}")

    def find_existing(self, item: OutboundItem, since: datetime) -> SendResult | None:
        """Look for a call/message to the same number from our number created since `since`
        (a worker may have died after Twilio accepted it)."""
        try:
            if item.channel == "call":
                found = self.client.calls.list(to=item.to_number, from_=self.from_number, limit=20)
            else:
                found = self.client.messages.list(
                    to=item.to_number, from_=self.from_number, limit=20
                )
        except (TwilioRestException, requests.RequestException) as exc:
            raise SendError(
                f"could not check Twilio for earlier sends: {exc}", retryable=True
            ) from None
        for record in found:
            created = record.date_created
            if created is not None and created >= since:
                return SendResult(record.sid or "", record.status or "queued")
        return None


class ConsoleNotifier:
    """No Twilio credentials: write what would be sent to the log (WARNING, marked DRY RUN);
    the worker stores it on the outbox row with `dry_run` set."""

    dry_run = True

    def __init__(self) -> None:
        self.sent: list[OutboundItem] = []

    def send(self, item: OutboundItem) -> SendResult:
        """Log the notification instead of sending it."""
        what = item.payload.get("body") or item.payload.get("message") or item.payload.get("url")
        log.warning(
            "DRY RUN (no Twilio credentials): would %s %s [%s]: %s",
            "call" if item.channel == "call" else "text",
            item.to_number,
            item.key,
            what,
        )
        print(f"[DRY RUN - NOT SENT] {item.channel} to {item.to_number} ({item.kind}): {what}")
        self.sent.append(item)
        return SendResult("DRY" + secrets.token_hex(16), "dry-run", dry_run=True)

    def find_existing(self, item: OutboundItem, since: datetime) -> SendResult | None:
        """Dry runs leave nothing at a provider: resending is harmless."""
        return None
