"""ONNX → PyTorch conversion of the pinned PaddleOCR exports, so the GPU path runs the very files we verify.

`onnx2torch` cannot take these exports as they are: Paddle2ONNX emits `Constant` nodes where converters want
initializers, `auto_pad=SAME_*` (not implemented in onnx2torch), and shapes the ONNX inferencer loses after a
dynamic `Reshape` (BatchNorm/pooling converters need the input rank). `fix_graph` repairs all three on a copy;
`convert_onnx` turns the result into an eval-mode `nn.Module`. SAME padding is explicit in the graph when it
does not depend on the input size (stride 1, the only case in our models) and a per-call `SamePad` otherwise.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from dataclasses import dataclass

import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

# onnx2torch converters that read the input's rank from value_info (fail on a shape-less input).
RANK_NEEDING_OPS = frozenset(
    {
        "AveragePool",
        "BatchNormalization",
        "GlobalAveragePool",
        "InstanceNormalization",
        "LayerNormalization",
        "MaxPool",
    }
)
SAME_MODES = (b"SAME_UPPER", b"SAME_LOWER")
DYNAMIC_SAME_PREFIX = "podocr_same_"

# onnx2torch's Slice indexes with a list of slice objects, which torch deprecates (a warning on every call) but
# still reads as a tuple of slices; tests/test_gpu_torch_engine.py compares against ONNX Runtime so a change in
# that behaviour is caught there, not silenced.
warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing")


class ConversionError(RuntimeError):
    """The ONNX file holds something this converter cannot turn into an equivalent torch module."""


@dataclass(frozen=True)
class SameSpec:
    """An auto_pad=SAME node whose padding depends on the input size (some stride > 1)."""

    name: str  # node name after fix_graph (also the torch submodule name)
    op_type: str
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    upper: bool  # SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start


def same_pads(size: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """(begin, end) padding of one axis so that output = ceil(size / stride), per the ONNX spec."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


class SamePad(nn.Module):
    """Pads each spatial axis for ONNX SAME semantics at call time, then runs the wrapped conv/pool."""

    def __init__(self, inner: nn.Module, spec: SameSpec, value: float) -> None:
        super().__init__()
        self.inner = inner
        self.spec = spec
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        # F.pad takes (last axis begin, end, second-to-last begin, end, ...).
        for axis in range(len(self.spec.kernel) - 1, -1, -1):
            size = int(x.shape[2 + axis])
            pads.extend(
                same_pads(
                    size,
                    self.spec.kernel[axis],
                    self.spec.strides[axis],
                    self.spec.dilations[axis],
                    self.spec.upper,
                )
            )
        return self.inner(F.pad(x, pads, value=self.value))


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Move every top-level Constant node's value into an initializer of the same name; returns how many."""
    graph = model.graph
    kept, moved = [], 0
    for node in graph.node:
        if node.op_type != "Constant":
            kept.append(node)
            continue
        if len(node.attribute) != 1:
            raise ConversionError(f"Constant node {node.name!r} has {len(node.attribute)} attributes")
        attr = node.attribute[0]
        value = helper.get_attribute_value(attr)
        if attr.name == "value":
            array = numpy_helper.to_array(value)
        elif attr.name in ("value_float", "value_floats"):
            array = numpy_helper.to_array(
                helper.make_tensor("v", onnx.TensorProto.FLOAT, _dims(value), value)
            )
        elif attr.name in ("value_int", "value_ints"):
            array = numpy_helper.to_array(
                helper.make_tensor("v", onnx.TensorProto.INT64, _dims(value), value)
            )
        else:
            raise ConversionError(f"Constant node {node.name!r}: unsupported attribute {attr.name!r}")
        graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        moved += 1
    del graph.node[:]
    graph.node.extend(kept)
    return moved


def _dims(value: object) -> list[int]:
    return [len(value)] if isinstance(value, list | tuple) else []


