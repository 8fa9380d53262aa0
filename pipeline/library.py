"""The committee library: what kaigiroku learns once per body (附属機関) and keeps between meetings.

One data folder (`--library DIR`; the CLI's default is ~/kaigiroku/library, the app passes its
own data folder) holds one JSON file per body in each part:

    DIR/            0700
      voices/       0700  one file per body: consent note and each person's voice embeddings
      words/        0700  one file per body: the editor's corrections seen, offered, accepted

Files are 0600 and replaced atomically (pipeline.fileio.atomic_path), under a lock on their
folder so that the app and the CLI never interleave a read and a write. A body's file is named
by a hash of the body's name (names are Japanese and may hold any character); the name itself
is inside. Nothing here reaches the network: the files are read by the drafts on this PC only.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path
from typing import Any

from .errors import KaigirokuError
from .fileio import atomic_path, folder_lock
from .meeting import Meeting, empty_meeting
from .types import Minutes

FORMAT = 1  # of the files below; a newer one is refused, not misread


def default_library() -> Path:
    """The CLI's data folder when --library is not given."""
    return Path.home() / "kaigiroku" / "library"


def normalise(text: str) -> str:
    """The key a body or a person is kept under: NFKC, one half-width space between parts
    (田中　哲 from one meeting file and 田中 哲 from the next are one person)."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).split())


def body_file(root: Path, part: str, body: str) -> Path:
    digest = hashlib.sha256(normalise(body).encode("utf-8")).hexdigest()[:16]
    return Path(root) / part / f"{digest}.json"


def private_folder(folder: Path) -> Path:
    """Create `folder` and its parents 0700; an existing folder of ours is made 0700 again."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
    except OSError as e:
        raise KaigirokuError(f"学習データのフォルダ {folder} を作れません。--library で書き込めるフォルダを指定してください。",
                             str(e)) from e
    return folder


def locked(folder: Path):
    """Exclusive use of one part of the library, among processes."""
    return folder_lock(folder)


def read_json(path: Path) -> dict[str, Any] | None:
    """A body's file, None when there is none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise KaigirokuError(f"学習データ {path} を読めません。壊れている場合はこのファイルを削除してください"
                             "（そのぶんの学習が消えます）。", str(e)) from e
    if not isinstance(data, dict) or int(data.get("format", 0)) > FORMAT:
        raise KaigirokuError(f"学習データ {path} はこの kaigiroku より新しい形式です。kaigiroku を更新してください。")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically (0600)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({**data, "format": FORMAT}, ensure_ascii=False, indent=1), encoding="utf-8")
    os.chmod(path, 0o600)


def remove(path: Path) -> bool:
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True


def body_files(root: Path, part: str) -> list[Path]:
    folder = Path(root) / part
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def read_minutes(path: Path) -> Minutes:
    """A result as it is now (the review page edits OUT.json in place)."""
    try:
        return Minutes.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise KaigirokuError(f"結果ファイル {path} が見つかりません。`kaigiroku draft` が書いた .json を指定してください。") from None
    except (ValueError, KeyError, TypeError) as e:
        raise KaigirokuError(f"{path} は kaigiroku の結果ファイルとして読めません。`kaigiroku draft` が書いた .json を指定してください。",
                             f"{type(e).__name__}: {e}") from e


def meeting_of(minutes: Minutes) -> Meeting:
    return Meeting.from_dict(minutes.meeting) if minutes.meeting else empty_meeting()


PARTS = ("voices", "words")


def remove_body_part(root: Path, part: str, body: str) -> bool:
    """Remove one part (voices or words) of what was learned for a body; False if there was none."""
    folder = Path(root) / part
    if not folder.is_dir():
        return False
    with locked(folder):
        return remove(body_file(root, part, body))


def delete_body(root: Path, body: str) -> list[str]:
    """Remove everything learned for a body (its voices, consent and words): the parts removed."""
    return [part for part in PARTS if remove_body_part(root, part, body)]



def rename_body(root: Path, old: str, new: str) -> list[str]:
    """Move what was learned for a body to its new name (a committee renamed keeps its voices,
    consent and words): the parts moved. Refused, with nothing moved, when the new name already
    has learned data of a part the old name has: two bodies' data are not merged."""
    pairs = [(part, body_file(root, part, old), body_file(root, part, new)) for part in PARTS]
    pairs = [(part, src, dst) for part, src, dst in pairs if src != dst and src.is_file()]
    if any(dst.exists() for _, _, dst in pairs):
        raise KaigirokuError(f"「{normalise(new)}」にはもう学習データがあります。別の名前にするか、"
                             "どちらかの学習データを消してから名前を変えてください。")
    moved = []
    for part, src, dst in pairs:
        with locked(Path(root) / part):
            data = read_json(src)
            if data is None:
                continue
            write_json(dst, {**data, "body": normalise(new)})
            remove(src)
            moved.append(part)
    return moved
