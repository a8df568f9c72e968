"""ImageStore: URI confinement, bounded reads and error mapping — on local disk and a real S3 endpoint (moto
server over HTTP), with faults injected by a proxy in between."""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from conftest import MotoServer, start_moto_server
from faultproxy import ACTIONS, Fault, FaultProxy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podocr.config import IOConfig
from podocr.io.errors import ErrorCode, PhotoError
from podocr.io.storage import ImageStore, open_fs, redact_uri, storage_options


def _code(call: object, *args: object) -> ErrorCode:
    with pytest.raises(PhotoError) as info:
        call(*args)  # type: ignore[operator]
    return info.value.code


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """images/ with a photo, a nested photo, symlinks in and out, a sibling images2/ and a secret outside."""
    images = tmp_path / "images"
    (images / "day").mkdir(parents=True)
    (images / "a.jpg").write_bytes(b"A" * 10)
    (images / "day" / "b.jpg").write_bytes(b"B" * 10)
    (tmp_path / "images2").mkdir()
    (tmp_path / "images2" / "c.jpg").write_bytes(b"C")
    (tmp_path / "secret.txt").write_bytes(b"S")
    (images / "link_out.jpg").symlink_to(tmp_path / "secret.txt")
    (images / "dir_out").symlink_to(tmp_path / "images2", target_is_directory=True)
    (images / "link_in.jpg").symlink_to(images / "day" / "b.jpg")
    return tmp_path


# ---- resolve: local -------------------------------------------------------------------------------------
def test_resolve_local_accepts_paths_inside_the_root(tree: Path) -> None:
    store = ImageStore(IOConfig(), str(tree / "images"))
    root = str((tree / "images").resolve())
    assert store.resolve("a.jpg") == f"{root}/a.jpg"
    assert store.resolve("day/../day/./b.jpg") == f"{root}/day/b.jpg"
    assert store.resolve(f"{tree}/images/a.jpg") == f"{root}/a.jpg"
    assert store.resolve(f"file://{tree}/images/a.jpg") == f"{root}/a.jpg"
    assert store.resolve(f"file://localhost{tree}/images/a.jpg") == f"{root}/a.jpg"
    assert store.resolve("link_in.jpg") == f"{root}/day/b.jpg"  # a symlink that stays inside is fine


@pytest.mark.parametrize(
    "uri",
    [
        "../secret.txt",
        "day/../../secret.txt",
        "{tree}/images/../secret.txt",
        "{tree}/images2/c.jpg",  # string prefix of the root, but a different directory
        "../images2/c.jpg",
        "link_out.jpg",  # symlink to a file outside
        "dir_out/c.jpg",  # symlinked directory outside
        "/etc/passwd",
        "file:///etc/passwd",
        "file://otherhost/share/a.jpg",
        "file:a.jpg",
        "s3://some-bucket/images/a.jpg",  # S3 when the roots are local
        "http://example.com/a.jpg",
        "https://bucket.s3.amazonaws.com/a.jpg",
        "ftp://example.com/a.jpg",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "a.jpg\x00.png",
        "a\njpg",
        "",
        "x" * 2049,
    ],
)
def test_resolve_local_rejects(tree: Path, uri: str) -> None:
    store = ImageStore(IOConfig(), str(tree / "images"))
    assert _code(store.resolve, uri.replace("{tree}", str(tree))) is ErrorCode.URI_NOT_ALLOWED


def test_resolve_rejects_non_strings(tree: Path) -> None:
    store = ImageStore(IOConfig(), str(tree / "images"))
    assert _code(store.resolve, None) is ErrorCode.URI_NOT_ALLOWED
    assert _code(store.resolve, float("nan")) is ErrorCode.URI_NOT_ALLOWED


