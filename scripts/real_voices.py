"""The real-voice half of the benchmark (issue #13): recordings of real people nobody here made.

`../shared/bench/real_voices/` holds 8 Common Voice Japanese sentences (text only), pyannote's
2-speaker sample and 4 AMI meeting excerpts (speakers, with RTTM and UEM). Each file is drafted
with `kaigiroku draft` exactly as a clerk would, in its own process, three ways:

- **no meeting file**: what the issue's first table measured, except that the speaker files,
  all English, are transcribed as English (`transcribe.language: en`): the exported turns keep
  only speakers with words, and Japanese Whisper on English speech drops whole stretches of it
  (AMI tst00: 15 of 30 s), which then scored as diarization errors;
- **roster**: a meeting file listing the true number of participants, without voice clips
  (a clerk's first meeting: the names are known, the voices are not);
- **enrolled**: the same roster, each speaker with a clip cut from their own reference speech
  outside overlaps (the file's other part where there is enough, else all of it: an optimistic
  check, said so in the table), for the naming error.

Scores: CER and kana-reading CER (SudachiPy reading forms) for the Japanese sentences; DER with
pyannote.metrics at collar 0 and 0.25 with overlap scored (turns + second voices), DER at
collar 0.25 with overlapped speech excluded (the AMI targets), speakers found vs true, and the
identification error rate of the enrolled naming.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REAL = REPO.parent / "shared" / "bench" / "real_voices"
# Reference speech needed to cut a clip: kaigiroku wants 3 s of speech that its VAD hears
# (identify.min_enroll_speech), and VAD hears less than the RTTM's turns (2.8 s of 3.4 s on tst01).
MIN_CLIP_S = 5.0


def draft(audio: Path, out: Path, meeting: Path | None = None, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, "-m", "pipeline", "draft", str(audio), "-o", str(out), "--force", "--no-cache",
           "--format", "json", *extra]
    if meeting:
        cmd += ["--meeting", str(meeting)]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"draft failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))


# --- text -------------------------------------------------------------------------------------

def _plain(text: str) -> str:
    sys.path.insert(0, str(REAL.parent))
    from score_docx import norm

    return norm(unicodedata.normalize("NFKC", text))


def _reading(text: str) -> str:
    """Katakana reading of a text: 一枚/1枚 and 違い/ちがい read alike."""
    from pipeline import morph

    return "".join(t.reading for t in morph.tokenize(text))


def _cer(ref: str, hyp: str) -> tuple[int, int]:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(ref, hyp), len(ref)


def japanese(work: Path, extra: list[str]) -> dict:
    rows = [line.split("\t") for line in (REAL / "ja" / "references.tsv").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    errors = {"cer": [0, 0], "reading": [0, 0]}
    per_file = []
    for name, reference in rows:
        result = draft(REAL / "ja" / name, work / f"ja-{Path(name).stem}.docx", extra=extra)
        said = "".join(u["text"] for u in result["utterances"])
        e, n = _cer(_plain(reference), _plain(said))
        r, m = _cer(_plain(_reading(_plain(reference))), _plain(_reading(_plain(said))))
        errors["cer"][0] += e
        errors["cer"][1] += n
        errors["reading"][0] += r
        errors["reading"][1] += m
        per_file.append({"file": name, "cer": round(e / n, 3), "reading_cer": round(r / m, 3), "text": said})
    return {"clips": len(rows), "chars": errors["cer"][1],
            "cer": round(errors["cer"][0] / errors["cer"][1], 4),
            "reading_cer": round(errors["reading"][0] / errors["reading"][1], 4), "files": per_file}


# --- speakers ---------------------------------------------------------------------------------

def reference(rttm: Path, uri: str | None = None):
    """The RTTM's turns (of one recording, `uri`) as a pyannote Annotation."""
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for line in rttm.read_text(encoding="utf-8").splitlines():
        p = line.split()
        if p and p[0] == "SPEAKER" and (uri is None or p[1] == uri):
            ann[Segment(float(p[3]), float(p[3]) + float(p[4]))] = p[7]
    return ann


