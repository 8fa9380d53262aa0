"""Who spoke when, and which words belong to whom.

`assign_speakers` gives each word the speaker turn it overlaps most (the nearest turn when it
overlaps none) and cuts the word stream into utterances at speaker changes and long pauses.
Without diarization (`diarize.enabled: false`) `single_speaker_turns` stands in.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Sequence

from .types import Transcript, Turn, Utterance, Word

SENTENCE_END = ("。", "？", "?", "！", "!")


@dataclass(frozen=True)
class SpeakerOptions:
    turn_gap: float  # a pause at least this long (s) starts a new utterance
    snap_window: float  # a speaker change moves to the best pause within this many seconds
    min_utterance: float  # shorter speaker flips (s) are absorbed by a neighbour


def single_speaker_turns(duration: float) -> tuple[Turn, ...]:
    return (Turn(0.0, duration, "S1"),)


def speaker_of(word: Word, turns: Sequence[Turn], starts: Sequence[float]) -> str:
    """The turn overlapping `word` most; the nearest turn when none overlaps."""
    i = bisect.bisect_right(starts, word.end)
    best, best_overlap = None, 0.0
    # Turns are sorted by start; only those starting before the word ends can overlap it.
    for t in reversed(turns[max(0, i - 8):i]):
        overlap = min(t.end, word.end) - max(t.start, word.start)
        if overlap > best_overlap:
            best, best_overlap = t, overlap
    if best is not None:
        return best.speaker
    mid = (word.start + word.end) / 2
    nearest = min(turns, key=lambda t: 0.0 if t.start <= mid <= t.end else min(abs(t.start - mid), abs(t.end - mid)))
    return nearest.speaker


def assign_speakers(transcript: Transcript, turns: Sequence[Turn],
                    options: SpeakerOptions) -> tuple[Utterance, ...]:
    turns = sorted(turns, key=lambda t: (t.start, t.end))
    if not turns:
        raise ValueError("no speaker turns")
    starts = [t.start for t in turns]
    words = [w for w in transcript.words() if w.text.strip()]
    speakers = snap_changes_to_pauses(words, [speaker_of(w, turns, starts) for w in words],
                                      options.snap_window)
    utterances = list(_utterances(zip(words, speakers), options.turn_gap))
    return tuple(absorb_flips(utterances, options.min_utterance))


def _split_quality(words: Sequence[Word], j: int) -> float:
    """How good a place for a turn change the point after words[j] is: the pause, plus a bonus
    when Whisper ended a sentence there."""
    gap = words[j + 1].start - words[j].end
    return gap + (0.3 if words[j].text.rstrip().endswith(SENTENCE_END) else 0.0)


def snap_changes_to_pauses(words: Sequence[Word], speakers: list[str], window: float) -> list[str]:
    """Move each speaker change to the best pause within `window` seconds of it.

    People take turns at pauses; Whisper's word times and the diarization's turn edges each
    miss them by a few hundred ms, which splits words across speakers ("ありが|とうございました").
    """
    speakers = list(speakers)
    i = 1
    while i < len(words):
        if speakers[i] == speakers[i - 1]:
            i += 1
            continue
        before, after = speakers[i - 1], speakers[i]
        centre = (words[i - 1].end + words[i].start) / 2
        lo = i - 1
        while lo > 0 and centre - words[lo - 1].end <= window and speakers[lo - 1] == before:
            lo -= 1
        hi = i
        while hi + 1 < len(words) and words[hi + 1].start - centre <= window and speakers[hi + 1] == after:
            hi += 1
        # candidate split after words[j], for j in [lo, hi - 1]; keep the current one on ties
        best = max(range(lo, hi), key=lambda j: (_split_quality(words, j), j == i - 1))
        for k in range(lo, hi + 1):
            speakers[k] = before if k <= best else after
        i = max(i, best + 1) + 1
    return speakers


def absorb_flips(utterances: list[Utterance], min_duration: float) -> list[Utterance]:
    """Give a speaker flip shorter than `min_duration` to a neighbour.

    Whisper's word times and the diarization's turn edges disagree by a few hundred ms, so the
    first or last syllables of a turn ("ありが|とうございました") land on the previous or next
    speaker. Such a sliver joins the previous utterance when that one has not finished its
    sentence, else the next one.
    """
    out: list[Utterance] = []
    pending: Utterance | None = None  # a sliver waiting to be prepended to the next utterance
    for i, u in enumerate(utterances):
        if pending is not None:
            u = _join(pending, u, u.speaker)
            pending = None
        short = u.end - u.start < min_duration
        if short and (out or i + 1 < len(utterances)):
            prev_open = out and not out[-1].text.endswith(SENTENCE_END)
            if out and (prev_open or i + 1 == len(utterances)):
                out[-1] = _join(out[-1], u, out[-1].speaker)
                continue
            pending = u
            continue
        out.append(u)
    if pending is not None:
        out.append(pending)
    return _merge_same_speaker(out)


def _join(a: Utterance, b: Utterance, speaker: str) -> Utterance:
    return _utterance(list(a.words) + list(b.words), speaker)


def _merge_same_speaker(utterances: list[Utterance]) -> list[Utterance]:
    """Absorbing a sliver can leave two utterances of one speaker side by side."""
    out: list[Utterance] = []
    for u in utterances:
        if out and out[-1].speaker == u.speaker and u.start - out[-1].end < 0.3:
            out[-1] = _join(out[-1], u, u.speaker)
        else:
            out.append(u)
    return out


def _utterances(labelled: Iterable[tuple[Word, str]], gap: float) -> Iterable[Utterance]:
    current: list[Word] = []
    speaker = None
    for word, spk in labelled:
        if current and (spk != speaker or word.start - current[-1].end >= gap):
            yield _utterance(current, speaker)
            current = []
        current.append(word)
        speaker = spk
    if current:
        yield _utterance(current, speaker)


def _utterance(words: list[Word], speaker: str | None) -> Utterance:
    text = "".join(w.text for w in words).strip()
    return Utterance(start=words[0].start, end=words[-1].end, speaker=speaker or "S1",
                     words=tuple(words), text=text)