def test_extra_roots_from_config_are_allowed(tree: Path) -> None:
    store = ImageStore(IOConfig(images_roots=[str(tree / "images2")]), str(tree / "images"))
    assert store.resolve(f"{tree}/images2/c.jpg") == str((tree / "images2" / "c.jpg").resolve())
    assert store.resolve("dir_out/c.jpg") == str((tree / "images2" / "c.jpg").resolve())  # now inside a root
    assert _code(store.resolve, f"{tree}/secret.txt") is ErrorCode.URI_NOT_ALLOWED


def test_a_store_needs_a_root() -> None:
    with pytest.raises(ValueError, match="images root"):
        ImageStore(IOConfig(), "")
    with pytest.raises(ValueError, match="invalid images root"):
        ImageStore(IOConfig(), "http://example.com/images")


# ---- resolve: S3 (pure string logic; no server needed) ----------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("a.jpg", "s3://photos/pod/a.jpg"),
        ("2026-01-01/a.jpg", "s3://photos/pod/2026-01-01/a.jpg"),
        ("s3://photos/pod/x/../a.jpg", "s3://photos/pod/a.jpg"),
        ("S3://photos/pod//a.jpg", "s3://photos/pod/a.jpg"),
    ],
)
def test_resolve_s3_accepts(uri: str, expected: str) -> None:
    assert ImageStore(IOConfig(), "s3://photos/pod").resolve(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "../other/a.jpg",
        "../../../a.jpg",
        "s3://photos/pod/../other/a.jpg",
        "s3://photos/pod2/a.jpg",  # prefix of the root as a string, not as a path
        "s3://photos/a.jpg",
        "s3://other-bucket/pod/a.jpg",
        "s3://photos",
        "s3://photos/pod",  # the root itself is not an object
        "s3:photos/pod/a.jpg",
        "s3://user:pass@photos/pod/a.jpg",
        "s3://photos/pod/a.jpg?versionId=1",
        "s3a://photos/pod/a.jpg",
        "/pod/a.jpg",  # a local path when the roots are S3
        "file:///pod/a.jpg",
    ],
)
def test_resolve_s3_rejects(uri: str) -> None:
    assert _code(ImageStore(IOConfig(), "s3://photos/pod").resolve, uri) is ErrorCode.URI_NOT_ALLOWED


def test_error_messages_carry_no_credentials() -> None:
    store = ImageStore(IOConfig(), "s3://photos/pod")
    bad = [
        "https://photos.s3.amazonaws.com/a.jpg?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE&X-Amz-Signature=deadbeef1234",
        "s3://photos/pod/a.jpg?X-Amz-Security-Token=tok3n",
        "https://admin:hunter2@example.com/a.jpg",
        "s3://admin:hunter2@photos/pod/a.jpg",
    ]
    for uri in bad:
        with pytest.raises(PhotoError) as info:
            store.resolve(uri)
        for secret in ("AKIAIOSFODNN7EXAMPLE", "deadbeef1234", "tok3n", "hunter2"):
            assert secret not in str(info.value), str(info.value)
    assert redact_uri("x" * 5000).endswith("(5000 chars)")


# ---- resolve: property ------------------------------------------------------------------------------------
_PIECES = st.sampled_from(
    [
        "a.jpg",
        "day",
        "..",
        ".",
        "",
        "link_out.jpg",
        "dir_out",
        "link_in.jpg",
        "images",
        "images2",
        "~",
        "%2e%2e",
    ]
)
_PREFIXES = st.sampled_from(
    ["", "/", "{root}/", "{tree}/", "file://", "file://{root}/", "s3://b/", "./", "//"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=_PREFIXES, pieces=st.lists(_PIECES, max_size=8), noise=st.text(max_size=12))
def test_resolve_never_escapes_the_root(tree: Path, prefix: str, pieces: list[str], noise: str) -> None:
    root = (tree / "images").resolve()
    store = ImageStore(IOConfig(), str(tree / "images"))
    for uri in (prefix.format(root=root, tree=tree) + "/".join(pieces), noise, "/".join(pieces) + noise):
        try:
            resolved = store.resolve(uri)
        except PhotoError as exc:
            assert exc.code is ErrorCode.URI_NOT_ALLOWED
            continue
        real = Path(os.path.realpath(resolved))
        assert real == root or root in real.parents, (uri, resolved)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["", "s3://photos/pod/", "s3://photos/", "s3://other/pod/", "/"]), rest=st.text()
)
def test_resolve_s3_never_escapes_the_prefix(prefix: str, rest: str) -> None:
    try:
        resolved = ImageStore(IOConfig(), "s3://photos/pod").resolve(prefix + rest)
    except PhotoError as exc:
        assert exc.code is ErrorCode.URI_NOT_ALLOWED
        return
    assert resolved.startswith("s3://photos/pod/")
    parts = resolved[len("s3://") :].split("/")
    assert all(p not in ("", ".", "..") for p in parts), resolved  # what is read is what was checked


