"""The transcript as data: small frozen dataclasses that every stage passes along.

Stages return new values (``dataclasses.replace``) and never mutate their inputs. Each type has
``to_dict``/``from_dict`` so the whole result round-trips through OUT.json, which is the
contract with `kaigiroku export` and the review page: extend it, don't break it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Literal

SCHEMA_VERSION = 1

SpeakerKind = Literal["participant", "unknown", "anonymous", "cluster", "editor", "chorus"]
# The letter each kind is written with in OUT.json (the chorus is written "ALL").
_PREFIX: dict[str, str] = {"participant": "P", "unknown": "U", "anonymous": "S", "cluster": "C",
                           "editor": "E"}
_KIND = {v: k for k, v in _PREFIX.items()}
_CHORUS_TEXT = "ALL"
_ID = re.compile(r"^([A-Z])([1-9][0-9]*)$")


@dataclass(frozen=True)
class SpeakerId:
    """Who a speaker id stands for. OUT.json, the turns and the review page keep ids as the short
    strings this type prints ("P2", "U1", "ALL"), so results stay as they were; code that needs
    to know what an id means parses it here instead of comparing prefixes.

    - participant P<n>: the n-th participant of the meeting file (1-based), named by their voice
      (a clip, or the voice library);
    - unknown U<n>: a voice heard that matched no enrolled participant (発言者不明);
    - anonymous S<n>: a voice of a draft made without any enrollment (話者);
    - cluster C<n>: a diarization cluster, before naming;
    - editor E<n>: a participant the editor gave utterances to by ear (no voice evidence);
    - chorus ALL: everyone at once (一同), nobody's voice.
    """

    kind: SpeakerKind
    index: int = 0  # 1-based number within its kind; 0 for the chorus

    def __post_init__(self) -> None:
        if self.kind == "chorus":
            if self.index:
                raise ValueError("the chorus has no number")
        elif self.kind not in _PREFIX or self.index < 1:
            raise ValueError(f"not a speaker id: {self.kind} {self.index}")

    def __str__(self) -> str:
        return _CHORUS_TEXT if self.kind == "chorus" else f"{_PREFIX[self.kind]}{self.index}"

    @classmethod
    def parse(cls, text: str) -> "SpeakerId":
        """"P2" → SpeakerId("participant", 2); ValueError for a string that is no id."""
        if text == _CHORUS_TEXT:
            return cls("chorus")
        m = _ID.match(text)
        if not m or m.group(1) not in _KIND:
            raise ValueError(f"not a speaker id: {text!r}")
        return cls(_KIND[m.group(1)], int(m.group(2)))  # type: ignore[arg-type]

    @classmethod
    def kind_of(cls, text: str) -> SpeakerKind | None:
        """The kind of an id, None for a string that is none (a hand-edited result)."""
        try:
            return cls.parse(text).kind
        except ValueError:
            return None

    @classmethod
    def participant(cls, position: int) -> "SpeakerId":
        """The id of the meeting file's participant at 0-based `position`."""
        return cls("participant", position + 1)

    @property
    def position(self) -> int | None:
        """A participant id's 0-based position in the meeting file's participants."""
        return self.index - 1 if self.kind == "participant" else None


CHORUS = SpeakerId("chorus")


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the recording
    end: float
    text: str  # as Whisper wrote it (raw, before cleaning)
    probability: float  # Whisper's word probability, 0..1

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                "probability": round(self.probability, 4)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Word":
        return cls(float(d["start"]), float(d["end"]), str(d["text"]), float(d["probability"]))


