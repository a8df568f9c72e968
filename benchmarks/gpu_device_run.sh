#!/usr/bin/env bash
# One self-contained GPU benchmark of the real job on a bare, offline GPU host (no network, no fonts, no pip
# index): a diagnostic matrix, then the torch backend through `podocr batch --cuda` with the GPU shape profile
# (closed shape set, one inference thread, warm-up), then the same job on the host's CPU for the ratio.
#
#   bash benchmarks/gpu_carry.sh && OUT=/results bash benchmarks/gpu_device_run.sh [--cpu-stand-in]
#
# Run from the repo root. What it needs next to the working tree (git-ignored, carried to the host; built by
# benchmarks/gpu_carry.sh from a clean checkout, <= 60 MiB):
#   .whl/                 wheels of the packages the host lacks (dask, distributed, dask-cuda, onnx2torch, pyclipper,
#                         rapidfuzz, usaddress, ...); installed into $SITE unless they import already
#   .gpu/models/<key>/<file>.xz   the default model sets (v6-small, v6-tiny) in `podocr models pull --from` layout, xz'd
#   .gpu/photos/          images/*.jpg + manifest.csv: synthetic photos with their expected_* fields
#
# Steps, each under `timeout` and a global deadline (DEADLINE_S, default 290 s: the whole run stays under 5 min):
#   0. host facts; 1. wheels; 2. models: unpack, pull --from, verify; 3. a day of N rows cycling over the carried
#   photos (unique delivery_ids; the OS file cache is warm); 3b. the diagnostic matrix (benchmarks/gpu_diag.py,
#   DIAG_S s: first call vs repeat per shape, on a fresh thread, NCHW vs channels-last, depthwise convs on/off
#   cuDNN, cudnn.benchmark, TF32); 4. `podocr batch --cuda`, torch backend fp32, GPU shape profile, nvidia-smi
#   sampled every 250 ms; 5. `podocr batch --no-cuda` (ONNX Runtime CPU) on CPU_N rows; 5b. the device ops' tests
#   on the GPU (tests/test_gpu_device_ops.py, CUDA variants; needs pytest from .whl/); 6./7. fp16 and fp16 + CUDA
#   graphs, only if time is left. Everything lands in $OUT/summary.json (one line): the diagnosis, photos/s
#   processing and end to end, warm-up time, per-stage ms, provider, status counts, GPU utilisation, the GPU/CPU
#   ratio, the share of the model-only ceiling, and the device read path's per-stage host/device ms
#   (`device_profile`; the torch runs use engine.device_ops = $DEVICE_OPS, default auto: on with CUDA). A run cut
#   off by its timeout still reports what its finished partitions wrote, marked "partial".
#
# --cpu-stand-in: no GPU needed (CI); the GPU steps run the torch backend on the CPU with the GPU shape profile on
# small ladders and the device read path forced on, a short diagnosis and a small day, so install, models, day,
# diagnosis, warm-up, batch and summary are all exercised anywhere in a few minutes.
#
set -uo pipefail

STAND_IN=0
for arg in "$@"; do
  case "$arg" in
    --cpu-stand-in) STAND_IN=1 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
PY=${PY:-python3}
SITE=${SITE:-/tmp/site}
WORK=${WORK:-/tmp/podocr-gpu}
OUT=${OUT:-$WORK/out}
if [ $STAND_IN = 1 ]; then
  N=${N:-8} CPU_N=${CPU_N:-4} GRAPHS_N=${GRAPHS_N:-4} DIAG_S=${DIAG_S:-25} PSIZE=${PSIZE:-4} CPU_PSIZE=${CPU_PSIZE:-4}
  DEADLINE_S=${DEADLINE_S:-900}  # a CI runner's CPU: torch imports and conversions take far longer than on a GPU host
  GPU_CAP=${GPU_CAP:-480} EXTRA=${EXTRA:-0}  # the torch-on-CPU job converts 5 models; fp16/graph runs add nothing here
  # the closed shape set on small ladders: warm-up and padding exercised without minutes of CPU convolutions
  export PODOCR__ENGINE__SHAPE_PROFILE=gpu PODOCR__ENGINE__GPU_DET_SIDES=640 PODOCR__ENGINE__GPU_REC_WIDTHS=320,640
  export PODOCR__ENGINE__GPU_BATCHES=1 PODOCR__DET__MAX_SIDE=640 PODOCR__REC__MAX_WIDTH=640
  export PODOCR__DET__BATCH_SIZE=2 PODOCR__REC__BATCH_SIZE=8 PODOCR__CLS__BATCH_SIZE=8
  DEVICE_OPS=${DEVICE_OPS:-on}  # the device read path on the CPU: its ops, wiring and profile exercised
