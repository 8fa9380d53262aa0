"""The recording's files on disk: the crash-safe raw journal, the FLAC made from it, the markers.

While recording, the audio goes to a journal beside the output: ``OUT.flac.rec.pcm``, raw
interleaved little-endian PCM, only ever appended to, and ``OUT.flac.rec.json`` (rate,
channels, sample format, start time, device), written before the first sample. Why raw: a
process killed at any instant leaves a valid prefix of the recording (at most a partial frame
at the end, which is dropped); there is no header to patch (WAV keeps the length in its header)
and no encoder state to flush (a FLAC encoder buffers a block and writes STREAMINFO on close).
A clean stop turns the journal into OUT.flac with the very code that `kaigiroku recover` runs
after a crash, so the crash path is exercised by every recording, not only after a crash.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..agenda import markers_path
from ..errors import KaigirokuError
from ..fileio import atomic_path, ensure_folder, fsync_folder
from ..hooks import Hook, null_hook

logger = logging.getLogger(__name__)

FORMATS = {"int16": ("<i2", "PCM_16"), "int32": ("<i4", "PCM_24")}  # journal dtype, FLAC subtype
JOURNAL_VERSION = 1
CONVERT_CHUNK = 1 << 18  # frames per FLAC write: memory stays flat for any length
PCM_SUFFIX, SIDECAR_SUFFIX = ".rec.pcm", ".rec.json"


@dataclass(frozen=True)
class Marker:
    time: float  # seconds from the start of the recording (audio time, not wall time)
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": round(self.time, 2), "label": self.label}


def write_markers(path: Path, markers: Sequence[Marker]) -> None:
    """The sidecar agenda.load_markers reads; replaced in one rename, so a kill never halves it."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"markers": [m.to_dict() for m in markers]}, ensure_ascii=False, indent=1),
                       encoding="utf-8")


def journal_paths(out: Path) -> tuple[Path, Path]:
    """(raw PCM, JSON sidecar) of the recording that becomes `out`."""
    return out.with_name(out.name + PCM_SUFFIX), out.with_name(out.name + SIDECAR_SUFFIX)


