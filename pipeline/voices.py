"""The voice library (issue #16): each member's voice learned from corrected minutes, once per body.

A committee meets four to twelve times a year with the same members. After a meeting's minutes
are corrected (the review page edits OUT.json in place), `learn` takes every named participant's
speech from that result and keeps a few CAM++ embeddings of it under the body (附属機関) and the
person's name; the next draft of that body names a participant who has no `voice:` clip from
these (pipeline/draft.py), so a clerk records no clips after the first meetings.

- Several embeddings per person, from different meetings (a cold, another microphone): the
  naming scores a turn against each and keeps the best (pipeline/identify.py).
- What is learned is the editor's word, not the draft's guess: the utterances attributed to the
  person now (after corrections), leaving out those whose speaker flag the editor has not
  cleared, time where a second voice is heard (`overlaps`), and 一同.
- Privacy: a voiceprint is personal data. Learning is opt-in per body (`consent`, a note of when
  and how the members agreed); files are 0600 in 0700 folders; `forget` removes a person,
  `delete_body` a whole body; nothing leaves the machine (the model runs here, on this PC).

Storage (pipeline/library.py): DIR/voices/<hash of body>.json =
    {"body": …, "consent": {"given": ISO time, "note": …},
     "people": {name: [{"meeting": sha256 of the recording, "learned": ISO time, "seconds": s,
                        "model": sha256 of the CAM++ weights, "embedding": [192 floats]}]}}
An embedding only meets turns embedded by the same weights: entries of another model are kept
but not used (a model update needs the meetings learned again).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import library
from .errors import KaigirokuError
from .hooks import Hook, null_hook
from .types import Minutes, SpeakerId

logger = logging.getLogger(__name__)

PART = "voices"
SR = 16000


@dataclass(frozen=True)
class LearnOptions:
    min_speech: float = 20.0  # s of clean speech a person needs in one meeting (issue #16)
    # s of speech per embedding: the meeting files' clips hold 21–28 s, which name voices well
    piece_speech: float = 20.0
    pieces_per_meeting: int = 3  # embeddings from one meeting at most (a long speech gives several)
    max_piece: float = 90.0  # s embedded in one pass at most (CAM++ takes ~100 MB per minute)
    per_person: int = 24  # kept per person; the oldest meetings go first (two years of monthly meetings)
    skip_unchecked: bool = True  # leave out utterances whose speaker the editor has not confirmed


@dataclass(frozen=True)
class VoiceEntry:
    meeting: str  # sha256 of the recording it was learned from
    learned: str  # ISO 8601, local time
    seconds: float  # of speech behind it
    model: str  # sha256 of the CAM++ weights that embedded it
    embedding: tuple[float, ...]  # L2-normalised, 192

    def to_dict(self) -> dict[str, Any]:
        return {"meeting": self.meeting, "learned": self.learned, "seconds": round(self.seconds, 1),
                "model": self.model, "embedding": [round(x, 6) for x in self.embedding]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VoiceEntry":
        return cls(str(d["meeting"]), str(d["learned"]), float(d["seconds"]), str(d["model"]),
                   tuple(float(x) for x in d["embedding"]))


@dataclass(frozen=True)
class BodyVoices:
    """One body's part of the library."""

    body: str
    consent: dict[str, str] | None  # {"given": ISO time, "note": …}; None: learning refused
    people: dict[str, tuple[VoiceEntry, ...]]  # by normalised name


# --- storage (no models: the app calls these) ------------------------------------------------

def _folder(root: Path) -> Path:
    return library.private_folder(library.private_folder(Path(root)) / PART)


def _read(root: Path, body: str) -> BodyVoices | None:
    data = library.read_json(library.body_file(root, PART, body))
    if data is None:
        return None
    return BodyVoices(str(data["body"]), data.get("consent"),
                      {name: tuple(VoiceEntry.from_dict(e) for e in entries)
                       for name, entries in (data.get("people") or {}).items()})


def _write(root: Path, v: BodyVoices) -> None:
    library.write_json(library.body_file(root, PART, v.body),
                       {"body": v.body, "consent": v.consent,
                        "people": {n: [e.to_dict() for e in es] for n, es in v.people.items() if es}})


def load_body(root: Path, body: str) -> BodyVoices:
    return _read(root, body) or BodyVoices(library.normalise(body), None, {})


def bodies(root: Path) -> list[BodyVoices]:
    out = []
    for path in library.body_files(root, PART):
        data = library.read_json(path)
        if data is not None:
            out.append(load_body(root, str(data["body"])))
    return out


def set_consent(root: Path, body: str, note: str = "") -> BodyVoices:
    """Record that the body's members agreed to have their voices learned (opt-in)."""
    body = library.normalise(body)
    if not body:
        raise KaigirokuError("附属機関名（meeting.body）を指定してください。")
    folder = _folder(root)
    with library.locked(folder):
        v = load_body(root, body)
        v = BodyVoices(v.body, {"given": datetime.now().astimezone().isoformat(timespec="seconds"),
                                "note": note}, v.people)
        _write(root, v)
    return v