fi
DEVICE_OPS=${DEVICE_OPS:-auto}  # engine.device_ops for the torch runs (auto: on where torch runs on CUDA)
N=${N:-2000} CPU_N=${CPU_N:-320} GRAPHS_N=${GRAPHS_N:-1000} DIAG_S=${DIAG_S:-90}
TPW=${TPW:-8} PSIZE=${PSIZE:-125} CPU_PSIZE=${CPU_PSIZE:-20}
DEADLINE_S=${DEADLINE_S:-290} GPU_CAP=${GPU_CAP:-130} EXTRA=${EXTRA:-1}
DATE=2026-11-26
SETS=(--set v6-small --set v6-tiny)  # models.set, roi.probe_set and rec.fast_set defaults

mkdir -p "$OUT" "$WORK"
rm -f "$OUT"/{summary.json,log.txt,batch_stderr.txt,smi.csv,gpu_fp32.json,cpu.json,gpu_fp16.json,gpu_fp16_graphs.json,diag.json,device_ops_tests.txt}
exec > >(tee -a "$OUT/log.txt") 2>&1
SUMMARY_TMP=$WORK/summary.json
rm -f "$SUMMARY_TMP"

step() { printf '\n== %s  (t+%ds)\n' "$*" "$SECONDS"; }
left() { echo $((DEADLINE_S - SECONDS)); }
case ":${PYTHONPATH:-}:" in *":$SITE:"*) ;; *) export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}" ;; esac
PODOCR=("$PY" -c 'import sys; from podocr.cli import main; sys.exit(main(prog_name="podocr"))')
export PODOCR_MODELS_DIR=$WORK/models PODOCR__JOB__REPORT=false PODOCR__JOB__DASHBOARD_ADDRESS=""
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::DeprecationWarning}

# ---- 0. host ---------------------------------------------------------------------------------------------------
step "0. host (mode: $([ $STAND_IN = 1 ] && echo 'CPU stand-in' || echo GPU))"
if [ $STAND_IN = 0 ]; then
  timeout 30 nvidia-smi --query-gpu=index,name,memory.total,driver_version,power.limit --format=csv,noheader \
    || { echo "nvidia-smi failed: no usable NVIDIA GPU (use --cpu-stand-in to check the script)"; exit 1; }
fi
echo "cores=$(nproc) mem=$(free -g | awk '/Mem:/{print $2}')G python=$("$PY" -V 2>&1) N=$N CPU_N=$CPU_N TPW=$TPW PSIZE=$PSIZE"