def uem_of(path: Path | None, uri: str):
    from pyannote.core import Segment, Timeline

    if path is None:
        return None
    for line in path.read_text().splitlines():
        p = line.split()
        if p and p[0] == uri:
            return Timeline([Segment(float(p[2]), float(p[3]))])
    return None


def speaker_files() -> list[dict]:
    out = [{"name": "sample2", "audio": REAL / "sample2" / "sample.wav",
            "rttm": REAL / "sample2" / "sample.rttm", "uri": None, "uem": None}]
    for name, split in (("tst00", "test"), ("tst01", "test"), ("dev00", "development"), ("dev01", "development")):
        out.append({"name": name, "audio": REAL / "ami_debug" / f"{name}.wav",
                    "rttm": REAL / "ami_debug" / f"debug.{split}.rttm", "uri": name,
                    "uem": REAL / "ami_debug" / f"debug.{split}.uem"})
    return out


def _hypothesis(result: dict, by_name: bool, overlaps: bool):
    from pyannote.core import Annotation, Segment

    names = {s["id"]: s.get("name") or s["label"] for s in result["speakers"]}
    ann = Annotation()
    for t in result["turns"] + (result.get("overlaps", []) if overlaps else []):
        ann[Segment(t["start"], t["end"])] = names.get(t["speaker"], t["speaker"]) if by_name else t["speaker"]
    return ann


