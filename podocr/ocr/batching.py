"""Shape bucketing: group inputs that pad to the same shape so each model call is one dense batch.

Few distinct shapes matter on every backend: CPU avoids padding waste inside a batch, CUDA avoids per-shape
cuDNN tuning, TensorRT stays inside one optimisation profile. Callers pad each item to its bucket's shape.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def round_up(value: float, step: int) -> int:
    """Smallest multiple of `step` ≥ value (and ≥ step)."""
    return max(step, -(-int(value) // step) * step)


def bucket_batches(keys: Sequence[Hashable], batch_size: int) -> list[list[int]]:
    """Indices grouped by key, each group cut into chunks of ≤ batch_size; every index appears exactly once.

    Groups come out in first-seen key order and indices inside a group keep input order, so results can be
    scattered back by index without sorting.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return [idx[s : s + batch_size] for idx in groups.values() for s in range(0, len(idx), batch_size)]
