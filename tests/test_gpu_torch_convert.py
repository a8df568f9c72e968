"""ONNX → torch graph repairs, checked numerically against ONNX Runtime on small hand-built graphs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

# The torch extra (torch, onnx, onnx2torch) is optional: without it this module skips, with the reason, at collection.
pytest.importorskip("onnx")
pytest.importorskip("torch")
pytest.importorskip("onnx2torch")
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from podocr.ocr.runtime.torch_convert import (
    ConversionError,
    SamePad,
    constants_to_initializers,
    convert_onnx,
    explicit_same_pads,
    same_pads,
)

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")]


def _model(
    nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], out_name: str = "y"
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _weights(name: str, shape: tuple[int, ...], seed: int) -> onnx.TensorProto:
    w = np.random.default_rng(seed).normal(0, 0.3, shape).astype(np.float32)
    return numpy_helper.from_array(w, name)


def _same_model(mode: str, stride: int) -> onnx.ModelProto:
    """Conv(k=3, SAME) → Relu-free MaxPool(k=3, SAME) → Conv(k=2, SAME): every pad path at once."""
    conv_a = helper.make_node(
        "Conv",
        ["x", "wa"],
        ["a"],
        name="conv.a",
        kernel_shape=[3, 3],
        strides=[stride, stride],
        auto_pad=mode,
    )
    pool = helper.make_node(
        "MaxPool", ["a"], ["p"], name="pool", kernel_shape=[3, 3], strides=[stride, 1], auto_pad=mode
    )
    conv_b = helper.make_node("Conv", ["p", "wb"], ["y"], name="conv.b", kernel_shape=[2, 2], auto_pad=mode)
    return _model([conv_a, pool, conv_b], [_weights("wa", (4, 3, 3, 3), 1), _weights("wb", (2, 4, 2, 2), 2)])


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"x": x})[0])


def _torch(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "upper", "expected"),
    [
        (5, 3, 2, 1, True, (1, 1)),  # out 3: total 2
        (6, 3, 2, 1, True, (0, 1)),  # out 3: total 1, odd pixel at the end
        (6, 3, 2, 1, False, (1, 0)),  # SAME_LOWER: odd pixel at the start
        (7, 2, 1, 1, True, (0, 1)),  # stride 1: total k - 1 whatever the size
        (7, 3, 1, 2, True, (2, 2)),  # dilation 2: effective kernel 5 (ORT cannot run SAME + dilation)
        (4, 1, 3, 1, True, (0, 0)),
    ],
)
def test_same_pads_follow_the_onnx_formula(size, kernel, stride, dilation, upper, expected) -> None:
    begin, end = same_pads(size, kernel, stride, dilation, upper)
    assert (begin, end) == expected
    assert (size + begin + end - ((kernel - 1) * dilation + 1)) // stride + 1 == -(-size // stride)


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("hw", [(17, 20), (16, 15)])
def test_same_auto_pad_matches_onnxruntime(mode: str, stride: int, hw: tuple[int, int]) -> None:
    model = _same_model(mode, stride)
    module = convert_onnx(model)
    x = np.random.default_rng(3).normal(size=(2, 3, *hw)).astype(np.float32)
    ref, out = _ort(model, x), _torch(module, x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_size_dependent_same_pads_use_a_runtime_pad_module() -> None:
    module = convert_onnx(_same_model("SAME_UPPER", 2))
    assert sum(isinstance(m, SamePad) for m in module.modules()) == 2  # conv.a and pool (stride 2)
    fixed = _same_model("SAME_UPPER", 1)
    assert explicit_same_pads(fixed) == []
    pads = {
        n.name: list(helper.get_attribute_value(a) for a in n.attribute if a.name == "pads")
        for n in fixed.graph.node
    }
    assert pads == {"conv.a": [[1, 1, 1, 1]], "pool": [[1, 1, 1, 1]], "conv.b": [[0, 0, 1, 1]]}


def test_constant_nodes_become_initializers_with_the_same_values() -> None:
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["c_tensor"],
            value=numpy_helper.from_array(np.full((1, 3, 1, 1), 0.5, np.float32)),
        ),
        helper.make_node("Constant", [], ["c_float"], value_float=2.0),
        helper.make_node("Constant", [], ["c_shape"], value_ints=[0, -1]),
        helper.make_node("Mul", ["x", "c_tensor"], ["m"]),
        helper.make_node("Add", ["m", "c_float"], ["a"]),
        helper.make_node("Reshape", ["a", "c_shape"], ["y"]),
    ]
    model = _model(nodes, [])
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 5)).astype(np.float32)
    ref = _ort(model, x)
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    assert constants_to_initializers(fixed) == 3
    assert [n.op_type for n in fixed.graph.node] == ["Mul", "Add", "Reshape"]
    inits = {i.name: numpy_helper.to_array(i) for i in fixed.graph.initializer}
    assert inits["c_float"] == np.float32(2.0) and inits["c_shape"].tolist() == [0, -1]
    np.testing.assert_allclose(_ort(fixed, x), ref)
    np.testing.assert_allclose(_torch(convert_onnx(model), x), ref, rtol=1e-6)


def test_same_padding_on_an_unsupported_op_is_a_clear_error() -> None:
    node = helper.make_node(
        "AveragePool", ["x"], ["y"], name="avg", kernel_shape=[2, 2], auto_pad="SAME_UPPER"
    )
    with pytest.raises(ConversionError, match=r"AveragePool node 'avg'.*SAME_UPPER"):
        convert_onnx(_model([node], []))
