"""Fixtures for end-to-end call tests: a real server on 127.0.0.1 with real engines, a seeded
SQLite store, and caller speech (real Asterisk recordings, or synthesized where the wording must
be exact)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from ivr.app import build_deps, create_app
from ivr.session.call import SessionDeps
from ivr.session.events import SessionEvent
from ivr.settings import Settings
from ivr.twilio.local_server import LocalServer
from speech.resample import resample_array
from speech.tts import VoiceSettings, synthesize
from speech.wav import read_wav

AUTH_TOKEN = "e2e-test-auth-token"
AGENT = "+441632960999"
ASTERISK = Path("/usr/share/asterisk/sounds/en")


@dataclass
class Caller:
    """A seeded customer the tests call as."""

    name: str
    phone: str
    account: str
    pin: str
    customer_id: int = 0


@dataclass
class IvrServer:
    base_url: str
    settings: Settings
    deps: SessionDeps
    events: list[SessionEvent] = field(default_factory=list)
    known: Caller = field(default_factory=lambda: Caller("", "", "", ""))

    def events_of(self, call_sid: str) -> list[SessionEvent]:
        return [e for e in self.events if e.call_sid == call_sid]


_FRESH = itertools.count(1)


def fresh_caller(srv: IvrServer, name: str, pin: str = "1357", **profile: object):  # noqa: ANN201
    """A customer of the test's own on the shared server (an account number and phone no other
    test uses), so what one call learns (voice baseline, dialect) never reaches another test.
    Returns the store's `Customer` (`.id`, `.phone`)."""
    n = next(_FRESH)
    account, phone = f"{70000000 + n}", f"+4416329605{n:02d}"
    assert n < 100, "fresh_caller: raise the number range"
    return srv.deps.store.create_customer(name, account, pin=pin, phone=phone, **profile)


@pytest.fixture(scope="session")
def ivr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IvrServer]:
    data_dir = tmp_path_factory.mktemp("ivr-e2e")
    settings = Settings(
        data_dir=data_dir,
        database_url="",
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid="AC" + "0" * 32,
        agent_number=AGENT,
    )
    events: list[SessionEvent] = []
    deps = build_deps(settings, listeners=[events.append])
    known = Caller("Mrs Edith Harper", "+441632960001", "11223344", "4719")
    customer = deps.store.create_customer(
        known.name, known.account, pin=known.pin, phone=known.phone, language="en"
    )
    known.customer_id = customer.id
    deps.store.set_account(
        customer.id,
        balance=Decimal("1250.40"),
        next_payment_amount=Decimal("35.00"),
        next_payment_date=None,
        maturing_product="a fixed saver bond",
    )
    app = create_app(settings, deps)
    server = LocalServer(app)
    base = server.start()
    settings.public_base_url = base
    try:
        yield IvrServer(base, settings, deps, events, known)
    finally:
        server.stop()


_CALLER_VOICE = VoiceSettings(voice="en-us", rate_wpm=150, pitch=40)


def spoken(text: str, voice: VoiceSettings = _CALLER_VOICE) -> bytes:
    """Synthesized caller speech (exact wording), as 8 kHz PCM16 bytes."""
    audio = synthesize(text, voice)
    return resample_array(audio.samples, audio.sample_rate, 8000).astype("<i2").tobytes()


def said_in(voice: str, text: str) -> bytes:
    """`text` spoken by the espeak-ng voice `voice` (e.g. "en-gb-scotland", "ko")."""
    return spoken(text, VoiceSettings(voice=voice, rate_wpm=150))


def answer_then_ask_for_person(srv: IvrServer, phone: str, answer: bytes) -> str:
    """A call from `phone` that answers the identity question with `answer`, reaches the main
    menu and presses 0 for a person; returns its call SID once the call record is closed."""
    from ivr.twilio.simulator import TwilioCallSimulator

    async def scenario() -> str:
        async with TwilioCallSimulator(srv.base_url, AUTH_TOKEN, from_=phone, speed=5) as call:
            await wait_key(call, "confirm_identity")
            await call.say_pcm(answer)
            await wait_key(call, "main_menu")
            await call.press("0")
            await call.wait_closed()
            return call.call_sid

    call_sid = asyncio.run(scenario())
    closed_call(srv.deps.store, call_sid)
    return call_sid


def recording(name: str) -> bytes:
    """A real human recording from the Asterisk prompts, as 8 kHz PCM16 bytes."""
    path = ASTERISK / f"{name}.wav"
    if not path.is_file():
        raise AssertionError(
            f"missing real recording {path}: apt-get install asterisk-core-sounds-en-wav"
        )
    return read_wav(path, rate=8000).pcm


def digits_spoken(digits: str, gap_s: float = 0.35) -> bytes:
    """Real recordings of single digits (Asterisk `digits/N`), joined by short pauses."""
    gap = np.zeros(int(8000 * gap_s), dtype="<i2").tobytes()
    return gap.join(recording(f"digits/{d}") for d in digits)


def key_of(mark_name: str) -> str:
    """The prompt key of a session mark ("p3:main_menu" -> "main_menu")."""
    return mark_name.split(":", 1)[1]


async def wait_key(call, key: str, timeout: float = 90.0) -> None:  # noqa: ANN001
    """Wait until the prompt `key` has been heard (its mark echoed) on a simulated call."""
    await call.wait_for_mark(predicate=lambda n: key_of(n) == key, timeout=timeout)


def closed_call(store, call_sid: str, timeout_s: float = 15.0):  # noqa: ANN001, ANN201
    """The call record once the session has closed it (the close follows the stream's end
    asynchronously, after the last transcript writes); fails if it never closes."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        record = store.get_call(call_sid)
        if record is not None and record.ended_at is not None:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_sid} was not closed within {timeout_s}s: {record}")
        time.sleep(0.05)
