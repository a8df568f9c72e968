"""The few lines `podocr batch` and `podocr demo` print after a committed run, from its `_SUCCESS` content."""

from __future__ import annotations

from typing import Any


def format_summary(success: dict[str, Any]) -> str:
    counts = success.get("counts", {})
    durations = success.get("durations", {})
    cluster = success.get("cluster", {})
    lines = [
        f"committed {success.get('date')} (run {success.get('run_id')}): {success.get('rows')} photos in "
        f"{success.get('partitions')} partitions"
        + (
            f", {len(success.get('partitions_reused', []))} reused from the crashed attempt"
            if success.get("resumed")
            else ""
        ),
        f"  status        {_counts(counts.get('status', {}))}",
    ]
    if counts.get("error_code"):
        lines.append(f"  errors        {_counts(counts['error_code'])}")
    if counts.get("verification"):
        lines.append(f"  verification  {_counts(counts['verification'])}")
    if success.get("photos_per_s") is not None:
        lines.append(
            f"  throughput    {success['photos_per_s']:.2f} photos/s processing, "
            f"{success.get('end_to_end_photos_per_s', 0):.2f} photos/s end to end "
            f"({durations.get('total_s', 0):.1f}s total: cluster {durations.get('cluster_start_s', 0):.1f}s, "
            f"models {durations.get('warm_up_s', 0):.1f}s, processing {durations.get('process_s', 0):.1f}s, "
            f"commit {durations.get('commit_s', 0):.1f}s)"
        )
    if cluster:
        lines.append(
            f"  cluster       {cluster.get('kind')}: {cluster.get('n_workers')} worker(s) × "
            f"{cluster.get('threads_per_worker')} thread(s), {cluster.get('intra_op_threads')} model thread(s) each"
            + _memory(cluster)
        )
    if sizing := success.get("sizing"):
        lines.append(
            f"  sizing        {sizing.get('n_partitions')} partition(s) of ≤{sizing.get('partition_size')}, "
            f"{sizing.get('batch_threads')} batch thread(s) × {sizing.get('intra_op_threads')} model thread(s) "
            f"per task ({sizing.get('reason')})"
        )
    model = success.get("model", {})
    lines.append(f"  models        {model.get('set')} on {model.get('provider')}")
    lines.append(f"  output        {success.get('output')}/ (part-*.parquet, _SUCCESS)")
    return "\n".join(lines)


def _memory(cluster: dict[str, Any]) -> str:
    """ ", peak 1430 MiB of 9216 MiB per worker, 1 restart (lost)" — what to check before raising a limit."""
    parts = []
    if peak := cluster.get("worker_peak_rss_mib"):
        limit = cluster.get("memory_limit_bytes")
        parts.append(f"peak {peak} MiB" + (f" of {limit // 2**20} MiB" if limit else "") + " per worker")
    if restarts := cluster.get("restarts"):
        parts.append(", ".join(f"{n} restart(s) ({why})" for why, n in sorted(restarts.items())))
    return "".join(f", {p}" for p in parts)


def _counts(values: dict[str, int]) -> str:
    return " · ".join(f"{k} {v}" for k, v in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))) or "–"