@dataclass(frozen=True)
class Segment:
    """One Whisper segment (decoding window), kept for re-export and debugging."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                "avg_logprob": round(self.avg_logprob, 4),
                "no_speech_prob": round(self.no_speech_prob, 4),
                "words": [w.to_dict() for w in self.words]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Segment":
        return cls(float(d["start"]), float(d["end"]), str(d["text"]),
                   tuple(Word.from_dict(w) for w in d.get("words", ())),
                   float(d.get("avg_logprob", 0.0)), float(d.get("no_speech_prob", 0.0)))


@dataclass(frozen=True)
class Transcript:
    language: str
    duration: float  # seconds of audio that were transcribed
    segments: tuple[Segment, ...]

    def words(self) -> Iterator[Word]:
        for seg in self.segments:
            yield from seg.words

    def to_dict(self) -> dict[str, Any]:
        return {"language": self.language, "duration": round(self.duration, 3),
                "segments": [s.to_dict() for s in self.segments]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Transcript":
        return cls(str(d["language"]), float(d["duration"]),
                   tuple(Segment.from_dict(s) for s in d["segments"]))


@dataclass(frozen=True)
class Speaker:
    """A voice in the recording and how it is printed in the minutes."""

    id: str  # stable id inside this result ("P1", "U1", "S1", "ALL" …): see SpeakerId
    label: str  # printed label: 委員長, A委員, 説明者, 話者1, 発言者不明1 …
    name: str | None = None  # participant name when known
    role: str | None = None  # participant role when known
    similarity: float | None = None  # cosine to the enrolled voice (speakers issue)
    margin: float | None = None  # to the next-best candidate
    uncertain: bool = False  # flag for the editor
    # Where the voice that named this speaker came from: "clip" (the meeting file's `voice:`),
    # "library" (learned from an earlier meeting of the body, pipeline/voices.py) or "none".
    # Written to OUT.json only when set: older results read the same.
    voice_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.voice_source is None:
            del d["voice_source"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Speaker":
        return cls(**{k: d.get(k) for k in ("id", "label", "name", "role", "similarity", "margin")},
                   uncertain=bool(d.get("uncertain", False)), voice_source=d.get("voice_source"))


@dataclass(frozen=True)
class Turn:
    """A stretch of one voice from diarization (exclusive: turns do not overlap)."""

    start: float
    end: float
    speaker: str  # Speaker.id (or a cluster id before naming): str(SpeakerId)

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "speaker": self.speaker}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Turn":
        return cls(float(d["start"]), float(d["end"]), str(d["speaker"]))


@dataclass(frozen=True)
class Mark:
    """A span of an utterance's printed text the editor should look at."""

    start: int  # character offsets into Utterance.text
    end: int
    kind: str  # "low_confidence" (Whisper was unsure) | "pii" (黒塗り候補: mask before publishing)
    note: str = ""  # e.g. what kind of personal information
    # The text Whisper wrote where the cleaning corrected it to a vocabulary word (公民間講座 for
    # 公民館講座), so the editor can see both; "" for a span the cleaning did not rewrite. Written
    # to OUT.json only when set: older results read the same, older readers skip it.
    original: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "kind": self.kind, "note": self.note}
        if self.original:
            d["original"] = self.original
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Mark":
        return cls(int(d["start"]), int(d["end"]), str(d["kind"]), str(d.get("note", "")),
                   str(d.get("original", "")))


@dataclass(frozen=True)
class Utterance:
    start: float
    end: float
    speaker: str  # Speaker.id
    words: tuple[Word, ...]
    text: str  # text printed in the draft (cleaned); the raw text is "".join(words)
    similarity: float | None = None  # cosine of this utterance's voice to its speaker's enrollment
    margin: float | None = None  # similarity minus the best other enrolled voice
    speaker_uncertain: bool = False  # flag for the editor: check who is speaking
    marks: tuple[Mark, ...] = ()  # flagged spans of `text`

    @property
    def raw_text(self) -> str:
        return "".join(w.text for w in self.words).strip()

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "speaker": self.speaker,
                "text": self.text, "raw_text": self.raw_text,
                "similarity": self.similarity, "margin": self.margin,
                "speaker_uncertain": self.speaker_uncertain,
                "marks": [m.to_dict() for m in self.marks],
                "words": [w.to_dict() for w in self.words]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Utterance":
        return cls(float(d["start"]), float(d["end"]), str(d["speaker"]),
                   tuple(Word.from_dict(w) for w in d.get("words", ())), str(d["text"]),
                   d.get("similarity"), d.get("margin"), bool(d.get("speaker_uncertain", False)),
                   tuple(Mark.from_dict(m) for m in d.get("marks", ())))