# ---- 1. wheels -------------------------------------------------------------------------------------------------
step "1. wheels"
NEED="import dask, distributed, onnx2torch, pyclipper, rapidfuzz, usaddress, pycrfsuite, tornado, zict"
[ $STAND_IN = 1 ] || NEED="$NEED, dask_cuda"  # the stand-in runs without dask-cuda
if ! "$PY" -c "$NEED" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "missing packages and no .whl/: run benchmarks/gpu_carry.sh"; exit 1; }
  timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    .whl/*.whl || { echo "wheel install failed"; exit 1; }
fi
# pytest for the device ops' tests (step 5b), optional: installed from .whl/ where the host lacks it
if ! "$PY" -c "import pytest, pytest_timeout" 2>/dev/null && ls .whl/pytest-*.whl >/dev/null 2>&1; then
  timeout 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
    $(ls .whl/pytest-*.whl .whl/pytest_timeout-*.whl .whl/pluggy-*.whl .whl/iniconfig-*.whl .whl/packaging-*.whl \
      2>/dev/null) || echo "pytest wheels did not install: step 5b will be skipped"
fi
# onnx2torch imports torchvision for its NMS/RoIAlign converters only (PP-OCR graphs have neither); where the
# host has no torchvision, a stub that raises if ever called keeps the 7 MB wheel out of the carry.
if ! "$PY" -c "import torchvision" 2>/dev/null; then
  mkdir -p "$SITE/torchvision"
  cat >"$SITE/torchvision/__init__.py" <<'EOF'
"""Stub written by benchmarks/gpu_device_run.sh: onnx2torch imports torchvision, PP-OCR graphs never call it."""
from . import ops  # noqa: F401
__version__ = "0.0+stub"
EOF
  cat >"$SITE/torchvision/ops.py" <<'EOF'
def _missing(*args, **kwargs):
    raise NotImplementedError("torchvision stub (gpu_device_run.sh): NMS/RoIAlign are not available")
nms = box_convert = roi_align = _missing
EOF
  echo "torchvision: not installed here; wrote a stub to $SITE/torchvision (onnx2torch's NMS/RoIAlign only)"
fi
"$PY" - "$STAND_IN" <<'EOF' || { echo "preflight failed (a missing module above)"; exit 1; }
import importlib, sys
stand_in = sys.argv[1] == "1"
mods = ["numpy", "torch", "onnx", "onnxruntime", "cv2", "pyarrow", "pandas", "dask", "distributed", "onnx2torch",
        "pyclipper", "rapidfuzz", "usaddress", "torchvision", "podocr.job.runner", "podocr.ocr.runtime.engine_torch",
        "podocr.extract", "dask_cuda"]
versions = {}
for m in mods:
    try:
        versions[m] = getattr(importlib.import_module(m), "__version__", "ok")
    except Exception as exc:
        if m == "dask_cuda" and stand_in:
            versions[m] = f"NOT IMPORTABLE ({type(exc).__name__}: {exc})"
            continue
        sys.exit(f"import {m}: {type(exc).__name__}: {exc}")
print(" ".join(f"{k}={v}" for k, v in versions.items() if "." not in k or k == "dask_cuda"))
import torch
print(f"torch cuda={torch.version.cuda} cudnn={torch.backends.cudnn.version()} "
      f"available={torch.cuda.is_available()} devices={torch.cuda.device_count()}"
      + (f" name={torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
if not stand_in and not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")
EOF

# ---- 2. models -------------------------------------------------------------------------------------------------
step "2. models: unpack .gpu/models, pull --from, verify"
rm -rf "$WORK/mirror" "$WORK/models"
"$PY" - .gpu/models "$WORK/mirror" <<'EOF' || exit 1
import lzma, pathlib, shutil, sys
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in sorted(src.rglob("*")):
    if f.is_file():
        out = dst / f.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix == ".xz":
            with lzma.open(f) as fin, open(out.with_suffix(""), "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        else:
            shutil.copy(f, out)
EOF
timeout 120 "${PODOCR[@]}" models pull --from "$WORK/mirror" --to "$WORK/models" "${SETS[@]}" || exit 1
timeout 60 "${PODOCR[@]}" models verify --to "$WORK/models" "${SETS[@]}" >/dev/null || { echo "models verify failed"; exit 1; }

# ---- 3. the day ------------------------------------------------------------------------------------------------
step "3. day: $N rows over the carried photos"
rm -rf "$WORK/day"
mkdir -p "$WORK/day/manifests/date=$DATE"
cp -r .gpu/photos/images "$WORK/day/images"
"$PY" - .gpu/photos/manifest.csv "$WORK/day" "$DATE" "$N" "$CPU_N" "$GRAPHS_N" <<'EOF' || exit 1
import csv, sys
src, day, date, *sizes = sys.argv[1:]
rows = list(csv.DictReader(open(src, newline="")))
def write(path, n):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for i in range(n):
            r = dict(rows[i % len(rows)])
            r["delivery_id"] = f"g{i:06d}-{r['delivery_id']}"
            w.writerow(r)
n, cpu_n, graphs_n = map(int, sizes)
write(f"{day}/manifests/date={date}/manifest.csv", n)
write(f"{day}/cpu-manifest.csv", min(cpu_n, n))
write(f"{day}/graphs-manifest.csv", min(graphs_n, n))
print(f"{n} rows over {len(rows)} distinct photos (each ~{n / len(rows):.1f}x; the OS file cache is warm)")
EOF

# ---- runs ------------------------------------------------------------------------------------------------------
SMI_PID="" LAST_RC=""
stop_smi() { [ -n "$SMI_PID" ] && kill "$SMI_PID" 2>/dev/null; wait "$SMI_PID" 2>/dev/null; SMI_PID=""; }
trap stop_smi EXIT

report() {  # $1 tag, $2 rc, $3 photos asked, $4 command start (epoch s): breakdown of $WORK/out-$tag, merged into the one-line summary
  local smi="$WORK/smi-$1.csv"
  [ -f "$smi" ] || smi=""
  "$PY" - "$1" "$2" "$3" "$WORK/out-$1" "$OUT/$1.json" "$smi" "$SUMMARY_TMP" "$STAND_IN" "$SECONDS" \
    "$N" "$CPU_N" "$TPW" "$PSIZE" "$WORK/out-gpu_fp32" "$4" "$WORK/prof-$1" <<'EOF'
import glob, json, os, sys
import pyarrow as pa
import pyarrow.parquet as pq
tag, rc, asked, out, success_path, smi, summary_path, stand_in, elapsed, n, cpu_n, tpw, psize, ref, started, prof = sys.argv[1:]
# model-only photos/s on one H200, fp16, per model set (../shared/bench/gpu-model-ceilings.md): the ceiling the
# end-to-end rate is measured against
CEILINGS = {"v5": 300.0, "v6-small": 490.0, "v6-tiny": 1280.0}
COLS = ["delivery_id", "status", "error_code", "provider", "processed_at", "tracking_number", "full_text",
        "fetch_s", "decode_s", "roi_s", "det_s", "crop_s", "cls_s", "rec_s", "extract_s", "total_s"]
run = {"rc": int(rc), "asked": int(asked)}
success = None
if os.path.isfile(success_path) and os.path.getsize(success_path):
    try:
        success = json.load(open(success_path))
    except ValueError:
        pass
def rows_of(folder):
    tables = []
    for f in sorted(glob.glob(f"{folder}/ocr_results/**/*.parquet", recursive=True)
                    or glob.glob(f"{folder}/_staging/**/part-*.parquet", recursive=True)):
        t = pq.read_table(f)
        if "total_s" in t.column_names:
            tables.append(t.select(COLS))
    return tables
