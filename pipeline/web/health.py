"""/healthz and /api/workers of the app and the shared service (issue 15).

`/healthz` answers without any credential (a load balancer or a monitoring script asks it)
and says nothing about meetings or people: 200 when the database and the queue answer and at
least one worker was seen within `JobOptions.stale_after_s`; else 503. The JSON names which
part failed, never an address or an error's text (those go to the server's log).

`/api/workers` (behind the gate like the rest of /api/): the workers alive, each with its
device, model and the jobs it runs now.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def health(ctx) -> tuple[int, dict[str, Any]]:
    """(status, body) of /healthz for the app context `ctx` (web.api.AppContext)."""
    from sqlalchemy import text

    from ..jobs.db import engine_for
    from ..jobs.workers import alive

    report: dict[str, Any] = {"database": "ok", "queue": "ok", "workers": 0, "queued": None}
    try:
        with engine_for(ctx.db_url).connect() as conn:
            conn.execute(text("SELECT 1"))
        with ctx.sessions() as s:
            report["workers"] = len(alive(s, ctx.queue.job_options))
    except Exception as e:  # noqa: BLE001 - any database failure is "down" here
        logger.warning("healthz: database: %s", e)
        report["database"] = "down"
    try:
        report["queued"] = ctx.queue.check()
    except Exception as e:  # noqa: BLE001
        logger.warning("healthz: queue: %s", getattr(e, "detail", e))
        report["queue"] = "down"
    report["ok"] = report["database"] == "ok" and report["queue"] == "ok" and report["workers"] > 0
    return (200 if report["ok"] else 503), report


def with_health(app, ctx):
    """ASGI: GET /healthz answered here, before the gate; everything else goes to `app`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    async def dispatch(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
            status, body = await run_in_threadpool(health, ctx)
            return await JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})(
                scope, receive, send)
        return await app(scope, receive, send)

    return dispatch


def worker_routes(ctx) -> list:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ..jobs.workers import alive

    def workers(request):
        with ctx.sessions() as s:
            return JSONResponse({"workers": alive(s, ctx.queue.job_options)}, headers={"Cache-Control": "no-store"})

    return [Route("/api/workers", workers, methods=["GET"])]
