#!/usr/bin/env python3
"""Choose the diarization constants on synthetic and real voices together (issue #13).

Segmentation and CAM++ embeddings are computed once per recording (pyannote's own training
cache), then the clustering is redone for every setting of the grid, so a grid costs little
more than one diarization per file. Prints, for each setting, the speakers found and DER
(collar 0.25; overlap scored, and overlap excluded as for the AMI targets) on every file.

    .venv/bin/python scripts/tune_diarization.py [--thresholds 0.5 0.6 …] [--json out.json]

With --windows it measures the product's own diarization instead (speakers from CAM++ windows,
pipeline/voiceclusters.py), over a grid of --merge-cosines and --pvals: the speech and the
windows' embeddings are computed once per file, the clustering is redone for each setting.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.privacy import apply_offline_env  # noqa: E402
from real_voices import reference  # noqa: E402  (one RTTM reader for the bench scripts and tests)

apply_offline_env()
BENCH = REPO.parent / "shared" / "bench"
REAL = BENCH / "real_voices"


def uem(path: Path, uri: str):
    from pyannote.core import Segment, Timeline

    for line in path.read_text().splitlines():
        p = line.split()
        if p[0] == uri:
            return Timeline([Segment(float(p[2]), float(p[3]))])
    return None


def files() -> list[dict]:
    """(name, audio, reference, uem, min, max): the real set, then the synthetic one."""
    out = [{"name": "sample2", "audio": REAL / "sample2" / "sample.wav",
            "ref": reference(REAL / "sample2" / "sample.rttm"), "uem": None, "real": True}]
    for name, split in (("tst00", "test"), ("tst01", "test"), ("dev00", "development"), ("dev01", "development")):
        out.append({"name": name, "audio": REAL / "ami_debug" / f"{name}.wav",
                    "ref": reference(REAL / "ami_debug" / f"debug.{split}.rttm", name),
                    "uem": uem(REAL / "ami_debug" / f"debug.{split}.uem", name), "real": True})
    out.append({"name": "sample", "audio": REPO / "tests" / "data" / "sample" / "meeting.flac",
                "ref": reference(REPO / "tests" / "data" / "sample" / "truth.rttm"), "uem": None, "real": False})
    if (BENCH / "seed_dev").is_dir():
        out.append({"name": "seed_dev", "audio": BENCH / "seed_dev" / "meeting.flac",
                    "ref": reference(BENCH / "seed_dev" / "truth.rttm"), "uem": None, "real": False})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.45, 0.6, 0.7, 0.8, 0.9, 1.0])
    ap.add_argument("--methods", nargs="+", default=["centroid", "average"])
    ap.add_argument("--min-cluster-sizes", type=int, nargs="+", default=[3, 6, 12])
    ap.add_argument("--only", nargs="*", help="file names to run")
    ap.add_argument("--step", type=float, help="diarize.segmentation_step (fraction of the 10 s window)")
    ap.add_argument("--exclude-overlap", action="store_true",
                    help="embed each local speaker on its non-overlapped frames only (pyannote's option)")
    ap.add_argument("--windows", action="store_true", help="the window clustering (the product's default)")
    ap.add_argument("--merge-cosines", type=float, nargs="+", default=[0.875])
    ap.add_argument("--pvals", type=float, nargs="+", default=[0.012])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.windows:
        return windows_grid(args)

    import torch
    from pyannote.metrics.diarization import DiarizationErrorRate

    from pipeline.audio import load_audio
    from pipeline.config import load_options
    from pipeline.diarize import load_diarizer

    warnings.filterwarnings("ignore")
    options = load_options(None, {"diarize": {"segmentation_step": args.step}})
    diarizer = load_diarizer(options.diarize)
    pipeline = diarizer.pipeline
    pipeline.embedding_exclude_overlap = args.exclude_overlap
    pipeline.training = True  # keep segmentation and embeddings in the file dict between runs
    rows = []
    for f in files():
        if args.only and f["name"] not in args.only:
            continue
        audio = load_audio(f["audio"], options.audio)
        file = {"waveform": torch.from_numpy(audio.samples).unsqueeze(0), "sample_rate": audio.sample_rate,
                "uri": f["name"]}
        true_n = len(f["ref"].labels())
        for method, threshold, mcs in itertools.product(args.methods, args.thresholds, args.min_cluster_sizes):
            pipeline.instantiate({"segmentation": {"min_duration_off": options.diarize.min_duration_off},
                                  "clustering": {"method": method, "threshold": threshold, "min_cluster_size": mcs}})
            with torch.inference_mode():
                out = pipeline(file)
            hyp, excl = out.speaker_diarization, out.exclusive_speaker_diarization
            kw = {"uem": f["uem"]} if f["uem"] is not None else {}
            row = {"file": f["name"], "real": f["real"], "method": method, "threshold": threshold,
                   "min_cluster_size": mcs, "true": true_n, "found": len(hyp.labels()),
                   "der0": DiarizationErrorRate(collar=0.0)(f["ref"], hyp, **kw),
                   "der25": DiarizationErrorRate(collar=0.25)(f["ref"], hyp, **kw),
                   "der25_exclusive": DiarizationErrorRate(collar=0.25)(f["ref"], excl, **kw),
                   "der25_no_overlap": DiarizationErrorRate(collar=0.25, skip_overlap=True)(f["ref"], excl, **kw)}
            rows.append(row)
            print(f"{f['name']:8} {method:8} th={threshold:.2f} mcs={mcs:2d} found {row['found']}/{true_n} "
                  f"DER0 {row['der0']:.3f} DER.25 {row['der25']:.3f} excl {row['der25_exclusive']:.3f} "
                  f"no-ovl {row['der25_no_overlap']:.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def windows_grid(args) -> int:
    """The product's diarization (pipeline/diarize.py with speaker_clustering: windows) on every
    file, the clustering redone for each grid setting on the same window embeddings."""
    from dataclasses import replace

    import numpy as np
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from pipeline import diarize as stage
    from pipeline.audio import load_audio
    from pipeline.config import load_options

    warnings.filterwarnings("ignore")
    options = load_options(None, {"diarize": {"segmentation_step": args.step, "speaker_clustering": "windows"}})
    diarizer = stage.load_diarizer(options.diarize)
    embedded = {}
    original = stage.embed_windows

    def remembering(campplus, samples, windows, *a, **kw):  # one CAM++ pass per file
        key = (id(samples), len(windows))
        if key not in embedded:
            embedded[key] = original(campplus, samples, windows, *a, **kw)
        return embedded[key]

    stage.embed_windows = remembering
    rows = []
    for f in files():
        if args.only and f["name"] not in args.only:
            continue
        audio = load_audio(f["audio"], options.audio)
        kw = {"uem": f["uem"]} if f["uem"] is not None else {}
        for merge, pval in itertools.product(args.merge_cosines, args.pvals):
            d = replace(diarizer, windows=replace(diarizer.windows, merge_cosine=merge, pval=pval))
            result = stage.diarize(audio, d)
            hyp, excl = Annotation(), Annotation()
            for t in result.turns:
                excl[Segment(t.start, t.end)] = t.speaker
                hyp[Segment(t.start, t.end)] = t.speaker
            for t in result.overlaps:
                hyp[Segment(t.start, t.end)] = t.speaker
            row = {"file": f["name"], "real": f["real"], "merge_cosine": merge, "pval": pval,
                   "true": len(f["ref"].labels()), "found": len({t.speaker for t in result.turns}),
                   "der0": DiarizationErrorRate(collar=0.0)(f["ref"], hyp, **kw),
                   "der25": DiarizationErrorRate(collar=0.25)(f["ref"], hyp, **kw),
                   "der25_no_overlap": DiarizationErrorRate(collar=0.25, skip_overlap=True)(f["ref"], excl, **kw)}
            rows.append(row)
            print(f"{f['name']:8} windows merge={merge:.3f} pval={pval:.3f} found {row['found']}/{row['true']} "
                  f"DER0 {row['der0']:.3f} DER.25 {row['der25']:.3f} no-ovl {row['der25_no_overlap']:.3f}", flush=True)
    for merge, pval in itertools.product(args.merge_cosines, args.pvals):
        ami = [r for r in rows if r["file"].startswith(("tst", "dev")) and r["merge_cosine"] == merge and r["pval"] == pval]
        if ami:
            print(f"AMI merge={merge:.3f} pval={pval:.3f}: mean DER.25 no-ovl "
                  f"{100 * np.mean([r['der25_no_overlap'] for r in ami]):.1f} %, count within one "
                  f"{sum(abs(r['found'] - r['true']) <= 1 for r in ami)}/{len(ami)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
