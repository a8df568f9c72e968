#!/usr/bin/env bash
# One-shot set-up on a fresh machine: system fonts for the synthetic generator, a virtualenv with podocr and its
# dev tools, the CPU peer (RapidOCR 1.4.4) for benchmarks, and the pinned models (verified by sha256).
# Idempotent: re-running only does what is missing. Used by `make setup` (and so by `make demo` / `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
# Extras to install: dev (tests, lint) by default; CI adds torch (PyTorch backend tests, ~5 GB with CUDA libs).
EXTRAS=${PODOCR_EXTRAS:-dev}

# Debian font packages the synthetic label renderer draws with (podocr/synth/fonts.py lists the same).
FONT_PKGS="fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-freefont-ttf fonts-croscore fonts-noto-mono"
# chromium: headless browser the report test renders the HTML report with.
SYS_PKGS="$FONT_PKGS chromium"
missing=""
for p in $SYS_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "[setup] installing fonts:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.podocr-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$EXTRAS" ]; then
  echo "[setup] installing podocr[$EXTRAS] into $VENV"
  "$VENV/bin/pip" install -q -U pip setuptools wheel
  "$VENV/bin/pip" install -q -e ".[$EXTRAS]"
  # The CPU peer for benchmarks. --no-deps: it pins opencv-python (GUI build), which would shadow our headless cv2.
  "$VENV/bin/pip" install -q --no-deps rapidocr-onnxruntime==1.4.4 pyyaml six shapely
  echo "$EXTRAS" > "$stamp"
fi

echo "[setup] pulling pinned models"
"$VENV/bin/podocr" models pull >/dev/null
"$VENV/bin/podocr" models verify >/dev/null
echo "[setup] done"
