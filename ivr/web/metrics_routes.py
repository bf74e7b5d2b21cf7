"""GET /metrics: the app's `ivr.metrics.ServiceMetrics` in Prometheus' text format.

Prometheus usually scrapes from a private network, so the endpoint is open by default. With
`IVR_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>` (Prometheus:
`authorization: {credentials: <token>}` in the scrape config); anything else gets 401. The
figures hold no personal data (no numbers, names or call ids), only counts by channel, dialect,
trigger, severity and outcome.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, HTTPException, Request, Response

from ivr.metrics import CONTENT_TYPE_LATEST, ServiceMetrics

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"])


def _authorised(request: Request, token: str) -> bool:
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The metrics of this process (401 without the configured bearer token)."""
    settings = request.app.state.settings
    if not _authorised(request, getattr(settings, "metrics_token", "") or ""):
        log.warning("GET /metrics refused: missing or wrong bearer token")
        raise HTTPException(
            status_code=401,
            detail="a bearer token is required (IVR_METRICS_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    found: ServiceMetrics | None = getattr(request.app.state, "metrics", None)
    if found is None:
        raise HTTPException(status_code=503, detail="metrics are not set up in this app")
    return Response(found.exposition(), media_type=CONTENT_TYPE_LATEST)
