"""Helpers for the escalation tests: a policy with short timings, settings with the escalation
fields, a customer with contacts, and a small app (escalation routes and the web sign-in) on a
real server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from carestore.db import Store
from emergency_contact.contacts import ConsentIn, ContactIn
from emergency_contact.policy import Policy
from emergency_contact.service import EscalationConfig, EscalationService
from ivr.settings import Settings

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "escalation-test-auth-token"
FROM_NUMBER = "+441632960900"
PACKAGED_POLICY = Path(__file__).resolve().parents[1] / "emergency_contact" / "policy.toml"


class EscalationSettings(Settings):
    """The settings fields the escalation wiring reads (until `ivr/settings.py` has them)."""

    twilio_from_number: str = ""
    escalation_policy: str = ""
    supervisor_number: str = ""
    emergency_number: str = ""
    service_name: str = "the care line"


def policy_file(tmp: Path, **values: float) -> Path:
    """The packaged policy with some `key = value` lines changed (short timings for tests)."""
    text = PACKAGED_POLICY.read_text("utf-8")
    for key, value in values.items():
        text, n = re.subn(rf"(?m)^{key}\s*=\s*[^#\n]+", f"{key} = {value} ", text)
        assert n, f"{key} is not in the policy file"
    path = tmp / "policy.toml"
    path.write_text(text, "utf-8")
    Policy.load(path)  # it must still be a valid policy
    return path


def add_customer_with_contacts(
    store: Store, svc: EscalationService, contacts: list[dict], phone: str = "+441632960001"
) -> tuple[int, list[int]]:
    """A customer and their contacts (dicts of ContactIn fields; `consent: False` leaves the
    consent out). Returns (customer id, contact ids in order)."""
    customer = store.create_customer("Mrs Edith Harper", "11223344", phone=phone, language="en")
    ids = []
    for c in contacts:
        c = dict(c)
        consent = c.pop("consent", True)
        if consent:
            c["consent"] = ConsentIn(given_by=c["name"], method="phone")
        ids.append(svc.contacts.add(customer.id, ContactIn(**c), actor="staff:test").id)
    return customer.id, ids


@dataclass
class WebDeps:
    """What the web pages read of `app.state.deps` in the small app (it takes no calls): the
    store (users, sessions) and session-event listeners (`start_web`), the dialog bundle and
    voice (the kiosk page, kiosk staff's home after sign-in)."""

    store: Store
    bundle: Any
    voice: Any
    listeners: list[Any] = field(default_factory=list)


def escalation_app(svc: EscalationService, settings: Settings) -> FastAPI:
    """An app with the escalation router (the service set, no worker) and the real web sign-in
    (`install_web`: /login, sessions, CSRF, roles, the agent console as the agents' home)."""
    from ivr.web.auth_app import install_web
    from ivr.web.escalation_routes import router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ivr.flows import load_bundle
        from speech.tts import VoiceSettings

        voice = VoiceSettings(voice=settings.tts_voice, rate_wpm=settings.tts_rate_wpm)
        app.state.deps = WebDeps(svc.store, load_bundle("default", "en"), voice)
        yield

    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings
    app.state.escalation = svc
    app.include_router(router)
    return install_web(app)


def make_service(store: Store, policy: Policy | None = None, base: str = "http://127.0.0.1:9"):
    """A service on `store` with the packaged (or given) policy."""
    return EscalationService(
        store, policy or Policy.load(), EscalationConfig(base_url=lambda: base)
    )