def output_for(path: Path) -> Path:
    """OUT.flac for OUT.flac or either of its journal files."""
    for suffix in (PCM_SUFFIX, SIDECAR_SUFFIX):
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def unrecovered(folder: str | Path) -> list[Path]:
    """The recordings in `folder` whose journal was never turned into FLAC (the program or the
    PC died while recording): what an app offers to recover at its next start."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(output_for(p) for p in folder.glob(f"*{PCM_SUFFIX}") if p.is_file())


def check_output(out: Path, force: bool) -> None:
    pcm, _ = journal_paths(out)
    if out.suffix.lower() != ".flac":
        raise KaigirokuError(f"録音は FLAC で保存します。{out.name} ではなく「会議.flac」のように .flac で終わる名前にしてください。")
    if pcm.exists():
        # never replaced, not even with --force: it is audio that nobody has turned into FLAC yet
        raise KaigirokuError(f"前回の録音 {pcm} が FLAC になっていません。先に kaigiroku recover {out} を実行してください。",
                             "journal exists")
    if out.is_dir():
        raise KaigirokuError(f"{out} はフォルダです。録音ファイルの名前（○○.flac）を指定してください。")
    if not force:
        for existing in (out, markers_path(out)):
            if existing.exists():
                raise KaigirokuError(f"{existing} は既にあります（前の録音かもしれません）。上書きするなら --force を付けるか、"
                                     "別の名前を指定してください。", "output exists")
    ensure_folder(out.parent, "録音の保存先のフォルダ", "書き込める場所を指定してください。")


def open_journal(out: Path, meta: dict[str, Any]) -> int:
    """Sidecar first, then the raw file: a raw file always has the sidecar that reads it."""
    pcm, side = journal_paths(out)
    try:
        with atomic_path(side) as tmp:
            tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        # O_BINARY: Windows opens descriptors in text mode, which would turn every 0x0A byte of
        # the audio into 0x0D 0x0A
        fd = os.open(pcm, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o600)
        fsync_folder(out.parent)
    except OSError as e:
        side.unlink(missing_ok=True)
        raise KaigirokuError(f"録音の保存先 {out.parent} に書き込めません。書き込める場所を指定してください。",
                             str(e)) from e
    return fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_journal(out: Path) -> tuple[dict[str, Any], Path, Path]:
    pcm, side = journal_paths(out)
    if not pcm.is_file():
        raise KaigirokuError(f"復元する録音 {pcm} がありません。録音のファイル名（○○.flac）を確認してください。",
                             "no journal")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        rate, channels, dtype = int(meta["sample_rate"]), int(meta["channels"]), str(meta["dtype"])
        if dtype not in FORMATS or rate <= 0 or channels <= 0:
            raise ValueError(f"bad format {rate} Hz {channels} ch {dtype}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise KaigirokuError(f"録音の情報ファイル {side} を読めません。{pcm} は消さずに保管し、管理者に連絡してください。",
                             str(e)) from e
    return meta, pcm, side


class _Unverified(Exception):
    """The FLAC read back holds fewer frames than the journal."""


def _encode(src, dst_path: Path, meta: dict[str, Any], frames: int, hook: Hook) -> None:
    import soundfile as sf

    dtype, subtype = FORMATS[meta["dtype"]]
    channels = int(meta["channels"])
    frame_bytes = channels * np.dtype(dtype).itemsize
    with sf.SoundFile(dst_path, "w", int(meta["sample_rate"]), channels, subtype=subtype, format="FLAC") as dst:
        # tags must precede the audio in libsndfile's FLAC writer, and be non-empty
        dst.software = f"kaigiroku {__version__}"
        if meta.get("start"):
            dst.date = str(meta["start"])
        if meta.get("device"):
            dst.comment = f"device: {meta['device']}"
        done = 0
        while done < frames:
            n = min(CONVERT_CHUNK, frames - done)
            dst.write(np.frombuffer(src.read(n * frame_bytes), dtype=dtype).reshape(-1, channels))
            done += n
            hook("convert", total=frames, completed=done)


def convert(out: Path, force: bool, hook: Hook = null_hook) -> int:
    """Journal → OUT.flac (temp file, read back, rename), then the journal is removed; the frames."""
    import soundfile as sf

    meta, pcm, side = read_journal(out)
    if out.exists() and not force:
        raise KaigirokuError(f"{out} は既にあります。置き換えるなら --force を付けてください（{pcm} はそのままです）。",
                             "output exists")
    frame_bytes = int(meta["channels"]) * np.dtype(FORMATS[meta["dtype"]][0]).itemsize
    frames = pcm.stat().st_size // frame_bytes  # a kill mid-write can leave a partial last frame
    keep = f"録音は {pcm} に残っています。"
    try:
        with atomic_path(out) as tmp, open(pcm, "rb") as src:
            _encode(src, tmp, meta, frames, hook)
            written = sf.info(str(tmp)).frames  # before the rename: a bad FLAC replaces nothing
            if written != frames:
                raise _Unverified(f"{written}/{frames} frames")
    except _Unverified as e:
        raise KaigirokuError(f"{out} の確認に失敗しました。{keep}kaigiroku recover {out} をもう一度実行してください。",
                             str(e)) from e
    except KeyboardInterrupt:
        raise KaigirokuError(f"FLAC への変換を中断しました。{keep}kaigiroku recover {out} で FLAC にできます。",
                             "interrupted") from None
    except (OSError, RuntimeError, KaigirokuError) as e:  # libsndfile errors are RuntimeErrors
        # (atomic_path's own ENOSPC message says "run the same command again": wrong here)
        raise KaigirokuError(f"{out} を書けませんでした（ディスクの空きを確認してください）。{keep}"
                             f"空きを作ってから kaigiroku recover {out} を実行してください。",
                             getattr(e, "detail", None) or str(e)) from e
    pcm.unlink()
    side.unlink(missing_ok=True)
    fsync_folder(out.parent)
    logger.info("wrote %s: %d frames, %d Hz, %d ch", out, frames, int(meta["sample_rate"]), int(meta["channels"]))
    return frames


def recover(path: str | Path, force: bool = False, hook: Hook = null_hook) -> Path:
    """Turn the journal of a recording that did not stop cleanly into OUT.flac; returns OUT.flac.

    `path` is OUT.flac or either journal file. Markers (OUT.flac.markers.json) were written as
    they were pressed and stay where they are.
    """
    out = output_for(Path(path))
    frames = convert(out, force, hook)
    logger.info("recovered %s (%d frames)", out, frames)
    return out
