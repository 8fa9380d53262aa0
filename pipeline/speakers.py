"""Who spoke when, and which words belong to whom.

`assign_speakers` gives each word the speaker turn it overlaps most (the nearest turn when it
overlaps none) and cuts the word stream into utterances at speaker changes and long pauses.
Diarization proper is the speakers issue (#3); until then `single_speaker_turns` stands in.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Sequence

from .types import Speaker, Transcript, Utterance, Word


@dataclass(frozen=True)
class SpeakerOptions:
    turn_gap: float  # a pause at least this long (s) starts a new utterance


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str  # Speaker.id


def single_speaker_turns(duration: float) -> tuple[Turn, ...]:
    return (Turn(0.0, duration, "S1"),)


def placeholder_speakers() -> tuple[Speaker, ...]:
    return (Speaker(id="S1", label="話者1"),)


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
    labelled = [(w, speaker_of(w, turns, starts)) for w in transcript.words() if w.text.strip()]
    return tuple(_utterances(labelled, options.turn_gap))


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
