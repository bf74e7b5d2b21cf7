"""Twilio webhook authentication: `X-Twilio-Signature` checked with Twilio's `RequestValidator`.

Twilio signs the URL it requested (the public one, e.g. `https://ivr.example.org/twilio/voice`)
plus the POST form parameters. Behind a proxy the server sees another URL, so the URL checked is
`IVR_PUBLIC_BASE_URL` + the request path + query when that setting is present.

- No auth token configured: every webhook is refused (503, saying how to set one).
- `IVR_ALLOW_UNSIGNED_WEBHOOKS=true` (development only) accepts anything, logged loudly at
  start-up and on every request.
- Otherwise a missing or wrong signature gets 403 and a log line.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection
from twilio.request_validator import RequestValidator, get_signature_algorithm

from ivr.settings import Settings, get_settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"  # names HMAC_SHA256 if used
NO_TOKEN_MESSAGE = (
    "Twilio webhooks are refused: no Twilio auth token is configured. Set IVR_TWILIO_AUTH_TOKEN "
    "(environment or .env) to the auth token of the Twilio account that owns the number."
)


def settings_of(conn: HTTPConnection) -> Settings:
    """The app's settings (`app.state.settings`), or the process-wide ones."""
    settings = getattr(conn.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def public_url(request: Request, settings: Settings) -> str:
    """The URL Twilio requested: the public base URL (if set) + path + query."""
    if not settings.public_base_url:
        return str(request.url)
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def log_startup_warnings(settings: Settings) -> list[str]:
    """Log (and return) what the operator must know about webhook security at start-up."""
    messages: list[str] = []
    if settings.allow_unsigned_webhooks:
        messages.append(
            "!!! IVR_ALLOW_UNSIGNED_WEBHOOKS=true: Twilio webhooks are accepted WITHOUT checking "
            "their signature. Anyone who can reach this server can drive calls. DEVELOPMENT ONLY."
        )
    elif not settings.twilio_auth_token:
        messages.append(NO_TOKEN_MESSAGE)
    if not settings.public_base_url:
        messages.append(
            "IVR_PUBLIC_BASE_URL is not set: signatures are checked against the URL this server "
            "sees and stream URLs point at it; behind a proxy or tunnel set it to the https URL "
            "Twilio reaches (e.g. IVR_PUBLIC_BASE_URL=https://ivr.example.org)."
        )
    for message in messages:
        log.warning(message)
    return messages


async def read_form(request: Request) -> FormData:
    """The request's urlencoded form (all values kept, in order)."""
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="form body is not UTF-8") from None
    return FormData(parse_qsl(text, keep_blank_values=True))


async def verified_twilio_form(request: Request) -> dict[str, str]:
    """FastAPI dependency: the webhook's form parameters, once its Twilio signature checks out."""
    settings = settings_of(request)
    form = await read_form(request)
    client = request.client.host if request.client else "?"
    where = f"{request.method} {request.url.path} from {client}"
    if settings.allow_unsigned_webhooks:
        log.warning("!!! accepting webhook %s WITHOUT signature check (development setting)", where)
        return dict(form)
    if not settings.twilio_auth_token:
        log.error("refused webhook %s: no auth token configured (IVR_TWILIO_AUTH_TOKEN)", where)
        raise HTTPException(status_code=503, detail=NO_TOKEN_MESSAGE)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        log.warning("refused webhook %s: no %s header", where, SIGNATURE_HEADER)
        raise HTTPException(status_code=403, detail="missing Twilio signature")
    url = public_url(request, settings)
    validator = RequestValidator(settings.twilio_auth_token)
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not validator.validate(url, form, signature, algorithm):
        log.warning("refused webhook %s: wrong Twilio signature for %s", where, url)
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return dict(form)


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The `X-Twilio-Signature` Twilio would send for a POST of `params` to `url`."""
    return RequestValidator(auth_token).compute_signature(url, params)
