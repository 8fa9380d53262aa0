#!/usr/bin/env python3
"""Build a long meeting for the memory benchmark by concatenating bench meetings.

Issue #7 asks for a 3-hour run. The bench meetings are about 21 minutes each; this joins
seed_dev and its noisy copy in turn until the target length is reached, and writes a bench
folder (meeting.flac, meeting.yaml, truth.json, truth.rttm) that scripts/bench.py accepts:

    .venv/bin/python scripts/make_long.py /tmp/long3h --hours 3
    .venv/bin/python scripts/bench.py /tmp/long3h --out out/bench/long3h.json

Audio is streamed block by block, so building it needs little memory.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import soundfile as sf

BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--sources", nargs="+", type=Path,
                    default=[BENCH / "seed_dev", BENCH / "seed_dev_noisy"])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    first = args.sources[0]
    truth = json.loads((first / "truth.json").read_text(encoding="utf-8"))
    turns, sections, rttm = [], [], []
    offset, target, i = 0.0, args.hours * 3600, 0
    info = sf.info(str(first / "meeting.flac"))
    with sf.SoundFile(str(args.out / "meeting.flac"), "w", samplerate=info.samplerate,
                      channels=info.channels, format="FLAC", subtype="PCM_16") as dst:
        while offset < target:
            src = args.sources[i % len(args.sources)]
            part = json.loads(((src if (src / "truth.json").is_file() else first) / "truth.json")
                              .read_text(encoding="utf-8"))
            with sf.SoundFile(str(src / "meeting.flac")) as f:
                if (f.samplerate, f.channels) != (info.samplerate, info.channels):
                    raise SystemExit(f"{src}: {f.samplerate} Hz × {f.channels} differs from {first}")
                length = f.frames / f.samplerate
                for block in f.blocks(blocksize=f.samplerate * 60, dtype="int16"):
                    dst.write(block)
            for t in part["turns"]:
                turns.append({**t, "index": len(turns), "start": t["start"] + offset, "end": t["end"] + offset})
            for s in part.get("sections", []):
                sections.append({**s, "time": s["time"] + offset})
            for line in ((src if (src / "truth.rttm").is_file() else first) / "truth.rttm").read_text().splitlines():
                p = line.split()
                p[1], p[3] = "long", f"{float(p[3]) + offset:.3f}"
                rttm.append(" ".join(p))
            offset += length
            i += 1
    truth.update(turns=turns, sections=sections, uri="long")
    (args.out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / "truth.rttm").write_text("\n".join(rttm) + "\n", encoding="utf-8")
    # voice clips are relative to the source's meeting file: make them absolute here
    yaml_text = (first / "meeting.yaml").read_text(encoding="utf-8")
    yaml_text = re.sub(r"(voice:\s*)(\S+)", lambda m: m.group(1) + str((first / m.group(2)).resolve()), yaml_text)
    (args.out / "meeting.yaml").write_text(yaml_text, encoding="utf-8")
    print(f"{args.out}: {offset / 3600:.2f} h from {i} meetings, {len(turns)} turns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
