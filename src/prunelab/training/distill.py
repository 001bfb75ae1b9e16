"""Knowledge distillation (Hinton, Vinyals & Dean 2015) from the dense model while retraining.

The student's loss mixes the cross-entropy on the labels with the KL divergence between the
teacher's and the student's class probabilities, both softened by a temperature T; the KL term is
multiplied by T^2 so its gradients keep their scale as T changes.
"""

import torch
import torch.nn.functional as F


def distillation_loss(teacher: torch.nn.Module, weight: float, temperature: float):
    """loss(scores, x, y) = (1 - weight) CE(scores, y) + weight T^2 KL(teacher_T || student_T)."""
    teacher.eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)

    def loss(scores, x, y):
        with torch.no_grad():
            target = F.log_softmax(teacher(x) / temperature, dim=1)
        soft = F.kl_div(F.log_softmax(scores / temperature, dim=1), target, reduction="batchmean", log_target=True)
        return (1.0 - weight) * F.cross_entropy(scores, y) + weight * temperature ** 2 * soft

    return loss
