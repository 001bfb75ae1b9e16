"""A model as a straight chain of plain operations on numpy arrays: what compaction, the compact
ONNX export and the C generator all read.

``trace`` turns a PyTorch model into a ``Graph`` with torch.fx. Only a chain is accepted (each
operation reads the one before it), made of Normalize, Conv2d, Linear, BatchNorm (folded into the
layer before it), ReLU, Tanh, max and average pooling without padding, global average pooling
(AdaptiveAvgPool2d to 1x1), Flatten, Dropout (dropped) and a final softmax (left out: the same
class); anything else is refused with its name, so an export never
silently drops part of a model. Weights are the ones the layer really applies (LeNet-5-1998's
connection table multiplied in).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from math import prod

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from prunelab.errors import PrunelabError
from prunelab.inference.layers import effective_weight
from prunelab.models.lenet import Normalize as NormalizeModule, SparseConv2d


@dataclass(frozen=True, eq=False)
class Normalize:
    mean: float
    std: float


@dataclass(frozen=True, eq=False)
class Conv:
    """y[o] = bias[o] + sum over (c, i, j) of weight[o, c, i, j] * x[g * C + c, stride*h + i - pad, ...],
    g = o // (O / groups) the group of output o (1 group: every input channel; depthwise: one)."""

    name: str
    weight: np.ndarray  # (O, C, kh, kw) float32, C = input channels / groups
    bias: np.ndarray  # (O,) float32
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1


@dataclass(frozen=True, eq=False)
class Dense:
    """y = weight @ x[inputs] + bias; ``inputs`` None reads every feature in order."""

    name: str
    weight: np.ndarray  # (O, K) float32
    bias: np.ndarray  # (O,) float32
    inputs: np.ndarray | None = None  # (K,) int64 positions in the flattened input


@dataclass(frozen=True)
class Activation:
    kind: str  # "relu" or "tanh"


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    size: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True)
class Flatten:
    pass


WEIGHTED = (Conv, Dense)


@dataclass(frozen=True, eq=False)
class Graph:
    """``ops`` applied in order to one image of ``input_shape`` (C, H, W)."""

    ops: list = field(default_factory=list)
    input_shape: tuple[int, ...] = (1, 28, 28)

    def layers(self) -> list:
        return [op for op in self.ops if isinstance(op, WEIGHTED)]

    def shapes(self) -> list[tuple[int, ...]]:
        """The shape of one image before each op, then the output's: len(ops) + 1 entries."""
        shapes = [tuple(self.input_shape)]
        for op in self.ops:
            shapes.append(output_shape(op, shapes[-1]))
        return shapes

    def architecture(self) -> str:
        """Units per weighted layer, e.g. "20-50-500-10"."""
        return "-".join(str(op.weight.shape[0]) for op in self.layers())

    def macs(self) -> dict:
        """Multiply-accumulates per image: every stored weight ("dense") and the nonzero ones."""
        dense = nonzero = 0
        for op, shape in zip(self.ops, self.shapes()[1:]):
            if isinstance(op, WEIGHTED):
                uses = prod(shape[1:]) if isinstance(op, Conv) else 1
                dense += op.weight.size * uses
                nonzero += int(np.count_nonzero(op.weight)) * uses
        return {"dense": dense, "nonzero": nonzero}


