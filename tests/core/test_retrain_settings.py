"""Distillation from the dense model (the loss it trains on), and the settings check for it and quantization."""

import pytest
import torch
import torch.nn.functional as F

from prunelab import models
from prunelab.cli.settings import validate
from prunelab.errors import PrunelabError
from prunelab.runs.config import RunConfig
from prunelab.training.distill import distillation_loss


def test_weight_zero_is_plain_cross_entropy_and_a_copy_of_the_teacher_adds_nothing():
    torch.manual_seed(0)
    teacher = models.build("lenet5")
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    with torch.no_grad():
        scores = teacher(x)
    assert float(distillation_loss(teacher, 0.0, 4.0)(scores, x, y)) == pytest.approx(float(F.cross_entropy(scores, y)))
    # the student agreeing with the teacher: the KL part is zero, only (1 - w) CE is left
    half = distillation_loss(teacher, 0.5, 4.0)(scores, x, y)
    assert float(half) == pytest.approx(0.5 * float(F.cross_entropy(scores, y)), abs=1e-6)


def test_only_the_student_gets_gradients():
    torch.manual_seed(0)
    teacher, student = models.build("lenet5"), models.build("lenet5")
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    distillation_loss(teacher, 0.7, 2.0)(student(x), x, y).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())


@pytest.mark.parametrize("group, setting, value, message", [
    ("prune", "distill", 1.5, "between 0 and 1"), ("prune", "temperature", 0.0, "must be positive"),
    ("quantize", "retrain_distill", -0.1, "between 0 and 1"), ("prune", "kl_scale", 0.0, "must be positive"),
    ("prune", "kl_scale", -1.0, "must be positive")])
def test_impossible_distillation_and_kl_settings_are_refused(group, setting, value, message):
    config = RunConfig()
    setattr(getattr(config, group), setting, value)
    with pytest.raises(PrunelabError, match=message):
        validate(config)


@pytest.mark.parametrize("setting, value", [("index_bits", 9), ("index_bits", -1), ("fc_bits", 0), ("conv_bits", 17),
                                            ("float_bits", 8)])
def test_impossible_quantization_settings_are_refused(setting, value):
    config = RunConfig()
    setattr(config.quantize, setting, value)
    with pytest.raises(PrunelabError, match=f"quantize.{setting}"):
        validate(config)
