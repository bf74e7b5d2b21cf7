"""What the web routers share: the escalation service of the app, and store calls run off the
event loop with their errors mapped to HTTP answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request

from carestore.errors import AlreadyExists, InvalidValue, NotFound
from emergency_contact.service import Conflict, EscalationService, UnknownEscalation


def service_of(request: Request) -> EscalationService:
    """`app.state.escalation` (503 if the app did not set it up)."""
    svc = getattr(request.app.state, "escalation", None)
    if svc is None:
        raise HTTPException(status_code=503, detail="escalations are not set up in this app")
    return svc


async def run_store(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a store or service call off the event loop: not found -> 404, a lost race or a
    duplicate -> 409, a bad value -> 422."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except (NotFound, UnknownEscalation) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except (AlreadyExists, Conflict) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except (InvalidValue, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
