"""The job runner's options (the ``jobs:`` section of configs/default.yaml; the same defaults here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobOptions:
    heartbeat_s: float = 1.0  # s between a running job's writes (progress, heartbeat) and cancel checks
    stale_after_s: float = 60.0  # a running job whose heartbeat is older than this lost its worker
    sweep_s: float = 15.0  # s between a worker's looks for such jobs
    max_attempts: int = 3  # runs a job may start (a dead worker's included) before it fails
