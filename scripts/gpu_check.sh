#!/usr/bin/env bash
# One prepared GPU check (issue #7): on a machine with an NVIDIA GPU and no network, install the
# carried wheels, rebuild Whisper's model.bin, and run scripts/bench.py on seed_dev with both
# stages on CUDA (Whisper float16), printing the same table as on the CPU.
#
#   bash scripts/gpu_check.sh /tmp/kg      # KG: the parts of .gpu/ (scripts/gpu_pack.sh) merged
#
# Results go to $OUT (if set) or out/gpu/.
set -euo pipefail
cd "$(dirname "$0")/.."
KG=${1:?usage: gpu_check.sh FOLDER_WITH_PACKED_PARTS}
RESULTS=${OUT:-out/gpu}
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=false
PY=${PY:-python3}

echo "== wheels"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$KG"/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD

echo "== Whisper base"
M="$KG/models/whisper-base"
if [ ! -f "$M/model.bin" ]; then
  cat "$M"/model.bin.part* > "$M/model.bin"
fi
echo "$(cat "$M/model.bin.sha256")  $M/model.bin" | sha256sum -c -

# CTranslate2's wheels load cuBLAS 12. The lent machine's image has only CUDA 13's cuBLAS, so
# a link libcublas.so.12 → libcublas.so.13 stands in (it ran Whisper there, 2026-11-26). A real
# install adds the nvidia-cublas-cu12 wheel instead (README "GPU").
if ! ldconfig -p | grep -q libcublas.so.12; then
  CUBLAS13=$(find / -name 'libcublas.so.13' -not -path '/proc/*' 2>/dev/null | head -1 || true)
  if [ -n "$CUBLAS13" ]; then
    D=$(dirname "$CUBLAS13")
    mkdir -p /tmp/cu12
    ln -sf "$D/libcublas.so.13" /tmp/cu12/libcublas.so.12
    ln -sf "$D/libcublasLt.so.13" /tmp/cu12/libcublasLt.so.12
    export LD_LIBRARY_PATH=/tmp/cu12:$D:${LD_LIBRARY_PATH:-}
    echo "note: cuBLAS 12 absent; CTranslate2 uses $CUBLAS13 through /tmp/cu12"
  fi
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

cat > /tmp/gpu.yaml <<YAML
transcribe:
  model: $M
  device: cuda
  compute_type: float16
diarize:
  device: cuda
  segmentation: $KG/models/segmentation/pytorch_model.bin
  embedding: $(ls "$KG"/models/campplus/*.pt)
# SudachiPy's dictionary (70 MB) is not carried: no 黒塗り候補 marks in this check's drafts.
pii:
  enabled: false
YAML

echo "== ASR on CUDA (5 s smoke test)"
ASR_DEVICE=cuda
if ! "$PY" - "$M" <<'PY'
import sys, numpy as np
from faster_whisper import WhisperModel
m = WhisperModel(sys.argv[1], device="cuda", compute_type="float16")
segs, _ = m.transcribe(np.zeros(16000 * 5, np.float32), language="ja")
list(segs)
print("faster-whisper on CUDA: ok")
PY
then
  echo "faster-whisper could not run on CUDA here: ASR on the CPU, diarization on CUDA" >&2
  ASR_DEVICE=cpu
  "$PY" - <<'PY'
import os, yaml
c = yaml.safe_load(open("/tmp/gpu.yaml"))
c["transcribe"].update(device="cpu", compute_type="int8", cpu_threads=os.cpu_count())
yaml.safe_dump(c, open("/tmp/gpu.yaml", "w"))
PY
fi

echo "== bench (seed_dev, asr=$ASR_DEVICE, diarization=cuda)"
# voice paths in meeting.yaml are ../voices/… relative to the meeting folder: kept by the pack
KAIGIROKU_SCORER="$KG/bench/score_docx.py" "$PY" scripts/bench.py "$KG/bench/seed_dev" \
  --config /tmp/gpu.yaml --out "$RESULTS/bench-gpu.json"