def output_shape(op, shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(op, Conv):
        out, channels, kh, kw = op.weight.shape
        channels *= op.groups
        if len(shape) != 3 or shape[0] != channels or out % op.groups:
            raise PrunelabError(f"layer {op.name} expects {channels} input channels, gets shape {shape}")
        h, w = (_window(shape[1 + a], (kh, kw)[a], op.stride[a], op.padding[a], op.name) for a in range(2))
        return (out, h, w)
    if isinstance(op, Dense):
        features = prod(shape)
        width = features if op.inputs is None else op.inputs.size
        if len(shape) != 1 or op.weight.shape[1] != width or (op.inputs is not None and op.inputs.size
                                                              and op.inputs.max() >= features):
            raise PrunelabError(f"layer {op.name} expects {op.weight.shape[1]} features, gets shape {shape}")
        return (op.weight.shape[0],)
    if isinstance(op, Pool):
        if len(shape) != 3:
            raise PrunelabError(f"pooling needs (C, H, W) input, gets {shape}")
        return (shape[0], *(_window(shape[1 + a], op.size[a], op.stride[a], 0, "pooling") for a in range(2)))
    if isinstance(op, Flatten):
        return (prod(shape),)
    return shape


def _window(size: int, kernel: int, stride: int, padding: int, name: str) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise PrunelabError(f"{name}: a window of {kernel} does not fit an input of {size}")
    return out


class _Tracer(torch.fx.Tracer):
    """Keeps every Conv2d (LeNet-5-1998's SparseConv2d included) and Normalize as one node."""

    def is_leaf_module(self, module, qualified_name):
        return isinstance(module, (nn.Conv2d, NormalizeModule)) or super().is_leaf_module(module, qualified_name)


def trace(model: nn.Module, input_shape=(1, 28, 28)) -> Graph:
    """The chain of operations ``model`` computes, with its weights as float32 numpy arrays; a
    BatchNorm is folded into the layer before it (``batchnorm``; the model itself is not changed)."""
    from prunelab.deploy.batchnorm import fold_batchnorm, has_batchnorm

    model = model.cpu().eval()
    if has_batchnorm(model):
        model = fold_batchnorm(copy.deepcopy(model))
    try:
        nodes = list(_Tracer().trace(model).nodes)
    except Exception as exc:  # fx raises many types for code it cannot follow
        raise PrunelabError(f"cannot trace {type(model).__name__}: {str(exc).splitlines()[0]}") from None
    modules = dict(model.named_modules())
    ops, previous = [], None
    for at, node in enumerate(nodes):
        if node.op == "placeholder":
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise PrunelabError("the model's output is not its last operation")
            break
        if node.all_input_nodes != [previous] or not node.args or node.args[0] is not previous:
            raise PrunelabError(f"{type(model).__name__} is not a chain of operations (at {node.name})")
        op = _op(node, modules)
        if op is _GLOBAL_AVERAGE:  # the pooling window is the whole map that reaches it
            shape = Graph(list(ops), tuple(input_shape)).shapes()[-1]
            if len(shape) != 3:
                raise PrunelabError(f"{node.name}: global average pooling needs (C, H, W) input, gets {shape}")
            op = Pool("avg", shape[1:], shape[1:])
        if op is _LAST:  # a softmax or log_softmax: it orders the scores as they are
            if nodes[at + 1].op != "output":
                raise PrunelabError(f"{node.name}: a softmax or log_softmax is supported only as the last operation")
            previous = node
            continue
        if isinstance(op, WEIGHTED) and any(isinstance(o, WEIGHTED) and o.name == op.name for o in ops):
            raise PrunelabError(f"{op.name} is used twice in {type(model).__name__}'s forward: shared weights are "
                                f"not supported (give each use a module of its own)")
        if op is not None:
            ops.append(op)
        previous = node
    graph = Graph(ops=ops, input_shape=tuple(input_shape))
    graph.shapes()  # every op fits the one before
    return graph


def _op(node, modules):
    if node.op == "call_module":
        return _module_op(node.target, modules[node.target])
    if node.op in ("call_function", "call_method"):
        return _function_op(node)
    raise PrunelabError(f"unsupported operation {node.op} {node.target}")


def _module_op(name: str, module: nn.Module):
    if isinstance(module, NormalizeModule):
        if module.mean.numel() != 1 or module.std.numel() != 1:
            raise PrunelabError(f"{name}: only one mean and std for all pixels are supported")
        return Normalize(float(module.mean), float(module.std))
    if isinstance(module, nn.Conv2d):
        if type(module).forward not in (nn.Conv2d.forward, SparseConv2d.forward):
            raise PrunelabError(f"{name}: {type(module).__name__} has a forward of its own, which a plain "
                                f"convolution would not compute")
        if module.dilation != (1, 1) or isinstance(module.padding, str) or module.padding_mode != "zeros":
            raise PrunelabError(f"{name}: only plain convolutions (dilation 1, zero padding) are supported")
        return Conv(name, _array(effective_weight(module)), _bias(module, module.out_channels),
                    tuple(module.stride), tuple(module.padding), module.groups)
    if isinstance(module, nn.Linear):
        return Dense(name, _array(effective_weight(module)), _bias(module, module.out_features))
    if isinstance(module, nn.ReLU):
        return Activation("relu")
    if isinstance(module, nn.Tanh):
        return Activation("tanh")
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        if type(module).forward not in (nn.MaxPool2d.forward, nn.AvgPool2d.forward):
            raise PrunelabError(f"{name}: {type(module).__name__} has a forward of its own")
        if isinstance(module, nn.MaxPool2d) and (_pair(module.dilation) != (1, 1) or module.return_indices):
            raise PrunelabError(f"{name}: max pooling with dilation or return_indices is not supported")
        if isinstance(module, nn.AvgPool2d) and module.divisor_override is not None:
            raise PrunelabError(f"{name}: average pooling with divisor_override is not supported")
        kind = "max" if isinstance(module, nn.MaxPool2d) else "avg"
        return _pool(kind, module.kernel_size, module.stride, module.padding, module.ceil_mode, name)
    if isinstance(module, (nn.Identity, nn.Dropout, nn.Dropout2d)):  # nothing at inference
        return None
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        return _softmax(module.dim, name)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return _adaptive(module.output_size, name)
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise PrunelabError(f"{name}: only Flatten(1, -1) is supported")
        return Flatten()
    raise PrunelabError(f"{name}: {type(module).__name__} is not supported (Conv2d, Linear, ReLU, Tanh, "
                        f"MaxPool2d, AvgPool2d, Flatten, Dropout and a final Softmax/LogSoftmax are)")


_LAST = object()  # a final softmax / log_softmax: the graph keeps the scores before it (the same class)
_GLOBAL_AVERAGE = object()  # adaptive average pooling to 1x1: an average pool over the whole map
_SOFTMAX = {F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, "softmax", "log_softmax"}
_DROPOUT = {F.dropout, F.dropout2d, torch.dropout, "dropout"}
_ACTIVATIONS = {torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh", "relu": "relu",
                "tanh": "tanh"}
_POOLS = {F.max_pool2d: "max", F.avg_pool2d: "avg"}
# their positional arguments after the input, in order: the two differ after `padding`
_POOL_ARGUMENTS = {F.max_pool2d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
                   F.avg_pool2d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                  "divisor_override")}