tables = rows_of(out)
if success:
    d = success.get("durations", {})
    m = success.get("model", {})
    run.update(photos=success["photos_processed"], photos_per_s=success.get("photos_per_s"),
               e2e_photos_per_s=success.get("end_to_end_photos_per_s"),
               cluster_start_s=d.get("cluster_start_s"), warm_up_s=d.get("warm_up_s"),
               process_s=d.get("process_s"), total_s=d.get("total_s"), model_set=m.get("set"),
               backend=m.get("backend"), provider_summary=m.get("provider"),
               cluster={k: v for k, v in (success.get("cluster") or {}).items() if k != "scheduler"})
if tables:
    df = pa.concat_tables(tables).to_pandas()
    stages = ["fetch_s", "decode_s", "roi_s", "det_s", "crop_s", "cls_s", "rec_s", "extract_s", "total_s"]
    run["stage_ms"] = {c[:-2]: round(1000 * float(df[c].mean()), 1) for c in stages}
    run["status"] = {str(k): int(v) for k, v in df["status"].value_counts().items()}
    errs = df["error_code"].dropna().value_counts()
    if len(errs):
        run["error_codes"] = {str(k): int(v) for k, v in errs.items()}
    run["provider"] = {str(k): int(v) for k, v in df["provider"].value_counts().items()}
    if not success:  # cut off: what the finished partitions show
        span = df["processed_at"].max().timestamp() - float(started)  # command start -> last finished part
        run.update(partial=True, photos=len(df),
                   e2e_photos_per_s=round(len(df) / span, 3) if span > 0 else None)
    ref_tables = rows_of(ref) if tag != "gpu_fp32" else []
    if ref_tables:  # same delivery_ids read by the GPU fp32 run: do the two agree?
        other = pa.concat_tables(ref_tables).to_pandas().set_index("delivery_id")
        both = df.set_index("delivery_id").join(other, rsuffix="_ref", how="inner")
        if len(both):
            same = lambda c: round(100 * float((both[c].fillna("") == both[c + "_ref"].fillna("")).mean()), 1)
            from rapidfuzz import fuzz
            sim = [fuzz.ratio(x or "", y or "") for x, y in zip(both["full_text"], both["full_text_ref"])]
            run["vs_gpu_fp32_pct"] = {"rows": len(both), "status": same("status"),
                                      "tracking_number": same("tracking_number"), "full_text": same("full_text"),
                                      "full_text_similarity": round(sum(sim) / len(sim), 2)}