def explicit_same_pads(model: onnx.ModelProto) -> list[SameSpec]:
    """Rewrite auto_pad=SAME_* nodes: explicit `pads` where size-independent, else a SameSpec for `SamePad`."""
    dynamic: list[SameSpec] = []
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        auto = attrs.get("auto_pad")
        if auto is None or auto.s not in SAME_MODES:
            continue
        if node.op_type not in ("Conv", "MaxPool"):
            raise ConversionError(
                f"{node.op_type} node {node.name!r}: auto_pad={auto.s.decode()} is not supported"
            )
        kernel = _kernel_shape(model, node, attrs)
        rank = len(kernel)
        strides = tuple(attrs["strides"].ints) if "strides" in attrs else (1,) * rank
        dilations = tuple(attrs["dilations"].ints) if "dilations" in attrs else (1,) * rank
        upper = auto.s == b"SAME_UPPER"
        node.attribute.remove(auto)
        if "pads" in attrs:
            node.attribute.remove(attrs["pads"])
        if all(s == 1 for s in strides):
            # With stride 1 the total padding is (k - 1)·d whatever the input size: write it into the graph.
            begin_end = [same_pads(1, k, 1, d, upper) for k, d in zip(kernel, dilations, strict=True)]
            pads = [b for b, _ in begin_end] + [e for _, e in begin_end]
            node.attribute.append(helper.make_attribute("pads", pads))
        else:
            node.name = f"{DYNAMIC_SAME_PREFIX}{len(dynamic)}"
            dynamic.append(SameSpec(node.name, node.op_type, kernel, strides, dilations, upper))
    return dynamic


def _kernel_shape(
    model: onnx.ModelProto, node: onnx.NodeProto, attrs: dict[str, onnx.AttributeProto]
) -> tuple:
    if "kernel_shape" in attrs:
        return tuple(attrs["kernel_shape"].ints)
    weights = {i.name: i for i in model.graph.initializer}
    if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in weights:
        return tuple(weights[node.input[1]].dims[2:])
    raise ConversionError(f"{node.op_type} node {node.name!r}: no kernel_shape and no constant weights")


def _shapeless_rank_inputs(model: onnx.ModelProto) -> list[str]:
    known = {
        v.name for v in [*model.graph.value_info, *model.graph.input] if v.type.tensor_type.HasField("shape")
    }
    return [n.name for n in model.graph.node if n.op_type in RANK_NEEDING_OPS and n.input[0] not in known]


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference, then ONNX Runtime's symbolic inference where ranks are still missing.

    The symbolic pass is slower (sympy) and trips on some graphs, so it runs only when a rank-needing
    converter would otherwise fail (v4 rec: BatchNorm after a Reshape whose target comes from `Shape`).
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    missing = _shapeless_rank_inputs(inferred)
    if not missing:
        return inferred
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    symbolic = SymbolicShapeInference.infer_shapes(model, auto_merge=True, guess_output_rank=True)
    if symbolic is None or _shapeless_rank_inputs(symbolic):
        raise ConversionError(f"cannot infer the input rank of {missing[:5]}")
    return symbolic


def fix_graph(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[SameSpec]]:
    """A repaired copy of `model` ready for onnx2torch, plus the SAME nodes that need per-call padding."""
    fixed = copy.deepcopy(model)
    constants_to_initializers(fixed)
    dynamic = explicit_same_pads(fixed)
    return infer_shapes(fixed), dynamic


def convert_onnx(model_or_path: onnx.ModelProto | str | os.PathLike[str]) -> nn.Module:
    """The ONNX model as an eval-mode torch module (float32, CPU) computing the same first output."""
    from onnx2torch import convert

    model = (
        model_or_path if isinstance(model_or_path, onnx.ModelProto) else onnx.load(os.fspath(model_or_path))
    )
    fixed, dynamic = fix_graph(model)
    try:
        module = convert(fixed)
    except (NotImplementedError, KeyError, ValueError) as exc:
        raise ConversionError(f"onnx2torch cannot convert this graph: {exc}") from exc
    for spec in dynamic:
        inner = module.get_submodule(spec.name)
        value = -math.inf if spec.op_type == "MaxPool" else 0.0  # ONNX max pooling ignores padded cells
        module.add_submodule(spec.name, SamePad(inner, spec, value))
    return module.eval()


def input_name(model_path: str | os.PathLike[str]) -> str:
    """The first graph input that is not an initializer (every PaddleOCR export calls it "x")."""
    model = onnx.load(os.fspath(model_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in inits)
