"""A graph's operations as data in a file: the round trip, and a crafted spec refused field by field."""

import pytest
import torch
from torch import nn

from prunelab.deploy import graph as g
from prunelab.deploy import opspec
from prunelab.errors import PrunelabError

MODEL = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, groups=1), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=4),
                      nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))


def test_the_spec_gives_back_every_operation_with_zero_weights_of_the_layers_shapes():
    torch.manual_seed(0)
    graph = g.trace(MODEL, (1, 12, 12))
    shapes = {op.name: op.weight.shape for op in graph.layers()}
    ops = opspec.skeleton(opspec.to_spec(graph), shapes)
    assert [type(op) for op in ops] == [type(op) for op in graph.ops]
    for got, want in zip(ops, graph.ops):
        if isinstance(want, g.Conv):
            assert (got.name, got.stride, got.padding, got.groups) == (want.name, want.stride, want.padding, want.groups)
            assert got.weight.shape == want.weight.shape and not got.weight.any()
        elif not isinstance(want, g.WEIGHTED):
            assert got == want
    assert g.Graph(ops, (1, 12, 12)).shapes() == graph.shapes()


@pytest.mark.parametrize("change, message", [
    (lambda s: s.append({"op": "sigmoid"}), "operation 7 is not one of the operations a file may hold"),
    (lambda s: s[0].update(code="__import__('os')"), "operation 0 is not one of the operations"),
    (lambda s: s[0].update(stride=[1, True]), r"\[1, True\] is not two whole numbers in 1..4096"),
    (lambda s: s[0].update(padding=[0, 10 ** 9]), "is not two whole numbers in 0..4096"),
    (lambda s: s[2].update(groups=0), "0 is not a whole number in 1..4096"),
    (lambda s: s[0].update(name="fc9"), "operation 0 names no layer of the file"),
    (lambda s: s[4].update(kind="median"), "pooling is max or avg"),
    (lambda s: s.reverse(), "names layers"),
    (lambda s: s.clear(), "a list of 1..256 operations"),
])
def test_a_crafted_spec_is_refused_in_one_line(change, message):
    graph = g.trace(MODEL, (1, 12, 12))
    spec = opspec.to_spec(graph)
    change(spec)
    with pytest.raises(PrunelabError, match=message):
        opspec.skeleton(spec, {op.name: op.weight.shape for op in graph.layers()})