def _clip(audio: Path, ref, speaker: str, out: Path) -> float:
    """Concatenate `speaker`'s reference speech outside overlaps into a clip; its length."""
    import numpy as np
    import soundfile as sf

    samples, rate = sf.read(audio, dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    overlap = ref.get_overlap()
    pieces = []
    for seg in ref.label_timeline(speaker).support():
        for part in overlap.gaps(support=seg):
            pieces.append(samples[int(part.start * rate):int(part.end * rate)])
            pieces.append(np.zeros(int(0.3 * rate), np.float32))
    clip = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    sf.write(out, clip, rate)
    return sum(len(p) for p in pieces[::2]) / rate


def _meeting(folder: Path, name: str, speakers: list[str], clips: dict[str, Path]) -> Path:
    import yaml

    people = []
    for s in speakers:
        p = {"name": s, "role": "委員"}
        if s in clips:
            p["voice"] = str(clips[s])
        people.append(p)
    path = folder / f"{name}-meeting.yaml"
    path.write_text(yaml.safe_dump({"meeting": {"body": "real voices", "member_labels": "names"},
                                    "participants": people}, allow_unicode=True), encoding="utf-8")
    return path


def english(work: Path, extra: list[str]) -> list[str]:
    """`extra` with the transcription language set to English (the user's --config kept)."""
    import yaml

    extra = list(extra)
    config: dict = {}
    if "--config" in extra:
        i = extra.index("--config")
        config = yaml.safe_load(Path(extra[i + 1]).read_text(encoding="utf-8")) or {}
        del extra[i:i + 2]
    config.setdefault("transcribe", {})["language"] = "en"
    path = work / "english.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return extra + ["--config", str(path)]


def speakers(work: Path, extra: list[str]) -> list[dict]:
    from pyannote.metrics.diarization import DiarizationErrorRate
    from pyannote.metrics.identification import IdentificationErrorRate

    extra = english(work, extra)
    rows = []
    for f in speaker_files():
        ref = reference(f["rttm"], f["uri"])
        uem = uem_of(f["uem"], f["uri"])
        kw = {"uem": uem} if uem is not None else {}
        true = sorted(ref.labels())
        row = {"file": f["name"], "true": len(true), "reference_s": round(ref.get_timeline().support().duration(), 1),
               "overlap_s": round(ref.get_overlap().duration(), 1)}
        clips = {}
        for s in true:
            path = work / f"{f['name']}-{s}.wav"
            if _clip(f["audio"], ref, s, path) >= MIN_CLIP_S:
                clips[s] = path
        setups = (("none", None), ("roster", _meeting(work, f["name"], true, {})),
                  ("enrolled", _meeting(work, f["name"] + "-enrolled", true, clips) if clips else None))
        for setup, meeting in setups:
            if setup != "none" and meeting is None:
                continue
            result = draft(f["audio"], work / f"{f['name']}-{setup}.docx", meeting, extra)
            hyp = _hypothesis(result, by_name=False, overlaps=True)
            exclusive = _hypothesis(result, by_name=False, overlaps=False)
            row[setup] = {
                "found": len({t["speaker"] for t in result["turns"]}),
                "der0": round(DiarizationErrorRate(collar=0.0)(ref, hyp, **kw), 3),
                "der25": round(DiarizationErrorRate(collar=0.25)(ref, hyp, **kw), 3),
                "der25_no_overlap": round(DiarizationErrorRate(collar=0.25, skip_overlap=True)(ref, exclusive, **kw), 3),
            }
            if setup == "enrolled":
                # the enrolled people's speech against what was given their names: their time
                # named otherwise (or 発言者不明) is missed, their names on others' speech false alarms
                named = _hypothesis(result, by_name=True, overlaps=True)
                named = named.subset([label for label in named.labels() if label in clips])
                row[setup]["enrolled_speakers"] = len(clips)
                row[setup]["naming_error"] = round(IdentificationErrorRate(collar=0.25)(
                    ref.subset(list(clips)), named, **kw), 3)
        rows.append(row)
    return rows


def run(work: Path, extra: list[str], text: bool = True) -> dict:
    work = work.resolve()  # the meeting files name their clips by absolute path
    work.mkdir(parents=True, exist_ok=True)
    return {"japanese": japanese(work, extra) if text else None, "speakers": speakers(work, extra)}


def table(report: dict) -> str:
    ja = report["japanese"]
    lines = [f"Real voices: {ja['clips']} Common Voice ja clips ({ja['chars']} chars): "
             f"CER {ja['cer']:.3f}, reading CER {ja['reading_cer']:.3f}", ""] if ja else []
    lines += ["| file | speakers | overlap | no meeting file: found, DER 0 / 0.25 / 0.25 excl. overlap "
             "| roster (no clips) | enrolled: DER 0.25, naming error |",
             "|---|---|---|---|---|---|"]
    for r in report["speakers"]:
        def cell(setup: str) -> str:
            x = r.get(setup)
            if not x:
                return "-"
            return (f"{x['found']}/{r['true']}, {100 * x['der0']:.0f} / {100 * x['der25']:.0f} / "
                    f"{100 * x['der25_no_overlap']:.0f} %")
        e = r.get("enrolled")
        named = (f"{100 * e['der25']:.0f} %, {100 * e['naming_error']:.0f} % ({e['enrolled_speakers']} enrolled)"
                 if e else f"- (no speaker has {MIN_CLIP_S:.0f} s alone)")
        lines.append(f"| {r['file']} | {r['true']} | {r['overlap_s']:.0f} of {r['reference_s']:.0f} s "
                     f"| {cell('none')} | {cell('roster')} | {named} |")
    ami = [r for r in report["speakers"] if r["file"] != "sample2"]
    for setup in ("none", "roster"):
        mean = sum(r[setup]["der25_no_overlap"] for r in ami) / len(ami)
        within = sum(abs(r[setup]["found"] - r["true"]) <= 1 for r in ami)
        lines.append(f"AMI ({setup}): mean DER 0.25 excl. overlap {100 * mean:.1f} %, count within one {within}/{len(ami)}")
    return "\n".join(lines)


if __name__ == "__main__":  # a quick look: python scripts/real_voices.py OUTDIR
    sys.path.insert(0, str(REPO))
    from pipeline.privacy import apply_offline_env

    apply_offline_env()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    args = [a for a in sys.argv[2:] if a != "--speakers-only"]
    report = run(Path(sys.argv[1]), args, text="--speakers-only" not in sys.argv)
    print(table(report))
    (Path(sys.argv[1]) / "real.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