# ---- read_bytes: local ------------------------------------------------------------------------------------
def test_read_local(tree: Path) -> None:
    (tree / "images" / "empty.jpg").write_bytes(b"")
    (tree / "images" / "big.jpg").write_bytes(b"x" * 101)
    (tree / "images" / "limit.jpg").write_bytes(b"x" * 100)
    store = ImageStore(IOConfig(max_bytes=100), str(tree / "images"))
    assert store.fetch("a.jpg") == b"A" * 10
    assert store.fetch("limit.jpg") == b"x" * 100
    assert _code(store.fetch, "big.jpg") is ErrorCode.TOO_LARGE
    assert _code(store.fetch, "empty.jpg") is ErrorCode.EMPTY_FILE
    assert _code(store.fetch, "missing.jpg") is ErrorCode.NOT_FOUND
    assert _code(store.fetch, "day") is ErrorCode.NOT_FOUND  # a directory is not a photo


def test_read_local_fifo_fails_fast_instead_of_hanging(tree: Path) -> None:
    os.mkfifo(tree / "images" / "pipe.jpg")
    store = ImageStore(IOConfig(), str(tree / "images"))
    start = time.monotonic()
    assert _code(store.fetch, "pipe.jpg") is ErrorCode.NOT_FOUND
    assert time.monotonic() - start < 2


def test_store_pickles_without_filesystem_state(tree: Path) -> None:
    store = ImageStore(IOConfig(), str(tree / "images"))
    store.fetch("a.jpg")  # creates per-process state
    clone = pickle.loads(pickle.dumps(store))
    assert clone.fetch("a.jpg") == b"A" * 10
    assert clone.roots == store.roots


def test_open_fs_and_storage_options() -> None:
    cfg = IOConfig(s3_endpoint_url="http://127.0.0.1:9", aws_access_key_id="k", aws_secret_access_key="s")
    opts = storage_options(cfg)
    assert opts["endpoint_url"] == "http://127.0.0.1:9" and opts["key"] == "k" and opts["secret"] == "s"
    assert "key" not in storage_options(IOConfig())  # else boto's usual credential chain
    fs, path = open_fs("s3://bucket/x/y.jpg", cfg)
    assert path == "bucket/x/y.jpg" and "s3" in fs.protocol
    fs, path = open_fs("/tmp/x.jpg", cfg)
    assert path == "/tmp/x.jpg" and "file" in fs.protocol


# ---- S3 through a real endpoint ---------------------------------------------------------------------------
@pytest.fixture
def photos(s3_server: MotoServer, s3_bucket: str) -> str:
    fs = s3_server.fs()
    fs.pipe(f"{s3_bucket}/pod/a.jpg", b"A" * 100)
    fs.pipe(f"{s3_bucket}/pod/big.jpg", b"B" * 2000)
    fs.pipe(f"{s3_bucket}/pod/empty.jpg", b"")
    fs.pipe(f"{s3_bucket}/other/x.jpg", b"X")
    return s3_bucket


