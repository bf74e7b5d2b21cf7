"""The deployment's rules for outbound calls, read once from `Settings`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.outbound.hours import Window, check_zone

CATCH_UP_S = 6 * 3600  # a weekly call missed while the service was down is still made this late
LOOKAHEAD_S = 7 * 86400  # calls are generated this far ahead (so `ivr outbound list` shows them)
SURVEY_WITHIN_S = 24 * 3600  # satisfaction call-backs only for cases resolved this recently
PAST_TOLERANCE_S = 60  # "--at" this close to now counts as now, not as the past


@dataclass(frozen=True)
class OutboundConfig:
    """Quiet hours, retries and wording values for outbound calls."""

    base_url: Callable[[], str]
    quiet: Window | None = None
    default_zone: str = "Europe/London"
    max_attempts: int = 2
    retry_after_s: int = 900
    unconfirmed_retry_s: int = 900  # a check-in answered, the person's wellbeing not heard
    wrong_person_retry_s: int = 7200  # a check-in someone else answered
    ring_timeout_s: int = 40
    attempt_timeout_s: int = 1800
    survey_delay_s: int = 7200
    reminder_days_before: int = 3
    reminder_time: str = "10:00"  # local time of a reminder call unless the plan says otherwise
    service_name: str = "the care line"
    callback_number: str = ""
    machine_detection: str = "DetectMessageEndpoint"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, settings: Any, base_url: Callable[[], str] | None = None
    ) -> OutboundConfig:
        """The config of `settings` (an `ivr.settings.Settings`); ValueError naming a bad
        quiet-hours window or time zone."""
        quiet_text = (settings.outbound_quiet_hours or "").strip()
        check_zone(settings.outbound_timezone)

        def default_base() -> str:
            return settings.public_base_url or f"http://{settings.host}:{settings.port}"

        return cls(
            base_url=base_url or default_base,
            quiet=Window.parse(quiet_text) if quiet_text else None,
            default_zone=settings.outbound_timezone,
            max_attempts=settings.outbound_max_attempts,
            retry_after_s=settings.outbound_retry_after_s,
            unconfirmed_retry_s=settings.outbound_unconfirmed_retry_s,
            wrong_person_retry_s=settings.outbound_wrong_person_retry_s,
            ring_timeout_s=settings.outbound_ring_timeout_s,
            attempt_timeout_s=settings.outbound_attempt_timeout_s,
            survey_delay_s=settings.outbound_survey_delay_s,
            reminder_days_before=settings.outbound_reminder_days_before,
            service_name=settings.service_name or "the care line",
            callback_number=settings.outbound_callback_number or settings.twilio_from_number,
        )
