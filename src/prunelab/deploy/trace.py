"""A PyTorch model as a ``Graph`` (deploy/graph.py), traced with torch.fx.

Accepted: Normalize, Conv2d (stride, padding, groups: depthwise included), Linear, BatchNorm (folded
into the layer before it), ReLU, Tanh, max and average pooling without padding, global average
pooling (AdaptiveAvgPool2d to 1x1), Flatten / flatten / view or reshape to (N, -1), Dropout
(dropped), a final softmax or log_softmax (left out: the same class), and where the forward
branches, an elementwise add of two or more branches (a residual) or their concatenation along the
channels, branches nested in branches. Module and functional forms alike. Anything else is refused
with its name, so an export never silently drops part of a model. Weights are the ones the layer
really applies (LeNet-5-1998's connection table multiplied in).
"""

from __future__ import annotations

import copy
import operator

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from prunelab.deploy import graph as g
from prunelab.deploy.graph import Activation, Conv, Dense, Flatten, Graph, Merge, Normalize, Pool
from prunelab.errors import PrunelabError
from prunelab.inference.layers import effective_weight
from prunelab.models.lenet import Normalize as NormalizeModule, SparseConv2d

_ADDS = {operator.add, torch.add, "add"}
_CATS = {torch.cat, torch.concat, torch.concatenate, "cat"}


class Tracer(torch.fx.Tracer):
    """Keeps every Conv2d (LeNet-5-1998's SparseConv2d included) and Normalize as one node."""

    def is_leaf_module(self, module, qualified_name):
        return isinstance(module, (nn.Conv2d, NormalizeModule)) or super().is_leaf_module(module, qualified_name)


def trace(model: nn.Module, input_shape=(1, 28, 28)) -> Graph:
    """The operations ``model`` computes, with its weights as float32 numpy arrays; a BatchNorm is
    folded into the layer before it (``batchnorm``; the model itself is not changed)."""
    from prunelab.deploy.batchnorm import fold_batchnorm, has_batchnorm

    model = model.cpu().eval()
    if has_batchnorm(model):
        model = fold_batchnorm(copy.deepcopy(model))
    try:
        fx_graph = Tracer().trace(model)
    except Exception as exc:  # fx raises many types for code it cannot follow
        raise PrunelabError(f"cannot trace {type(model).__name__}: {str(exc).splitlines()[0]}") from None
    inputs = [node for node in fx_graph.nodes if node.op == "placeholder"]
    if len(inputs) != 1:
        raise PrunelabError(f"{type(model).__name__}'s forward takes {len(inputs)} inputs; one is supported")
    walker = _Walker(dict(model.named_modules()), type(model).__name__)
    ops, _, stop, _ = walker.walk(inputs[0], tuple(input_shape))
    if stop.op != "output":
        raise PrunelabError(f"{stop.name} adds or joins values that do not branch from one input")
    if isinstance(stop.args[0], (tuple, list, dict)):
        raise PrunelabError(f"{type(model).__name__} returns more than one value; one tensor of scores is supported")
    names = [op.name for op in g.each_op(ops) if isinstance(op, g.WEIGHTED)]
    for name in names:
        if names.count(name) > 1:
            raise PrunelabError(f"{name} is used twice in {type(model).__name__}'s forward: shared weights are "
                                f"not supported (give each use a module of its own)")
    graph = Graph(ops=ops, input_shape=tuple(input_shape))
    graph.shapes()  # every op fits the one before
    return graph


