import pytest
import torch

from prunelab import models
from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask
from prunelab.pruning.report import layer_table

PARAMETERS = {"lenet5": 61_706, "lenet5-1998": 60_806, "lenet5-caffe": 431_080, "lenet-300-100": 266_610,
              "mcu-cnn": 20_522, "mcu-cnn-s2": 20_522,
              "mcu-cnn-wide": 29_918, "mcu-cnn-deep": 73_594}
MACS = {"lenet5": 416_520, "lenet5-caffe": 2_293_000, "lenet-300-100": 266_200, "mcu-cnn": 337_024, "mcu-cnn-s2": 250_624,
        "mcu-cnn-wide": 425_536, "mcu-cnn-deep": 591_616}


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_parameter_counts_are_pinned(name):
    assert models.count_parameters(models.build(name)) == PARAMETERS[name]


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_models_take_scaled_pixels_and_return_ten_scores(name):
    assert models.build(name)(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("name", list(MACS))
def test_dense_macs_match_the_reference_table(name):
    model = models.build(name)
    assert layer_table(model, Mask.ones_like(model))[-1]["macs_dense"] == MACS[name]


def test_lenet5_1998_c3_sees_60_of_96_map_pairs():
    model = models.build("lenet5-1998")
    assert int(model.conv2.connections.sum()) == 60
    live = Mask.ones_like(model)["conv2.weight"]
    assert int(live.sum()) == 60 * 25
    assert torch.all(model.conv2.weight[~live] == 0)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(PrunelabError, match="unknown model 'lenet6'"):
        models.build("lenet6")
