"""INT8 variants of the CPU models: calibrate, quantise, validate, and say whether each one may be used.

Calibration feeds each model what it sees in the job: the fp32 pipeline reads rendered synthetic photos
(`podocr.synth.render_photo`, a seed of its own) with recording engines, so the detector is calibrated on the
label crops and probe photos the stages make and the recognisers on the line crops they cut. The model is then
quantised statically with ONNX Runtime's tools (QDQ, per-channel weights, U8 activations, MinMax ranges).

Everything that feeds the result is fixed (seed, photo count, one thread, input order), so the same ONNX Runtime
build on the same CPU family reproduces the file byte for byte, which is what lets the registry pin its sha256.

Validation is the only gate: a variant is kept when line recall on a held-out labelled folder drops by at most
`max_recall_drop` points against fp32, with every other model unchanged. Speed is measured at one thread,
fp32 and INT8 calls alternating on the recorded inputs, so a busy machine slows both alike.

`onnx` (the `quant` extra) is needed only here, and imported lazily.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podocr.config import PodocrConfig
from podocr.ocr.registry import (
    QUANTIZED_SOURCE,
    ModelError,
    Registry,
    file_path,
    resolve,
    sha256_file,
    store_dir,
)

ROLES_OF_FILE = ("det", "rec")  # which file of a set a quantisable key is


@dataclass(frozen=True)
class QuantizeOptions:
    """The recipe; every field feeds the output bytes, so changing one changes the pinned sha256."""

    calib_seed: int = 4242  # synth seed of the calibration photos (held-out sets must use another)
    calib_photos: int = 24
    max_samples: int = 48  # model inputs kept per model (an even spread over everything recorded)
    per_channel: bool = True
    fmt: str = "qdq"  # qdq | qoperator
    ops: tuple[str, ...] = ("Conv", "MatMul")  # op types quantised; the rest stay fp32
    # 7-bit weights: without VNNI, x86 U8S8 kernels sum pairs of products in int16, which saturates at 8 bits
    reduce_range: bool = True


@dataclass
class Decision:
    """One model's INT8 verdict, with the numbers it rests on."""

    key: str
    int8_key: str
    path: str
    sha256: str
    recall_fp32: float | None = None
    recall_int8: float | None = None
    tracking_fp32: float | None = None
    tracking_int8: float | None = None
    fp32_ms: float | None = None  # per call at one thread, on the recorded inputs
    int8_ms: float | None = None
    kept: bool | None = None  # None: not validated
    notes: list[str] = field(default_factory=list)

    @property
    def recall_drop_points(self) -> float | None:
        if self.recall_fp32 is None or self.recall_int8 is None:
            return None
        return 100.0 * (self.recall_fp32 - self.recall_int8)

    @property
    def speedup(self) -> float | None:
        return self.fp32_ms / self.int8_ms if self.fp32_ms and self.int8_ms else None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(recall_drop_points=self.recall_drop_points, speedup=self.speedup)
        return out

    def registry_entry(self, base_member: str) -> str:
        """The registry.toml table that pins this file (add it only when `kept`)."""
        return (
            f"[files.{self.int8_key}]\n"
            f'source = "{QUANTIZED_SOURCE}"\n'
            f'member = "{int8_member(base_member)}"\n'
            f'sha256 = "{self.sha256}"\n'
            f'int8_of = "{self.key}"\n'
        )


def int8_key(key: str) -> str:
    return f"{key}-int8"


def int8_member(member: str) -> str:
    return member.removesuffix(".onnx") + ".int8.onnx"


def _onnx_quantization() -> Any:
    try:
        import onnx  # noqa: F401  (onnxruntime.quantization imports it; fail here with the fix)
        from onnxruntime import quantization
    except ImportError as exc:
        raise ModelError(
            f"INT8 quantisation needs the `onnx` package ({exc}); install it with `pip install podocr[quant]`"
        ) from exc
    return quantization


# ---- calibration inputs --------------------------------------------------------------------------------------


