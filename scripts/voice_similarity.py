#!/usr/bin/env python3
"""How alike CAM++ finds real voices: the evidence behind identify.match_threshold (issue #13).

The naming compares a turn's voice with each enrolled clip (cosine). The threshold below which a
turn is 発言者不明 must sit between two distributions measured on real people:
- the same person in two different recordings (AMI: the same speakers in two excerpts of one
  meeting; a clip is never compared with itself);
- two different people (every pair of the 8 Common Voice speakers, and of the AMI speakers).
Each voice is the speaker's reference speech outside overlaps, as an enrollment clip would be;
voices with less than 3 s are left out (kaigiroku refuses such clips).

    .venv/bin/python scripts/voice_similarity.py
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline.privacy import apply_offline_env  # noqa: E402

apply_offline_env()

import real_voices  # noqa: E402


def main() -> int:
    import soundfile as sf

    from pipeline.audio import load_audio
    from pipeline.campplus import embed_waveform
    from pipeline.config import load_options
    from pipeline.diarize import load_diarizer

    options = load_options()
    model = load_diarizer(options.diarize).campplus
    voices: list[tuple[str, str, np.ndarray]] = []  # (person, recording, unit embedding)
    for name in sorted((real_voices.REAL / "ja").glob("*.wav")):
        samples = load_audio(name, options.audio).samples
        voices.append((f"cv:{name.stem}", name.stem, embed_waveform(model, samples)))
    work = REPO / "out" / "voice_similarity"
    work.mkdir(parents=True, exist_ok=True)
    for f in real_voices.speaker_files():
        ref = real_voices.reference(f["rttm"], f["uri"])
        for speaker in ref.labels():
            clip = work / f"{f['name']}-{speaker}.wav"
            if real_voices._clip(f["audio"], ref, speaker, clip) < 3.0:
                continue
            samples, _ = sf.read(clip, dtype="float32")
            voices.append((speaker, f["name"], embed_waveform(model, samples)))
    same, other = [], []
    for (p, r, a), (q, s, b) in itertools.combinations(voices, 2):
        if r == s and p == q:
            continue
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        (same if p == q else other).append((cos, f"{p}@{r} ~ {q}@{s}"))
    print(f"{len(voices)} voices: {len(same)} same-person pairs across recordings, {len(other)} different-person pairs")
    for label, rows in (("same person", same), ("different people", other)):
        values = np.array([c for c, _ in rows])
        print(f"{label:17} min {values.min():.3f}  p10 {np.percentile(values, 10):.3f}  median {np.median(values):.3f}"
              f"  p90 {np.percentile(values, 90):.3f}  max {values.max():.3f}")
    for cos, pair in sorted(same):
        print(f"  same  {cos:.3f}  {pair}")
    for cos, pair in sorted(other)[-5:]:
        print(f"  other {cos:.3f}  {pair}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