profiles = [json.load(open(f)) for f in sorted(glob.glob(f"{prof}/device-profile-*.json"))]
if profiles:  # the device read path's per-stage host CPU ms and device ms, merged over the worker processes
    from podocr.ocr.device.profile import merge
    run["device_profile"] = merge(profiles)
ceiling = CEILINGS.get(run.get("model_set") or "") if tag.startswith("gpu") else None
if ceiling and run.get("photos_per_s"):
    run["ceiling_photos_per_s"] = ceiling
    run["share_of_ceiling_pct"] = round(100 * run["photos_per_s"] / ceiling, 2)
    if run.get("e2e_photos_per_s"):
        run["e2e_share_of_ceiling_pct"] = round(100 * run["e2e_photos_per_s"] / ceiling, 2)
util = []
for line in open(smi) if smi else []:
    p = [x.strip() for x in line.split(",")]
    if len(p) == 3 and p[1].isdigit() and p[2].isdigit():
        util.append((int(p[1]), int(p[2])))
if util:
    busy = [u for u, _ in util]
    nz = [i for i, u in enumerate(busy) if u > 0]
    window = busy[nz[0]:nz[-1] + 1] if nz else busy
    run["gpu_util"] = {"mean_pct": round(sum(busy) / len(busy), 1),
                       "busy_window_mean_pct": round(sum(window) / len(window), 1),
                       "max_pct": max(busy), "peak_mem_mib": max(m for _, m in util), "samples": len(busy)}
summary = json.load(open(summary_path)) if os.path.isfile(summary_path) else {"runs": {}}
summary.setdefault("runs", {})
summary.update({
    "mode": "cpu-stand-in" if stand_in == "1" else "gpu", "n": int(n), "cpu_n": int(cpu_n),
    "threads_per_worker": int(tpw), "partition_size": int(psize),
    "note": "photos cycle over the carried set (each repeats; OS file cache warm); 'photos_per_s' = processing, "
            "'e2e' includes cluster start, model load/conversion, warm-up and commit; 'warm_up_s' = model load "
            "+ conversion + the closed shape set's warm-up"})
summary["runs"][tag] = run
g, c = summary["runs"].get("gpu_fp32", {}), summary["runs"].get("cpu", {})
if g.get("photos_per_s") and c.get("photos_per_s"):
    summary["gpu_fp32_over_cpu"] = round(g["photos_per_s"] / c["photos_per_s"], 2)
