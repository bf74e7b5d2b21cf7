"""A stand-in for Twilio's REST API on 127.0.0.1, for tests and benchmarks.

It answers `Calls.json` and `Messages.json` (create: 201 with the JSON body Twilio returns;
list: Twilio's page format) for one account with HTTP basic auth, validates the `To` number as
Twilio does (400, code 21211), and can be told to fail: `fail("Calls", 500, times=1)`,
`fail("Messages", 429)`, `slow("Calls", 3.0)` (answers after a delay, so a client timeout
fires). After a call is created it plays the call like Twilio would, by `script[to_number]`:

- "ring" (default): status callbacks initiated, ringing; nothing else (nobody answers yet).
- "no-answer" / "busy" / "failed": initiated, ringing, then that final status.
- "press:D": answered by a person; the TwiML `Url` is fetched, the `<Gather action>` gets
  Digits=D, the TwiML it returns is kept; then the status callback "completed".
- "voicemail": answered by a machine (AnsweredBy=machine_end_beep), the Url fetched, completed.

Every request it received is kept in `requests` (method, path, form, time), every webhook it
sent in `webhooks` (url, form, status code, body); webhooks are signed with the auth token
(`X-Twilio-Signature`), exactly as Twilio signs them. `on_create(kind, form)` is called before
the create answer is sent (a test can crash the client there).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import phonenumbers
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ivr.twilio.local_server import LocalServer
from ivr.twilio.signature import SIGNATURE_HEADER, sign

API = "/2010-04-01/Accounts/{account}"


@dataclass
class Received:
    """One REST request the stand-in received."""

    method: str
    kind: str  # "Calls" | "Messages"
    form: dict[str, str]
    at: float  # time.monotonic()
    status: int = 0
    sid: str = ""


@dataclass
class Webhook:
    """One webhook the stand-in sent to the application."""

    url: str
    form: dict[str, str]
    status: int
    body: str
    at: float


@dataclass
class _Fault:
    status: int
    times: int
    delay_s: float = 0.0


@dataclass
class TwilioStandIn:
    """`with TwilioStandIn(account_sid, auth_token) as tw: tw.base_url` ..."""

    account_sid: str
    auth_token: str
    script: dict[str, str] = field(default_factory=dict)
    callback_delay_s: float = 0.05
    latency_s: float = 0.0  # every create request takes this long (busy API)
    requests: list[Received] = field(default_factory=list)
    webhooks: list[Webhook] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    on_create: Callable[[str, dict[str, str]], None] | None = None

    def __post_init__(self) -> None:
        self._faults: dict[str, list[_Fault]] = {"Calls": [], "Messages": []}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.app = self._make_app()
        self._server = LocalServer(self.app)
        self.base_url = ""

    # ---- control -------------------------------------------------------------------------
    def fail(self, kind: str, status: int, times: int = 1) -> None:
        """The next `times` create requests of `kind` get `status` (429, 500...)."""
        with self._lock:
            self._faults[kind].append(_Fault(status, times))

    def slow(self, kind: str, delay_s: float, times: int = 1) -> None:
        """The next `times` create requests of `kind` are answered only after `delay_s`
        (the request is NOT processed: a client that times out has sent nothing)."""
        with self._lock:
            self._faults[kind].append(_Fault(0, times, delay_s))

    def created(self, kind: str = "Calls") -> list[Received]:
        """Create requests of `kind` that were accepted (201), in order."""
        return [r for r in self.requests if r.kind == kind and r.status == 201]

    def wait_for(self, check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        """Poll `check` until it returns something truthy (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")

    def send_sms(self, app_url: str, from_number: str, to_number: str, body: str) -> Webhook:
        """An inbound SMS to the app (signed, as Twilio posts it)."""
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.account_sid,
            "From": from_number,
            "To": to_number,
            "Body": body,
            "NumMedia": "0",
        }
        return self._post(app_url, form)

    # ---- server --------------------------------------------------------------------------
    def start(self) -> str:
        self.base_url = self._server.start()
        return self.base_url

    def stop(self) -> None:
        for t in list(self._threads):
            t.join(5)
        self._server.stop()

    def __enter__(self) -> TwilioStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals -----------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid and password == self.auth_token

    def _fault(self, kind: str) -> _Fault | None:
        with self._lock:
            queue = self._faults[kind]
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    @staticmethod
    def _error(status: int, code: int, message: str) -> JSONResponse:
        return JSONResponse(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status_code=status,
        )

    def _make_app(self) -> FastAPI:
        app = FastAPI()

        def create(kind: str, request_form: dict[str, str], request: Request) -> JSONResponse:
            rec = Received("POST", kind, request_form, time.monotonic())
            with self._lock:
                self.requests.append(rec)
            if not self._authorised(request):
                rec.status = 401
                return self._error(401, 20003, "Authenticate")
            if self.latency_s:
                time.sleep(self.latency_s)
            fault = self._fault(kind)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
                rec.status = 504
                return self._error(504, 20500, "slow answer (stand-in)")
            if fault is not None:
                rec.status = fault.status
                code = 20429 if fault.status == 429 else 20500
                return self._error(fault.status, code, "injected failure (stand-in)")
            to = request_form.get("To", "")
            try:
                parsed = phonenumbers.parse(to, None)
                ok = phonenumbers.is_possible_number(parsed)
            except phonenumbers.NumberParseException:
                ok = False
            if not ok:
                rec.status = 400
                return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            if self.on_create is not None:
                self.on_create(kind, request_form)
            now = format_datetime(datetime.now(UTC))
            prefix = "CA" if kind == "Calls" else "SM"
            sid = prefix + secrets.token_hex(16)
            body: dict[str, Any] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": request_form.get("From", ""),
                "status": "queued",
                "date_created": now,
                "date_updated": now,
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"{API.format(account=self.account_sid)}/{kind}/{sid}.json",
            }
            if kind == "Messages":
                body.update(body=request_form.get("Body", ""), num_segments="1", price=None)
            rec.status = 201
            rec.sid = sid
            with self._lock:
                (self.calls if kind == "Calls" else self.messages).append(body)
            if kind == "Calls":
                t = threading.Thread(target=self._play, args=(sid, request_form), daemon=True)
                self._threads.append(t)
                t.start()
            return JSONResponse(body, status_code=201)

        def listing(kind: str, request: Request) -> JSONResponse:
            if not self._authorised(request):
                return self._error(401, 20003, "Authenticate")
            to = request.query_params.get("To")
            frm = request.query_params.get("From")
            with self._lock:
                items = list(self.calls if kind == "Calls" else self.messages)
            items = [
                i for i in items if (not to or i["to"] == to) and (not frm or i["from"] == frm)
            ]
            uri = f"{API.format(account=self.account_sid)}/{kind}.json"
            return JSONResponse(
                {
                    kind.lower(): items[::-1],
                    "end": len(items),
                    "first_page_uri": uri,
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": 50,
                    "previous_page_uri": None,
                    "start": 0,
                    "uri": uri,
                }
            )

        async def _form(request: Request) -> dict[str, str]:
            return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

        @app.post("/2010-04-01/Accounts/{account}/Calls.json")
        async def calls_create(account: str, request: Request) -> JSONResponse:
            form = await _form(request)
            return await asyncio.to_thread(create, "Calls", form, request)

        @app.post("/2010-04-01/Accounts/{account}/Messages.json")
        async def messages_create(account: str, request: Request) -> JSONResponse:
            form = await _form(request)
            return await asyncio.to_thread(create, "Messages", form, request)

        @app.get("/2010-04-01/Accounts/{account}/Calls.json")
        async def calls_list(account: str, request: Request) -> JSONResponse:
            return listing("Calls", request)

        @app.get("/2010-04-01/Accounts/{account}/Messages.json")
        async def messages_list(account: str, request: Request) -> JSONResponse:
            return listing("Messages", request)

        return app

    def _post(self, url: str, form: dict[str, str]) -> Webhook:
        headers = {SIGNATURE_HEADER: sign(self.auth_token, url, form)}
        try:
            r = httpx.post(url, data=form, headers=headers, timeout=30)
            hook = Webhook(url, form, r.status_code, r.text, time.monotonic())
        except httpx.HTTPError as exc:
            hook = Webhook(url, form, 0, repr(exc), time.monotonic())
        with self._lock:
            self.webhooks.append(hook)
        return hook

    def _status(self, sid: str, req: dict[str, str], status: str, **extra: str) -> None:
        url = req.get("StatusCallback")
        if not url:
            return
        form = {
            "CallSid": sid,
            "AccountSid": self.account_sid,
            "From": req.get("From", ""),
            "To": req.get("To", ""),
            "CallStatus": status,
            "Direction": "outbound-api",
            **extra,
        }
        time.sleep(self.callback_delay_s)
        self._post(url, form)

    def _play(self, sid: str, req: dict[str, str]) -> None:
        plan = self.script.get(req.get("To", ""), "ring")
        self._status(sid, req, "initiated")
        self._status(sid, req, "ringing")
        if plan in ("no-answer", "busy", "failed"):
            self._status(sid, req, plan)
            return
        if plan == "ring":
            return
        answered_by = "machine_end_beep" if plan == "voicemail" else "human"
        self._status(sid, req, "in-progress", AnsweredBy=answered_by)
        base = {
            "CallSid": sid,
            "AccountSid": self.account_sid,
            "From": req.get("From", ""),
            "To": req.get("To", ""),
            "CallStatus": "in-progress",
            "AnsweredBy": answered_by,
        }
        page = self._post(req["Url"], base)
        if plan.startswith("press:") and page.status == 200:
            gather = ET.fromstring(page.body).find("Gather")
            if gather is not None and gather.get("action"):
                self._post(gather.get("action", ""), {**base, "Digits": plan.split(":", 1)[1]})
        self._status(sid, req, "completed", CallDuration="20")
