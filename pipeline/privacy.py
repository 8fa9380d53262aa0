"""Keep every byte on this machine.

Meetings carry personal information and the PCs may sit on a closed network (LGWAN), so
before faster-whisper, huggingface_hub or pyannote.audio is imported the process must be
switched to offline mode and pyannote.audio 4's telemetry (sent to an outside server by
default) must be off. Every entry point calls `apply_offline_env()`; the model loaders call it
again right before their imports so that library use outside the CLI is safe too.
"""

from __future__ import annotations

import os

# Variables read at import time by huggingface_hub / pyannote.audio.
_ALWAYS = {
    # pyannote.audio 4 reports usage to an outside server unless this is false.
    "PYANNOTE_METRICS_ENABLED": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
ALLOW_NETWORK_ENV = "KAIGIROKU_ALLOW_NETWORK"


def network_allowed() -> bool:
    """True only when the user opted in (``--allow-network`` or KAIGIROKU_ALLOW_NETWORK=1)."""
    return os.environ.get(ALLOW_NETWORK_ENV, "").strip().lower() in {"1", "true", "yes"}


def apply_offline_env(allow_network: bool | None = None) -> None:
    """Set the privacy variables; telemetry stays off even when the network is allowed."""
    if allow_network is None:
        allow_network = network_allowed()
    elif allow_network:
        os.environ[ALLOW_NETWORK_ENV] = "1"
    os.environ.update(_ALWAYS)
    if not allow_network:
        os.environ.update(_OFFLINE)
