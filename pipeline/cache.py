"""Stage results cached next to the output, so an interrupted draft resumes where it stopped.

A 2-hour meeting costs 20–30 minutes of CPU; a crash, a Ctrl-C or a changed label option must
not cost it again. Each stage's result is stored in `.kaigiroku-cache/` beside the output,
keyed by the recording's content hash and every option that changes that stage's result
(threads and progress do not). A changed option recomputes only the stages it affects.
Files are private (0600, folder 0700): they hold what was said in the meeting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .fileio import atomic_path

logger = logging.getLogger(__name__)

CACHE_DIR = ".kaigiroku-cache"


class StageCache:
    def __init__(self, folder: Path | None):
        self.folder = folder  # None: caching off (--no-cache)

    @classmethod
    def beside(cls, output: Path, enabled: bool = True) -> "StageCache":
        return cls(output.parent / CACHE_DIR if enabled else None)

    @staticmethod
    def key(*parts: Any) -> str:
        def plain(x: Any) -> Any:
            return asdict(x) if is_dataclass(x) else x

        blob = json.dumps([plain(p) for p in parts], sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]

    def _path(self, stage: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{stage}-{key}.json"

    def load(self, stage: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        path = self._path(stage, key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:  # a torn or foreign file: recompute, never trust it
            logger.warning("ignoring unreadable cache file %s: %s", path, e)
            return None
        logger.info("%s: reusing the cached result %s", stage, path.name)
        return data

    def save(self, stage: str, key: str, data: Any) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        path = self._path(stage, key)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        logger.info("%s: saved %s", stage, path)
