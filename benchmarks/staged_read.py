"""What one partition's read of the staged manifest costs, by the size of the day.

Each task of a day reads its rows from the staged manifest (`io/manifest.py` `read_partition`); a read whose cost
grows with the day's partition count makes the whole day grow as partitions². Per size: a manifest of that many
rows staged on a moto S3 server (`stage_partitions`), then 40 partitions spread over the day read back, timing
this process's CPU per read (the moto server's own CPU is not counted).

    PYTHONPATH=. python benchmarks/staged_read.py --rows 100000 1000000 --partition-size 256
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import fsspec
import pyarrow as pa
from orchestration_1m import moto_server

from podocr.config import PodocrConfig
from podocr.io import manifest as manifest_io

READS = 40


def day_table(rows: int) -> pa.Table:
    """A day's manifest rows: the required columns and two expected ones, all strings."""
    return pa.table(
        {
            "delivery_id": [f"D{i:08d}" for i in range(rows)],
            "image_uri": [f"images/{i % 100}.png" for i in range(rows)],
            "expected_tracking": ["1Z999AA10123456784"] * rows,
            "expected_zip": ["62704"] * rows,
        }
    )


def measure(rows: int, partition_size: int, endpoint: str) -> dict[str, Any]:
    cfg = PodocrConfig.load(environ={}, overrides={"io.s3_endpoint_url": endpoint})
    bucket = f"staged-{rows}-{partition_size}"
    fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True).mkdir(bucket)
    table = day_table(rows)
    manifest = manifest_io.Manifest("benchmark", "parquet", "", table.nbytes, table)
    uri = f"s3://{bucket}/manifest"
    cpu0 = time.process_time()
    partitions = manifest_io.stage_partitions(manifest, uri, partition_size, cfg.io)
    stage_cpu = time.process_time() - cpu0
    picked = list(range(0, partitions, max(1, partitions // READS)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for index in picked:
        manifest_io.read_partition(uri, index, partition_size, cfg.io)
    return {
        "rows": rows,
        "partitions": partitions,
        "stage_cpu_s": round(stage_cpu, 2),
        "read_cpu_ms": round(1000 * (time.process_time() - cpu0) / len(picked), 1),
        "read_wall_ms": round(1000 * (time.perf_counter() - wall0) / len(picked), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--partition-size", type=int, default=256)
    args = parser.parse_args()
    with moto_server() as (endpoint, _):
        for rows in args.rows:
            print(json.dumps(measure(rows, args.partition_size, endpoint)), flush=True)


if __name__ == "__main__":
    main()
