"""The escalation policy (a TOML file, `policy.toml` in this package by default): triggers and
severities mapped to actions, SLAs, contact and outbox timings, emergency numbers."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import phonenumbers

from speech.cues.lexical import normalise

SEVERITIES = ("low", "medium", "high", "critical")
TRIGGER_KINDS = (
    "emergency_word",
    "help_request",
    "distress",
    "scam_signal",
    "repeated_failure",
    "keypad",
    "kiosk_button",
    "person_request",
    "checkin_not_well",  # a check-in call (issue 8): "no, something is wrong"
    "checkin_no_answer",  # a check-in call nobody answered after its retries
)
ACTIONS = ("transfer", "notify_contacts")
FALLBACKS = ("notify_contacts", "supervisor")


class PolicyError(ValueError):
    """The policy file is malformed (the message names the entry)."""


def severity_rank(severity: str) -> int:
    """0 for "low" ... 3 for "critical"; ValueError for anything else."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}") from None


@dataclass(frozen=True)
class TriggerRule:
    """What one trigger kind leads to."""

    kind: str
    severity: str
    actions: tuple[str, ...]
    fallback: tuple[str, ...]
    threshold: float | None = None
    digit: str | None = None


@dataclass(frozen=True)
class ContactTiming:
    """How contacts are tried and the loop is closed."""

    rounds: int = 2
    round_backoff_s: tuple[float, ...] = (0.0, 60.0)
    answer_wait_s: float = 120.0
    urgent_from: str = "high"
    confirm_after_s: float = 1800.0
    confirm_wait_s: float = 600.0
    accept_words: tuple[str, ...] = ("yes", "1", "ok")


@dataclass(frozen=True)
class OutboxTiming:
    """Retries of one notification."""

    max_attempts: int = 6
    retry_base_s: float = 2.0
    retry_max_s: float = 120.0
    lease_s: float = 30.0


