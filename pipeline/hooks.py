"""One progress protocol for every stage (after pyannote.audio's hooks).

Stage code always calls ``hook(step, artifact=None, total=..., completed=...)``; the default
does nothing, the CLI draws a progress bar, a web page could show the same.
"""

from __future__ import annotations

from typing import Any, Protocol


class Hook(Protocol):
    def __call__(self, step: str, artifact: Any = None, *, total: float | None = None,
                 completed: float | None = None) -> None: ...


def null_hook(step: str, artifact: Any = None, *, total: float | None = None,
              completed: float | None = None) -> None:
    return None
