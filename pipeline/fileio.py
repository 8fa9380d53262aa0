"""Writing files so that nothing is lost: temp file + fsync + rename, private by default.

A crash or a full disk while writing leaves the previous file untouched; an existing output
(perhaps an editor's corrected draft) is only replaced with ``force``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import KaigirokuError


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, read in chunks (model weights, recordings: cache keys, checksums)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_writable(path: Path, force: bool) -> None:
    """Fail before hours of work if `path` cannot be written or must not be overwritten."""
    if path.exists() and not force:
        raise KaigirokuError(f"{path} は既にあります（編集済みの原稿かもしれません）。上書きするなら --force を付けるか、"
                             "-o で別の名前を指定してください。", "output exists")
    ensure_folder(path.parent if str(path.parent) else Path("."), "出力先のフォルダ",
                  "書き込めるフォルダを -o で指定してください。")


def ensure_folder(folder: Path, what: str, fix: str) -> None:
    """Create `folder` (private) if missing and check it can be written; `what` names it for
    the clerk and `fix` says what to do. Root passes the permission check: the write itself
    (atomic_path, the recorder's journal) reports a read-only file system."""
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, mode=0o700)
        except OSError as e:
            raise KaigirokuError(f"{what} {folder} を作れません。{fix}", str(e)) from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise KaigirokuError(f"{what} {folder} に書き込めません。{fix}", "folder not writable")


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file's name durable: it is only on disk once its folder is synced.

    Windows cannot open a folder for fsync (and NTFS journals the rename itself): skipped there.
    """
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive use of a folder among processes (and machines sharing it over NFS/SMB): the
    review's saves, a body's library. POSIX: flock on the folder itself (its files are replaced
    by renames, so a lock on a file would be on the old one). Windows: the first byte of a
    `.lock` file in it, locked with msvcrt (blocking, retried every second by the runtime)."""
    folder = Path(folder)
    try:
        import fcntl
    except ImportError:
        import msvcrt

        with open(folder / ".lock", "a+b") as f:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def hold_lock(path: Path):
    """An exclusive lock on the file `path`, held until the returned file object is closed or
    this process ends, however it ends (the OS drops it even on kill -9 or a power cut: no stale
    lock file to clean up). None when another process holds it. POSIX flock; Windows msvcrt."""
    f = open(path, "a+b")
    try:
        try:
            import fcntl
        except ImportError:
            import msvcrt

            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")  # mode 0600
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise KaigirokuError(f"ディスクがいっぱいで {path} を書けません。空きを作ってから同じコマンドをもう一度"
                                 "実行してください（元のファイルはそのままです）。", str(e)) from e
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
