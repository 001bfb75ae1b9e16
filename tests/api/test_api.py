"""The Python API on user models: masks held and shrinking, files refused when the module differs,
the input shape from the model or the data, exports that refuse what they cannot run."""

import numpy as np
import pytest
import torch
from torch import nn

import prunelab
from prunelab.errors import PrunelabError


def mlp(classes=3):
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, classes))


def tiny(n=64, features=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, features, generator=g), torch.randint(0, classes, (n,), generator=g)


def test_prunelab_is_this_checkout():
    assert set(prunelab.__all__) <= set(dir(prunelab))


@pytest.mark.parametrize("schedule", ["oneshot", "iterative", "gradual"])
def test_prune_reaches_the_exact_sparsity_in_place(schedule):
    torch.manual_seed(0)
    model = mlp()
    mask = prunelab.prune(model, tiny(), 0.75, schedule=schedule, rounds=2, epochs=2, batch_size=16)
    assert mask.layer_sparsity() == {"1.weight": 0.75, "3.weight": 0.75}
    for name, param in model.named_parameters():
        if name in mask:
            assert not param[~mask[name]].any()


def test_the_hook_keeps_weights_and_momentum_at_zero_and_the_mask_only_shrinks():
    torch.manual_seed(0)
    model, (x, y) = mlp(), tiny()
    pruner = prunelab.Pruner(model, 0.8, schedule="iterative", rounds=4, steps=40)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    previous = pruner.mask
    for step in range(40):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        pruner.step(optimizer)
        pruner.mask.check_shrinks_from(previous)
        previous = pruner.mask
        params = dict(model.named_parameters())
        for name, keep in pruner.mask.items():
            assert not params[name][~keep].any()
            assert not optimizer.state[params[name]]["momentum_buffer"][~keep].any()
    assert pruner.finish().sparsity() == pytest.approx(0.8, abs=1e-3)


def test_the_hook_refuses_a_method_with_its_own_trainer_and_unknown_names():
    with pytest.raises(PrunelabError, match="trains its own way"):
        prunelab.Pruner(mlp(), 0.5, method="svd")
    with pytest.raises(PrunelabError, match="unknown pruning method 'nope'"):
        prunelab.Pruner(mlp(), 0.5, method="nope")
    with pytest.raises(PrunelabError, match="needs steps"):
        prunelab.Pruner(mlp(), 0.5, schedule="gradual")


@pytest.mark.parametrize("method", ["global", "std", "course", "svd"])
def test_every_registered_method_prunes_a_user_model(method):
    torch.manual_seed(0)
    model = mlp()
    sparsity = None if method in ("svd", "svd-units") else 0.5  # Sparse VD chooses its own
    mask = prunelab.prune(model, tiny(), sparsity, method=method, epochs=2, batch_size=16, lr=0.01)
    assert 0.0 < mask.sparsity() < 1.0 or method == "svd"
    params = dict(model.named_parameters())
    assert all(not params[n][~k].any() for n, k in mask.items())


def test_a_dataloader_works_like_tensors():
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = mlp()
    mask = prunelab.prune(model, DataLoader(TensorDataset(*tiny()), batch_size=16), 0.5, epochs=1)
    assert mask.sparsity() == 0.5
    assert 0.0 <= prunelab.accuracy(model, DataLoader(TensorDataset(*tiny()), batch_size=16)) <= 1.0


def quantized_mlp(tmp_path):
    torch.manual_seed(0)
    model = mlp()
    mask = prunelab.prune(model, tiny(), 0.5, epochs=1, batch_size=16)
    codebooks = prunelab.quantize(model, mask, tiny(), fc_bits=4)
    return model, prunelab.save(model, tmp_path / "mlp.plc", codebooks)


def test_quantize_gives_named_layers_their_own_code_width_and_refuses_unknown_ones():
    torch.manual_seed(0)
    model = mlp()
    mask = prunelab.prune(model, tiny(), 0.5, epochs=1, batch_size=16)
    codebooks = prunelab.quantize(model, mask, tiny(), fc_bits=4, layers={"3": 1})
    assert codebooks.bits == {"1.weight": 4, "3.weight": 1}
    assert len(torch.unique(model[3].weight[mask["3.weight"]])) <= 2
    with pytest.raises(PrunelabError, match="names layer 'fc1', which is not one of the model's: 1, 3"):
        prunelab.quantize(mlp(), mask, layers={"fc1": 4})


def test_a_file_round_trips_into_a_fresh_module_and_records_its_input_shape(tmp_path):
    model, path = quantized_mlp(tmp_path)
    restored = prunelab.load(path, mlp())
    x = tiny()[0]
    torch.testing.assert_close(restored(x), model.eval()(x), atol=1e-5, rtol=0)  # up to compaction's rounding
    assert prunelab.file_input_shape(path) == (12,)  # from the first Linear's in_features


def test_load_refuses_a_module_that_does_not_match_naming_the_layer(tmp_path):
    _, path = quantized_mlp(tmp_path)
    with pytest.raises(PrunelabError, match=r"'3.weight' has shape \(3, 16\), the model's \(4, 16\)"):
        prunelab.load(path, mlp(classes=4))
    other = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3), nn.ReLU(), nn.Linear(3, 3))
    with pytest.raises(PrunelabError, match="lacks 5.bias, 5.weight"):
        prunelab.load(path, other)
    renamed = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    with pytest.raises(PrunelabError, match="the file has '1.weight', which the Sequential has not"):
        prunelab.load(path, renamed)
    fresh = mlp(classes=4)
    before = {n: p.clone() for n, p in fresh.named_parameters()}
    with pytest.raises(PrunelabError):
        prunelab.load(path, fresh)
    assert all(torch.equal(before[n], p) for n, p in fresh.named_parameters())  # nothing half-written


def test_a_convolution_first_model_needs_its_input_shape_from_the_caller_or_data(tmp_path):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with pytest.raises(PrunelabError, match=r"give input_shape=\(C, H, W\)"):
        prunelab.export_c(model, tmp_path / "c")
    x = torch.rand(5, 2, 8, 8)
    header, _ = prunelab.export_c(model, tmp_path / "c", input_shape=(x, torch.zeros(5)), weights="float")
    assert "input [2, 8, 8]" in header.read_text()


def test_the_c_export_refuses_a_module_it_cannot_run_naming_it(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Sigmoid(), nn.Linear(8, 3))
    with pytest.raises(PrunelabError, match="2: Sigmoid is not supported"):
        prunelab.export_c(model, tmp_path / "c")


def test_integer_arrays_are_pixels_over_255_and_bad_shapes_are_refused():
    from prunelab.api.data import as_float

    assert torch.equal(as_float(np.array([[0, 255]], np.uint8)), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(PrunelabError, match=r"y of shape \(N,\)"):
        prunelab.prune(mlp(), (torch.rand(8, 12), torch.zeros(7)), 0.5)
