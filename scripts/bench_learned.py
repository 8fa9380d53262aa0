#!/usr/bin/env python3
"""Voices learned from one meeting name the same people in the next, with no clips (issue #16).

Synthetic: ../shared/bench/seed_dev is cut at a pause into part A and part B (their truth.json
hold the turns of each part, times from the cut). A is drafted with the meeting file's clips;
its result is learned (`pipeline.voices.learn`); B is drafted three ways: with the clips, with
no clips and the library, with no clips and no library (names unknown). raCER and the roles
printed are scored with ../shared/bench/score_docx.py. The cut is chosen so that everyone who
speaks in B has spoken in A (`--cut`; seed_dev's members B and C first speak after its middle).

Real voices: AMI excerpts with the same people (../shared/bench/real_voices/ami_debug): one is
drafted with clips cut from its reference turns (scripts/real_voices.py `_clip`), learned, and
the other is named with no clips; identification error rate (pyannote.metrics, collar 0.25)
against its RTTM. The excerpts are 30 s: nobody speaks 20 s there, so the minimum is lowered
for them (said in the table).

    .venv/bin/python scripts/bench_learned.py WORK [--cut 890.1] [--pool max|top3 …] [--no-real]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline.privacy import apply_offline_env  # noqa: E402

apply_offline_env()
import real_voices  # noqa: E402

BENCH = REPO.parent / "shared" / "bench"
if not BENCH.is_dir():  # a worktree beside the main checkout
    BENCH = Path("/work/shared/bench")
SEED = BENCH / "seed_dev"
REAL = BENCH / "real_voices"
SR = 16000
# seed_dev's members are lettered by first speech in the whole meeting; a part keeps the letters
# (its own first speech would letter B委員 as A委員 in part B)
LETTERS = {"中村 将人": "A委員", "浅野 邦子": "B委員", "深堀 信之": "C委員"}
# who speaks each role of seed_dev, as its meeting file enrolls them (説明者 and 事務局 are one
# voice each, so their clip's owner stands for the role)
ROLE_NAMES = {"委員長": "田中 哲", "副委員長": "松井 克明", "A委員": "中村 将人", "B委員": "浅野 邦子",
              "C委員": "深堀 信之", "事務局": "兼田 敦史", "説明者": "川原 和貴"}


# --- making the parts ------------------------------------------------------------------------

def cut_parts(work: Path, cut: float) -> dict[str, Path]:
    """seed_dev → work/A and work/B: meeting.flac, truth.json, meeting-clips.yaml, meeting-bare.yaml."""
    import soundfile as sf
    import yaml

    samples, rate = sf.read(SEED / "meeting.flac", dtype="float32")
    truth = json.loads((SEED / "truth.json").read_text(encoding="utf-8"))
    inside = [t for t in truth["turns"] if t["start"] < cut < t["end"]]
    if inside:
        raise SystemExit(f"--cut {cut} falls inside turn {inside[0]['index']}: choose a pause")
    meeting = yaml.safe_load((SEED / "meeting.yaml").read_text(encoding="utf-8"))
    for p in meeting["participants"]:
        if p.get("voice"):
            p["voice"] = str((SEED / p["voice"]).resolve())
        if p["name"] in LETTERS:
            p["label"] = LETTERS[p["name"]]
    folders = {}
    for name, (a, b) in {"A": (0.0, cut), "B": (cut, len(samples) / rate)}.items():
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / "meeting.flac", samples[int(a * rate):int(b * rate)], rate)
        part = dict(truth)
        part["turns"] = [{**t, "start": round(t["start"] - a, 3), "end": round(t["end"] - a, 3),
                          "sentences": [{**s, "start": round(s["start"] - a, 3), "end": round(s["end"] - a, 3)}
                                        for s in t.get("sentences", [])]}
                         for t in truth["turns"] if a <= t["start"] and t["end"] <= b]
        part["sections"] = [{**s, "time": round(s["time"] - a, 3)} for s in truth["sections"] if a <= s["time"] < b]
        part["audio"] = {**truth["audio"], "duration": round(b - a, 3), "file": "meeting.flac"}
        (folder / "truth.json").write_text(json.dumps(part, ensure_ascii=False, indent=1), encoding="utf-8")
        (folder / "meeting-clips.yaml").write_text(yaml.safe_dump(meeting, allow_unicode=True), encoding="utf-8")
        bare = {**meeting, "participants": [{k: v for k, v in p.items() if k != "voice"}
                                            for p in meeting["participants"]]}
        (folder / "meeting-bare.yaml").write_text(yaml.safe_dump(bare, allow_unicode=True), encoding="utf-8")
        folders[name] = folder
    return folders


# --- drafting and scoring ----------------------------------------------------------------------

def draft(audio: Path, meeting: Path | None, out: Path, library: Path | None) -> tuple[dict, float]:
    """In-process, so that `identify.LIBRARY_POOL` can be switched; the stage cache beside `out`
    shares ASR and diarization between drafts of one recording."""
    from pipeline.config import load_options
    from pipeline.draft import run_draft

    t = time.perf_counter()
    options = load_options(None, {"export": {"formats": ("docx", "json")}})
    minutes = run_draft(audio, meeting, out, options, force=True, library=library)
    return minutes.to_dict(), time.perf_counter() - t


def score(truth: Path, docx: Path) -> dict:
    out = subprocess.run([sys.executable, str(BENCH / "score_docx.py"), "--ref", str(truth), "--hyp", str(docx),
                          "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def learn(result: Path, library: Path, body: str, **lowered) -> list[str]:
    from pipeline import voices
    from pipeline.config import load_options

    voices.set_consent(library, body, "bench")
    opts = voices.LearnOptions(**lowered)
    return [o.line() for o in voices.learn(result, library, load_options(), learn_options=opts)]


def seed_truth(truth: Path) -> list[tuple[float, float, str | None]]:
    return [(t["start"], t["end"], ROLE_NAMES.get(t["role"]))
            for t in json.loads(truth.read_text(encoding="utf-8"))["turns"]]


def rttm_truth(ref) -> list[tuple[float, float, str | None]]:
    return [(seg.start, seg.end, label) for seg, _, label in ref.itertracks(yield_label=True)]


def review(result: Path, truth: list[tuple[float, float, str | None]], out: Path) -> tuple[Path, int, int]:
    """What the editor does to the speakers on the review page, with the truth for ears: a flagged
    utterance whose speaker is right has its flag cleared, a wrong speaker is replaced (the page's
    own edit functions). Returns the reviewed result and how many of each were done."""
    from collections import defaultdict

    from pipeline.web.edits import check_flags, set_speaker
    from pipeline.types import Minutes

    m = Minutes.from_dict(json.loads(result.read_text(encoding="utf-8")))
    cleared = moved = 0
    for i, u in enumerate(m.utterances):
        overlap: dict = defaultdict(float)
        for a, b, name in truth:
            overlap[name] += max(0.0, min(u.end, b) - max(u.start, a))
        who = max(overlap, key=overlap.get) if overlap and max(overlap.values()) > 0 else None
        if who is None:  # 一同, or nobody
            continue
        if m.speaker(u.speaker).name == who:
            if u.speaker_uncertain:
                m, cleared = check_flags(m, i, speaker=True), cleared + 1
        else:
            m, moved = set_speaker(m, i, {"participant": who}), moved + 1
    out.write_text(json.dumps(m.to_dict(), ensure_ascii=False), encoding="utf-8")
    return out, cleared, moved


def sources(result: dict) -> dict[str, str]:
    return {s["label"]: s.get("voice_source") or "-" for s in result["speakers"]}


def synthetic(work: Path, cut: float, pools: list[str]) -> dict:
    from pipeline import identify

    parts = cut_parts(work, cut)
    a, b = parts["A"], parts["B"]
    report: dict = {"cut": cut, "rows": []}
    res, secs = draft(a / "meeting.flac", a / "meeting-clips.yaml", a / "clips.docx", None)
    report["rows"].append({"part": "A", "setup": "clips", "seconds": round(secs), **score(a / "truth.json", a / "clips.docx")})
    body = "おいらせ町行政経営推進委員会"
    raw_library, library = work / "library-unreviewed", work / "library"
    for folder in (raw_library, library):  # learned afresh on every run
        shutil.rmtree(folder, ignore_errors=True)
    report["learned unreviewed"] = learn(a / "clips.json", raw_library, body)
    reviewed, cleared, moved = review(a / "clips.json", seed_truth(a / "truth.json"), a / "reviewed.json")
    report["review"] = {"flags cleared": cleared, "speakers changed": moved}
    report["learned"] = learn(reviewed, library, body)
    print(json.dumps(report, ensure_ascii=False, indent=1), flush=True)
    for setup, meeting, lib in (("clips", "meeting-clips.yaml", None),
                                ("library from A as drafted", "meeting-bare.yaml", raw_library),
                                ("library", "meeting-bare.yaml", library),
                                ("roster only", "meeting-bare.yaml", None)):
        for pool in (pools if setup == "library" else pools[:1]):
            identify.LIBRARY_POOL = pool
            name = f"{setup.replace(' ', '-')}-{pool}" if setup == "library" else setup.replace(" ", "-")
            res, secs = draft(b / "meeting.flac", b / meeting, b / f"{name}.docx", lib)
            row = {"part": "B", "setup": setup + (f" ({pool})" if setup == "library" else ""),
                   "seconds": round(secs), **score(b / "truth.json", b / f"{name}.docx"), "sources": sources(res)}
            report["rows"].append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    identify.LIBRARY_POOL = pools[0]
    return report


# --- real voices -----------------------------------------------------------------------------------

AMI = REAL / "ami_debug"
PAIRS = (("dev00", "dev01", "development"), ("dev01", "dev00", "development"), ("tst00", "tst01", "test"))


def ier(result: dict, ref, uem) -> float:
    from pyannote.metrics.identification import IdentificationErrorRate

    named = real_voices._hypothesis(result, by_name=True, overlaps=True)
    return IdentificationErrorRate(collar=0.25)(ref, named, uem=uem)


def real(work: Path, pools: list[str]) -> list[dict]:
    from pipeline import identify

    rows = []
    for source, target, split in PAIRS:
        folder = work / f"{source}-to-{target}"
        folder.mkdir(parents=True, exist_ok=True)
        rttm, uem_file = AMI / f"debug.{split}.rttm", AMI / f"debug.{split}.uem"
        ref_s = real_voices.reference(rttm, source)
        ref_t = real_voices.reference(rttm, target)
        people = sorted(set(ref_s.labels()) | set(ref_t.labels()))
        clips = {}
        for s in sorted(ref_s.labels()):
            path = folder / f"{source}-{s}.wav"
            if real_voices._clip(AMI / f"{source}.wav", ref_s, s, path) >= real_voices.MIN_CLIP_S:
                clips[s] = path
        body = "real voices"
        learn_meeting = real_voices._meeting(folder, source, people, clips)
        draft(AMI / f"{source}.wav", learn_meeting, folder / f"{source}.docx", None)
        library = folder / "library"
        shutil.rmtree(library, ignore_errors=True)
        reviewed, cleared, moved = review(folder / f"{source}.json", rttm_truth(ref_s), folder / f"{source}-reviewed.json")
        lines = learn(reviewed, library, body, min_speech=3.0, piece_speech=3.0)
        print("\n".join(lines), flush=True)
        target_clips = {}
        for s in sorted(ref_t.labels()):
            path = folder / f"{target}-{s}.wav"
            if real_voices._clip(AMI / f"{target}.wav", ref_t, s, path) >= real_voices.MIN_CLIP_S:
                target_clips[s] = path
        uem = real_voices.uem_of(uem_file, target)
        row = {"learn": source, "name": target, "reference": {s: round(ref_t.label_duration(s), 1) for s in ref_t.labels()},
               "review": {"flags cleared": cleared, "speakers changed": moved}, "learned": lines}
        bare = real_voices._meeting(folder, target + "-bare", people, {})
        for pool in pools:
            identify.LIBRARY_POOL = pool
            res, _ = draft(AMI / f"{target}.wav", bare, folder / f"{target}-library-{pool}.docx", library)
            row[f"library ({pool})"] = round(ier(res, ref_t, uem), 3)
            row[f"sources ({pool})"] = {s["name"] or s["label"]: s.get("voice_source") for s in res["speakers"]}
        identify.LIBRARY_POOL = pools[0]
        if target_clips:
            own = real_voices._meeting(folder, target + "-clips", people, target_clips)
            res, _ = draft(AMI / f"{target}.wav", own, folder / f"{target}-clips.docx", None)
            row["own clips"] = round(ier(res, ref_t, uem), 3)
            row["own clips for"] = sorted(target_clips)
        res, _ = draft(AMI / f"{target}.wav", bare, folder / f"{target}-roster.docx", None)
        row["roster only"] = round(ier(res, ref_t, uem), 3)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return rows


def table(report: dict) -> str:
    lines = [f"seed_dev cut at {report['synthetic']['cut']} s: A = before (drafted with clips, reviewed, learned), B = after",
             "", "| part | setup | CER | raCER | roles missing | extra labels | voice source |", "|---|---|---|---|---|---|---|"]
    for r in report["synthetic"]["rows"]:
        src = ", ".join(f"{k} {v}" for k, v in sorted(r.get("sources", {}).items()))
        lines.append(f"| {r['part']} | {r['setup']} | {r['cer']:.3f} | {r['racer']:.3f} | "
                     f"{', '.join(r['missing_roles']) or '-'} | {', '.join(r['extra_labels']) or '-'} | {src or '-'} |")
    if report.get("real"):
        pools = [k for k in report["real"][0] if k.startswith("library (")]
        lines += ["", "| learn from | name | reference s | " + " | ".join(f"IER {p}" for p in pools)
                  + " | IER own clips | IER roster only |", "|---|---|---|" + "---|" * (len(pools) + 2)]
        for r in report["real"]:
            ref = ", ".join(f"{k} {v}" for k, v in sorted(r["reference"].items()))
            lines.append(f"| {r['learn']} | {r['name']} | {ref} | " + " | ".join(f"{r[p]:.3f}" for p in pools)
                         + f" | {r.get('own clips', float('nan')):.3f} | {r['roster only']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--cut", type=float, default=890.1, help="seconds; a pause between two turns of seed_dev")
    ap.add_argument("--pool", action="append", dest="pools", help="identify.LIBRARY_POOL values to compare")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--real-only", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    pools = args.pools or ["max", "top3"]
    args.work.mkdir(parents=True, exist_ok=True)
    report = {"synthetic": None if args.real_only else synthetic(args.work, args.cut, pools),
              "real": None if args.no_real else real(args.work, pools)}
    (args.work / "learned.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    if report["synthetic"]:
        print(table(report))
    else:
        print(json.dumps(report["real"], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