@dataclass(frozen=True)
class Policy:
    """The whole policy. `Policy.load()` reads the packaged file; `load(path)` another one."""

    triggers: dict[str, TriggerRule]
    life_threatening: dict[str, tuple[str, ...]]
    sla_seconds: dict[str, float]
    contacts: ContactTiming
    outbox: OutboxTiming
    link_ttl_s: float = 86400.0
    contact_link_ttl_s: float = 7200.0
    emergency_numbers: dict[str, str] = field(default_factory=lambda: {"default": "112"})
    source: str = "policy.toml"

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """Read and check a policy file (default: the packaged `policy.toml`)."""
        if path is None:
            text = resources.files("emergency_contact").joinpath("policy.toml").read_text("utf-8")
            source = "emergency_contact/policy.toml"
        else:
            text = Path(path).read_text("utf-8")
            source = str(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{source}: not valid TOML ({exc})") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Policy:
        """Build and validate a policy from parsed TOML."""
        triggers: dict[str, TriggerRule] = {}
        for kind, entry in (data.get("triggers") or {}).items():
            if kind not in TRIGGER_KINDS:
                raise PolicyError(f"{source}: unknown trigger {kind!r} (one of {TRIGGER_KINDS})")
            severity = entry.get("severity", "high")
            if severity not in SEVERITIES:
                raise PolicyError(f"{source}: trigger {kind}: bad severity {severity!r}")
            actions = tuple(entry.get("actions", ()))
            fallback = tuple(entry.get("fallback", ()))
            bad = [a for a in actions if a not in ACTIONS] + [
                f for f in fallback if f not in FALLBACKS
            ]
            if bad or not actions:
                raise PolicyError(f"{source}: trigger {kind}: bad or no actions {bad or actions}")
            threshold = entry.get("threshold")
            triggers[kind] = TriggerRule(
                kind,
                severity,
                actions,
                fallback,
                float(threshold) if threshold is not None else None,
                str(entry["digit"]) if "digit" in entry else None,
            )
        missing = [k for k in TRIGGER_KINDS if k not in triggers]
        if missing:
            raise PolicyError(f"{source}: no rule for triggers {missing}")
        sla = {k: float(v) for k, v in (data.get("sla_seconds") or {}).items()}
        if sorted(sla) != sorted(SEVERITIES) or any(v <= 0 for v in sla.values()):
            raise PolicyError(f"{source}: sla_seconds needs a positive value for {SEVERITIES}")
        c = data.get("contacts") or {}
        contacts = ContactTiming(
            rounds=int(c.get("rounds", 2)),
            round_backoff_s=tuple(float(x) for x in c.get("round_backoff_s", (0, 60))),
            answer_wait_s=float(c.get("answer_wait_s", 120)),
            urgent_from=str(c.get("urgent_from", "high")),
            confirm_after_s=float(c.get("confirm_after_s", 1800)),
            confirm_wait_s=float(c.get("confirm_wait_s", 600)),
            accept_words=tuple(normalise(w) for w in c.get("accept_words", ("yes", "1"))),
        )
        if contacts.rounds < 1 or contacts.urgent_from not in SEVERITIES:
            raise PolicyError(f"{source}: contacts.rounds >= 1 and a valid urgent_from needed")
        o = data.get("outbox") or {}
        outbox = OutboxTiming(
            max_attempts=int(o.get("max_attempts", 6)),
            retry_base_s=float(o.get("retry_base_s", 2)),
            retry_max_s=float(o.get("retry_max_s", 120)),
            lease_s=float(o.get("lease_s", 30)),
        )
        links = data.get("links") or {}
        life = {
            lang: tuple(normalise(p) for p in phrases)
            for lang, phrases in (data.get("life_threatening") or {}).items()
        }
        numbers = {str(k): str(v) for k, v in (data.get("emergency_numbers") or {}).items()}
        numbers.setdefault("default", "112")
        return cls(
            triggers=triggers,
            life_threatening=life,
            sla_seconds=sla,
            contacts=contacts,
            outbox=outbox,
            link_ttl_s=float(links.get("ttl_s", 86400)),
            contact_link_ttl_s=float(links.get("contact_ttl_s", 7200)),
            emergency_numbers=numbers,
            source=source,
        )

    def with_timing(self, **changes: Any) -> Policy:
        """A copy with `contacts` / `outbox` fields changed (tests and the CLI use short times):
        `with_timing(answer_wait_s=2, retry_base_s=0.1)`."""
        contact_fields = ContactTiming.__dataclass_fields__
        outbox_fields = OutboxTiming.__dataclass_fields__
        c = {k: v for k, v in changes.items() if k in contact_fields}
        o = {k: v for k, v in changes.items() if k in outbox_fields}
        rest = {k: v for k, v in changes.items() if k not in c and k not in o}
        return replace(
            self, contacts=replace(self.contacts, **c), outbox=replace(self.outbox, **o), **rest
        )

    def rule(self, kind: str) -> TriggerRule:
        """The rule for a trigger kind (ValueError naming the kinds if unknown)."""
        if kind not in self.triggers:
            raise ValueError(f"unknown trigger kind {kind!r}; one of {TRIGGER_KINDS}")
        return self.triggers[kind]

    def life_threatening_phrase(self, text: str) -> str | None:
        """The first life-threatening phrase found in `text` (any language), if any."""
        norm = normalise(text)
        if not norm:
            return None
        padded = f" {norm} "
        compact = norm.replace(" ", "")
        for phrases in self.life_threatening.values():
            for phrase in phrases:
                if phrase.isascii():
                    if f" {phrase} " in padded:
                        return phrase
                elif phrase.replace(" ", "") in compact:
                    return phrase
        return None

    def emergency_number(self, phone: str | None, override: str = "") -> str:
        """The emergency number for the caller: `override` (from settings) when given, else by
        the region of their E.164 phone number, else the default (112)."""
        if override:
            return override
        if phone:
            try:
                parsed = phonenumbers.parse(phone, None)
                region = phonenumbers.region_code_for_number(
                    parsed
                ) or phonenumbers.region_code_for_country_code(parsed.country_code)
            except phonenumbers.NumberParseException:
                region = None
            if region and region in self.emergency_numbers:
                return self.emergency_numbers[region]
        return self.emergency_numbers["default"]

    def sla_for(self, severity: str) -> float:
        """Seconds an agent has to answer at this severity."""
        severity_rank(severity)
        return self.sla_seconds[severity]
