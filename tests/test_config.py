"""The config object: precedence, coercion, unknown keys, redaction."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from podocr.cli import main
from podocr.config import ConfigError, PodocrConfig


def test_precedence_defaults_file_env_flags(tmp_path):
    f = tmp_path / "podocr.toml"
    f.write_text('[job]\npartition_size = 128\noutput = "s3://from-file"\n[det]\nthresh = 0.25\n')
    env = {"PODOCR__JOB__OUTPUT": "s3://from-env", "PODOCR__ROI__ENABLED": "false"}
    cfg = PodocrConfig.load(f, overrides={"job.output": "s3://from-flag", "job.retries": None}, environ=env)
    assert cfg.job.partition_size == 128  # file beats default
    assert cfg.det.thresh == 0.25
    assert cfg.roi.enabled is False  # env string coerced to bool
    assert cfg.job.output == "s3://from-flag"  # flag beats env beats file
    assert cfg.job.retries == PodocrConfig().job.retries  # None flag = not given


@pytest.mark.parametrize(
    ("dotted", "value", "fragment"),
    [
        ("job.nope", 1, "unknown config key 'job.nope'"),
        ("nosection.x", 1, "unknown config section"),
        ("job.partition_size", "lots", "not a valid"),
        ("roi.enabled", "maybe", "not a valid"),
        ("job.partition_size", 1.5, "not a valid"),
    ],
)
def test_bad_values_are_specific_errors(dotted, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        PodocrConfig().set(dotted, value, origin="test")


def test_list_values_from_env_and_roundtrip():
    cfg = PodocrConfig.load(None, environ={"PODOCR__IO__IMAGES_ROOTS": "s3://a/x, s3://b/y"})
    assert cfg.io.images_roots == ["s3://a/x", "s3://b/y"]
    assert PodocrConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(job__partition_size=7).job.partition_size == 7
    assert cfg.job.partition_size != 7  # replace() copies


def test_config_show_redacts_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("PODOCR__IO__AWS_SECRET_ACCESS_KEY", "hunter2-very-secret")
    monkeypatch.setenv("PODOCR__JOB__PARTITION_SIZE", "64")
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    shown = json.loads(result.output)
    assert shown["io"]["aws_secret_access_key"] == "***"
    assert shown["job"]["partition_size"] == 64


def test_config_file_flag_with_bad_key_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PODOCR_CONFIG", "")  # --config exports PODOCR_CONFIG; let monkeypatch restore it
    f = tmp_path / "bad.toml"
    f.write_text("[job]\npartition_sise = 3\n")
    result = CliRunner().invoke(main, ["--config", str(f), "config", "show"])
    assert result.exit_code != 0
    assert "partition_sise" in result.output


def test_rec_height_is_not_a_setting():
    # the recogniser's input height is the model's (registry.toml rec_height); a key for it would be ignored
    assert "height" not in PodocrConfig().to_dict()["rec"]
    with pytest.raises(ConfigError, match=r"unknown config key 'rec\.height'"):
        PodocrConfig().set("rec.height", 32, origin="test")
