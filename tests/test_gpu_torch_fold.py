"""Torch backend pieces for a closed shape set, checked on CPU: folding a converted graph at one fixed shape
removes its host round trips (what CUDA-graph capture needs) without changing its output, and depthwise convs
can be routed off cuDNN without changing the output either."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

import torch

from podocr.config import PodocrConfig
from podocr.ocr.registry import ModelError, resolve
from podocr.ocr.runtime.engine_torch import depthwise_off_cudnn, fold_for_shape, is_depthwise
from podocr.ocr.runtime.torch_convert import convert_onnx

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::UserWarning")]

HOST_ROUND_TRIPS = ("prim::tolist", "aten::item", "aten::_local_scalar_dense")


def _first(out: object) -> torch.Tensor:
    return out[0] if isinstance(out, tuple | list) else out  # type: ignore[return-value,index]


@pytest.fixture(scope="module")
def tiny() -> dict[str, object]:
    cfg = PodocrConfig().replace(models__set="v6-tiny")
    try:
        ms = resolve(cfg.models)
    except ModelError as exc:
        pytest.skip(f"models not pulled: {exc}")
    torch.set_num_threads(1)
    return {"det": (ms.det, (1, 3, 160, 224)), "rec": (ms.rec, (2, 3, ms.rec_height, 160))}


@pytest.mark.parametrize("role", ["det", "rec"])
def test_folded_graph_has_no_host_round_trip_and_the_same_output(tiny: dict, role: str) -> None:
    path, shape = tiny[role]
    module = convert_onnx(path).eval()
    x = torch.from_numpy(np.random.default_rng(5).uniform(-1, 1, shape).astype(np.float32))
    with torch.inference_mode():
        ref = _first(module(x))
    folded = fold_for_shape(module, x)
    graph = str(folded.inlined_graph)
    assert not [op for op in HOST_ROUND_TRIPS if op in graph]
    with torch.inference_mode():
        out = _first(folded(x))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def test_depthwise_convs_off_cudnn_keep_the_output(tiny: dict) -> None:
    path, shape = tiny["rec"]
    module = convert_onnx(path).eval()
    n_depthwise = sum(is_depthwise(m) for m in module.modules())
    x = torch.from_numpy(np.random.default_rng(6).uniform(-1, 1, shape).astype(np.float32))
    with torch.inference_mode():
        ref = _first(module(x)).clone()
        assert depthwise_off_cudnn(module) == n_depthwise > 0
        # every depthwise conv now sits inside a wrapper
        wrapped = {id(p.conv) for p in module.modules() if type(p).__name__ == "_NoCudnnConv"}
        assert {id(m) for m in module.modules() if is_depthwise(m)} == wrapped
        out = _first(module(x))
    assert torch.backends.cudnn.enabled  # restored after every call
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