def _s3_cfg(endpoint: str, **kw: object) -> IOConfig:
    cfg = IOConfig(s3_endpoint_url=endpoint, retry_base_s=0.01, connect_timeout_s=1, read_timeout_s=1)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_s3_read_and_errors(s3_server: MotoServer, photos: str) -> None:
    store = ImageStore(_s3_cfg(s3_server.endpoint_url, max_bytes=1000), f"s3://{photos}/pod")
    assert store.fetch("a.jpg") == b"A" * 100
    assert store.fetch(f"s3://{photos}/pod/a.jpg") == b"A" * 100
    assert _code(store.fetch, "missing.jpg") is ErrorCode.NOT_FOUND
    assert _code(store.fetch, "empty.jpg") is ErrorCode.EMPTY_FILE
    assert _code(store.fetch, "big.jpg") is ErrorCode.TOO_LARGE
    assert (
        _code(store.fetch, f"s3://{photos}/other/x.jpg") is ErrorCode.URI_NOT_ALLOWED
    )  # same bucket, outside
    assert _code(store.fetch, "../other/x.jpg") is ErrorCode.URI_NOT_ALLOWED
    assert _code(store.fetch, "s3://podocr-elsewhere/pod/a.jpg") is ErrorCode.URI_NOT_ALLOWED
    missing_bucket = ImageStore(_s3_cfg(s3_server.endpoint_url), "s3://podocr-no-such-bucket/pod")
    assert _code(missing_bucket.fetch, "a.jpg") is ErrorCode.NOT_FOUND


def test_s3_oversized_object_is_rejected_from_head_without_a_get(s3_server: MotoServer, photos: str) -> None:
    with FaultProxy(s3_server.endpoint_url) as proxy:
        store = ImageStore(_s3_cfg(proxy.endpoint_url, max_bytes=1000), f"s3://{photos}/pod")
        proxy.inject()
        assert _code(store.fetch, "big.jpg") is ErrorCode.TOO_LARGE
        assert proxy.count("HEAD") == 1 and proxy.count("GET") == 0
        assert store.fetch("a.jpg") == b"A" * 100
        get = [h for h in proxy.log if h.method == "GET"]
        assert len(get) == 1  # one ranged GET, bounded to max_bytes + 1


def _read_in_fresh_process(store: ImageStore, uri: str) -> bytes:
    return store.fetch(uri)


def test_s3_store_pickled_to_another_process(s3_server: MotoServer, photos: str) -> None:
    store = ImageStore(_s3_cfg(s3_server.endpoint_url), f"s3://{photos}/pod")
    store.fetch("a.jpg")  # the parent's filesystem object must not be what the child uses
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        assert pool.submit(_read_in_fresh_process, store, "a.jpg").result(60) == b"A" * 100


@pytest.fixture(scope="module")
def s3_with_iam(s3_server: MotoServer) -> Iterator[tuple[MotoServer, dict[str, str]]]:
    """A private moto server with IAM enforced: user `reader` may GetObject on bkt/allowed/* only.

    Its own process, so switching authentication on cannot affect other tests on the shared `s3_server`
    (requested here only for its fake-credential environment).
    """
    import boto3

    with start_moto_server() as server:
        kw = {"endpoint_url": server.endpoint_url, "region_name": "us-east-1"}
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        s3 = boto3.client("s3", **kw, **creds)
        iam = boto3.client("iam", **kw, **creds)
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="allowed/a.jpg", Body=b"ok")
        s3.put_object(Bucket="bkt", Key="denied/b.jpg", Body=b"no")
        iam.create_user(UserName="reader")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                # s3:GetObject is what AWS checks for GET and HEAD alike; moto 5.2.6 and later check HEAD
                # against an action named after the operation, so it is granted too (no such action in AWS).
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:HeadObject"],
                    "Resource": "arn:aws:s3:::bkt/allowed/*",
                }
            ],
        }
        iam.put_user_policy(UserName="reader", PolicyName="read-allowed", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        server.post("/moto-api/reset-auth", b"0")  # from now on every request is authenticated and authorised
        yield (
            server,
            {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]},
        )