summary["elapsed_s"] = int(elapsed)
line = json.dumps(summary, separators=(",", ":"))
open(summary_path, "w").write(line + "\n")
# human-readable
print(f"[{tag}] rc={rc} photos={run.get('photos')} of {asked}"
      + (" (PARTIAL: cut off by its timeout)" if run.get("partial") else "")
      + f"  photos/s processing={run.get('photos_per_s')} end-to-end={run.get('e2e_photos_per_s')}")
if success:
    print(f"  cluster start {run['cluster_start_s']} s, warm-up (models) {run['warm_up_s']} s, "
          f"process {run['process_s']} s, total {run['total_s']} s; set {run['model_set']}, "
          f"backend {run['backend']}, cluster {run['cluster']}")
if "stage_ms" in run:
    tot = run["stage_ms"]["total"] or 1
    print("  mean ms per photo by stage: " + ", ".join(
        f"{k} {v} ({100 * v / tot:.0f}%)" for k, v in run["stage_ms"].items() if k != "total")
        + f"; total {run['stage_ms']['total']}")
    print(f"  status {run['status']}" + (f"  errors {run['error_codes']}" if "error_codes" in run else ""))
    print(f"  provider {run['provider']}")
if "share_of_ceiling_pct" in run:
    print(f"  share of the model-only ceiling ({run['ceiling_photos_per_s']} photos/s, H200 fp16, "
          f"{run['model_set']}): processing {run['share_of_ceiling_pct']}%, end to end "
          f"{run.get('e2e_share_of_ceiling_pct')}%")
if "device_profile" in run:
    dp = run["device_profile"]
    print(f"  device read path over {dp['photos']} photos ({dp['processes']} process(es)): host CPU "
          f"{dp['host_ms_per_photo']} ms/photo, device {dp['device_ms_per_photo']} ms/photo; per stage "
          "(host/device ms per photo): " + ", ".join(
              f"{k} {v['host_ms_per_photo']}/{v['device_ms_per_photo']}"
              for k, v in sorted(dp["stages"].items(), key=lambda kv: -kv[1]["device_ms_per_photo"])))
if "vs_gpu_fp32_pct" in run:
    print(f"  agreement with gpu_fp32 on the same rows (% equal) {run['vs_gpu_fp32_pct']}")
if "gpu_util" in run:
    print(f"  GPU utilisation {run['gpu_util']}")
EOF
  cp "$SUMMARY_TMP" "$OUT/summary.json" 2>/dev/null
}

batch() {  # $1 tag, $2 cap seconds, $3 photos; then batch flags. Env: what the caller exported
  local tag=$1 cap=$2 photos=$3 rc t started
  shift 3
  t=$(left)
  [ "$t" -gt "$cap" ] && t=$cap
  [ "$t" -ge 10 ] || { echo "skipped $tag: ${t}s left"; return; }
  step "$tag: $photos photos, timeout ${t}s"
  rm -rf "$WORK/out-$tag" "$WORK/smi-$tag.csv" "$WORK/prof-$tag"
  if [ $STAND_IN = 0 ]; then
    nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 250 \
      >"$WORK/smi-$tag.csv" 2>/dev/null &
    SMI_PID=$!
  fi
  echo "--- $tag (stderr)" >>"$OUT/batch_stderr.txt"
  started=$(date +%s.%N)
  PODOCR__ENGINE__DEVICE_PROFILE_DIR="$WORK/prof-$tag" timeout -k 15 "$t" "${PODOCR[@]}" \
    batch --date "$DATE" --input "$WORK/day" --output "$WORK/out-$tag" --no-progress --json "$@" \
    >"$OUT/$tag.json" 2>>"$OUT/batch_stderr.txt"
  rc=$?
  LAST_RC=$rc
  stop_smi
  if [ -f "$WORK/smi-$tag.csv" ]; then sed "s/^/$tag, /" "$WORK/smi-$tag.csv" >>"$OUT/smi.csv"; fi
  [ $rc = 0 ] || { echo "podocr batch exited $rc$([ $rc = 124 ] && echo ' (timeout)'); stderr tail:"; \
                   tail -n 15 "$OUT/batch_stderr.txt"; }
  grep -E "WARNING|RuntimeWarning|fp16|CUDA graphs|Error" "$OUT/batch_stderr.txt" | grep -v "^---" \
    | sed 's/^[^ ]* [^ ]* //' | sort | uniq -c | sort -rn | head -n 6
  report "$tag" "$rc" "$photos" "$started"
}

