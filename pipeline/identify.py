"""Name the voices: enrolled participants by their clips, everyone else 発言者不明N or 話者N.

What a probe on the bench meeting found (issue #3): pyannote's clusters are nearly pure, yet
naming whole clusters one-to-one fails badly (one short turn lands in a similar voice's cluster,
a speaker splits in two, and lettering by first speech then shifts every member). So each turn
is named by its own nearest enrolled voice, leaning on its cluster's centroid when the turn is
short, and a Viterbi pass keeps the speaker from flipping inside a cluster without strong
evidence. A voice that matches nobody well enough is never given a name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from .audio import AudioOptions, load_audio, speech_spans
from .errors import KaigirokuError
from .hooks import Hook, null_hook
from .meeting import Participant
from .diarize import CHORUS
from .types import Speaker, SpeakerId, Turn, Utterance

logger = logging.getLogger(__name__)

# Stage-cache version of the naming (bump when the named turns or evidence change).
CACHE_VERSION = 1
SR = 16000


@dataclass(frozen=True)
class IdentifyOptions:
    full_trust: float  # s of speech from which a turn's own embedding outweighs its cluster's
    switch_penalty: float  # cost of changing voice inside one pyannote cluster (cosine × s)
    match_threshold: float  # cosine to the best enrolled voice below which a run stays unknown
    uncertain_margin: float  # best minus second-best cosine below which the editor is warned
    min_enroll_speech: float  # seconds of speech an enrollment clip must hold
    recheck_margin: float  # pooled evidence closer than this between two voices → embed the turn


@dataclass(frozen=True, eq=False)
class Voice:
    participant: Participant
    # L2-normalised: (192,) from a clip, or (k, 192) from the voice library (several meetings)
    embedding: np.ndarray


# How a turn meets a voice known by several embeddings (pipeline/voices.py): "max", the best of
# them (a voice on a bad day matches the embedding of a day like it), or "top3", the mean of the
# best three (steadier against one stray embedding). Measured (issue #16, scripts/bench_learned.py):
# the same names on every turn either way, seed_dev part B raCER 0.117 both, AMI dev01/dev00
# naming error 0.431/0.282 both. "max" is kept for the reason it exists: the library holds
# different days on purpose, and the mean would pull a good match toward the other days.
LIBRARY_POOL = "max"


class _Scorer:
    """Cosines of embeddings to each voice: (…, 192) → (…, voices), pooled over a voice's rows."""

    def __init__(self, voices: Sequence[Voice], pool: str | None = None):
        rows = [np.atleast_2d(v.embedding) for v in voices]
        self.matrix = np.concatenate(rows).astype(np.float64)
        bounds = np.cumsum([0] + [len(r) for r in rows])
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.pool = pool or LIBRARY_POOL

    def __call__(self, x: np.ndarray) -> np.ndarray:
        sims = np.asarray(x, dtype=np.float64) @ self.matrix.T
        cols = []
        for s in self.slices:
            part = sims[..., s]
            if part.shape[-1] == 1:
                cols.append(part[..., 0])
            elif self.pool == "max":
                cols.append(part.max(axis=-1))  # NaN rows stay NaN
            else:
                cols.append(np.sort(part, axis=-1)[..., -3:].mean(axis=-1))  # NaN sorts last: stays NaN
        return np.stack(cols, axis=-1)


def speech_seconds(samples: np.ndarray) -> float:
    """Seconds of speech by Silero VAD."""
    return sum(b - a for a, b in speech_spans(samples, SR, min_silence_ms=300))


@dataclass(frozen=True, eq=False)
class VoiceClip:
    participant: Participant
    samples: np.ndarray  # 16 kHz mono


def load_voice_clips(participants: Sequence[Participant], audio_options: AudioOptions,
                     options: IdentifyOptions) -> tuple[VoiceClip, ...]:
    """Read every participant's clip and check it holds enough speech; errors name the person.

    Runs before any model is loaded, so a bad clip is reported in seconds, not after ASR.
    """
    clips = []
    for p in participants:
        if p.voice is None:
            continue
        try:
            clip = load_audio(p.voice, audio_options)
        except KaigirokuError as e:
            raise KaigirokuError(f"参加者 {p.name} の声の録音: {e.message}", e.detail) from e
        speech = speech_seconds(clip.samples)
        if speech < options.min_enroll_speech:
            raise KaigirokuError(
                f"参加者 {p.name} の声の録音 {p.voice} は話し声が短すぎます（{speech:.1f}秒）。"
                f"{options.min_enroll_speech:.0f}秒以上話している録音にしてください。")
        clips.append(VoiceClip(p, clip.samples))
    return tuple(clips)


