"""Who spoke when: pyannote.audio 4's own SpeakerDiarization pipeline, fully offline.

Segmentation is the embedded pyannote/segmentation-3.0 checkpoint; the speaker embedding is the
embedded CAM++ model wrapped as a pyannote `Model` (pipeline/campplus.py). By default pyannote's
speech is then given its speakers by CAM++ on short windows (pipeline/voiceclusters.py), not by
pyannote's own clustering. Audio goes in as an
in-memory waveform, so pyannote never decodes files (its torchcodec decoder is not needed).
The clusters found here are anonymous; naming them is pipeline/identify.py's job.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from .audio import Audio
from .errors import KaigirokuError
from .hooks import Hook, null_hook
from .models import ResolvedModel, resolve
from .privacy import apply_offline_env
from .types import CHORUS as CHORUS_ID
from .types import SpeakerId, Turn
from .voiceclusters import (WindowClustering, centroids_of, cluster_windows, embed_windows, label_speech,
                            speech_windows)

logger = logging.getLogger(__name__)

# Stage-cache version of a diarization (bump when the turns or embeddings it returns change).
# 2: each turn holds its own voice embedding; 3: second voices (overlaps) kept;
# 4: speakers from CAM++ windows (pipeline/voiceclusters.py).
CACHE_VERSION = 4


@dataclass(frozen=True)
class DiarizeOptions:
    enabled: bool  # false: one speaker for the whole recording
    segmentation: str  # model name or local checkpoint
    embedding: str  # model name or local CAM++ state dict
    device: str  # cpu | cuda (torch device for segmentation and embeddings)
    alongside_asr: bool  # run while Whisper transcribes (a thread) instead of after it
    threads: int  # torch threads on the CPU (1 avoids OpenMP contention on small machines)
    segmentation_step: float  # window step as a fraction of the 10 s window
    segmentation_batch_size: int
    embedding_batch_size: int
    # windows: each stretch of speech's speaker from CAM++ on 1.5 s windows, clustered
    # spectrally (pipeline/voiceclusters.py); pyannote: pyannote's own clustering of its
    # per-chunk embeddings (the clustering_* keys below), kept to compare
    speaker_clustering: str
    window_s: float
    window_step_s: float
    spectral_pval: float
    spectral_min_neighbours: int
    min_cluster_windows: int
    merge_cosine: float
    min_windows: int
    window_batch_size: int
    clustering_method: str  # scipy linkage method for agglomerative clustering
    clustering_threshold: float  # cosine distance at which clusters stop merging (CAM++-tuned)
    min_cluster_size: int
    min_duration_off: float  # fill non-speech gaps shorter than this (s) inside a turn
    chorus_coverage: float  # 一同: share of a speech island where several voices overlap (0 = off)


CHORUS = str(CHORUS_ID)  # speaker id of 一同 (everyone at once), see `chorus_islands`


@dataclass(frozen=True, eq=False)
class Diarizer:
    pipeline: object  # pyannote.audio SpeakerDiarization, instantiated
    campplus: object  # the CAM++ network inside it, reused to name voices (loaded once)
    models: tuple[ResolvedModel, ResolvedModel]  # segmentation, embedding
    chorus_coverage: float
    windows: WindowClustering | None = None  # None: pyannote's own clustering names the speakers
    window_batch_size: int = 8


@dataclass(frozen=True, eq=False)
class Diarization:
    turns: tuple[Turn, ...]  # exclusive (no overlap), sorted; speakers are cluster ids "C1".."Cn"
    centroids: dict[str, np.ndarray]  # cluster id -> CAM++ centroid (may hold NaN)
    # (len(turns), 192): each turn's own voice, pooled from pyannote's chunk embeddings of the
    # local speaker heard during the turn (see `turn_embeddings`); NaN rows where none is heard.
    embeddings: np.ndarray
    # A second voice heard while a turn's speaker talks (pyannote's overlapped speech): not in
    # `turns`, which give each moment one speaker for the 会議録, but exported (OUT.json, RTTM).
    overlaps: tuple[Turn, ...] = ()

    def to_dict(self) -> dict:
        return {"turns": [t.to_dict() for t in self.turns],
                "centroids": {c: _json_vector(v) for c, v in self.centroids.items()},
                "embeddings": [_json_vector(v) for v in self.embeddings],
                "overlaps": [t.to_dict() for t in self.overlaps]}

    @classmethod
    def from_dict(cls, d: dict) -> "Diarization":
        turns = tuple(Turn.from_dict(t) for t in d["turns"])
        rows = [_array_vector(v) for v in d["embeddings"]]
        return cls(turns, {c: _array_vector(v) for c, v in d["centroids"].items()},
                   np.array(rows, dtype=np.float32) if rows else np.zeros((0, 0), np.float32),
                   tuple(Turn.from_dict(t) for t in d.get("overlaps", ())))


def _json_vector(v: np.ndarray) -> list:
    return [None if not np.isfinite(x) else round(float(x), 5) for x in v]


def _array_vector(v: list) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=np.float32)


def _import_pyannote():
    apply_offline_env()
    # pyannote warns at import that torchcodec cannot decode files; we never let it decode.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed")
        from pyannote.audio import Model
        from pyannote.audio.core.plda import PLDA
        from pyannote.audio.pipelines import SpeakerDiarization
    return Model, PLDA, SpeakerDiarization


def resolve_models(options: DiarizeOptions) -> tuple[ResolvedModel, ResolvedModel]:
    """Segmentation and embedding weights, checksum-verified (done once per run: it hashes)."""
    return resolve(options.segmentation, "segmentation"), resolve(options.embedding, "embedding")


def borrow_diarizer(options: DiarizeOptions, models: tuple[ResolvedModel, ResolvedModel]):
    """Context manager: the diarizer for these weights and options, kept loaded by a worker
    for its next draft (models.LOADED)."""
    from .models import LOADED

    return LOADED.borrow(("diarize", models, repr(options)), lambda: load_diarizer(options, models))


def load_diarizer(options: DiarizeOptions,
                  models: tuple[ResolvedModel, ResolvedModel] | None = None) -> Diarizer:
    """Build the pyannote pipeline from local weights only."""
    import torch

    torch.set_num_threads(options.threads)
    Model, PLDA, SpeakerDiarization = _import_pyannote()
    from .campplus import CampplusEmbedding

    seg, emb = models or resolve_models(options)
    try:
        segmentation = Model.from_pretrained(seg.path)
        embedding = CampplusEmbedding(emb.path)
    except Exception as e:  # torch/lightning raise many types for a bad checkpoint
        raise KaigirokuError("話者区別のモデルを読み込めません。`kaigiroku models` で状態を確認してください。",
                             f"{type(e).__name__}: {e}") from e
    # SpeakerDiarization.__init__ resolves a PLDA from the hub (community-1) whatever the
    # clustering; PLDA only serves VBx clustering, which is tuned for WeSpeaker, not CAM++.
    # An uninitialised PLDA satisfies the constructor and is never used by agglomerative
    # clustering.
    unused_plda = PLDA.__new__(PLDA)
    pipeline = SpeakerDiarization(
        segmentation=segmentation,
        embedding=embedding,
        plda=unused_plda,
        clustering="AgglomerativeClustering",
        segmentation_step=options.segmentation_step,
        segmentation_batch_size=options.segmentation_batch_size,
        embedding_batch_size=options.embedding_batch_size,
    )
    pipeline.instantiate({
        "segmentation": {"min_duration_off": options.min_duration_off},
        "clustering": {"method": options.clustering_method,
                       "threshold": options.clustering_threshold,
                       "min_cluster_size": options.min_cluster_size},
    })
    if options.device != "cpu":
        if options.device == "cuda" and not torch.cuda.is_available():
            raise KaigirokuError("GPU（CUDA）が見つかりません。--device cpu で実行するか、"
                                 "NVIDIA のドライバと CUDA 版の PyTorch を確認してください。")
        pipeline.to(torch.device(options.device))
    return Diarizer(pipeline, embedding.campplus, (seg, emb), options.chorus_coverage,
                    window_clustering(options), options.window_batch_size)


# Spectral solutions above this many windows (≈ 1 hour of meeting) come from a sparse
# eigensolver instead of a dense one: the same clusters (tests/test_voiceclusters.py), without
# an n × n matrix.
DENSE_LIMIT = 3000


def window_clustering(options: DiarizeOptions) -> WindowClustering | None:
    if options.speaker_clustering == "pyannote":
        return None
    if options.speaker_clustering != "windows":
        raise KaigirokuError(f"diarize.speaker_clustering は windows か pyannote です（{options.speaker_clustering!r}）。"
                             "設定ファイルを直してください。")
    return WindowClustering(options.window_s, options.window_step_s, options.spectral_pval,
                            options.spectral_min_neighbours, options.min_cluster_windows,
                            options.merge_cosine, options.min_windows, DENSE_LIMIT)


def diarize(audio: Audio, diarizer: Diarizer, *, speakers: tuple[int | None, int | None] = (None, None),
            hook: Hook = null_hook) -> Diarization:
    import torch

    # pyannote hands every step's result to the hook: keep the chunk-level segmentation and
    # embeddings, from which each turn's own voice is pooled without running CAM++ again.
    kept: dict[str, object] = {}

    def progress(step, artifact=None, file=None, total=None, completed=None):
        if total:
            hook(f"diarize:{step}", total=float(total), completed=float(completed or 0))
        elif step in ("segmentation", "embeddings") and artifact is not None:
            kept[step] = artifact

    waveform = {"waveform": torch.from_numpy(audio.samples).unsqueeze(0), "sample_rate": audio.sample_rate}
    with torch.inference_mode():
        output = diarizer.pipeline(waveform, min_speakers=speakers[0], max_speakers=speakers[1], hook=progress)
    annotation = output.exclusive_speaker_diarization
    # speaker_embeddings rows follow speaker_diarization.labels(); the exclusive annotation
    # uses the same labels.
    labels = output.speaker_diarization.labels()
    names = {label: str(SpeakerId("cluster", i + 1)) for i, label in enumerate(labels)}
    embeddings = output.speaker_embeddings
    centroids = {names[label]: np.asarray(embeddings[i], dtype=np.float32)
                 for i, label in enumerate(labels)
                 if embeddings is not None and i < len(embeddings)}
    turns = tuple(sorted((Turn(float(seg.start), float(seg.end), names[label])
                          for seg, _, label in annotation.itertracks(yield_label=True)),
                         key=lambda t: (t.start, t.end)))
    if diarizer.windows is not None:
        by_windows = window_speakers(audio, diarizer, annotation, speakers, hook)
        if by_windows is not None:
            turns, centroids = by_windows
            names = follow_names(annotation, turns)
    islands = chorus_islands(output.speaker_diarization, diarizer.chorus_coverage) if diarizer.chorus_coverage > 0 else []
    turns = mark_chorus(turns, islands)
    overlaps = tuple(t for t in second_voices(output.speaker_diarization, annotation, names)
                     if not any(a <= (t.start + t.end) / 2 <= b for a, b in islands))
    if "segmentation" in kept and "embeddings" in kept:
        seg = kept["segmentation"]
        own = turn_embeddings(turns, seg.data, seg.sliding_window.start, seg.sliding_window.step,
                              seg.sliding_window.duration, np.asarray(kept["embeddings"]))
    else:  # no speech at all: pyannote stops before embedding
        from .campplus import EMBEDDING_DIM

        own = np.full((len(turns), EMBEDDING_DIM), np.nan, np.float32)
    logger.info("diarization: %d turns, %d clusters, %d overlapped", len(turns), len(names), len(overlaps))
    return Diarization(turns=turns, centroids=centroids, embeddings=own, overlaps=overlaps)


# Pauses shorter than this inside speech do not cut the windows (a window may span a breath).
WINDOW_BRIDGE_S = 0.3


def window_speakers(audio: Audio, diarizer: Diarizer, exclusive, speakers: tuple[int | None, int | None],
                    hook: Hook = null_hook) -> tuple[tuple[Turn, ...], dict[str, np.ndarray]] | None:
    """The speakers of pyannote's speech from CAM++ windows (pipeline/voiceclusters.py):
    exclusive turns "C1".."Cn" and each cluster's unit centroid; None when no stretch of speech
    is long enough to embed."""
    options = diarizer.windows
    end = audio.duration  # pyannote's last frame may reach a few ms beyond the audio

    def spans(timeline) -> list[tuple[float, float]]:
        return [(float(s.start), min(float(s.end), end)) for s in timeline if s.start < end]

    speech = spans(exclusive.get_timeline().support())
    bridged = spans(exclusive.get_timeline().support(WINDOW_BRIDGE_S))
    windows = speech_windows(bridged, options.window_s, options.step_s)
    if not windows:
        return None
    hook("diarize:windows", total=float(len(windows)), completed=0.0)
    x = embed_windows(diarizer.campplus, audio.samples, windows, diarizer.window_batch_size,
                      lambda done, total: hook("diarize:windows", total=float(total), completed=float(done)))
    labels = cluster_windows(x, options, *speakers)
    ids = {k: str(SpeakerId("cluster", k + 1)) for k in np.unique(labels).tolist()}
    edges = np.array([edge for seg in exclusive.itersegments() for edge in (seg.start, seg.end)], dtype=float)
    turns = tuple(Turn(a, b, ids[k]) for a, b, k in
                  label_speech(speech, windows, labels, edges, options.step_s))
    keys, centres = centroids_of(x, labels)
    return turns, {ids[k]: c.astype(np.float32) for k, c in zip(keys.tolist(), centres)}


def follow_names(exclusive, turns: tuple[Turn, ...]) -> dict[str, str]:
    """pyannote's labels → the window speaker each shares the most speech with, so that the
    second voices pyannote hears carry the new names."""
    from pyannote.core import Annotation, Segment

    ours = Annotation()
    for t in turns:
        ours[Segment(t.start, t.end)] = t.speaker
    out = {}
    for label in exclusive.labels():
        cropped = ours.crop(exclusive.label_timeline(label), mode="intersection")
        shares = cropped.chart()
        if shares:
            out[label] = shares[0][0]
    return out


MIN_OVERLAP_S = 0.2  # shorter overlaps are mostly the segmentation's edges, not a second voice


def second_voices(full, exclusive, names: dict[str, str]) -> tuple[Turn, ...]:
    """Where pyannote hears a speaker who is not the one the exclusive diarization keeps."""
    out = []
    for label in full.labels():
        if label not in names:  # a label whose speech the exclusive turns never kept
            continue
        extra = full.label_timeline(label).extrude(exclusive.label_timeline(label))
        out += [Turn(float(seg.start), float(seg.end), names[label]) for seg in extra.support()
                if seg.duration >= MIN_OVERLAP_S]
    return tuple(sorted(out, key=lambda t: (t.start, t.end)))


def name_like_turns(overlaps: tuple[Turn, ...], clustered: tuple[Turn, ...],
                    named: tuple[Turn, ...]) -> tuple[Turn, ...]:
    """Give second voices the names their clusters' turns got (by the most speech).

    `named` is `clustered` after naming: the same turns in the same order, other speakers.
    """
    time: dict[str, dict[str, float]] = {}
    for before, after in zip(clustered, named):
        votes = time.setdefault(before.speaker, {})
        votes[after.speaker] = votes.get(after.speaker, 0.0) + before.end - before.start
    out = []
    for t in overlaps:
        if t.speaker in time:
            votes = time[t.speaker]
            out.append(Turn(t.start, t.end, max(votes, key=votes.get)))
    return tuple(out)


def turn_embeddings(turns: tuple[Turn, ...], segmentation: np.ndarray, chunk_start: float,
                    chunk_step: float, chunk_duration: float, embeddings: np.ndarray) -> np.ndarray:
    """Each turn's own voice from pyannote's chunk embeddings: no audio is embedded twice.

    pyannote embeds, in every 10 s chunk, each local speaker's speech (CAM++ on that speaker's
    frames only). A turn's voice is the local speaker(s) active during the turn, weighted by
    how many of the turn's single-speaker frames each holds, summed over the chunks that
    overlap it. Unlike the cluster centroid, this follows the voice actually heard, so a
    cluster that merged two similar voices can still be split by pipeline/identify.py.

    segmentation: (chunks, frames, local speakers) binary activity; embeddings: (chunks, local
    speakers, dim), NaN where a local speaker had too little speech. Returns (turns, dim)
    L2-normalised rows, NaN where no embedded speaker is heard during the turn.
    """
    chunks, frames, _ = segmentation.shape
    dim = embeddings.shape[-1]
    out = np.full((len(turns), dim), np.nan, np.float32)
    if chunks == 0 or not turns:
        return out
    active = np.nan_to_num(segmentation) > 0.5
    clean = active & (active.sum(axis=2, keepdims=True) == 1)  # overlapped frames say little
    unit = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    usable = np.isfinite(unit).all(axis=-1)  # (chunks, speakers)
    frame_dt = chunk_duration / frames
    for i, t in enumerate(turns):
        first = max(0, int(np.floor((t.start - chunk_start - chunk_duration) / chunk_step)))
        last = min(chunks - 1, int(np.ceil((t.end - chunk_start) / chunk_step)))
        total = np.zeros(dim)
        for c in range(first, last + 1):
            begin = chunk_start + c * chunk_step
            f0 = max(0, int(np.ceil((t.start - begin) / frame_dt - 0.5)))
            f1 = min(frames, int(np.floor((t.end - begin) / frame_dt - 0.5)) + 1)
            if f1 <= f0:
                continue
            weight = clean[c, f0:f1].sum(axis=0) * usable[c]  # frames per local speaker
            if weight.any():
                total += weight[usable[c]] @ unit[c, usable[c]]
        norm = np.linalg.norm(total)
        if norm > 0:
            out[i] = total / norm
    return out


def chorus_islands(annotation, coverage: float, min_duration: float = 0.5) -> list[tuple[float, float]]:
    """Stretches of speech where several voices speak at once for most of it: 一同.

    「よろしくお願いします」 said by the whole committee is a short island of speech, bounded by
    pauses, during which pyannote hears two or more speakers. Cross-talk at the edge of a turn
    overlaps only a small part of its island, so it is left alone.
    """
    islands = annotation.get_timeline().support(0.3)  # speech, pauses under 0.3 s bridged
    out = []
    for region in annotation.get_overlap().support(0.3):
        if region.duration < min_duration:
            continue
        island = max(islands, key=lambda s: (s & region).duration if s.intersects(region) else 0.0)
        if region.duration >= coverage * island.duration:
            out.append((float(island.start), float(island.end)))
    return out


def mark_chorus(turns: tuple[Turn, ...], islands: list[tuple[float, float]]) -> tuple[Turn, ...]:
    if not islands:
        return turns
    out = []
    for t in turns:
        mid = (t.start + t.end) / 2
        inside = any(a <= mid <= b for a, b in islands)
        out.append(Turn(t.start, t.end, CHORUS) if inside else t)
    return tuple(out)
