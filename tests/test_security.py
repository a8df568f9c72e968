"""A manifest row is untrusted input, and credentials are nobody's business: proofs on real job runs.

* Rows pointing outside the images root (other buckets, `..`, `file://`, `http://`, symlinks out of a local root,
  …) become `uri_not_allowed` rows — and the objects are never *requested*: the fault proxy in front of the S3
  server logs every request, and inotify on a local target file reports any open by any process.
* Distinctive credentials, in the config and in the AWS environment, never appear in the job's output, its
  JSON logs, its error messages, the HTML report, the Parquet or `_SUCCESS` — on a successful run with error
  rows, and on a run the storage refuses.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import fsspec
import pyarrow.parquet as pq
import pytest
import test_job_s3
from conftest import start_moto_server
from faultkit import assert_every_row_once, batch_args, run_cli
from faultproxy import Fault, FaultProxy
from jobkit import DATE, job_config, read_day, read_manifest_rows, synth_day, write_manifest_rows

from podocr.io import sink
from podocr.io.errors import ErrorCode
from podocr.job.exitcodes import ExitCode
from podocr.job.runner import run_batch

# The job tests' LocalCluster (2 worker processes × 1 thread, inheriting the moto server's fake AWS env).
cluster = test_job_s3.cluster


def quiet(_: str) -> None:
    pass


def rows_by_id(table: Any) -> dict[str, dict[str, Any]]:
    return {r["delivery_id"]: r for r in table.to_pylist()}


def reencoded(photo: Path, dest: Path) -> str:
    """A copy of `photo` with different bytes (another JPEG quality); its sha256, to recognise it if read."""
    pixels = cv2.imread(str(photo))
    assert pixels is not None
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 77])
    assert ok
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data.tobytes())
    return hashlib.sha256(data.tobytes()).hexdigest()


# ---- S3: forbidden URIs are never requested ---------------------------------------------------------------
def test_s3_rows_outside_the_images_root_are_rejected_without_a_single_request(
    s3_server: Any,
    s3_bucket: str,
    cluster: Any,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    day = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    rows = read_manifest_rows(day)
    good = day / rows[0]["image_uri"]
    fs = s3_server.fs()
    other_bucket = "podocr-some-other-bucket"  # need not exist: the proof is that nothing asks for it
    # Real, readable photos where the forbidden rows point: a read would succeed and show up as an ok row.
    for key in (
        f"{s3_bucket}/secret/label.jpg",
        f"{s3_bucket}/in-sibling/label.jpg",
        f"{s3_bucket}/in/images/versioned.jpg",
    ):
        fs.pipe(key, good.read_bytes())
    secret, sibling = (s3_bucket, "secret/label.jpg"), (s3_bucket, "in-sibling/label.jpg")
    with FaultProxy(s3_server.endpoint_url) as proxy:
        forbidden = {  # delivery_id → (image_uri, the object it points at: never to be requested)
            "FORBID-OTHER-BUCKET": (f"s3://{other_bucket}/label.jpg", (other_bucket, "label.jpg")),
            "FORBID-SAME-BUCKET": (f"s3://{s3_bucket}/secret/label.jpg", secret),
            "FORBID-SIBLING-PREFIX": (f"s3://{s3_bucket}/in-sibling/label.jpg", sibling),
            "FORBID-DOTDOT": ("../secret/label.jpg", secret),
            "FORBID-DOTDOT-ABSOLUTE": (f"s3://{s3_bucket}/in/images/../../secret/label.jpg", secret),
            "FORBID-HTTP": (f"{proxy.endpoint_url}/{s3_bucket}/secret/label.jpg", secret),
            "FORBID-S3A": (f"s3a://{s3_bucket}/secret/label.jpg", secret),
            "FORBID-QUERY": (
                f"s3://{s3_bucket}/in/images/versioned.jpg?versionId=1",
                (s3_bucket, "in/images/versioned.jpg"),
            ),
            "FORBID-FILE": ("file:///etc/passwd", ("etc", "passwd")),  # as a request: bucket etc, key passwd
            "FORBID-ABSOLUTE-PATH": ("/etc/passwd", ("etc", "passwd")),
        }
        rows += [{"delivery_id": k, "image_uri": uri} for k, (uri, _) in forbidden.items()]
        # Percent-encoding is not traversal: S3 keys are literal, so this is a missing key inside the root.
        rows.append({"delivery_id": "LITERAL-PERCENT", "image_uri": "images/%2e%2e/%2e%2e/secret/label.jpg"})
        write_manifest_rows(day, rows)
        fs.put(str(day) + "/", f"{s3_bucket}/in/", recursive=True)

        proxy.inject()
        cfg = job_config(
            f"s3://{s3_bucket}/in",
            f"s3://{s3_bucket}/out",
            job__scheduler=cluster.scheduler.address,
            io__s3_endpoint_url=proxy.endpoint_url,
        )
        success = run_batch(cfg, DATE, echo=quiet)
        requested = [h.path for h in proxy.log]

    committed, table = read_day(fs, f"{s3_bucket}/out")
    assert committed["run_id"] == success["run_id"]
    assert_every_row_once(table, committed, [r["delivery_id"] for r in rows])
    by_id = rows_by_id(table)
    for delivery_id, (_, target) in forbidden.items():
        row = by_id[delivery_id]
        assert (row["status"], row["error_code"]) == ("error", ErrorCode.URI_NOT_ALLOWED), delivery_id
        assert row["image_sha256"] is None
        leaked = [path for path in requested if _touches(path, *target)]
        assert not leaked, f"{delivery_id}: requested {leaked}"
    assert by_id["LITERAL-PERCENT"]["error_code"] == ErrorCode.NOT_FOUND
    assert any("/in/images/" in path for path in requested)  # the proxy did see the allowed reads
    assert committed["counts"]["error_code"][str(ErrorCode.URI_NOT_ALLOWED)] == len(forbidden)


def _touches(request_path: str, bucket: str, key: str) -> bool:
    """Does this logged request read `bucket/key` — directly, or by listing it as a prefix?"""
    path = urllib.parse.unquote(request_path)  # one level: a literal '%2e' in a key stays '%2e'
    listing = path.startswith(f"/{bucket}?") and f"prefix={key}" in path
    return path.startswith(f"/{bucket}/{key}") or listing


# ---- local: a symlink out of the root is never opened -----------------------------------------------------
class OpenWatch:
    """inotify on one file: did any process open or read it? (Linux; ctypes, no extra dependency)"""

    IN_ACCESS, IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x1, 0x20, 0o4000, 0o2000000

    def __init__(self, path: Path) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self._libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self._libc.inotify_add_watch(self.fd, os.fsencode(path), self.IN_OPEN | self.IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")

    def events(self) -> int:
        """Bytes of pending events (0 = nobody opened or read the file since the last call)."""
        total = 0
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 4096):
                total += len(chunk)
        return total

    def close(self) -> None:
        os.close(self.fd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")
def test_local_rows_escaping_the_root_never_open_the_target(
    cluster: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    day = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    rows = read_manifest_rows(day)
    outside = tmp_path / "outside"
    secret = outside / "secret.jpg"
    secret_sha = reencoded(day / rows[0]["image_uri"], secret)
    (day / "images" / "escape.jpg").symlink_to(secret)
    (day / "images" / "linkdir").symlink_to(outside, target_is_directory=True)
    (day / "images" / "alias.jpg").symlink_to(day / rows[1]["image_uri"])  # stays inside: followed
    forbidden = {
        "SYMLINK-FILE-OUT": "images/escape.jpg",
        "SYMLINK-DIR-OUT": "images/linkdir/secret.jpg",
        "DOTDOT": "../outside/secret.jpg",
        "DOTDOT-INSIDE-PATH": "images/../../outside/secret.jpg",
        "ABSOLUTE": str(secret),
        "FILE-URI": f"file://{secret}",
        "ETC-PASSWD": "file:///etc/passwd",
        "ETC-PASSWD-ABSOLUTE": "/etc/passwd",
        "HTTP": "http://127.0.0.1:9/secret.jpg",
    }
    rows += [{"delivery_id": k, "image_uri": uri} for k, uri in forbidden.items()]
    rows.append({"delivery_id": "SYMLINK-INSIDE", "image_uri": "images/alias.jpg"})
    write_manifest_rows(day, rows)
    out = tmp_path / "out"

    watch = OpenWatch(secret)
    try:
        cfg = job_config(str(day), str(out), job__scheduler=cluster.scheduler.address)
        run_batch(cfg, DATE, echo=quiet)
        opened_during_run = watch.events()
        secret.read_bytes()  # control: our own read must show up, or the watch proves nothing
        control = watch.events()
    finally:
        watch.close()
    assert opened_during_run == 0, "a worker opened the file outside the images root"
    assert control > 0

    committed, table = read_day(fsspec.filesystem("file"), str(out))
    assert_every_row_once(table, committed, [r["delivery_id"] for r in rows])
    by_id = rows_by_id(table)
    for delivery_id in forbidden:
        assert by_id[delivery_id]["error_code"] == ErrorCode.URI_NOT_ALLOWED, delivery_id
    assert by_id["SYMLINK-INSIDE"]["status"] in ("ok", "no_text")
    assert secret_sha not in {r["image_sha256"] for r in by_id.values()}
    dumped = json.dumps(table.to_pylist(), default=str)
    assert "root:x:0:0" not in dumped  # /etc/passwd's content went nowhere


# ---- credentials ---------------------------------------------------------------------------------------------
FAKE_ENV_KEY_ID = "AKIAPODOCRENVLEAKT3ST"  # in the AWS environment of every process
FAKE_ENV_SECRET = "podocr-env-SECRET/do+not+leak/5a1c9e"
FAKE_ENV_TOKEN = "podocr-env-SESSION-token-do-not-leak-77e1"


@pytest.fixture
def iam_s3(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A moto server that authenticates every request, with the day in a bucket and a key pair allowed only
    there — so a run that succeeds proves the job really signed with the configured secret."""
    import boto3

    day = synth_day(tmp_path_factory.getbasetemp(), tmp_path / "in")
    rows = read_manifest_rows(day)
    rows += [
        {"delivery_id": "ESCAPE", "image_uri": "../../etc/passwd"},
        {"delivery_id": "MISSING", "image_uri": "images/missing.jpg"},
    ]
    write_manifest_rows(day, rows)
    with start_moto_server() as server:
        kw = {"endpoint_url": server.endpoint_url, "region_name": "us-east-1"}
        admin = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        s3, iam = boto3.client("s3", **kw, **admin), boto3.client("iam", **kw, **admin)
        s3.create_bucket(Bucket="pod")
        for path in sorted(p for p in day.rglob("*") if p.is_file()):
            s3.put_object(Bucket="pod", Key=f"in/{path.relative_to(day)}", Body=path.read_bytes())
        iam.create_user(UserName="podocr-job")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::pod", "arn:aws:s3:::pod/*"]}
            ],
        }
        iam.put_user_policy(UserName="podocr-job", PolicyName="pod", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="podocr-job")["AccessKey"]
        server.post("/moto-api/reset-auth", b"0")  # from here on, unsigned or mis-signed requests fail
        with FaultProxy(server.endpoint_url) as proxy:
            yield {
                "server": server,
                "proxy": proxy,
                "rows": rows,
                "key_id": key["AccessKeyId"],
                "secret": key["SecretAccessKey"],
            }


def _env(s3: dict[str, Any], secret: str, tmp_path: Path) -> dict[str, str]:
    nowhere = str(tmp_path / "no-aws-config")
    return {
        "AWS_ACCESS_KEY_ID": FAKE_ENV_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_ENV_SECRET,
        "AWS_SESSION_TOKEN": FAKE_ENV_TOKEN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": nowhere,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "PODOCR__IO__S3_ENDPOINT_URL": s3["proxy"].endpoint_url,
        "PODOCR__IO__AWS_ACCESS_KEY_ID": s3["key_id"],
        "PODOCR__IO__AWS_SECRET_ACCESS_KEY": secret,
        "PODOCR__IO__READ_RETRIES": "1",
        "PODOCR__IO__RETRY_BASE_S": "0.05",
        "PODOCR__JOB__LOG_JSON": "true",
        "PODOCR__JOB__REPORT": "true",
    }


def _all_text_under(fs: Any, prefix: str) -> str:
    """Every object under `prefix` as text: Parquet as all its rows (every column, nested ones too)."""
    fs.invalidate_cache()
    chunks = []
    for path in sorted(fs.find(prefix)):
        if path.endswith(".parquet"):
            with fs.open(path, "rb") as fh:
                chunks.append(json.dumps(pq.read_table(fh).to_pylist(), default=str))
        else:
            chunks.append(fs.cat_file(path).decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def test_credentials_never_appear_in_logs_messages_report_or_parquet(
    iam_s3: dict[str, Any], tmp_path: Path
) -> None:
    proxy: FaultProxy = iam_s3["proxy"]
    key_id, secret = iam_s3["key_id"], iam_s3["secret"]
    secrets = [key_id, secret, FAKE_ENV_KEY_ID, FAKE_ENV_SECRET, FAKE_ENV_TOKEN]
    ids = [r["delivery_id"] for r in iam_s3["rows"]]
    good = [i for i in ids if i not in ("ESCAPE", "MISSING")]
    photos = {r["delivery_id"]: r["image_uri"] for r in iam_s3["rows"]}
    args = batch_args("s3://pod/in", "s3://pod/out", "--partition-size", "4", "--n-workers", "2", "-v")
    logs = tmp_path / "logs"

    # 1. A run that succeeds, with error rows of every storage kind: denied, failing, missing, escaping.
    proxy.inject(
        Fault("403", times=10**9, method="HEAD", path=f"/{photos[good[0]]}$"),
        Fault("500", times=10**9, method="GET", path=f"/{photos[good[1]]}$"),
    )
    ok = run_cli([*args, "--json"], logs, env=_env(iam_s3, secret, tmp_path))
    assert ok.proc.returncode == 0, ok.stderr
    fs = iam_s3["server"].fs(key=key_id, secret=secret)
    committed, table = read_day(fs, "pod/out")
    assert_every_row_once(table, committed, ids)
    codes = {r["delivery_id"]: r["error_code"] for r in table.to_pylist()}
    assert codes[good[0]] == ErrorCode.ACCESS_DENIED and codes[good[1]] == ErrorCode.FETCH_FAILED
    assert codes["ESCAPE"] == ErrorCode.URI_NOT_ALLOWED and codes["MISSING"] == ErrorCode.NOT_FOUND
    assert fs.exists(f"pod/out/{sink.RESULTS_DIR}/date={DATE}/_report.html")
    assert '"level": "INFO"' in ok.stderr  # JSON log lines were written, so there was something to leak into

    # 2. A run the storage refuses (right key id, wrong secret): exit 4, the message shown to the operator.
    wrong = "podocr-WRONG-secret/not+the+real+one/0b7d"
    refused = run_cli(args, logs, env=_env(iam_s3, wrong, tmp_path))
    assert refused.proc.returncode == ExitCode.INFRASTRUCTURE, refused.stderr
    assert "error (infrastructure): cannot read the manifest: PermissionError" in refused.stderr

    everything = "\n".join(
        [ok.stdout, ok.stderr, refused.stdout, refused.stderr, _all_text_under(fs, "pod/out")]
    )
    for value in [*secrets, wrong]:
        assert value not in everything, f"{value[:8]}… leaked"
    # (the key id is 20 characters; its first 8 may be shown, masked, as redaction does for AKIA… ids)