def _function_op(node):
    target, args, kwargs = node.target, node.args[1:], dict(node.kwargs)
    if target in _ACTIVATIONS and not args and not kwargs.get("inplace", False) and set(kwargs) <= {"inplace"}:
        return Activation(_ACTIVATIONS[target])
    if target in _POOLS:
        names = ("kernel_size", "stride", "padding", "ceil_mode")
        given = dict(zip(_POOL_ARGUMENTS[target], args)) | kwargs
        extra = {k: v for k, v in given.items() if k not in names}
        if (set(extra) - {"dilation", "return_indices", "count_include_pad", "divisor_override"}
                or _pair(extra.get("dilation", 1)) != (1, 1) or extra.get("return_indices", False)
                or extra.get("divisor_override") is not None):
            raise PrunelabError(f"{node.name}: unsupported pooling arguments {extra}")
        return _pool(_POOLS[target], given["kernel_size"], given.get("stride"), given.get("padding", 0),
                     given.get("ceil_mode", False), node.name)
    if target in _SOFTMAX:
        return _softmax(args[0] if args else kwargs.get("dim"), node.name)
    if target is F.adaptive_avg_pool2d:
        return _adaptive(args[0] if args else kwargs.get("output_size"), node.name)
    if target in _DROPOUT:  # nothing at inference (traced in eval mode)
        return None
    if target in (torch.flatten, "flatten"):
        start = args[0] if args else kwargs.get("start_dim", 0)
        end = args[1] if len(args) > 1 else kwargs.get("end_dim", -1)
        if start != 1 or end != -1:
            raise PrunelabError(f"{node.name}: only flatten(x, 1) is supported")
        return Flatten()
    raise PrunelabError(f"unsupported operation {getattr(target, '__name__', target)} (at {node.name})")


def _adaptive(size, name):
    if size not in (1, (1, 1), [1, 1]):
        raise PrunelabError(f"{name}: adaptive average pooling is supported to 1x1 (global average pooling), "
                            f"not to {size}")
    return _GLOBAL_AVERAGE


def _softmax(dim, name):
    if dim not in (1, -1):
        raise PrunelabError(f"{name}: a softmax is supported over the scores (dim 1), not dim {dim}")
    return _LAST


def _pool(kind, size, stride, padding, ceil_mode, name):
    size = _pair(size)
    stride = size if stride in (None, [], ()) else _pair(stride)
    if _pair(padding) != (0, 0) or ceil_mode:
        raise PrunelabError(f"{name}: pooling with padding or ceil_mode is not supported")
    return Pool(kind, size, stride)


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32, copy=True)


def _bias(module, out: int) -> np.ndarray:
    return np.zeros(out, np.float32) if module.bias is None else _array(module.bias)