def delete_body(root: Path, body: str) -> bool:
    """Remove a body's voices and its consent (a withdrawn consent, a body dissolved)."""
    return library.remove_body_part(root, PART, body)


def forget(root: Path, name: str, body: str | None = None) -> list[str]:
    """Remove every embedding of `name` (in `body`, or in every body); the bodies it was in."""
    folder = Path(root) / PART
    if not folder.is_dir():
        return []
    key, found = library.normalise(name), []
    with library.locked(folder):
        for v in ([load_body(root, body)] if body else bodies(root)):
            if key in v.people:
                _write(root, BodyVoices(v.body, v.consent, {n: e for n, e in v.people.items() if n != key}))
                found.append(v.body)
    return found


def add_entries(root: Path, body: str, name: str, entries: Sequence[VoiceEntry],
                options: LearnOptions = LearnOptions()) -> int:
    """Add `entries` for a person (replacing those from the same recording); how many are kept."""
    folder = _folder(root)
    key = library.normalise(name)
    with library.locked(folder):
        v = load_body(root, body)
        if v.consent is None:
            raise KaigirokuError(consent_needed(v.body))
        meetings = {e.meeting for e in entries}
        kept = [e for e in v.people.get(key, ()) if e.meeting not in meetings] + list(entries)
        kept.sort(key=lambda e: e.learned)
        kept = kept[-options.per_person:]
        _write(root, BodyVoices(v.body, v.consent, {**v.people, key: tuple(kept)}))
    return len(kept)


def consent_needed(body: str) -> str:
    return (f"「{body}」の声の学習には委員の同意が必要です。同意を得たら `kaigiroku voices consent "
            f"\"{body}\" --yes --note \"同意の記録\"` を実行してください。")


def voices_for(root: Path, body: str, names: Iterable[str], model: str) -> dict[str, np.ndarray]:
    """The embeddings (k, 192) of each of `names` that the library knows in `body`, made by the
    CAM++ weights `model` (sha256); names it does not know are left out."""
    v = _read(root, body) if body else None
    if v is None:
        return {}
    out = {}
    for name in names:
        rows = [e.embedding for e in v.people.get(library.normalise(name), ()) if e.model == model]
        if rows:
            out[name] = np.array(rows, dtype=np.float32)
    return out


def digest(embeddings: np.ndarray) -> str:
    """A cache key for a person's library embeddings (the naming's stage cache)."""
    return hashlib.sha256(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes()).hexdigest()[:16]


# --- what a corrected result says about each voice ----------------------------------------------

