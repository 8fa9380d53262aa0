"""Keep a long draft's memory flat on glibc (Linux): fewer malloc arenas, freed memory returned.

glibc gives every thread that allocates its own 64 MB malloc arena. A draft runs Whisper's
threads, torch's, ONNX Runtime's (VAD) and the speaker stages' thread at once; on a 3-hour
meeting about twenty arenas held 1.2 GiB of mostly freed memory, and the draft had reached
2.90 GiB after 5 minutes (measured, issue #7; 2.61 GiB for the whole run with the cap). Two arenas hold the same work in far less. Elsewhere (macOS,
musl, Windows) these calls do not exist and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; True when it applied."""
    libc = _libc()
    ok = bool(libc and libc.mallopt(M_ARENA_MAX, arenas) == 1)
    logger.debug("malloc arenas capped at %d: %s", arenas, ok)
    return ok


def release_freed_memory() -> None:
    """Give memory freed after a large step (a Whisper block) back to the system."""
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
