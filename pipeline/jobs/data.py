"""The data folder of the app (default ~/kaigiroku) or of a service: the database, the queue,
recordings, voice clips and results, all private (files 0600, folders 0700).

    kaigiroku.db            SQLite database (the app; a service may use PostgreSQL instead)
    queue.db                Huey's SQLite queue (the app; a service may use Redis)
    recordings/M/           meeting M's recordings (FLAC from the recorder, uploads)
    voices/B/               body B's roster clips
    results/M/              meeting M's drafts, with their stage cache (.kaigiroku-cache/)
    library/                the committee library (pipeline/library.py: learned voices and words);
                            ~/kaigiroku/library is also the CLI's default, so the two share it

The database stores paths relative to this folder, so a worker on another machine reaches the
same files through a shared folder mounted under any name.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..errors import KaigirokuError

DB_NAME = "kaigiroku.db"
QUEUE_NAME = "queue.db"
FOLDERS = ("recordings", "voices", "results")


def default_data_dir() -> Path:
    return Path.home() / "kaigiroku"


def private_file(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist (before SQLite opens it: SQLite gives
    its -wal and -journal files the database file's mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return
    os.close(fd)


def private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # an existing folder too; on Windows only the read-only flag exists
    return path


class DataFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    @classmethod
    def open(cls, root: str | Path | None = None) -> DataFolder:
        """The folder, created private with its subfolders if missing."""
        data = cls(root if root is not None else default_data_dir())
        try:
            private_folder(data.root)
            for name in FOLDERS:
                private_folder(data.root / name)
        except OSError as e:
            raise KaigirokuError(f"データフォルダ {data.root} を作れません。書き込める場所を --data で指定してください。",
                                 str(e)) from e
        return data

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def db_url(self) -> str:
        """The app's SQLite database (created private)."""
        private_file(self.db_path)
        return f"sqlite:///{self.db_path.as_posix()}"

    @property
    def queue_path(self) -> Path:
        return self.root / QUEUE_NAME

    def folder(self, *parts: str | int) -> Path:
        return private_folder(self.root.joinpath(*map(str, parts)))

    def relative(self, path: str | Path) -> str:
        """How the database names a file of this folder (POSIX separators on every OS)."""
        try:
            rel = Path(path).resolve().relative_to(self.root)
        except ValueError:
            raise KaigirokuError(f"{path} はデータフォルダ {self.root} の外にあります。", "outside the data folder") from None
        return rel.as_posix()

    def path(self, rel: str) -> Path:
        """The file a stored path names; never a path outside this folder."""
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts or ":" in p.parts[0]:
            raise KaigirokuError(f"データベースのパス「{rel}」が正しくありません。", "bad stored path")
        return self.root.joinpath(*p.parts)
