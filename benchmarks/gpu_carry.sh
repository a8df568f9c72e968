#!/usr/bin/env bash
# Build, from a clean checkout, what benchmarks/gpu_device_run.sh carries to a bare offline GPU host (<= 60 MiB):
#
#   bash benchmarks/gpu_carry.sh [--no-wheels] [--photos-from DIR]
#
#   .whl/          wheels of the pure-Python / manylinux packages a bare GPU host (Python + torch + onnx +
#                  onnxruntime + numpy/cv2/pyarrow/pandas) lacks, at the versions this environment runs, fetched
#                  with `pip download --no-deps` (a registry or a wheel mirror is needed once, here, not on the host)
#   .gpu/models/   the default model sets (v6-small, v6-tiny) in `podocr models pull --from` layout, each file xz'd
#   .gpu/photos/   PHOTOS (default 40) synthetic photos: `podocr synth`, or the first ones of --photos-from DIR
#                  (a `podocr synth` folder); the device run cycles over them for its 2,000-row day
#
# --no-wheels: skip .whl/ (the host, or the CPU stand-in here, already has the packages).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-python3}
PHOTOS=${PHOTOS:-40}
WHEELS=1 FROM=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-wheels) WHEELS=0 ;;
    --photos-from) FROM=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
PODOCR=("$PY" -c 'import sys; from podocr.cli import main; sys.exit(main(prog_name="podocr"))')
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

rm -rf .gpu && mkdir -p .gpu/models .gpu/photos
if [ $WHEELS = 1 ]; then
  rm -rf .whl && mkdir -p .whl
  PKGS="dask distributed dask-cuda onnx2torch pyclipper rapidfuzz usaddress python-crfsuite probableparsing tornado zict
        cloudpickle toolz partd locket msgpack psutil sortedcontainers tblib fsspec pynvml nvidia-ml-py
        pytest pluggy iniconfig pytest-timeout packaging"
  for pkg in $PKGS; do
    ver=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$pkg" 2>/dev/null || true)
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 -d .whl "$pkg${ver:+==$ver}" \
      || echo "WARNING: no wheel for $pkg${ver:+==$ver}"
  done
fi

# models: pull (or reuse the local store), then xz each file of the default sets
"${PODOCR[@]}" models pull --set v6-small --set v6-tiny >/dev/null
"$PY" - .gpu/models <<'EOF'
import lzma, shutil, sys
from pathlib import Path
from podocr.config import ModelsConfig
from podocr.ocr.registry import Registry, store_dir
reg, store, out = Registry.load(), store_dir(ModelsConfig()), Path(sys.argv[1])
for name in ("v6-small", "v6-tiny"):
    for key in reg.spec(name).file_keys():
        for f in (store / key).iterdir():
            dst = out / key / (f.name + ".xz")
            dst.parent.mkdir(parents=True, exist_ok=True)
            with open(f, "rb") as fin, lzma.open(dst, "wb", preset=6) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
EOF

# photos: a synthetic set's first PHOTOS photos with their manifest rows
if [ -z "$FROM" ]; then
  FROM=$(mktemp -d)
  "${PODOCR[@]}" synth --out "$FROM" --n "$PHOTOS" --seed 14 >/dev/null
fi
"$PY" - "$FROM" .gpu/photos "$PHOTOS" <<'EOF'
import csv, shutil, sys
from pathlib import Path
src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(src / "manifest.csv", newline="")))[:n]
(dst / "images").mkdir(parents=True, exist_ok=True)
for r in rows:
    name = Path(r["image_uri"]).name
    shutil.copy(src / "images" / name, dst / "images" / name)
    r["image_uri"] = f"images/{name}"
with open(dst / "manifest.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
EOF
total=$(du -scm .gpu $([ -d .whl ] && echo .whl) | tail -n1 | cut -f1)
echo "carry: $(du -sh .gpu/models | cut -f1) models, $(ls .gpu/photos/images | wc -l) photos ($(du -sh .gpu/photos | cut -f1))" \
  "$([ -d .whl ] && echo ", $(ls .whl | wc -l) wheels ($(du -sh .whl | cut -f1))"); total ${total} MiB"
[ "$total" -le 60 ] || { echo "carry is ${total} MiB > 60 MiB: lower PHOTOS" >&2; exit 1; }