# Without dask-cuda (or if LocalCUDACluster cannot start), the same shape by hand: one LocalCluster worker with
# TPW threads and engine.provider = cuda on device 0 -- what LocalCUDACluster gives one GPU, minus its CPU affinity.
FALLBACK_FLAGS=(--no-cuda --n-workers 1 --threads-per-worker "$TPW")
if [ $STAND_IN = 1 ]; then
  GPU_FLAGS=("${FALLBACK_FLAGS[@]}")
  export PODOCR__ENGINE__PROVIDER=cpu
elif "$PY" -c "from dask_cuda import LocalCUDACluster" 2>/dev/null; then
  GPU_FLAGS=(--cuda --threads-per-worker "$TPW")
else
  echo "WARNING: dask_cuda does not import: GPU runs use one LocalCluster worker with engine.provider=cuda"
  GPU_FLAGS=("${FALLBACK_FLAGS[@]}")
  export PODOCR__ENGINE__PROVIDER=cuda
fi

# 3b. the diagnostic matrix (no Dask): per model, first call vs repeat vs a fresh thread, per engine setting
if [ "$DIAG_S" -gt 0 ] && [ "$(left)" -ge $((DIAG_S + 60)) ]; then
  step "3b. diagnostic matrix (${DIAG_S}s)"
  timeout -k 5 $((DIAG_S + 40)) "$PY" benchmarks/gpu_diag.py --device "$([ $STAND_IN = 1 ] && echo cpu || echo cuda)" \
    --budget-s "$DIAG_S" --out "$OUT/diag.json" ${DIAG_VARIANTS:+--variants "$DIAG_VARIANTS"} | cut -c1-600
  echo "gpu_diag exit ${PIPESTATUS[0]}"
  "$PY" - "$OUT/diag.json" "$SUMMARY_TMP" <<'EOF'
import json, os, sys
diag, summary_path = sys.argv[1:]
if os.path.isfile(diag):
    d = json.load(open(diag))
    s = json.load(open(summary_path)) if os.path.isfile(summary_path) else {"runs": {}}
    s["diag"] = {"best_per_role": d.get("best_per_role"), "seconds": d.get("seconds"),
                 "variants": {v["variant"]: v.get("roles", v.get("error")) for v in d.get("variants", [])}}
    open(summary_path, "w").write(json.dumps(s, separators=(",", ":")) + "\n")
EOF
  [ "${DIAG_ONLY:-0}" = 1 ] && { step "done (DIAG_ONLY)"; cp "$SUMMARY_TMP" "$OUT/summary.json"; exit 0; }
fi

# 4. the number that matters most: GPU, torch backend, fp32
PODOCR__ENGINE__BACKEND=torch PODOCR__ENGINE__FP16=false PODOCR__ENGINE__DEVICE_OPS=$DEVICE_OPS \
  batch gpu_fp32 "$GPU_CAP" "$N" "${GPU_FLAGS[@]}" --partition-size "$PSIZE"