class RecordingEngine:
    """An engine that keeps a copy of each input it runs (one array per batch item, padding included)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.provider: str = inner.provider
        self.input_name: str = inner.input_name
        self.seen: list[np.ndarray] = []

    def run(self, x: np.ndarray) -> np.ndarray:
        self.seen.extend(np.array(x[i : i + 1], np.float32) for i in range(x.shape[0]))
        return np.asarray(self.inner.run(x))


def role_keys(cfg: PodocrConfig, reg: Registry) -> dict[str, str]:
    """Engine role (as in Components.engines) → fp32 file key, for the det/rec models the config loads."""
    main = reg.spec(cfg.models.set)
    out = {"det": reg.spec(cfg.det.set or main.name).det, "rec": main.rec}
    if cfg.roi.enabled and cfg.roi.probe_set and cfg.roi.probe_set != main.name:
        out["probe_det"] = reg.spec(cfg.roi.probe_set).det
    if cfg.rec.fast_set and cfg.rec.fast_set != main.name:
        out["rec_fast"] = reg.spec(cfg.rec.fast_set).rec
    return out


def record_inputs(cfg: PodocrConfig, photos: Sequence[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """fp32 file key → the inputs its model ran on while the pipeline read `photos` (one thread, in order)."""
    from podocr.ocr.build import build_components
    from podocr.ocr.pipeline import OcrPipeline
    from podocr.ocr.stages.rec import CascadeRecognizer

    cfg = cfg.replace(engine__batch_threads=1, engine__intra_op_threads=1, models__int8=[])
    parts = build_components(cfg, intra_op_threads=1)

    def wrap(stage: Any) -> None:
        if not isinstance(stage.engine, RecordingEngine):  # the probe may be the label detector itself
            stage.engine = RecordingEngine(stage.engine)

    by_role: dict[str, Any] = {"det": parts.detector, "probe_det": parts.probe_detector}
    if isinstance(parts.recognizer, CascadeRecognizer):
        by_role.update(rec=parts.recognizer.strong, rec_fast=parts.recognizer.fast)
    else:
        by_role["rec"] = parts.recognizer
    for stage in by_role.values():
        wrap(stage)
    pipeline = OcrPipeline(cfg, parts)
    for photo in photos:
        pipeline.run([photo])
    out: dict[str, list[np.ndarray]] = {}
    counted: set[int] = set()
    for role, key in role_keys(cfg, Registry.load(cfg.models.registry or None)).items():
        engine = by_role[role].engine
        if id(engine) not in counted:  # the probe may share the label detector's engine
            counted.add(id(engine))
            out.setdefault(key, []).extend(engine.seen)
    return out


def calibration_photos(opts: QuantizeOptions) -> list[np.ndarray]:
    """Rendered synthetic photos (labels of every carrier, in the job's photo conditions), in a fixed order."""
    from podocr.synth import render_photo

    return [render_photo(opts.calib_seed, i)[0] for i in range(opts.calib_photos)]


def spread(items: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """At most n items evenly spread over the sequence (first and last included), in order."""
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


# ---- quantisation --------------------------------------------------------------------------------------------


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a fixed list of inputs."""

    def __init__(self, input_name: str, samples: Sequence[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(samples)
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {self.input_name: x}

    def rewind(self) -> None:  # pragma: no cover - ORT calls it only for some calibrators
        raise NotImplementedError


def quantize_file(src: Path, dest: Path, samples: Sequence[np.ndarray], opts: QuantizeOptions) -> str:
    """Write the INT8 model for `src` to `dest`, calibrated on `samples`; returns its sha256."""
    q = _onnx_quantization()
    import onnxruntime as ort

    if not samples:
        raise ModelError(f"{src}: no calibration inputs were recorded for this model")
    input_name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    fmt = {"qdq": q.QuantFormat.QDQ, "qoperator": q.QuantFormat.QOperator}.get(opts.fmt)
    if fmt is None:
        raise ModelError(f"unknown quantisation format {opts.fmt!r}; known: qdq, qoperator")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # per-channel DequantizeLinear (its `axis`) needs opset 13; the v6 recognisers are exported at 11
        q.shape_inference.quant_pre_process(_opset13(src, Path(tmp)), str(pre), skip_symbolic_shape=True)
        out = Path(tmp) / "int8.onnx"
        q.quantize_static(
            str(pre),
            str(out),
            _Reader(input_name, samples),
            quant_format=fmt,
            op_types_to_quantize=list(opts.ops),
            per_channel=opts.per_channel,
            reduce_range=opts.reduce_range,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=q.CalibrationMethod.MinMax,
            calibration_providers=["CPUExecutionProvider"],
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        dest.write_bytes(out.read_bytes())
    return sha256_file(dest)


def _opset13(src: Path, tmp: Path) -> str:
    """`src`, or a copy converted to ONNX opset 13 when it is older."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(src))
    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 13:
        return str(src)
    out = tmp / "opset13.onnx"
    onnx.save(version_converter.convert_version(model, 13), str(out))
    return str(out)


# ---- speed ---------------------------------------------------------------------------------------------------


def time_pair(fp32: Path, int8: Path, samples: Sequence[np.ndarray], rounds: int = 3) -> tuple[float, float]:
    """Median ms per call of each model at one thread, calls alternating fp32/INT8 on the same inputs."""
    import onnxruntime as ort

    def session(path: Path) -> Any:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        so.enable_cpu_mem_arena = False
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    a, b = session(fp32), session(int8)
    name = a.get_inputs()[0].name
    ta: list[float] = []
    tb: list[float] = []
    for x in samples[:1]:  # warm-up
        a.run(None, {name: x})
        b.run(None, {name: x})
    for r in range(rounds):
        for i, x in enumerate(samples):
            pair = [(a, ta), (b, tb)] if (i + r) % 2 == 0 else [(b, tb), (a, ta)]
            for sess, acc in pair:
                t0 = time.perf_counter()
                sess.run(None, {name: x})
                acc.append(time.perf_counter() - t0)
    n = len(samples)
    per_a = [sum(ta[r * n : (r + 1) * n]) / n for r in range(rounds)]
    per_b = [sum(tb[r * n : (r + 1) * n]) / n for r in range(rounds)]
    return 1000 * float(np.median(per_a)), 1000 * float(np.median(per_b))


# ---- validation ----------------------------------------------------------------------------------------------


def candidate_registry(reg: Registry, entry_toml: str, out: Path) -> Path:
    """A copy of the registry with the candidate's entry in place of any registered one for the same key."""
    with open(reg.path, "rb") as fh:
        data = tomllib.load(fh)
    cand = tomllib.loads(entry_toml)["files"]
    key = next(iter(cand))
    data["files"] = {k: v for k, v in data["files"].items() if v.get("int8_of") != cand[key]["int8_of"]}
    data["files"].update(cand)
    out.write_text(_dump_registry(data), encoding="utf-8")
    return out


def _dump_registry(data: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines: list[str] = []
    for section, tables in data.items():
        for name, values in tables.items():
            lines.append(f"[{section}.{json.dumps(name)}]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in values.items())
            lines.append("")
    return "\n".join(lines)


def score(cfg: PodocrConfig, data: Path, limit: int | None) -> tuple[float | None, float | None]:
    """(line recall, tracking accuracy) of the pipeline as configured on the labelled folder."""
    from podocr.eval.evaluate import evaluate

    report = evaluate(data, cfg=cfg, limit=limit)
    return report.get("line_recall"), report.get("tracking_accuracy")


# ---- the whole job -------------------------------------------------------------------------------------------


def quantize_models(
    cfg: PodocrConfig,
    keys: Sequence[str],
    opts: QuantizeOptions,
    *,
    validate_on: Path | None = None,
    limit: int | None = None,
    max_recall_drop: float = 0.5,
    log: Any = print,
) -> list[Decision]:
    """Quantise each fp32 file key into the model store; with `validate_on`, decide whether each is kept.

    A key the registry already pins an INT8 file for must reproduce that sha256 (else a ModelError says the
    recipe made a different file here, so the pinned one has to come from a mirror)."""
    # INT8 QDQ files are ONNX Runtime's: calibrate, time and score with it, not with `auto`'s OpenVINO
    cfg = cfg.replace(engine__backend="onnxruntime")
    reg = Registry.load(cfg.models.registry or None)
    store = store_dir(cfg.models)
    roles = role_keys(cfg, reg)
    unknown = [k for k in keys if k not in roles.values()]
    if unknown:
        raise ModelError(
            f"cannot quantise {', '.join(unknown)}: not a det/rec model this configuration loads "
            f"({', '.join(sorted(set(roles.values())))})"
        )
    resolve(dataclasses.replace(cfg.models, int8=[]))  # every fp32 file present and verified
    log(f"calibrating on {opts.calib_photos} synthetic photos (seed {opts.calib_seed}) ...")
    recorded = record_inputs(cfg, calibration_photos(opts))
    decisions: list[Decision] = []
    base_scores: tuple[float | None, float | None] | None = None
    for key in keys:
        base = reg.files[key]
        samples = spread(recorded.get(key, []), opts.max_samples)
        dest = store / int8_key(key) / Path(int8_member(base.member)).name
        log(f"{key}: quantising on {len(samples)} recorded inputs → {dest}")
        sha = quantize_file(file_path(store, base), dest, samples, opts)
        d = Decision(key, int8_key(key), str(dest), sha)
        pinned = next((f for f in reg.files.values() if f.int8_of == key), None)
        if pinned is not None and pinned.sha256 != sha:
            d.notes.append(
                f"registry pins {pinned.sha256} for {pinned.key}; this machine's build made {sha} "
                "(a different ONNX Runtime build or CPU); pull the pinned file from a mirror instead"
            )
        d.fp32_ms, d.int8_ms = time_pair(file_path(store, base), dest, samples)
        log(f"{key}: {d.fp32_ms:.1f} ms fp32, {d.int8_ms:.1f} ms INT8 per call (1 thread, alternating)")
        if validate_on is not None:
            if base_scores is None:
                base_scores = score(cfg.replace(models__int8=[]), validate_on, limit)
            with tempfile.TemporaryDirectory() as tmp:
                cand = candidate_registry(reg, d.registry_entry(base.member), Path(tmp) / "registry.toml")
                trial = cfg.replace(models__registry=str(cand), models__int8=[key])
                trial.models.store = str(store)
                d.recall_int8, d.tracking_int8 = score(trial, validate_on, limit)
            d.recall_fp32, d.tracking_fp32 = base_scores
            drop = d.recall_drop_points
            d.kept = drop is not None and drop <= max_recall_drop
            log(
                f"{key}: line recall {d.recall_fp32} fp32 → {d.recall_int8} INT8 "
                f"(drop {drop:.2f} points, limit {max_recall_drop}): {'KEEP' if d.kept else 'REJECT'}"
                if drop is not None
                else f"{key}: no line recall to compare"
            )
        decisions.append(d)
    return decisions
