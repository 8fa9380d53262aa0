"""What every route module of the app answers with: JSON and pages that browsers and proxies
never cache (meetings carry personal information, and a page must show the state of now)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
NO_STORE = {"Cache-Control": "no-store"}


def answer(data: Any, status: int = 200):
    """A JSON answer."""
    from starlette.responses import JSONResponse

    return JSONResponse(data, status_code=status, headers=NO_STORE)


def static_page(name: str):
    """A route endpoint serving static/`name` (the page's own script then asks /api/)."""
    from starlette.responses import FileResponse

    return lambda request: FileResponse(STATIC / name, headers=NO_STORE)
