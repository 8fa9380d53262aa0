"""The one error type a user sees.

Every failure the user can fix (a missing file, a bad meeting file, an unknown model) is raised
as a `KaigirokuError` carrying one line for the clerk (Japanese: what is wrong, what to do) and
an optional English detail shown with ``--verbose``. The CLI prints the line and exits 1; no
traceback reaches a clerk.
"""

from __future__ import annotations


class KaigirokuError(Exception):
    """A problem the user can fix: `message` says what is wrong and what to do."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message
