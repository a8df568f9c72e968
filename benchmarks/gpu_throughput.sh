#!/usr/bin/env bash
# End-to-end GPU throughput of the real job on this machine, and the same job on its CPU for the ratio.
#
#   benchmarks/gpu_throughput.sh [--setup] [--n 2000] [--cpu-n 400] [--dir /tmp/podocr-gpu-bench]
#                                [--backend onnxruntime|torch] [--fp16] [--set MODEL_SET]
#                                [--threads-per-worker 4] [--partition-size 128] [--cpu-only]
#
# Needs an NVIDIA GPU with its driver (nvidia-smi) and Python 3.11/3.12 with pip; nothing else. --setup makes
# a virtualenv ($VENV, default .venv-gpu) with `pip install -e '.[gpu,torch]'` and pulls the pinned models;
# without it the first of $VENV/bin, .venv/bin, or the podocr on PATH is used as it is.
#
# Steps, each timed: (1) a synthetic day of N photos (`podocr synth`, reused when already there);
# (2) `podocr batch --cuda` on it, local files in, Parquet out, with nvidia-smi sampling GPU utilisation every
# 250 ms; (3) the per-stage breakdown from the Parquet timing columns (DuckDB); (4) `podocr batch --no-cuda`
# on the first CPU_N photos of the same day (a manifest subset); (5) photos/s of both and their ratio.
# Budget: under 8 minutes at the defaults on a 16-core host with one GPU (synth takes about 2–3 of them).
# --cpu-only skips everything that needs the GPU (step 2 and the utilisation): a check of the script and a
# CPU baseline on any machine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=2000 CPU_N=400 DIR=/tmp/podocr-gpu-bench BACKEND=onnxruntime FP16=false MODEL_SET="" TPW=4 PSIZE=128 SETUP=0 CPU_ONLY=0
DATE=2026-11-26 SEED=7
while [ $# -gt 0 ]; do
  case "$1" in
    --setup) SETUP=1 ;;
    --n) N=$2; shift ;;
    --cpu-n) CPU_N=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    --fp16) FP16=true ;;
    --set) MODEL_SET=$2; shift ;;
    --threads-per-worker) TPW=$2; shift ;;
    --partition-size) PSIZE=$2; shift ;;
    --cpu-only) CPU_ONLY=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "gpu_throughput: $*" >&2; exit 1; }
step() { printf '\n== %s  (t+%ds)\n' "$*" "$SECONDS"; }

VENV=${VENV:-$ROOT/.venv-gpu}
if [ "$SETUP" = 1 ]; then
  step "setup: $VENV with podocr[gpu,torch]"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip
  "$VENV/bin/pip" install -q -e "$ROOT[gpu,torch]"
  "$VENV/bin/podocr" models pull >/dev/null
  SECONDS=0  # the 8-minute budget is for the benchmark itself, not the downloads
fi
if [ -x "$VENV/bin/podocr" ]; then BIN=$VENV/bin
elif [ -x "$ROOT/.venv/bin/podocr" ]; then BIN=$ROOT/.venv/bin
elif command -v podocr >/dev/null; then BIN=$(dirname "$(command -v podocr)")
else die "no podocr found: run with --setup, or install podocr[gpu] first"; fi
PODOCR=$BIN/podocr PY=$BIN/python

breakdown() {  # $1 = output root, $2 = nvidia-smi samples (optional): per-stage costs, GPU utilisation
  "$PY" - "$@" <<'EOF'
import sys
import duckdb
out, smi = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
src = f"read_parquet('{out}/ocr_results/*/*.parquet', hive_partitioning = true)"
stages = ["fetch_s", "decode_s", "roi_s", "det_s", "crop_s", "cls_s", "rec_s", "extract_s"]
row = duckdb.sql(f"SELECT count(*), {', '.join(f'avg({c})' for c in [*stages, 'total_s'])} FROM {src}").fetchall()[0]
n, means, total = row[0], row[1:-1], row[-1] or 0.0
print(f"{n} photos; mean seconds per photo by stage (each photo's share of its batch's stage time):")
for name, v in zip(stages, means):
    v = v or 0.0
    print(f"  {name[:-2]:8} {1000 * v:8.1f} ms  {100 * v / total if total else 0:5.1f} %")
print(f"  {'total':8} {1000 * total:8.1f} ms")
print(duckdb.sql(f"SELECT provider, status, count(*) AS photos FROM {src} GROUP BY ALL ORDER BY photos DESC"))
util = []
for line in open(smi) if smi else []:
    parts = [p.strip() for p in line.split(",")]
    if len(parts) == 3 and parts[1].isdigit():
        util.append((int(parts[1]), int(parts[2])))
if util:
    busy = [u for u, _ in util]
    first = next(i for i, u in enumerate(busy) if u > 0) if any(busy) else 0
    last = len(busy) - next(i for i, u in enumerate(reversed(busy)) if u > 0) if any(busy) else len(busy)
    window = busy[first:last] or busy
    print(f"GPU utilisation: mean {sum(busy) / len(busy):.0f} % over the whole command ({len(busy)} samples), "
          f"mean {sum(window) / len(window):.0f} % from first to last busy sample, max {max(busy)} %; "
          f"peak memory {max(m for _, m in util)} MiB")
EOF
}