@dataclass(frozen=True)
class Heading:
    """An agenda heading row of the 発言要旨 table (開会, 案件1 …, 休憩, 閉会)."""

    before: int  # index of the utterance it precedes (len(utterances) = at the end)
    time: float  # seconds from the start of the recording
    title: str
    source: str  # "markers" (pressed while recording) | "agenda" (matched in the speech)

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "time": round(self.time, 3), "title": self.title,
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Heading":
        return cls(int(d["before"]), float(d["time"]), str(d["title"]), str(d["source"]))


@dataclass(frozen=True)
class AudioInfo:
    path: str  # as given by the user
    sha256: str  # content hash of the input file (cache key, provenance)
    duration: float  # seconds
    sample_rate: int  # of the source file
    channels: int  # of the source file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AudioInfo":
        return cls(str(d["path"]), str(d["sha256"]), float(d["duration"]), int(d["sample_rate"]),
                   int(d["channels"]))


@dataclass(frozen=True)
class ModelInfo:
    """Which weights produced the result (provenance for the editor and for benchmarks)."""

    name: str
    source: str  # "embedded", "path", "installed" (`kaigiroku models import/get`) or "hub"
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelInfo":
        return cls(str(d["name"]), str(d["source"]), str(d["path"]))


@dataclass(frozen=True)
class StageTime:
    stage: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageTime":
        return cls(str(d["stage"]), float(d["seconds"]))


@dataclass(frozen=True)
class Minutes:
    """The full typed result of `kaigiroku draft`: what OUT.json holds."""

    audio: AudioInfo
    meeting: dict[str, Any] | None  # the validated meeting file (pipeline.meeting.Meeting.to_dict)
    transcript: Transcript
    speakers: tuple[Speaker, ...]
    utterances: tuple[Utterance, ...]
    turns: tuple[Turn, ...] = ()  # the named diarization turns (for DER and the review page)
    # a second voice heard at the same time as a turn (overlapped speech): exported for DER and
    # RTTM; the 会議録 itself gives each utterance one speaker
    overlaps: tuple[Turn, ...] = ()
    headings: tuple[Heading, ...] = ()
    models: tuple[ModelInfo, ...] = ()
    timings: tuple[StageTime, ...] = ()
    created: str = ""  # ISO 8601, local time
    generator: str = field(default="kaigiroku")

    def speaker(self, speaker_id: str) -> Speaker:
        for s in self.speakers:
            if s.id == speaker_id:
                return s
        raise KeyError(speaker_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "generator": self.generator,
            "created": self.created,
            "audio": self.audio.to_dict(),
            "meeting": self.meeting,
            "models": [m.to_dict() for m in self.models],
            "timings": [t.to_dict() for t in self.timings],
            "speakers": [s.to_dict() for s in self.speakers],
            "utterances": [u.to_dict() for u in self.utterances],
            "headings": [h.to_dict() for h in self.headings],
            "turns": [t.to_dict() for t in self.turns],
            "overlaps": [t.to_dict() for t in self.overlaps],
            "transcript": self.transcript.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Minutes":
        if int(d.get("schema", 0)) > SCHEMA_VERSION:
            raise ValueError(f"result schema {d.get('schema')} is newer than this kaigiroku "
                             f"understands ({SCHEMA_VERSION})")
        return cls(
            audio=AudioInfo.from_dict(d["audio"]),
            meeting=d.get("meeting"),
            transcript=Transcript.from_dict(d["transcript"]),
            speakers=tuple(Speaker.from_dict(s) for s in d["speakers"]),
            utterances=tuple(Utterance.from_dict(u) for u in d["utterances"]),
            turns=tuple(Turn.from_dict(t) for t in d.get("turns", ())),
            overlaps=tuple(Turn.from_dict(t) for t in d.get("overlaps", ())),
            headings=tuple(Heading.from_dict(h) for h in d.get("headings", ())),
            models=tuple(ModelInfo.from_dict(m) for m in d.get("models", ())),
            timings=tuple(StageTime.from_dict(t) for t in d.get("timings", ())),
            created=str(d.get("created", "")),
            generator=str(d.get("generator", "kaigiroku")),
        )
