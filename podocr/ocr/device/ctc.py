"""CTC greedy decoding on the device: only the kept character indices and one confidence per line come back.

The recogniser's output is (N, T, C) probabilities, C in the thousands for the multilingual dictionaries: the
largest transfer of the read. Best path, repeat/blank collapse and the mean probability of the kept characters
(`rec.ctc_greedy_decode`) are done where the output is; the host only maps indices to characters.
"""

from __future__ import annotations

import numpy as np
import torch

from podocr.ocr.stages.rec import BLANK


def greedy_indices(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, C) → kept indices (N, T) int32, 0 where a step is dropped, and confidences (N,) float32 (0.0 for an
    empty line). Ties go to the lowest index, as numpy's argmax."""
    if probs.dim() != 3:
        raise ValueError(f"expected (N, T, C) probabilities, got shape {tuple(probs.shape)}")
    best, idx = probs.max(dim=2)
    keep = idx != BLANK
    keep[:, 1:] &= idx[:, 1:] != idx[:, :-1]
    kept = keep.sum(dim=1)
    conf = torch.where(kept > 0, (best * keep).sum(dim=1) / kept.clamp(min=1), torch.zeros_like(best[:, 0]))
    return (idx * keep).to(torch.int32), conf.float()


def to_text(indices: np.ndarray, conf: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
    """Host side: kept indices (N, T) and confidences (N,) → (text, confidence) per line."""
    return [
        ("".join(charset[i] for i in row[row != BLANK]), float(c))
        for row, c in zip(indices, conf, strict=True)
    ]


def ctc_greedy_decode(probs: torch.Tensor, charset: list[str]) -> list[tuple[str, float]]:
    """`rec.ctc_greedy_decode` for a device tensor: decode there, read the strings here."""
    indices, conf = greedy_indices(probs)
    return to_text(indices.cpu().numpy(), conf.cpu().numpy(), charset)
