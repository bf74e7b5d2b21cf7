"""What a call session needs to run a call the service placed: the outbound flow, the customer
(known: the flow only checks "Am I speaking with ...?"), the dialect to speak, and the values
the flow's prompts use.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carestore.db import Store
from carestore.outbound import OutboundRecords
from carestore.timeutil import utcnow
from ivr.dialog.backend import CustomerInfo
from ivr.dialog.spoken import date_words
from ivr.outbound.config import OutboundConfig
from ivr.outbound.hours import check_zone, next_weekly, parse_hhmm

log = logging.getLogger(__name__)

FLOW = "outbound"


@dataclass(frozen=True)
class OutboundContext:
    """One answered outbound call, as the call session sees it."""

    call_id: int
    attempt_id: int
    kind: str
    customer: CustomerInfo
    dialect: str | None  # the pack the call speaks (the customer's when it has the wording)
    bundle: Any  # ivr.flows.DialogBundle of the outbound flow
    variables: dict[str, Any] = field(default_factory=dict)

    def call_fields(self) -> dict[str, Any]:
        """Extra fields of the call record (`Store.start_call`)."""
        return {"direction": "outbound", "customer_id": self.customer.id}


@functools.lru_cache(maxsize=32)
def outbound_bundle(dialect: str | None) -> Any:
    """The outbound flow with the wording of `dialect` (validated; cached)."""
    from ivr.flows import load_bundle

    if dialect is None:
        return load_bundle(FLOW, "en")
    return load_bundle(FLOW, dialect=dialect)


def bundle_for(dialect: str | None, fallback: str | None) -> tuple[str | None, Any]:
    """(dialect, bundle): the customer's dialect when its pack words the outbound flow, else
    `fallback` (the deployment's default), else the flow's own English files."""
    for candidate in dict.fromkeys([dialect, fallback]):
        if not candidate:
            continue
        try:
            return candidate, outbound_bundle(candidate)
        except (ValueError, OSError) as exc:  # FlowError, PackError: wording missing
            log.info("outbound flow: dialect %s cannot be used (%s)", candidate, str(exc)[:200])
    return None, outbound_bundle(None)


def next_call_words(
    records: OutboundRecords,
    customer_id: int,
    zone_name: str,
    now: datetime,
    language: str = "en",
) -> str | None:
    """When the next weekly check-in is, in words of `language` ("Monday the 16th of
    March", "3월 16일 월요일"), if any."""
    plan = records.plan(customer_id, "checkin")
    if plan is None or not plan.callable or plan.weekday is None or not plan.time_of_day:
        return None
    zone = check_zone(zone_name)
    when = next_weekly(now, plan.weekday, parse_hhmm(plan.time_of_day), zone)
    local = when.astimezone(zone).date()
    return date_words(local, now.astimezone(zone).date(), language, digits=True)


def context_for(
    store: Store, config: OutboundConfig, call_sid: str, default_dialect: str | None = None
) -> OutboundContext | None:
    """The context of the answered outbound call `call_sid` (None: not one of ours)."""
    records = OutboundRecords(store)
    attempt = records.attempt_by_sid(call_sid)
    if attempt is None or attempt.result != "answered_human":
        return None
    call = records.call(attempt.outbound_call_id)
    customer = store.get_customer(call.customer_id) if call is not None else None
    if call is None or customer is None:
        return None
    dialect, bundle = bundle_for(customer.dialect, default_dialect)
    prefs = records.preferences(customer.id)
    zone = prefs.timezone if prefs is not None else config.default_zone
    variables: dict[str, Any] = {
        "outbound_kind": call.kind,
        "name": customer.name,
        "service": config.service_name,
        "reminder_topic": call.topic or "payment",
    }
    if call.kind == "checkin":
        words = next_call_words(records, customer.id, zone, utcnow(), bundle.prompts.language)
        if words:
            variables["next_call"] = words
    info = CustomerInfo(
        id=customer.id,
        name=customer.name,
        phone=customer.phone,
        language=customer.language,
        dialect=customer.dialect,
        preferred_rate_wpm=customer.preferred_rate_wpm,
        keypad_only=customer.keypad_only,
    )
    return OutboundContext(call.id, attempt.id, call.kind, info, dialect, bundle, variables)
