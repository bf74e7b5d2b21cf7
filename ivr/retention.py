"""The scheduled retention purge: a background task of the app (`create_app`'s lifespan).

Every `IVR_RETENTION_PURGE_INTERVAL_S` (the first time shortly after start) it runs
`carestore.retention.purge_expired` in a thread: transcripts older than `IVR_RETENTION_DAYS`
lose their words and audio references, the audit chain records the purge. Several instances
may run it at once (each batch only takes rows nobody purged yet). Cancelled on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from carestore.engine import StoreBase
from carestore.retention import purge_expired
from carestore.timeutil import utcnow
from ivr.settings import Settings

log = logging.getLogger(__name__)

FIRST_DELAY_S = 60.0  # after start: let the service settle first


async def retention_loop(
    store: StoreBase,
    retention_days: float,
    interval_s: float,
    *,
    first_delay_s: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Purge expired transcripts every `interval_s` seconds until cancelled. A failed run is
    logged and tried again at the next interval. `clock` says what "now" is (tests)."""
    if interval_s <= 0:
        raise ValueError("the purge interval must be positive")
    delay = min(FIRST_DELAY_S, interval_s) if first_delay_s is None else first_delay_s
    while True:
        await asyncio.sleep(delay)
        delay = interval_s
        try:
            report = await asyncio.to_thread(purge_expired, store, retention_days, now=clock())
        except Exception:
            log.exception("retention purge failed; trying again in %.0f s", interval_s)
            continue
        if report.segments or report.packages or report.events:
            log.info(
                "retention: purged %d transcript segment(s), %d hand-off package(s) and %d "
                "escalation step(s) recorded before %s",
                report.segments,
                report.packages,
                report.events,
                report.cutoff.isoformat(),
            )


def start_retention(settings: Settings, store: StoreBase) -> asyncio.Task[None] | None:
    """Start the scheduled purge (None when `retention_purge_interval_s` is 0)."""
    if settings.retention_purge_interval_s <= 0:
        log.info("retention: no scheduled purge (IVR_RETENTION_PURGE_INTERVAL_S=0)")
        return None
    return asyncio.create_task(
        retention_loop(store, settings.retention_days, settings.retention_purge_interval_s),
        name="retention-purge",
    )


async def stop_retention(task: asyncio.Task[None] | None) -> None:
    """Cancel the scheduled purge and wait for it (a batch already running in its thread
    finishes its transaction)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
