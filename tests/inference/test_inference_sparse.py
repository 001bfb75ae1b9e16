"""to_sparse: the sparse copy computes what the dense model computes, for every model and sparsity."""

import copy

import pytest
import torch
from inference_helpers import digit_like, pruned_model
from torch import nn

from prunelab import models
from prunelab.errors import PrunelabError
from prunelab.inference import conv_kernels, to_sparse
from prunelab.inference.layers import CSRConv2d, CSRLinear

MODELS = list(models.REGISTRY)


def assert_same_outputs(dense, sparse, images):
    with torch.no_grad():
        expected, got = dense(images), sparse(images)
    scale = float(expected.abs().max())
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * scale)
    assert torch.equal(got.argmax(1), expected.argmax(1))


@pytest.mark.parametrize("conv", ["dense", "sparse"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("name", MODELS)
def test_sparse_copy_matches_the_dense_model(name, sparsity, conv):
    model = pruned_model(name, sparsity)
    sparse = to_sparse(model, conv=conv)
    for batch in (1, 64):
        assert_same_outputs(model, sparse, digit_like(batch, seed=batch))


@pytest.mark.parametrize("name", MODELS)
def test_auto_picks_a_kernel_per_convolution_and_still_matches(name):
    model = pruned_model(name, 0.9)
    images = digit_like(64)
    sparse = to_sparse(model, conv="auto", example=images)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert list(conv_kernels(sparse)) == convs
    assert set(conv_kernels(sparse).values()) <= {"dense", "sparse"}
    assert_same_outputs(model, sparse, images)


def test_every_layer_is_replaced_and_the_original_is_untouched():
    model = pruned_model("lenet5", 0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sparse = to_sparse(model, conv="sparse")
    kinds = {type(m) for m in sparse.modules()}
    assert CSRLinear in kinds and CSRConv2d in kinds and nn.Linear not in kinds and nn.Conv2d not in kinds
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(model.fc1, nn.Linear)


def test_csr_holds_only_the_nonzero_weights():
    model = pruned_model("lenet5-caffe", 0.9)
    sparse = to_sparse(model, conv="sparse")
    assert sparse.fc1.weight.values().numel() == int(model.fc1.weight.count_nonzero()) == 40_000
    assert sparse.conv2.weight.values().numel() == 2_500


def test_the_1998_connection_table_is_kept_even_where_stored_weights_are_not_zero():
    model = models.build("lenet5-1998").eval()
    with torch.no_grad():
        model.conv2.weight.normal_()  # values where the table says "no connection": ignored by the model
    images = digit_like(8)
    for conv in ("dense", "sparse"):
        sparse = to_sparse(model, conv=conv)
        assert_same_outputs(model, sparse, images)
    # 60 of the 96 map pairs, 5 x 5 weights each
    assert to_sparse(model, conv="sparse").conv2.weight.values().numel() == 60 * 25


def test_a_copy_of_the_sparse_model_computes_the_same():
    sparse = to_sparse(pruned_model("lenet5", 0.9), conv="sparse")
    twin = copy.deepcopy(sparse)
    images = digit_like(4)
    with torch.no_grad():
        assert torch.equal(twin(images), sparse(images))
    assert twin.fc1.weight is not sparse.fc1.weight


def test_a_bare_linear_layer_is_replaced_itself():
    layer = nn.Linear(6, 3)
    x = torch.randn(5, 6)
    sparse = to_sparse(layer)
    assert isinstance(sparse, CSRLinear)
    torch.testing.assert_close(sparse(x), layer(x))


def test_unknown_conv_mode_is_a_user_error():
    with pytest.raises(PrunelabError, match="conv must be one of auto, dense, sparse"):
        to_sparse(pruned_model("lenet5", 0.5), conv="fast")


def test_grouped_convolution_runs_dense_under_auto_and_is_refused_when_forced():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = torch.randn(2, 2, 8, 8)
    assert conv_kernels(to_sparse(model, example=x)) == {"0": "dense"}
    with pytest.raises(PrunelabError, match="groups=1"):
        to_sparse(model, conv="sparse")
