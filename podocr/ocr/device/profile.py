"""Where each millisecond of the device read path goes: host CPU time and device time, per stage.

Host time is the calling thread's CPU time inside the stage (`time.thread_time`: model calls run on the
inference thread and do not count here, waiting does not count). Device time is measured between two CUDA
events on the current stream when the ops run on CUDA (resolved lazily, so timing never adds a
synchronisation to the stage itself), and wall time (`perf_counter`) on the CPU, where the device is the host.
With `engine.device_profile_dir` set, each process writes its running totals to
`<dir>/device-profile-<pid>.json` after every batch; the device script merges them into its summary.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class StageTotals:
    calls: int = 0
    host_s: float = 0.0
    device_s: float = 0.0


@dataclass
class DeviceProfile:
    """Running totals per stage for one process (thread-safe: the job reads photos on several threads)."""

    device: torch.device
    photos: int = 0
    stages: dict[str, StageTotals] = field(default_factory=dict)
    _pending: list[tuple[str, Any, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as `name`."""
        cuda = self.device.type == "cuda"
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            host = time.thread_time() - cpu
            with self._lock:
                totals = self.stages.setdefault(name, StageTotals())
                totals.calls += 1
                totals.host_s += host
                if cuda:
                    end.record()
                    self._pending.append((name, start, end))
                else:
                    totals.device_s += time.perf_counter() - wall

    def add_photos(self, n: int) -> None:
        with self._lock:
            self.photos += n

    def _resolve(self) -> None:
        """Fold finished CUDA event pairs into the totals (waits for the ones still queued)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for name, start, end in pending:
            end.synchronize()
            with self._lock:
                self.stages[name].device_s += start.elapsed_time(end) / 1000.0

    def summary(self) -> dict[str, Any]:
        """{photos, device, stages: {name: {calls, host_ms, device_ms, host_ms_per_photo, device_ms_per_photo}}}."""
        self._resolve()
        n = max(self.photos, 1)
        with self._lock:
            stages = {
                name: {
                    "calls": t.calls,
                    "host_ms": round(1000 * t.host_s, 3),
                    "device_ms": round(1000 * t.device_s, 3),
                    "host_ms_per_photo": round(1000 * t.host_s / n, 3),
                    "device_ms_per_photo": round(1000 * t.device_s / n, 3),
                }
                for name, t in self.stages.items()
            }
        return {"photos": self.photos, "device": str(self.device), "stages": stages}

    def write(self, folder: str) -> Path:
        """The running totals to `<folder>/device-profile-<pid>.json` (replaced atomically)."""
        out = Path(folder) / f"device-profile-{os.getpid()}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.summary()))
        tmp.replace(out)
        return out


def merge(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-process summaries → one: totals added, per-photo figures over all processes' photos."""
    photos = sum(int(s.get("photos", 0)) for s in summaries)
    totals: dict[str, dict[str, float]] = {}
    for s in summaries:
        for name, st in s.get("stages", {}).items():
            t = totals.setdefault(name, {"calls": 0, "host_ms": 0.0, "device_ms": 0.0})
            for key in t:
                t[key] += st.get(key, 0)
    n = max(photos, 1)
    return {
        "photos": photos,
        "processes": len(summaries),
        "stages": {
            name: {
                **{k: round(v, 3) for k, v in t.items()},
                "host_ms_per_photo": round(t["host_ms"] / n, 3),
                "device_ms_per_photo": round(t["device_ms"] / n, 3),
            }
            for name, t in totals.items()
        },
        "host_ms_per_photo": round(sum(t["host_ms"] for t in totals.values()) / n, 3),
        "device_ms_per_photo": round(sum(t["device_ms"] for t in totals.values()) / n, 3),
    }
