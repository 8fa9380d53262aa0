#!/usr/bin/env bash
# Pack what scripts/gpu_check.sh needs on a GPU machine that has no network and takes at most
# 64 MiB of files per call: wheels for Python 3.12 (the packages that machine lacks), the
# embedded models (Whisper's model.bin in pieces), and the seed_dev bench meeting.
#
#   bash scripts/gpu_pack.sh            # writes .gpu/p1 … .gpu/pN (ignored by git)
#
# Each part is carried by one call and copied to /tmp/kg there; the last call runs
# `bash scripts/gpu_check.sh /tmp/kg`. See README "GPU".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUTDIR=.gpu
BENCH=${BENCH:-../shared/bench}
rm -rf "$OUTDIR"; mkdir -p "$OUTDIR/whl"
# Everything kaigiroku imports on the draft path that the GPU image (Python 3.12, torch with
# CUDA, numpy, scipy, lightning, onnxruntime, tokenizers …) does not already hold.
WHEELS=(
  faster-whisper==1.2.1 ctranslate2==4.8.5 av==18.1.0
  pyannote-audio==4.0.7 pyannote-core==6.1.0 pyannote-database==6.1.1 pyannote-metrics==4.2.0
  pyannote-pipeline==4.1.0 pyannoteai-sdk==0.4.0 asteroid-filterbanks==0.4.0
  pytorch-metric-learning==2.9.0 torch-audiomentations==0.12.0 torch_pitch_shift==1.2.5
  julius==0.2.8 primePy==1.3 optuna==5.0.0 alembic==1.20.1 Mako==1.4.3 SQLAlchemy==2.1.9
  greenlet==3.5.6 colorlog==6.12.0
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp==1.45.2
  opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2
  opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-proto==1.45.2
  opentelemetry-semantic-conventions==0.66b2 opentelemetry-exporter-http-transport==0.66b2
  opentelemetry-exporter-otlp-common==0.66b2 googleapis-common-protos==1.76.0
  httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5
  python-docx==1.2.0 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 rapidfuzz==$("${PY:-.venv/bin/python}" -c 'import rapidfuzz; print(rapidfuzz.__version__)')
)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$OUTDIR/whl" "${WHEELS[@]}"
# The models, from where this machine resolved them (checksums were verified by `make`).
mkdir -p "$OUTDIR/models/whisper-base" "$OUTDIR/models/segmentation" "$OUTDIR/models/campplus"
eval "$("$PY" - <<'PY'
from pipeline.models import resolve
print(f"ASR={resolve('whisper-base', 'asr').path}")
print(f"SEG={resolve('pyannote-segmentation-3.0', 'segmentation').path}")
print(f"EMB={resolve('campplus-sv-zh-en-16k', 'embedding').path}")
PY
)"
cp "$ASR"/config.json "$ASR"/tokenizer.json "$ASR"/vocabulary.json "$OUTDIR/models/whisper-base/"
split -b 48M -d "$ASR/model.bin" "$OUTDIR/models/whisper-base/model.bin.part"
sha256sum "$ASR/model.bin" | cut -d' ' -f1 > "$OUTDIR/models/whisper-base/model.bin.sha256"
cp "$SEG" "$(dirname "$SEG")/config.yaml" "$OUTDIR/models/segmentation/"
cp "$EMB" "$OUTDIR/models/campplus/"
mkdir -p "$OUTDIR/bench/seed_dev" "$OUTDIR/bench/voices"
cp "$BENCH"/seed_dev/{meeting.flac,meeting.yaml,truth.json,truth.rttm} "$OUTDIR/bench/seed_dev/"
cp "$BENCH"/voices/* "$OUTDIR/bench/voices/"
cp "$BENCH"/score_docx.py "$OUTDIR/bench/"
# Deal the files into parts of at most 58 MiB (the repository itself travels too).
"$PY" - "$OUTDIR" <<'PY'
import os, shutil, sys
from pathlib import Path
root = Path(sys.argv[1]); limit = 58 * 2**20
files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)
parts: list[list[Path]] = []
sizes: list[int] = []
for f in files:  # first fit, largest first
    n = f.stat().st_size
    i = next((i for i, s in enumerate(sizes) if s + n <= limit), None)
    if i is None:
        parts.append([]); sizes.append(0); i = len(parts) - 1
    parts[i].append(f); sizes[i] += n
for i, fs in enumerate(parts, 1):
    for f in fs:
        dest = root / f"p{i}" / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(f), dest)
for d in ("whl", "models", "bench"):
    shutil.rmtree(root / d, ignore_errors=True)
for i, s in enumerate(sizes, 1):
    print(f".gpu/p{i}: {s / 2**20:.1f} MiB")
PY
