"""Per-call media stream tokens: HMAC-SHA256 over the CallSid and an expiry time.

`/twilio/voice` (a signed Twilio webhook) issues a token for the call's CallSid and puts it in the
TwiML as `<Parameter name="token">`; Twilio hands it back in `start.customParameters`, and the
media websocket accepts the stream only if the token is genuine, unexpired and for that CallSid.
Token text: `<expiry unix seconds>.<urlsafe base64 HMAC, unpadded>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# StreamTokenError reasons
MISSING = "missing"
MALFORMED = "malformed"
FORGED = "forged"
EXPIRED = "expired"


class StreamTokenError(Exception):
    """A stream token was refused; `reason` is missing, malformed, forged or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"stream token {reason}")
        self.reason = reason


class StreamTokens:
    """Issues and verifies stream tokens with one secret key."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("stream token secret must be at least 16 bytes")
        self._secret = secret
        self._clock = clock

    def _mac(self, call_sid: str, expiry: int) -> str:
        digest = hmac.new(self._secret, f"{call_sid}\n{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def issue(self, call_sid: str, ttl_s: float) -> str:
        """A token for `call_sid`, valid for `ttl_s` seconds from now."""
        if not call_sid:
            raise ValueError("call_sid is empty")
        expiry = int(self._clock() + ttl_s)
        return f"{expiry}.{self._mac(call_sid, expiry)}"

    def verify(self, token: str | None, call_sid: str) -> bool:
        """True if `token` is genuine, unexpired and for `call_sid`; else raise StreamTokenError."""
        if not token:
            raise StreamTokenError(MISSING)
        expiry_text, dot, mac = token.partition(".")
        if not dot or not expiry_text.isdigit() or not mac or len(expiry_text) > 12:
            raise StreamTokenError(MALFORMED)
        expiry = int(expiry_text)
        expected = self._mac(call_sid, expiry)
        # compare first (constant time), so a forged token never learns about the expiry check
        if not hmac.compare_digest(expected.encode(), mac.encode()):
            raise StreamTokenError(FORGED)
        if self._clock() > expiry:
            raise StreamTokenError(EXPIRED)
        return True

    def is_valid(self, token: str | None, call_sid: str) -> bool:
        """Like `verify`, returning False instead of raising."""
        try:
            return self.verify(token, call_sid)
        except StreamTokenError:
            return False


def resolve_secret(configured: str) -> bytes:
    """The configured secret (`IVR_STREAM_TOKEN_SECRET`), or a fresh random one, logged as such."""
    if configured:
        return configured.encode()
    log.info(
        "IVR_STREAM_TOKEN_SECRET is not set: media stream tokens use a random key made at "
        "start-up (streams must reach the same process that answered /twilio/voice; set the "
        "secret when several instances serve calls)"
    )
    return secrets.token_bytes(32)