# ---- preflight: fail in seconds, not after the synth ----------------------------------------------------
step "preflight"
if [ "$CPU_ONLY" = 0 ]; then
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this benchmark needs an NVIDIA GPU and its driver"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
"$PY" - "$BACKEND" <<'EOF' || die "the GPU stack is not usable (see above); try --setup"
import sys
backend = sys.argv[1]
import dask_cuda  # noqa: F401  (the --cuda cluster)
import onnxruntime as ort
print("onnxruntime", ort.__version__, ort.get_available_providers())
if backend == "onnxruntime" and "CUDAExecutionProvider" not in ort.get_available_providers():
    sys.exit("onnxruntime has no CUDAExecutionProvider: pip install 'podocr[gpu]' (onnxruntime-gpu)")
if backend == "torch":
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())
    if not torch.cuda.is_available():
        sys.exit("torch sees no CUDA device: install a CUDA build of torch (pip install 'podocr[torch]')")
EOF
fi
"$PODOCR" models verify ${MODEL_SET:+--set "$MODEL_SET"} >/dev/null || die "models missing: $PODOCR models pull"
mkdir -p "$DIR"
CORES=$(nproc)
export PODOCR__ENGINE__BACKEND=$BACKEND PODOCR__ENGINE__FP16=$FP16 PODOCR__JOB__REPORT=false
echo "backend=$BACKEND fp16=$FP16 set=${MODEL_SET:-default} threads/worker=$TPW partition=$PSIZE cores=$CORES"

# ---- 1. synthetic day -------------------------------------------------------------------------------------
step "1. synthetic day: $N photos"
STAMP="$DIR/day/.bench-n$N-s$SEED"
if [ -f "$STAMP" ]; then
  echo "reusing $DIR/day"
else
  rm -rf "$DIR/day"
  "$PODOCR" synth --out "$DIR/day" --n "$N" --seed "$SEED" --date "$DATE" --workers "$CORES"
  touch "$STAMP"
fi

# ---- 2. the job on the GPU ----------------------------------------------------------------------------------
if [ "$CPU_ONLY" = 0 ]; then
step "2. podocr batch --cuda"
rm -rf "$DIR/out-gpu"
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 250 >"$DIR/smi.csv" &
SMI=$!
trap 'kill $SMI 2>/dev/null || true' EXIT
set +e
"$PODOCR" batch --cuda --date "$DATE" --input "$DIR/day" --output "$DIR/out-gpu" --partition-size "$PSIZE" \
  --threads-per-worker "$TPW" --no-progress --json ${MODEL_SET:+--model-set "$MODEL_SET"} >"$DIR/gpu.json"
RC=$?
set -e
kill $SMI 2>/dev/null || true
[ $RC = 0 ] || die "podocr batch --cuda exited $RC"

step "3. GPU run: stage breakdown (Parquet timing columns, DuckDB) and utilisation"
breakdown "$DIR/out-gpu" "$DIR/smi.csv"
fi

# ---- 4. the same day's first CPU_N photos on this machine's CPU ---------------------------------------------
step "4. podocr batch --no-cuda on $CPU_N photos"
MANIFEST="$DIR/day/manifests/date=$DATE/manifest.csv"
head -n $((CPU_N + 1)) "$MANIFEST" >"$DIR/cpu-manifest.csv"
rm -rf "$DIR/out-cpu"
PODOCR__ENGINE__PROVIDER=cpu PODOCR__ENGINE__BACKEND=onnxruntime PODOCR__ENGINE__FP16=false \
  "$PODOCR" batch --no-cuda --date "$DATE" --input "$DIR/day" --manifest "$DIR/cpu-manifest.csv" \
  --output "$DIR/out-cpu" --partition-size 32 --no-progress --json ${MODEL_SET:+--model-set "$MODEL_SET"} \
  >"$DIR/cpu.json"
breakdown "$DIR/out-cpu"

# ---- 5. summary ---------------------------------------------------------------------------------------------
step "5. summary"
GPU_JSON="$DIR/gpu.json"
[ "$CPU_ONLY" = 0 ] || GPU_JSON=""
"$PY" - "$DIR/cpu.json" "$SECONDS" "$GPU_JSON" <<'EOF'
import json, sys
cpu = json.load(open(sys.argv[1]))
gpu = json.load(open(sys.argv[3])) if sys.argv[3] else None
def show(name, s):
    d = s.get("durations", {})
    print(f"{name}: {s['photos_processed']} photos, {s['photos_per_s']} photos/s processing, "
          f"{s['end_to_end_photos_per_s']} photos/s end to end (cluster start {d.get('cluster_start_s')} s, "
          f"warm-up {d.get('warm_up_s')} s, process {d.get('process_s')} s)")
    m = s.get("model", {})
    print(f"  model set {m.get('set')}, backend {m.get('backend')}, provider {m.get('provider')}, "
          f"cluster {s.get('cluster')}")
if gpu:
    show("GPU", gpu)
show("CPU", cpu)
if gpu and cpu.get("photos_per_s") and gpu.get("photos_per_s"):
    print(f"GPU / CPU (processing photos/s): {gpu['photos_per_s'] / cpu['photos_per_s']:.1f}x")
elapsed = int(sys.argv[2])
print(f"benchmark wall time: {elapsed} s" + ("  (over the 8-minute budget: lower --n)" if elapsed > 480 else ""))
EOF