def _merge(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _subtract(spans: list[tuple[float, float]], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for a, b in spans:
        pos = a
        for c, d in holes:
            if d <= pos or c >= b:
                continue
            if c > pos:
                out.append((pos, c))
            pos = max(pos, d)
        if pos < b:
            out.append((pos, b))
    return out


@dataclass(frozen=True)
class PersonSpeech:
    name: str
    spans: tuple[tuple[float, float], ...]  # their own voice alone, seconds in the recording
    unchecked: int  # utterances left out: the speaker flag is still up
    overlapped: float  # s left out: a second voice, 一同 or another speaker at the same time


def named_speech(minutes: Minutes, options: LearnOptions = LearnOptions()) -> tuple[list[PersonSpeech], list[str]]:
    """Each named participant's own speech in a (corrected) result, and the printed labels of the
    voices that cannot be learned (no name: 発言者不明, 話者; 一同)."""
    participants = {library.normalise(p.name): p.name for p in library.meeting_of(minutes).participants}
    used = {u.speaker for u in minutes.utterances}
    ids_of: dict[str, set[str]] = {}
    unnamed = []
    for s in minutes.speakers:
        if s.id not in used:
            continue
        key = library.normalise(s.name) if s.name else ""
        if SpeakerId.kind_of(s.id) == "chorus" or key not in participants:
            unnamed.append(s.label)
        else:
            ids_of.setdefault(participants[key], set()).add(s.id)
    chorus = [(t.start, t.end) for t in minutes.turns if SpeakerId.kind_of(t.speaker) == "chorus"]
    second = [(t.start, t.end) for t in minutes.overlaps]
    out = []
    for name, ids in ids_of.items():
        mine = [u for u in minutes.utterances if u.speaker in ids]
        kept = [u for u in mine if not (options.skip_unchecked and u.speaker_uncertain)]
        others = [(u.start, u.end) for u in minutes.utterances if u.speaker not in ids]
        spans = _merge((u.start, u.end) for u in kept)
        alone = _subtract(spans, _merge(others + chorus + second))
        out.append(PersonSpeech(name, tuple(alone), len(mine) - len(kept),
                                sum(b - a for a, b in spans) - sum(b - a for a, b in alone)))
    return out, unnamed


@dataclass(frozen=True)
class Outcome:
    """What `learn` did with one voice of the result."""

    who: str  # the participant's name, or the printed label of a voice that has none
    added: int  # embeddings added (0: skipped)
    speech: float  # s of the person's own speech found (VAD)
    kept: int  # embeddings the library now holds for them
    reason: str  # why it was skipped, or what was left out

    def line(self) -> str:
        if self.added:
            return (f"{self.who}: 学習しました（話し声 {self.speech:.0f} 秒から {self.added} 件、"
                    f"ライブラリに計 {self.kept} 件）{self.reason}")
        return f"{self.who}: 学習しません — {self.reason}"


def _speech_only(samples: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """The samples of `spans` where Silero VAD hears speech, joined (pauses out)."""
    from .audio import speech_spans

    gap = np.zeros(int(0.3 * SR), np.float32)  # keeps VAD from joining two spans' edges
    parts = []
    for a, b in spans:
        parts += [samples[int(a * SR):int(b * SR)], gap]
    if not parts:
        return np.zeros(0, np.float32)
    joined = np.concatenate(parts)
    return np.concatenate([joined[int(a * SR):int(b * SR)] for a, b in speech_spans(joined, SR, 300)] or
                          [np.zeros(0, np.float32)])


def _pieces(speech: np.ndarray, options: LearnOptions) -> list[np.ndarray]:
    """Up to `pieces_per_meeting` equal parts of at least `piece_speech` s, each cut to `max_piece`."""
    total = len(speech) / SR
    n = max(1, min(options.pieces_per_meeting, int(total // options.piece_speech)))
    size = len(speech) // n
    return [speech[i * size:i * size + min(size, int(options.max_piece * SR))] for i in range(n)]


def learn(result: str | Path, root: str | Path, options, *, audio: str | Path | None = None,
          learn_options: LearnOptions = LearnOptions(), hook: Hook = null_hook) -> list[Outcome]:
    """Add every named participant's voice in `result` (OUT.json as it is now) to the library.

    `options` is the draft's `config.Options` (the audio decoding and the CAM++ model of the
    diarization, so that learned voices meet the draft's turns). Checks the consent before
    reading the recording or loading a model.
    """
    result, root = Path(result), Path(root)
    minutes = library.read_minutes(result)
    body = library.normalise(library.meeting_of(minutes).info.body)
    if not body:
        raise KaigirokuError(f"{result} の会議ファイルに附属機関名（meeting: body:）がありません。"
                             "声は附属機関ごとに学習します。会議ファイルに body を書いて原稿を作り直してください。")
    if load_body(root, body).consent is None:
        raise KaigirokuError(consent_needed(body))
    people, unnamed = named_speech(minutes, learn_options)
    outcomes = [Outcome(label, 0, 0.0, 0, "名前のない声（発言者不明・話者）と一同は学習しません") for label in unnamed]
    if not people:
        return outcomes
    from .audio import find_audio, load_audio
    from .campplus import embed_waveform, load_campplus
    from .models import resolve

    found = find_audio(minutes, result, Path(audio) if audio else None)
    if found is None:
        raise KaigirokuError(f"録音 {audio or minutes.audio.path} が見つかりません。--audio で録音ファイルを指定してください。")
    hook("decode")
    recording = load_audio(found, options.audio)
    if recording.info.sha256 != minutes.audio.sha256:
        raise KaigirokuError(f"録音 {found} はこの結果の録音ではありません（中身が違います）。"
                             "--audio で原稿を作ったときの録音を指定してください。")
    hook("load")
    model_file = resolve(options.diarize.embedding, "embedding")
    model = load_campplus(model_file.path)
    if options.diarize.device != "cpu":
        import torch

        model = model.to(torch.device(options.diarize.device))
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    for person in people:
        hook("learn", person.name)
        notes = []
        if person.unchecked:
            notes.append(f"話者が未確認の発言 {person.unchecked} 件")
        if person.overlapped >= 1:
            notes.append(f"声の重なり・一同など {person.overlapped:.0f} 秒")
        speech = _speech_only(recording.samples, person.spans)
        seconds = len(speech) / SR
        if seconds < learn_options.min_speech:
            why = f"本人だけの話し声が {seconds:.0f} 秒で、{learn_options.min_speech:.0f} 秒に足りません"
            outcomes.append(Outcome(person.name, 0, seconds, 0, why + (f"（除いたもの: {'、'.join(notes)}）" if notes else "")))
            continue
        entries = [VoiceEntry(minutes.audio.sha256, now, len(p) / SR, model_file.sha256,
                              tuple(float(x) for x in embed_waveform(model, p)))
                   for p in _pieces(speech, learn_options)]
        kept = add_entries(root, body, person.name, entries, learn_options)
        outcomes.append(Outcome(person.name, len(entries), seconds, kept,
                                f"（除いたもの: {'、'.join(notes)}）" if notes else ""))
    return outcomes
