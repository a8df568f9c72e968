"""Model registry: pulling from the wheels or a mirror, checksum verification, clear errors."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from podocr.cli import main
from podocr.config import ModelsConfig
from podocr.ocr.registry import ModelError, Registry, check_file, file_path, pull, resolve, store_dir


@pytest.fixture(scope="module")
def store() -> str:
    """The real store `make setup` filled; every test copies what it corrupts."""
    cfg = ModelsConfig()
    pull(cfg, ["v6-tiny"])  # no-op when cached; verifies checksums either way
    return str(store_dir(cfg))


def test_registry_is_consistent():
    reg = Registry.load()
    assert {"v4", "v5", "v6-tiny", "v6-small"} <= set(reg.sets)
    for spec in reg.sets.values():
        for key in spec.file_keys():
            f = reg.files[key]
            assert len(f.sha256) == 64 and f.source in reg.sources


@pytest.mark.parametrize("set_name", ["v4", "v5", "v6-tiny", "v6-small"])
def test_every_set_resolves_verified(set_name, store):
    pull(ModelsConfig(store=store), [set_name])
    ms = resolve(ModelsConfig(set=set_name, store=store))
    assert ms.det.is_file() and ms.rec.is_file()
    assert (ms.dict_path is None) == (set_name == "v4")  # v4 keeps its characters in ONNX metadata


def test_corrupt_model_is_named_with_fix(tmp_path, store):
    reg = Registry.load()
    spec = reg.spec("v6-tiny")
    for key in spec.file_keys():
        dst = file_path(tmp_path, reg.files[key])
        dst.parent.mkdir(parents=True)
        shutil.copyfile(file_path(store_dir(ModelsConfig(store=store)), reg.files[key]), dst)
    bad = file_path(tmp_path, reg.files[spec.rec])
    bad.write_bytes(bad.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError) as err:
        resolve(ModelsConfig(set="v6-tiny", store=str(tmp_path)))
    msg = str(err.value)
    assert "v6-tiny-rec" in msg and "checksum mismatch" in msg and "podocr models pull --set v6-tiny" in msg
    result = CliRunner().invoke(main, ["models", "verify", "--set", "v6-tiny", "--to", str(tmp_path)])
    assert result.exit_code == 1 and "checksum mismatch" in result.output


def test_missing_model_and_unknown_set(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        resolve(ModelsConfig(set="v6-tiny", store=str(tmp_path)))
    with pytest.raises(ModelError, match="unknown model set 'v9'"):
        resolve(ModelsConfig(set="v9", store=str(tmp_path)))


def test_pull_from_mirror_and_reject_tampered_mirror(tmp_path, store):
    """A mirror (here a folder; an s3:// prefix works the same through fsspec) laid out by `models push`."""
    mirror = tmp_path / "mirror"
    runner = CliRunner()
    res = runner.invoke(main, ["models", "push", str(mirror), "--set", "v6-tiny", "--to", store])
    assert res.exit_code == 0, res.output
    fresh = tmp_path / "fresh"
    res = runner.invoke(
        main, ["models", "pull", "--set", "v6-tiny", "--to", str(fresh), "--from", str(mirror)]
    )
    assert res.exit_code == 0, res.output
    assert "mirror" in res.output
    reg = Registry.load()
    assert all(check_file(fresh, reg.files[k]) is None for k in reg.spec("v6-tiny").file_keys())
    # Tamper with the mirror: pull must refuse to install it.
    det = mirror / "v6-tiny-det" / "det.onnx"
    det.write_bytes(b"not a model")
    res = runner.invoke(
        main, ["models", "pull", "--set", "v6-tiny", "--to", str(tmp_path / "f2"), "--from", str(mirror)]
    )
    assert res.exit_code != 0 and "refusing" in res.output
