"""The C generator: self-contained C99, and (with a compiler) the same predictions as PyTorch."""

import re

import numpy as np
import pytest
import torch
from torch import nn

from prunelab.deploy import graph as g
from prunelab.deploy.cgen import generate
from prunelab.deploy.compact import compact
from prunelab.deploy.ctables import rows, table
from prunelab.deploy.engine import Engine, build, cache_dir, compiler
from prunelab.errors import PrunelabError
from deploy_helpers import ConvChain, sparsify

needs_cc = pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine (set CC or install gcc)")


def chain(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = sparsify(ConvChain(**kwargs), seed, density=0.4)
    return model, compact(g.trace(model, (1, 12, 12))).graph


def test_source_needs_no_heap_no_stdio_and_states_its_memory():
    _, graph = chain()
    header, source = generate(graph, "net", weights="codebook")
    for text in (header, source):
        assert not re.search(r"malloc|free\(|printf|stdio|FILE", text)
    assert set(re.findall(r"#include <(\w+)\.h>", source)) <= {"stddef", "stdint", "math"}
    assert "int net_classify(const uint8_t pixels[144]);" in header
    assert "void net_scores(const float pixels[144], float scores[4]);" in header
    assert "static const float L0_centroid" in source and "static float buf_a" in source
    assert re.search(r"Weights stored as 'codebook': [\d,]+ bytes", header)


def test_codebook_table_gaps_and_fillers_by_hand():
    layer = g.Dense("fc", np.zeros((1, 600), np.float32), np.zeros(1, np.float32))
    layer.weight[0, [3, 4, 550]] = [0.5, -1.0, 0.5]
    t = table(layer, (1, 1), "codebook")
    assert t.arrays["centroid"][1].tolist() == [-1.0, 0.5, 0.0]  # 0.0: the fillers' value
    assert t.arrays["gap"][1].tolist() == [3, 1, 255, 255, 36]  # 4 + 255 + 255 + 36 = 550
    assert t.arrays["code"][1].tolist() == [1, 0, 2, 2, 1]  # 2 = filler
    assert t.arrays["start"][1].tolist() == [0, 5]


def test_conv_offsets_address_the_zero_bordered_maps():
    layer = g.Conv("c", np.zeros((1, 2, 3, 3), np.float32), np.zeros(1, np.float32), padding=(1, 1))
    layer.weight[0, 1, 2, 0] = 1
    ((offsets, values),) = rows(layer, (6, 6))
    assert offsets.tolist() == [(1 * 6 + 2) * 6 + 0] and values.tolist() == [1]


def test_bad_names_and_storages_are_refused():
    _, graph = chain()
    with pytest.raises(PrunelabError, match="not a C identifier"):
        generate(graph, "9lives")
    with pytest.raises(PrunelabError, match="unknown weight storage"):
        generate(graph, "net", weights="huffman")


@needs_cc
@pytest.mark.parametrize("weights", ["float", "codebook"])
@pytest.mark.parametrize("kwargs", [{}, {"padding": 1, "activation": nn.Tanh}, {"caffe": True}])
def test_engine_matches_pytorch_and_does_not_depend_on_the_batch(weights, kwargs, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    model, graph = chain(seed=4, **kwargs)
    x = torch.rand(37, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    wide, narrow = Engine(graph, weights, batch=8), Engine(graph, weights, batch=1)
    got = wide.scores(x.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert np.array_equal(got.view(np.uint32), narrow.scores(x.numpy()).view(np.uint32))  # bit for bit
    pixels = (x.numpy()[:5, 0] * 255).round().astype(np.uint8)
    direct = narrow.scores(pixels[:, None].astype(np.float32) / np.float32(255)).argmax(1)
    assert [narrow.classify(p) for p in pixels] == direct.tolist()


@needs_cc
def test_tampered_cached_library_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    header, source = generate(chain()[1], "net")
    path = build("net", header, source, ("-O1",))
    good = path.read_bytes()
    path.write_bytes(b"not a library")
    assert build("net", header, source, ("-O1",)).read_bytes() == good
    assert path.parent.parent == cache_dir()


@needs_cc
def test_compiler_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    with pytest.raises(PrunelabError, match="C compiler failed"):
        build("net", "", "this is not C", ("-O1",))


def test_without_a_compiler_the_engine_says_so(monkeypatch):
    import prunelab.deploy.engine as engine

    monkeypatch.setattr(engine, "compiler", lambda: None)
    with pytest.raises(PrunelabError, match="no C compiler found"):
        Engine(chain()[1])


@pytest.mark.parametrize("ops, message", [
    ([g.Pool("max", (2, 2), (2, 2)), g.Flatten()], "starts with a convolution or a linear layer"),
    ([g.Flatten(), g.Dense("fc", np.ones((2, 16), np.float32), np.zeros(2, np.float32)),
      g.Normalize(0.0, 1.0)], "cannot run Normalize after layer fc"),
])
def test_graphs_the_generator_cannot_run_are_refused_by_name(ops, message):
    with pytest.raises(PrunelabError, match=message):
        generate(g.Graph(ops, (1, 4, 4)), "net")
