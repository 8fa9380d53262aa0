"""The job runner's options (the ``jobs:`` section of configs/default.yaml; the same defaults here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobOptions:
    heartbeat_s: float = 1.0  # s between a running job's writes (progress, heartbeat) and cancel checks
    stale_after_s: float = 60.0  # a running job whose heartbeat is older than this lost its worker
    sweep_s: float = 15.0  # s between a worker's looks for such jobs
    max_attempts: int = 3  # runs a job may start (a dead worker's included) before it fails


@dataclass(frozen=True)
class AccountOptions:
    """The shared service's logins (the ``accounts:`` section; pipeline.web.login)."""

    free_attempts: int = 6  # failed logins (per account, and per client address) before each try must wait
    delay_s: float = 1.0  # the wait after the first failure beyond free_attempts; doubles with each further one
    max_delay_s: float = 300.0  # the wait never grows beyond this
    window_s: float = 900.0  # failures older than this no longer count
    session_idle_s: float = 14400.0  # a login ends after this long without a request
    session_max_s: float = 43200.0  # and after this long in any case
    min_password_chars: int = 10  # `kaigiroku users add` refuses shorter passwords