class _Walker:
    """Follows the fx nodes from a value to the operations that read it: a value read once continues
    the chain, a value read several times opens branches, which must meet again at one add or
    concatenation (a Merge)."""

    def __init__(self, modules: dict, model_name: str):
        self.modules, self.model_name = modules, model_name

    def walk(self, node, shape):
        """(ops, the last node of the chain, the node it stops at: the output or a merge, shape)."""
        ops = []
        while True:
            users = _readers(node)
            if not users:
                raise PrunelabError(f"{node.name}'s value is computed but never used")
            if len(users) == 1 and (users[0].op == "output" or _is_merge(users[0])):
                return ops, node, users[0], shape
            if len(users) == 1:
                node, shape = self.step(users[0], node, shape, ops)
            else:
                node, shape = self.branch(node, users, shape, ops)

    def step(self, node, reads, shape, ops):
        """Append ``node``'s operation (it must read ``reads`` only); its node and output shape."""
        if _tensor_inputs(node) != [reads] or not node.args or node.args[0] is not reads:
            raise PrunelabError(f"{self.model_name}: {node.name} reads values the supported operations do not "
                                f"(a branch must end in an add or a concatenation)")
        op = _op(node, self.modules)
        if op is _GLOBAL_AVERAGE:  # the pooling window is the whole map that reaches it
            if len(shape) != 3:
                raise PrunelabError(f"{node.name}: global average pooling needs (C, H, W) input, gets {shape}")
            op = Pool("avg", shape[1:], shape[1:])
        if isinstance(op, _FlattenTo):
            if op.features != int(np.prod(shape)):
                raise PrunelabError(f"{node.name}: a view to (-1, {op.features}) of examples of shape {shape} mixes "
                                    f"examples; (N, -1) is supported")
            op = Flatten()
        if op is _LAST:  # a softmax or log_softmax: it orders the scores as they are
            if [u.op for u in node.users] != ["output"]:
                raise PrunelabError(f"{node.name}: a softmax or log_softmax is supported only as the last operation")
            return node, shape
        if op is not None:
            ops.append(op)
            shape = g.output_shape(op, shape)
        return node, shape

    def branch(self, node, users, shape, ops):
        """Append the Merge of the branches that read ``node``; the merge's node and output shape."""
        ends, merges = {}, set()
        for user in users:
            if _is_merge(user):  # the value itself: an identity shortcut
                ends[node] = ()
                merges.add(user)
                continue
            first = []
            after, shape_after = self.step(user, node, shape, first)
            rest, last, stop, _ = self.walk(after, shape_after)
            if stop.op == "output" or last in ends:
                raise PrunelabError(f"the branches that read {node.name} do not meet again at one add or "
                                    f"concatenation")
            ends[last] = tuple(first + rest)
            merges.add(stop)
        if len(merges) != 1:
            raise PrunelabError(f"the branches that read {node.name} do not meet again at one add or concatenation")
        (merge,) = merges
        inputs = _tensor_inputs(merge)
        if sorted(map(id, inputs)) != sorted(map(id, ends)) or len(inputs) != len(set(inputs)):
            raise PrunelabError(f"{merge.name} joins values that are not the branches from {node.name}")
        kind = _merge_kind(merge)
        branches = [ends[i] for i in inputs]
        if kind == "add":  # the terms in any order: the order the model registers their layers, as its file stores them
            order = {name: n for n, name in enumerate(self.modules)}
            branches.sort(key=lambda b: min((order[op.name] for op in g.each_op(b) if isinstance(op, g.WEIGHTED)),
                                            default=len(order)))
        op = Merge(kind, tuple(branches))
        ops.append(op)
        return merge, g.output_shape(op, shape)


def _readers(node) -> list:
    """The nodes that read ``node``'s value (a shape query such as x.size(0) is not a read)."""
    return [user for user in node.users if not _is_size(user)]


def _is_size(node) -> bool:
    """x.size(), x.size(0), x.dim(), x.shape, x.shape[0]: shape queries, not values the model computes."""
    if node.op == "call_function" and node.target is operator.getitem:
        return isinstance(node.args[0], torch.fx.Node) and _is_size(node.args[0])
    return node.op == "call_method" and node.target in ("size", "dim") or \
        node.op == "call_function" and node.target is getattr and node.args[1:2] == ("shape",)


def _tensor_inputs(node) -> list:
    return [n for n in node.all_input_nodes if not _is_size(n)]


def _is_merge(node) -> bool:
    return node.op in ("call_function", "call_method") and (node.target in _ADDS or node.target in _CATS)


def _merge_kind(node) -> str:
    if node.target in _ADDS:
        if len(node.args) != 2 or not all(isinstance(a, torch.fx.Node) for a in node.args) or node.kwargs:
            raise PrunelabError(f"{node.name}: an add is supported between two tensors (a residual), without alpha")
        return "add"
    values = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, torch.fx.Node) for v in values):
        raise PrunelabError(f"{node.name}: a concatenation of a list of tensors is supported")
    if dim != 1:
        raise PrunelabError(f"{node.name}: a concatenation along the channels (dim 1) is supported, not dim {dim}")
    return "concat"


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


class _FlattenTo:
    def __init__(self, features: int):
        self.features = features


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
    if target in ("view", "reshape", torch.reshape):
        sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
        if len(sizes) == 2 and sizes[0] == -1 and isinstance(sizes[1], int) and not isinstance(sizes[1], bool):
            return _FlattenTo(sizes[1])  # x.view(-1, 400): a flatten where 400 is one example's size
        if len(sizes) != 2 or sizes[1] != -1 or not (isinstance(sizes[0], torch.fx.Node) and _is_size(sizes[0])):
            raise PrunelabError(f"{node.name}: a view or reshape is supported to (N, -1) or (-1, features), a flatten")
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
