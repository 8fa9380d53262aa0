#!/usr/bin/env python3
"""Benchmark `kaigiroku draft` on meetings with ground truth and print one table.

A meeting folder holds meeting.flac + truth.json (+ meeting.yaml, truth.rttm; for a copy such
as seed_dev_noisy, the clean meeting's files are used when missing). By default the folders
under ../shared/bench are run. For each: audio length, wall time and real-time factor per
stage and end to end, peak RSS, CER and raCER (../shared/bench/score_docx.py), DER (collar
0.25, pyannote.metrics, against truth.rttm), agenda headings found, and flag quality: the share
of character errors inside highlighted spans and the share of text highlighted.

Then the real-voice half (scripts/real_voices.py, ../shared/bench/real_voices): CER and reading
CER of real Japanese speakers, DER and speakers found on real multi-speaker recordings, with no
meeting file, with a roster and with enrolled voices. Constants are chosen on both halves.

    .venv/bin/python scripts/bench.py [FOLDER …] [--out bench.json] [--sweep-flags] [--no-real | --real-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.privacy import apply_offline_env  # noqa: E402

apply_offline_env()
sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_voices  # noqa: E402  (the real-voice half, beside this script)

BENCH = REPO.parent / "shared" / "bench"
SCORER = Path(os.environ.get("KAIGIROKU_SCORER", BENCH / "score_docx.py"))  # CER / raCER of a docx


def find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder.parent / folder.name.replace("_noisy", "") / name):
        if candidate.is_file():
            return candidate
    return None


def run_draft(folder: Path, out: Path, extra: list[str]) -> tuple[float, int]:
    # --no-cache: every stage really runs, so the times are the times of a first draft
    cmd = [sys.executable, "-m", "pipeline", "draft", str(folder / "meeting.flac"), "-o", str(out),
           "--force", "--no-cache", "--format", "docx", "--format", "json", *extra]
    meeting = find(folder, "meeting.yaml")
    if meeting:
        cmd += ["--meeting", str(meeting)]
    t = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    # wait4 gives this child's own peak RSS (KiB on Linux), not the largest of all children
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"draft failed on {folder}: {' '.join(cmd)}")
    return wall, usage.ru_maxrss * 1024


def score_docx(truth: Path, docx: Path) -> dict:
    out = subprocess.run([sys.executable, str(SCORER),  "--ref", str(truth), "--hyp",
                          str(docx), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def der(minutes, rttm: Path | None) -> float | None:
    if rttm is None or not minutes.turns:
        return None
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for line in rttm.read_text(encoding="utf-8").splitlines():
        p = line.split()
        ref[Segment(float(p[3]), float(p[3]) + float(p[4]))] = p[7]
    for t in minutes.turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    return float(DiarizationErrorRate(collar=0.25)(ref, hyp))


def _norm_chars(text: str, flags: list[bool]) -> tuple[str, list[bool]]:
    """score_docx.py's normalisation, character by character, carrying each one's flag."""
    sys.path.insert(0, str(SCORER.parent))
    from score_docx import PUNCT

    out, out_flags = [], []
    for c, f in zip(text, flags):
        for n in unicodedata.normalize("NFKC", c):
            if not PUNCT.fullmatch(n):
                out.append(n)
                out_flags.append(f)
    return "".join(out), out_flags


def flag_quality(minutes, truth: Path) -> dict:
    """Share of the draft's character errors inside low-confidence spans; share flagged."""
    from rapidfuzz.distance import Levenshtein

    sys.path.insert(0, str(SCORER.parent))
    from score_docx import norm

    ref = "".join(norm(t.get("spoken") or t["text"]) for t in json.loads(truth.read_text(encoding="utf-8"))["turns"])
    hyp_chars, hyp_flags = [], []
    for u in minutes.utterances:
        flags = [False] * len(u.text)
        for m in u.marks:
            if m.kind == "low_confidence":
                flags[m.start:m.end] = [True] * (m.end - m.start)
        text, f = _norm_chars(u.text, flags)
        hyp_chars.append(text)
        hyp_flags += f
    hyp = "".join(hyp_chars)
    ops = Levenshtein.editops(ref, hyp)
    caught = 0
    for op in ops:
        j = op.dest_pos
        near = hyp_flags[j:j + 1] if op.tag != "delete" else hyp_flags[max(0, j - 1):j + 1]
        caught += any(near)
    return {"errors": len(ops), "caught": caught / max(1, len(ops)),
            "flagged": sum(hyp_flags) / max(1, len(hyp))}


def headings_found(minutes, truth: Path) -> str:
    sections = json.loads(truth.read_text(encoding="utf-8")).get("sections", [])
    hit = sum(any(abs(h.time - s["time"]) <= 15 for h in minutes.headings) for s in sections)
    return f"{hit}/{len(sections)}"