def enroll(clips: Sequence[VoiceClip], model) -> tuple[Voice, ...]:
    """Embed each clip with the same CAM++ model that names the meeting's voices."""
    from .campplus import embed_waveform

    return tuple(Voice(c.participant, embed_waveform(model, c.samples)) for c in clips)


def participant_id(index: int) -> str:
    return str(SpeakerId.participant(index))


def _normalise(x: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(x))
    return None if not np.isfinite(n) or n == 0 else x / n


def turn_scores(turns: Sequence[Turn], embeddings: np.ndarray | None, centroids: dict[str, np.ndarray],
                voices: Sequence[Voice], options: IdentifyOptions,
                embed: Callable[[Turn], np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(turns, voices) cosine evidence: the turn's own voice, leaning on its cluster when short.

    A turn's own voice comes first from `embeddings` (pipeline/diarize.py `turn_embeddings`:
    pooled from pyannote's chunk embeddings, free). Inside a 10 s chunk pyannote can give two
    similar voices one local speaker, so where that pooled evidence cannot tell the two best
    voices apart (margin below `recheck_margin`), the turn's own audio is embedded (`embed`).
    A 0.5 s turn says little about who spoke; the cluster's centroid (pooled over all of its
    speech) says more, unless the cluster mixes two voices. Long turns decide for themselves.
    Returns (blended, own); `own` is NaN where a turn has no voice of its own.
    """
    score = _Scorer(voices)
    cluster_sims = {c: score(e) for c, x in centroids.items() if (e := _normalise(x)) is not None}
    if embeddings is None:  # no turn has a voice of its own (e.g. diarization found no speech)
        own_all = np.full((len(turns), len(voices)), np.nan)
    else:
        own_all = score(embeddings)  # NaN rows stay NaN
    rechecked = 0
    if embed is not None:
        for i, t in enumerate(turns):
            top = np.sort(own_all[i])[-2:] if len(voices) > 1 else own_all[i]
            if not np.isfinite(top).all() or (len(voices) > 1 and top[1] - top[0] < options.recheck_margin):
                e = embed(t)
                if e is not None:
                    own_all[i] = score(e)
                    rechecked += 1
    logger.info("naming: %d of %d turns embedded again (pooled evidence unclear)", rechecked, len(turns))
    blended = np.zeros((len(turns), len(voices)))
    for i, t in enumerate(turns):
        own = own_all[i] if np.isfinite(own_all[i]).all() else None
        pooled = cluster_sims.get(t.speaker)
        if own is None and pooled is None:
            blended[i] = options.match_threshold  # no evidence: neutral, neighbours decide
        elif own is None:
            blended[i] = pooled
        elif pooled is None:
            blended[i] = own
        else:
            alpha = min(1.0, (t.end - t.start) / options.full_trust)
            blended[i] = alpha * own + (1 - alpha) * pooled
    return blended, own_all


def audio_embedder(audio, model, hook: Hook = null_hook) -> Callable[[Turn], np.ndarray | None]:
    """A turn's own audio → its CAM++ embedding (None under 0.5 s, too short to say).

    `hook` is called before each turn (it may raise to stop the naming early)."""
    from .campplus import embed_waveform

    def embed(t: Turn) -> np.ndarray | None:
        hook("identify:embed")
        x = audio.samples[int(t.start * SR):int(t.end * SR)]
        return embed_waveform(model, x) if len(x) >= SR // 2 else None

    return embed


def viterbi(scores: np.ndarray, weights: np.ndarray, same_cluster: np.ndarray,
            threshold: float, switch_penalty: float) -> np.ndarray:
    """Best voice per turn (index len(voices) = nobody) under a penalty for changing voice.

    Emission: weight × cosine (nobody scores `threshold`); changing voice between two turns of
    the same pyannote cluster costs `switch_penalty`, between clusters almost nothing. So one
    word-sized turn cannot flip the speaker, yet a cluster that merged two voices still splits.
    """
    n, k = scores.shape
    emit = np.concatenate([scores, np.full((n, 1), threshold)], axis=1) * weights[:, None]
    total = emit[0].copy()
    back = np.zeros((n, k + 1), dtype=int)
    for i in range(1, n):
        penalty = switch_penalty if same_cluster[i] else 0.02 * switch_penalty
        stay = total
        best_prev = int(total.argmax())
        switch = total[best_prev] - penalty
        take_switch = switch > stay
        back[i] = np.where(take_switch, best_prev, np.arange(k + 1))
        total = np.maximum(stay, switch) + emit[i]
    path = np.zeros(n, dtype=int)
    path[-1] = int(total.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def name_turns(turns: Sequence[Turn], embeddings: np.ndarray | None, centroids: dict[str, np.ndarray],
               voices: Sequence[Voice], participants: Sequence[Participant],
               options: IdentifyOptions,
               embed: Callable[[Turn], np.ndarray | None] | None = None) -> tuple[tuple[Turn, ...], np.ndarray]:
    """Relabel cluster turns with participant ids (P1…) or, matching nobody, unknown ids (U1…).

    `embeddings` (turns, dim) is each turn's own voice from the diarization. Also returns each
    turn's own cosine to every voice (NaN when it has none), the evidence that
    `utterance_evidence` reports to the editor.
    """
    if not turns:
        return (), np.zeros((0, len(voices)))
    chorus = [t for t in turns if t.speaker == CHORUS]
    if chorus:  # 一同 is nobody's voice: name the others, then put it back in place
        voiced = [i for i, t in enumerate(turns) if t.speaker != CHORUS]
        named, own = name_turns([turns[i] for i in voiced], None if embeddings is None else embeddings[voiced],
                                centroids, voices,
                                participants, options, embed)
        merged = sorted([*named, *chorus], key=lambda t: (t.start, t.end))
        rows = iter(own)
        return tuple(merged), np.array([np.full(len(voices), np.nan) if t.speaker == CHORUS else next(rows)
                                        for t in merged]).reshape(len(merged), len(voices))
    index = {id(p): i for i, p in enumerate(participants)}
    scores, own = turn_scores(turns, embeddings, centroids, voices, options, embed)
    weights = np.array([min(t.end - t.start, options.full_trust) for t in turns]) + 0.1
    same = np.array([i > 0 and turns[i].speaker == turns[i - 1].speaker for i in range(len(turns))])
    path = viterbi(scores, weights, same, options.match_threshold, options.switch_penalty)
    unknown: dict[str, str] = {}
    out = []
    for t, state in zip(turns, path):
        if state == len(voices):
            # A voice that matches nobody keeps its cluster: one 発言者不明 label per cluster.
            who = unknown.setdefault(t.speaker, str(SpeakerId("unknown", len(unknown) + 1)))
        else:
            who = participant_id(index[id(voices[state].participant)])
        out.append(Turn(t.start, t.end, who))
    return tuple(out), own


def utterance_evidence(utterances: Sequence[Utterance], turns: Sequence[Turn], own: np.ndarray,
                       enrolled: Sequence[Participant], participants: Sequence[Participant],
                       options: IdentifyOptions) -> tuple[Utterance, ...]:
    """Per utterance: cosine to the assigned speaker's enrolled voice and margin to the best other.

    `own` holds each turn's cosine to each enrolled voice (columns in `enrolled` order); it is
    pooled over the turns the utterance overlaps (weighted by overlap), so no audio is embedded
    twice.
    """
    voice_of = {participant_id(i): k for k, e in enumerate(enrolled)
                for i, p in enumerate(participants) if p.name == e.name}
    starts = np.array([t.start for t in turns])
    ends = np.array([t.end for t in turns])
    out = []
    for u in utterances:
        k = voice_of.get(u.speaker)
        if k is None:  # a voice that matched no enrolled participant
            out.append(replace(u, speaker_uncertain=True))
            continue
        overlap = np.clip(np.minimum(ends, u.end) - np.maximum(starts, u.start), 0, None)
        usable = (overlap > 0) & ~np.isnan(own[:, 0]) if len(turns) else np.zeros(0, bool)
        if not usable.any():
            out.append(replace(u, speaker_uncertain=True))
            continue
        sims = (own[usable] * overlap[usable, None]).sum(axis=0) / overlap[usable].sum()
        mine = float(sims[k])
        margin = mine - float(np.delete(sims, k).max()) if len(enrolled) > 1 else 1.0
        out.append(replace(u, similarity=round(mine, 4), margin=round(margin, 4),
                           speaker_uncertain=bool(margin < options.uncertain_margin
                                                  or mine < options.match_threshold)))
    return tuple(out)


def speakers_for(turns: Sequence[Turn], participants: Sequence[Participant],
                 sources: dict[str, str] | None = None) -> tuple[Speaker, ...]:
    """One Speaker per id used in `turns` (labels are set later by pipeline/roles.py).

    `sources` says, by participant name, where the voice that named them came from ("clip",
    "library"); every other speaker's voice came from nowhere ("none")."""
    by_id = {participant_id(i): p for i, p in enumerate(participants)}
    sources = sources or {}
    out = []
    for sid in dict.fromkeys(t.speaker for t in turns):
        p = by_id.get(sid)
        out.append(Speaker(id=sid, label=sid, name=p.name if p else None, role=p.role if p else None,
                           uncertain=p is None and sid != CHORUS,
                           voice_source=sources.get(p.name, "none") if p else "none"))
    return tuple(out)