def test_s3_access_denied_is_reported_not_retried(s3_with_iam: tuple[MotoServer, dict[str, str]]) -> None:
    server, creds = s3_with_iam
    with FaultProxy(server.endpoint_url) as proxy:
        store = ImageStore(_s3_cfg(proxy.endpoint_url, read_retries=3, **creds), "s3://bkt")
        assert store.fetch("allowed/a.jpg") == b"ok"
        proxy.inject()
        with pytest.raises(PhotoError) as info:
            store.fetch("denied/b.jpg")
        assert info.value.code is ErrorCode.ACCESS_DENIED
        assert len(proxy.log) == 1  # a 403 is final: no retries
        assert creds["aws_secret_access_key"] not in str(info.value)
        stranger = ImageStore(_s3_cfg(server.endpoint_url), "s3://bkt")  # unknown key id
        assert _code(stranger.fetch, "allowed/a.jpg") is ErrorCode.ACCESS_DENIED


# ---- fault injection ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faulty(s3_server: MotoServer) -> Iterator[tuple[FaultProxy, str]]:
    """A proxy in front of the session's moto server, and a bucket with pod/a.jpg behind it."""
    fs = s3_server.fs()
    bucket = "podocr-faults"
    fs.mkdir(bucket)
    fs.pipe(f"{bucket}/pod/a.jpg", bytes(range(256)) * 4)
    with FaultProxy(s3_server.endpoint_url) as proxy:
        yield proxy, bucket
    fs.rm(bucket, recursive=True)


TRANSIENT = [a for a in ACTIONS if a != "403"]


@pytest.mark.parametrize("action", TRANSIENT)
def test_transient_faults_are_retried_through(faulty: tuple[FaultProxy, str], action: str) -> None:
    proxy, bucket = faulty
    store = ImageStore(_s3_cfg(proxy.endpoint_url, read_retries=3, read_timeout_s=0.5), f"s3://{bucket}/pod")
    proxy.inject(Fault(action, times=2, method="GET", stall_s=5))
    assert store.fetch("a.jpg") == bytes(range(256)) * 4
    assert proxy.count("GET", action) == 2
    # One HEAD per attempt: 2 failed + 1 good — except that aiohttp itself re-sends an idempotent request
    # once when the connection drops before any response, so two resets may cost only one attempt; and the
    # 0.5 s read timeout used here to keep stalls short can also expire on a healthy request when the machine
    # is loaded, costing one more attempt (still within the 4-attempt budget: the fetch above succeeded).
    allowed = {"reset": (2, 3, 4), "stall": (3, 4)}.get(action, (3,))
    assert proxy.count("HEAD") in allowed


@pytest.mark.parametrize("action", TRANSIENT)
def test_persistent_faults_end_as_fetch_failed_after_bounded_attempts(
    faulty: tuple[FaultProxy, str], action: str
) -> None:
    proxy, bucket = faulty
    store = ImageStore(_s3_cfg(proxy.endpoint_url, read_retries=2, read_timeout_s=0.3), f"s3://{bucket}/pod")
    proxy.inject(Fault(action, times=1000, method="GET", stall_s=5))
    start = time.monotonic()
    with pytest.raises(PhotoError) as info:
        store.fetch("a.jpg")
    assert info.value.code is ErrorCode.FETCH_FAILED
    assert "after 3 attempts" in info.value.message
    assert proxy.count("HEAD") == 3  # exactly 1 + read_retries attempts; no hidden botocore/s3fs retries
    assert proxy.count("GET") <= (6 if action == "reset" else 3)
    assert time.monotonic() - start < 8  # 3 × (0.3 s timeout + backoff), with room for a busy host


def test_faults_on_head_are_retried_too(faulty: tuple[FaultProxy, str]) -> None:
    proxy, bucket = faulty
    store = ImageStore(_s3_cfg(proxy.endpoint_url, read_retries=1), f"s3://{bucket}/pod")
    proxy.inject(Fault("slowdown", times=1, method="HEAD"))
    assert store.fetch("a.jpg") == bytes(range(256)) * 4
    assert proxy.count("HEAD", "slowdown") == 1 and proxy.count("GET") == 1