if [ $STAND_IN = 0 ] && [ "$LAST_RC" = 4 ] && [ "${GPU_FLAGS[0]}" = --cuda ] && [ "$(left)" -ge 120 ]; then
  echo "WARNING: podocr batch --cuda could not start its cluster (exit 4, see batch_stderr.txt); rerunning with" \
    "one LocalCluster worker and engine.provider=cuda"
  GPU_FLAGS=("${FALLBACK_FLAGS[@]}")
  export PODOCR__ENGINE__PROVIDER=cuda
  PODOCR__ENGINE__BACKEND=torch PODOCR__ENGINE__FP16=false PODOCR__ENGINE__DEVICE_OPS=$DEVICE_OPS \
    batch gpu_fp32 "$GPU_CAP" "$N" "${GPU_FLAGS[@]}" --partition-size "$PSIZE"
fi

# 5. the same job on this host's CPU (ONNX Runtime, default sizing) for the ratio
if [ "$(left)" -ge 50 ]; then
  PODOCR__ENGINE__BACKEND=onnxruntime PODOCR__ENGINE__PROVIDER=cpu PODOCR__ENGINE__FP16=false \
    PODOCR__ENGINE__SHAPE_PROFILE=cpu PODOCR__ENGINE__DEVICE_OPS=off batch cpu 70 "$CPU_N" --no-cuda --manifest "$WORK/day/cpu-manifest.csv" --partition-size "$CPU_PSIZE"
else
  echo "skipped cpu: $(left)s left"
fi

# 5b. the device read path's ops on this device against the host ops (tests/test_gpu_device_ops.py, its CUDA
# variants; the whole-read tests are left to the batch runs above). Needs pytest (carried in .whl/).
if [ $STAND_IN = 0 ] && [ "$(left)" -ge 75 ] && "$PY" -c "import pytest, pytest_timeout" 2>/dev/null; then
  step "5b. device ops tests on the device (60s)"
  timeout -k 5 60 "$PY" -m pytest -q -p no:cacheprovider -m torch tests/test_gpu_device_ops.py -k "not device_read" \
    >"$OUT/device_ops_tests.txt" 2>&1
  DT_RC=$?
  tail -n 25 "$OUT/device_ops_tests.txt"
  "$PY" - "$OUT/device_ops_tests.txt" "$DT_RC" "$SUMMARY_TMP" <<'EOF'
import json, os, sys
path, rc, summary_path = sys.argv[1:]
lines = [ln.strip() for ln in open(path) if ln.strip()]
s = json.load(open(summary_path)) if os.path.isfile(summary_path) else {"runs": {}}
s["device_ops_tests"] = {"rc": int(rc), "result": lines[-1] if lines else "",
                         "failed": [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:20]}
open(summary_path, "w").write(json.dumps(s, separators=(",", ":")) + "\n")
EOF
  cp "$SUMMARY_TMP" "$OUT/summary.json" 2>/dev/null
else
  echo "skipped device ops tests: stand-in, $(left)s left, or no pytest"
fi

# 6. fp16, validated per model at load
if [ "$EXTRA" = 1 ] && [ "$(left)" -ge 100 ]; then
  PODOCR__ENGINE__BACKEND=torch PODOCR__ENGINE__FP16=true PODOCR__ENGINE__DEVICE_OPS=$DEVICE_OPS \
    batch gpu_fp16 150 "$N" "${GPU_FLAGS[@]}" --partition-size "$PSIZE"
else
  echo "skipped gpu_fp16: $(left)s left"
fi

# 7. fp16 + CUDA graphs (captures that fail turn graphs off for that model, with a warning in batch_stderr.txt)
if [ "$EXTRA" = 1 ] && [ "$(left)" -ge 60 ]; then
  PODOCR__ENGINE__BACKEND=torch PODOCR__ENGINE__FP16=true PODOCR__ENGINE__CUDA_GRAPHS=true \
    PODOCR__ENGINE__DEVICE_OPS=$DEVICE_OPS \
    batch gpu_fp16_graphs 100 "$GRAPHS_N" "${GPU_FLAGS[@]}" --partition-size "$PSIZE" \
    --manifest "$WORK/day/graphs-manifest.csv"
else
  echo "skipped gpu_fp16_graphs: $(left)s left"
fi

step "done"
cat "$OUT/summary.json"
ls -la "$OUT"