def bench_one(folder: Path, work: Path, noclean: Path, sweep: bool, extra: list[str]) -> dict:
    from pipeline.clean import clean_utterances
    from pipeline.config import load_options
    from pipeline.types import Minutes

    out = work / f"{folder.name}.docx"
    wall, rss = run_draft(folder, out, extra)
    minutes = Minutes.from_dict(json.loads(out.with_suffix(".json").read_text(encoding="utf-8")))
    truth = folder / "truth.json"
    scores = score_docx(truth, out)
    stages = {t.stage: t.seconds for t in minutes.timings}
    row = {
        "meeting": folder.name, "audio_s": round(minutes.audio.duration, 1), "wall_s": round(wall, 1),
        "rtf": round(wall / minutes.audio.duration, 3),
        "stages_s": {k: round(v, 1) for k, v in stages.items()},
        "stages_rtf": {k: round(v / minutes.audio.duration, 3) for k, v in stages.items()},
        "peak_rss_gb": round(rss / 2**30, 2), "cer": round(scores["cer"], 4), "racer": round(scores["racer"], 4),
        "missing_roles": scores["missing_roles"], "extra_labels": scores["extra_labels"],
        "der": None if (d := der(minutes, find(folder, "truth.rttm"))) is None else round(d, 4),
        "headings": headings_found(minutes, truth),
        "flags": {k: round(v, 3) for k, v in flag_quality(minutes, truth).items()},
    }
    # raCER without cleaning: the same result re-exported from the raw words, nothing recomputed
    raw = work / f"{folder.name}-raw.docx"
    subprocess.run([sys.executable, "-m", "pipeline", "export", str(out.with_suffix(".json")), "-o", str(raw),
                    "--reclean", "--force", "--config", str(noclean)], check=True,
                   stdout=subprocess.DEVNULL)
    row["racer_uncleaned"] = round(score_docx(truth, raw)["racer"], 4)
    if sweep:
        options = load_options()
        row["flag_sweep"] = {}
        for th in (0.5, 0.6, 0.7, 0.75, 0.8):
            utts = clean_utterances(minutes.utterances, replace(options.clean, low_confidence=th),
                                    json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["meeting"]["vocabulary"])
            q = flag_quality(replace(minutes, utterances=utts), truth)
            row["flag_sweep"][th] = {k: round(v, 3) for k, v in q.items()}
    return row


def table(rows: list[dict]) -> str:
    head = ("| meeting | audio | wall | RTF | transcribe | diarize | identify | peak RSS | CER | raCER "
            "(uncleaned) | DER | headings | errors flagged / text flagged |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r["stages_rtf"]
        der = "-" if r["der"] is None else f"{100 * r['der']:.1f} %"
        lines.append(
            f"| {r['meeting']} | {r['audio_s'] / 60:.1f} min | {r['wall_s']:.0f} s | {r['rtf']:.3f} | "
            f"{s.get('transcribe', 0):.3f} | {s.get('diarize', 0):.3f} | {s.get('identify', 0):.3f} | "
            f"{r['peak_rss_gb']:.2f} GiB | {r['cer']:.3f} | {r['racer']:.3f} ({r['racer_uncleaned']:.3f}) | "
            f"{der} | {r['headings']} | "
            f"{100 * r['flags']['caught']:.0f} % / {100 * r['flags']['flagged']:.0f} % |")
    return "\n".join(lines)


def _devices(args) -> str:
    from pipeline.config import load_options

    o = load_options(args.config, {"transcribe": {"device": args.device}, "diarize": {"device": args.device}})
    return f"asr {o.transcribe.device} ({o.transcribe.compute_type}), diarization {o.diarize.device}"


def _gpu() -> str:
    try:
        import torch

        return f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    except Exception:  # the report is still useful without the GPU's name
        return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "bench.json",
                    help="the table as JSON; the drafts are written beside it")
    ap.add_argument("--sweep-flags", action="store_true", help="flag quality at several thresholds")
    ap.add_argument("--config", type=Path, help="passed to `kaigiroku draft --config`")
    ap.add_argument("--device", choices=("cpu", "cuda"), help="passed to `kaigiroku draft --device`")
    real = ap.add_mutually_exclusive_group()
    real.add_argument("--no-real", action="store_true", help="only the synthetic meetings")
    real.add_argument("--real-only", action="store_true", help="only the real-voice recordings")
    args = ap.parse_args()
    folders = args.folders or sorted(p for p in BENCH.iterdir() if (p / "meeting.flac").is_file())
    work = args.out.parent
    # each draft is written as <folder name>.docx/.json beside the table: the table must not take
    # a draft's name (a 3-hour draft's result was once replaced by the table this way)
    taken = {work.resolve() / f"{f.resolve().name}{ext}" for f in folders for ext in (".json", ".docx")}
    if args.out.resolve() in taken:
        ap.error(f"--out {args.out} is where a draft's result goes; name the table differently "
                 f"(e.g. {args.out.with_name(args.out.stem + '-bench.json')})")
    rows = []
    work.mkdir(parents=True, exist_ok=True)
    extra = (["--config", str(args.config)] if args.config else []) + \
        (["--device", args.device] if args.device else [])
    with tempfile.TemporaryDirectory(prefix="kaigiroku-bench-") as tmp:
        noclean = Path(tmp) / "noclean.yaml"
        noclean.write_text("clean:\n  enabled: false\n", encoding="utf-8")
        for folder in ([] if args.real_only else folders):
            print(f"== {folder}", file=sys.stderr, flush=True)
            rows.append(bench_one(folder.resolve(), work, noclean, args.sweep_flags, extra))
    if rows:
        print(table(rows))
    real = None
    if not args.no_real and real_voices.REAL.is_dir():
        print(f"== {real_voices.REAL}", file=sys.stderr, flush=True)
        real = real_voices.run(work / "real_voices", extra)
        print()
        print(real_voices.table(real))
    report = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores" + _gpu(),
              "device": _devices(args), "config": str(args.config) if args.config else None,
              "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows, "real_voices": real}
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
