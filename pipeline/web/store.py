"""OUT.json as the review page's document: revisions, atomic saves, an undo history (issue #8).

- **Revision** = the first 16 hex digits of the SHA-256 of the file's bytes. Every save names
  the revision it was based on; if the file is no longer that one (a second tab, a second editor,
  `kaigiroku export --force` rewriting it, a text editor), the save is refused with `Conflict`
  and nothing is written. A content hash rather than a counter catches every change on disk, not
  only those made through this server.
- **Saves** go through `fileio.atomic_path` (temp file 0600, fsync, rename): a crash leaves the
  previous version whole.
- **Undo history** is a sidecar, ``OUT.json.history`` (JSON lines, 0600), of reverse patches: for
  each changed top-level key of the result, the replaced slice of a list (the few utterances an
  edit touched) or the old value. Patches rather than copies because a 3-hour result is several
  MB; a sidecar rather than a list inside OUT.json so that the result keeps its schema and size
  for `kaigiroku export`, and losing the sidecar loses only the undo, never the minutes. It keeps
  the last `HISTORY_LIMIT` edits and at most `HISTORY_BYTES`; older ones are dropped.
- **Order**: the history entry is written before the result. A crash between the two leaves an
  entry whose "before" is the current revision (the edit never landed); undo drops it.
- Saves are serialized by a lock on the result's folder (flock), so two servers on one file
  cannot interleave a check and a write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import KaigirokuError
from ..fileio import atomic_path, folder_lock
from ..types import Minutes
from ..writers import result_json

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 200  # edits that can be undone
HISTORY_BYTES = 32 << 20  # the sidecar's size bound (a few whole-meeting speaker changes)


class Conflict(Exception):
    """The file is not the revision the edit was based on."""

    def __init__(self, current: str, message: str):
        super().__init__(message)
        self.current, self.message = current, message


def revision(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def read_result(path: Path) -> tuple[bytes, dict[str, Any], Minutes]:
    """The file's bytes, its JSON and the result it holds."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KaigirokuError(f"結果ファイル {path} が見つかりません。`kaigiroku draft` が書いた .json を指定してください。") from None
    try:
        parsed = json.loads(data.decode("utf-8"))
        return data, parsed, Minutes.from_dict(parsed)
    except (ValueError, KeyError, TypeError) as e:
        raise KaigirokuError(f"{path} は kaigiroku の結果ファイルとして読めません。`kaigiroku draft` が書いた .json を指定してください。",
                             f"{type(e).__name__}: {e}") from e


# --- reverse patches -----------------------------------------------------------------------

def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What `undo_patch` needs to turn `new` back into `old`: per changed key, the replaced slice
    of a list (common head and tail left out) or the old value."""
    patch = {}
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, list) and isinstance(b, list):
            head = 0
            while head < min(len(a), len(b)) and a[head] == b[head]:
                head += 1
            tail = 0
            while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
                tail += 1
            patch[key] = {"at": head, "old": a[head:len(a) - tail], "new_len": len(b) - head - tail}
        else:
            patch[key] = {"value": a, "absent": key not in old}
    return patch


def undo_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, p in patch.items():
        if "at" in p:
            items = list(out.get(key, []))
            items[p["at"]:p["at"] + p["new_len"]] = p["old"]
            out[key] = items
        elif p.get("absent"):
            out.pop(key, None)
        else:
            out[key] = p["value"]
    return out


# --- the document --------------------------------------------------------------------------

@dataclass(frozen=True)
class Saved:
    minutes: Minutes
    rev: str
    undo: int  # how many edits can be undone
    last: str  # what the next undo would undo ("" when none)


class ReviewFile:
    """One OUT.json being reviewed. Methods are safe to call from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.history = self.path.with_name(self.path.name + ".history")
        self._lock = threading.Lock()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock, folder_lock(self.path.parent):  # this process's threads, then other processes
            yield

    def _entries(self) -> list[dict[str, Any]]:
        try:
            lines = self.history.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:  # a torn last line after a crash
                logger.warning("skipping an unreadable line of %s", self.history)
        return out

    def _write_entries(self, entries: list[dict[str, Any]]) -> None:
        lines = [json.dumps(e, ensure_ascii=False) for e in entries[-HISTORY_LIMIT:]]
        while len(lines) > 1 and sum(len(x.encode("utf-8")) + 1 for x in lines) > HISTORY_BYTES:
            lines.pop(0)
        with atomic_path(self.history) as tmp:
            tmp.write_text("".join(x + "\n" for x in lines), encoding="utf-8")

    @staticmethod
    def _live(entries: list[dict[str, Any]], rev: str) -> list[dict[str, Any]]:
        """The entries that undo can walk back from revision `rev`, oldest first."""
        while entries and entries[-1].get("before") == rev:  # crashed before its save landed
            entries = entries[:-1]
        chain = []
        for e in reversed(entries):
            if e.get("after") != rev:
                break
            chain.append(e)
            rev = e.get("before")
        return chain[::-1]

    def _state(self, minutes: Minutes, rev: str) -> Saved:
        chain = self._live(self._entries(), rev)
        return Saved(minutes, rev, len(chain), chain[-1]["what"] if chain else "")

    def load(self) -> Saved:
        data, _, minutes = read_result(self.path)
        return self._state(minutes, revision(data))

    def _check(self, base: str) -> tuple[bytes, dict[str, Any], Minutes]:
        data, parsed, minutes = read_result(self.path)
        if revision(data) != base:
            raise Conflict(revision(data), "このファイルは別のタブか別の人（または別のプログラム）が変更しました。"
                                           "ページを再読み込みして、最新の内容で続けてください。")
        return data, parsed, minutes

    def edit(self, base: str, change: Callable[[Minutes], Minutes], what: str) -> Saved:
        """Apply `change` to the saved result if it is still revision `base`; save atomically."""
        with self._exclusive():
            data, old_dict, minutes = self._check(base)
            new = change(minutes)
            new_dict = new.to_dict()
            new_data = result_json(new_dict)
            if new_data == data:
                return self._state(minutes, base)
            rev = revision(new_data)
            entry = {"before": base, "after": rev, "what": what,
                     "time": datetime.now().isoformat(timespec="seconds"),
                     "patch": diff(old_dict, new_dict)}
            self._write_entries(self._entries() + [entry])
            self._write(new_data)
            return self._state(new, rev)

    def undo(self, base: str) -> Saved:
        with self._exclusive():
            _, current, _ = self._check(base)
            chain = self._live(self._entries(), base)
            if not chain:
                raise Conflict(base, "元に戻せる編集がありません（このファイルはページの外で変更されたか、履歴がありません）。")
            entries, entry = chain[:-1], chain[-1]
            old_dict = undo_patch(current, entry["patch"])
            minutes = Minutes.from_dict(old_dict)
            new_data = result_json(old_dict)
            self._write_entries(entries)
            self._write(new_data)
            return self._state(minutes, revision(new_data))

    def _write(self, data: bytes) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_bytes(data)
