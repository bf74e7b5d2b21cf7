"""The one settings object: environment variables with the `IVR_` prefix (and a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration. Each field reads `IVR_<NAME>` (e.g. `IVR_DATABASE_URL`)."""

    model_config = SettingsConfigDict(env_prefix="IVR_", env_file=".env", extra="ignore")

    # where we keep files
    data_dir: Path = Field(default=Path("var"), description="models, caches, SQLite file")

    # store
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("IVR_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; empty means SQLite at <data_dir>/ivr.db",
    )

    # Twilio
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_api_base_url: str = Field(
        default="", description="override Twilio's API host (tests point it at a local stand-in)"
    )
    public_base_url: str = Field(
        default="", description="the https URL Twilio reaches; used for signatures and stream URLs"
    )
    agent_number: str = Field(default="", description="E.164 number or client:name to <Dial>")
    twilio_from_number: str = Field(
        default="",
        description="our Twilio number for outbound calls and SMS to emergency contacts; "
        "empty = notifications are a dry run (console and store, clearly marked)",
    )

    # escalation
    escalation_policy: str = Field(
        default="", description="path of an escalation policy TOML; empty = the shipped one"
    )
    service_name: str = Field(default="the care line", description="how calls introduce us")
    supervisor_number: str = Field(default="", description="who is called when nobody accepts")
    emergency_number: str = Field(
        default="", description="the emergency number told to callers (e.g. 999, 911, 112)"
    )
    allow_unsigned_webhooks: bool = Field(
        default=False, description="DEVELOPMENT ONLY: accept webhooks without a valid signature"
    )
    stream_token_ttl_seconds: int = 300
    stream_token_secret: str = Field(
        default="",
        description="HMAC key for per-call media stream tokens; empty means a random key per "
        "process (fine for one instance; set it when several instances share calls)",
    )
    max_media_message_bytes: int = 64 * 1024

    # speech
    language: str = "en"
    dialect: str = Field(default="en", description="default dialect pack (see `ivr dialects list`)")
    dialect_detection: bool = Field(
        default=True, description="detect unknown callers' dialect from their first answers"
    )
    voice_cues_enabled: bool = Field(
        default=True,
        description="listen for signs of distress in callers' voices (callers are told; "
        "a caller can opt out)",
    )
    cue_distress_elevated: float = 0.59  # with the caller's baseline (see speech.cues)
    cue_distress_high: float = 0.75
    cue_distress_elevated_cold: float = 0.25  # before a baseline exists
    cue_distress_high_cold: float = 0.40
    tts_voice: str = "en-us"
    tts_rate_wpm: int = 140
    tts_cache_max_mb: int = 256
    trailing_silence_s: float = 1.2
    no_input_timeout_s: float = 8.0
    max_utterance_s: float = 30.0
    asr_min_confidence: float = Field(
        default=0.3,
        description="phrase-list answers below this recognizer confidence are 'not understood' "
        "(0.3 keeps ~98% of in-list answers and rejects ~60% of out-of-list speech)",
    )
    asr_free_form_everywhere: bool = Field(
        default=False,
        description="decode every answer free-form, ignoring phrase lists (the naive baseline "
        "that benchmarks compare against; never use it in service)",
    )

    # web pages and live events
    redis_url: str = Field(
        default="",
        validation_alias=AliasChoices("IVR_REDIS_URL", "REDIS_URL"),
        description="Redis for live events between app instances; empty = in-process only",
    )
    web_secret_key: str = Field(
        default="", description="cookie signing key; empty = a random key kept in data_dir"
    )

    # metrics (GET /metrics, Prometheus text format)
    metrics_token: str = Field(
        default="",
        description="bearer token Prometheus must send to GET /metrics; empty = open (for a "
        "scrape from a private network only)",
    )

    # outbound calls (issue 8): check-ins, reminders, satisfaction call-backs
    outbound_enabled: bool = Field(
        default=True, description="run the outbound scheduler in the app (places due calls)"
    )
    outbound_poll_s: float = Field(default=15.0, description="seconds between scheduler passes")
    outbound_quiet_hours: str = Field(
        default="20:00-09:00",
        description="local hours (HH:MM-HH:MM) when no outbound call is placed; empty = none",
    )
    outbound_timezone: str = Field(
        default="Europe/London", description="customers' time zone unless their own is stored"
    )
    outbound_max_attempts: int = Field(
        default=2, ge=1, le=10, description="dials of one call before it counts as unanswered"
    )
    outbound_retry_after_s: int = Field(
        default=900, ge=1, description="wait before dialling again (no answer, busy, machine)"
    )
    outbound_unconfirmed_retry_s: int = Field(
        default=900,
        ge=1,
        description="a check-in answered but not confirmed (hung up or silent before saying "
        "whether they are well): dial again after this long; counts toward the attempts",
    )
    outbound_wrong_person_retry_s: int = Field(
        default=7200,
        ge=1,
        description="a check-in answered by someone else: dial again after this long; counts "
        "toward the attempts",
    )
    outbound_ring_timeout_s: int = Field(
        default=40,
        ge=5,
        le=600,
        description="seconds an outbound call rings (older people take longer to reach the phone)",
    )
    outbound_attempt_timeout_s: int = Field(
        default=1800,
        ge=60,
        description="an attempt with no final status after this is treated as unanswered",
    )
    outbound_survey_delay_s: int = Field(
        default=7200,
        ge=0,
        description="satisfaction call-back this long after a case is resolved (within 24 hours)",
    )
    outbound_reminder_days_before: int = Field(
        default=3,
        ge=0,
        le=60,
        description="reminder call this many days before a payment or maturity date",
    )
    outbound_callback_number: str = Field(
        default="",
        description="the number answering machines are asked to call back "
        "(default: IVR_TWILIO_FROM_NUMBER)",
    )

    # retention (issue 8): transcripts and audio references older than this are purged; the
    # hash-chained audit entries stay (`ivr audit verify|purge`)
    retention_days: int = Field(
        default=365, ge=1, description="days a transcript's words and audio references are kept"
    )
    retention_purge_interval_s: float = Field(
        default=86_400.0,
        ge=0,
        description="seconds between scheduled purges in the app; 0 = no scheduled purge",
    )

    # server
    host: str = "127.0.0.1"
    port: int = 8080

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def tts_cache_dir(self) -> Path:
        return self.data_dir / "tts-cache"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ivr.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own `Settings(...)`)."""
    return Settings()
