"""The third stage: trained quantization, coding, the compressed file (with the integer engine's
activation ranges, measured on training images), and its evaluation.

k-means per layer on the pruned model, centroid fine-tuning (assignments fixed), then the model
is compacted (dead and unread units dropped, losslessly) and written as a format-3 file, read back
and evaluated: its accuracy must equal the in-memory model's.
"""

import os
import time
from pathlib import Path

import torch

from prunelab import models
from prunelab.compress import DEFAULT_INPUT_SHAPE, compaction_summary, pack_model, unpack_model
from prunelab.compression import CompressedModel, storage_table
from prunelab.deploy.batchnorm import fold_batchnorm
from prunelab.deploy.calibrate import DEFAULT_IMAGES, calibrated
from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask
from prunelab.runs import checkpoint
from prunelab.runs.config import layer_code_bits
from prunelab.runs.epochs import finish, run_epochs
from prunelab.runs.stages import epoch_generator, load_model
from prunelab.training.augment import augment_of
from prunelab.training.distill import distillation_loss
from prunelab.training.loop import evaluate, input_shape, train_epoch
from prunelab.training.masking import MaskEnforcer
from prunelab.training.metrics import MetricsLog
from prunelab.training.schedule import lr_at, set_lr
from prunelab.training.weight_sharing import CentroidOptimizer, SharedWeights, layer_bits

FILE_NAME = "model.plc"


def train_quantized(config, splits, dense_dir: Path, pruned_dir: Path, stage_dir: Path, device, log) -> dict:
    stage_dir = Path(stage_dir)
    q = config.quantize
    model = load_model(config, pruned_dir, device)
    mask = Mask.load(Path(pruned_dir) / "mask.pt")
    began = time.perf_counter()
    teacher = load_model(config, dense_dir, device) if q.retrain_epochs and q.retrain_distill else None
    retrained = retrain_masked(config, splits, model, mask, stage_dir, log, teacher) if q.retrain_epochs else None
    fold_batchnorm(model)  # the file holds the folded layers: share and fine-tune what it will hold
    widths = layer_bits(model, mask, q.conv_bits, q.fc_bits, layer_code_bits(q.layers))
    shared = SharedWeights(model, mask, widths, q.init, config.seed)
    before = evaluate(model, splits.test_images, splits.test_labels)
    split = config.data.evaluated_on
    log(f"quantized (k-means, before fine-tuning): {split} accuracy {before['test_accuracy']:.4f}")
    optimizer = CentroidOptimizer(model, shared, q.lr, q.momentum)
    start, seconds = 0, time.perf_counter() - began
    state = checkpoint.resume(stage_dir, model, optimizer, log, "quantized", epochs=q.epochs, extras=("centroids",))
    if state:
        shared.load_state(state["centroids"], model)
        start, seconds = state["epoch"], state["seconds"]
    metrics = MetricsLog(stage_dir / "metrics.jsonl", keep_rows=start)

    def step(epoch: int) -> dict:
        row = train_epoch(model, optimizer, splits.train_images, splits.train_labels, config.train.batch_size,
                          epoch_generator(config.seed, "quantized", epoch), progress=f"centroids {epoch + 1}/{q.epochs}",
                          augment=augment_of(config.train))
        row.update(evaluate(model, splits.test_images, splits.test_labels))
        return {**row, "stage": "quantized", "epoch": epoch + 1, "lr": q.lr, "sparsity": mask.sparsity()}

    seconds = run_epochs(stage_dir, range(start, q.epochs), step,
                         lambda done: {"epoch": done, "model": model.state_dict(), "centroids": shared.state(),
                                       "optimizer": optimizer.state_dict()},
                         lambda epoch, row: f"centroid fine-tuning epoch {epoch + 1}/{q.epochs}: {split} accuracy "
                                            f"{row['test_accuracy']:.4f}", log, metrics, seconds)
    if q.float_bits == 16:
        shared.round_to_half(model)
    in_memory = evaluate(model, splits.test_images, splits.test_labels)
    metadata = {"dataset": config.data.dataset, "seed": config.seed, f"{split}_accuracy": in_memory["test_accuracy"]}
    shape = input_shape(splits.test_images)
    if shape != DEFAULT_INPUT_SHAPE:  # a user's data; the built-in datasets' files stay as they were
        metadata["input_shape"] = list(shape)
    compressed = pack_model(model.cpu(), config.model, shared, q.index_bits, metadata, shape)  # compact: format 3
    calibration = splits.train_images[:DEFAULT_IMAGES]  # the integer engine's activation ranges travel in the file
    compressed = calibrated(compressed, calibration, config.model)
    compressed.write(stage_dir / FILE_NAME)
    from_file = evaluate(unpack_model(CompressedModel.read(stage_dir / FILE_NAME), config.model).to(device),
                         splits.test_images, splits.test_labels)
    if from_file["test_correct"] != in_memory["test_correct"]:
        raise PrunelabError(f"decoded file classifies {from_file['test_correct']} images correctly, "
                            f"the model in memory {in_memory['test_correct']}: encoding is not exact")
    dense_bytes = 4 * models.count_parameters(model)
    file_bytes = os.path.getsize(stage_dir / FILE_NAME)
    result = {**from_file, "before_finetuning": before, "retrained": retrained, "seconds": seconds, "file_bytes": file_bytes,
              "dense_bytes": dense_bytes, "ratio": dense_bytes / file_bytes, "table": storage_table(compressed),
              "compaction": compaction_summary(compressed, config.model)}
    return finish(stage_dir, result, inputs=[dense_dir, pruned_dir])


def retrain_masked(config, splits, model, mask, stage_dir: Path, log, teacher=None) -> dict:
    """`quantize.retrain_epochs` of SGD on the pruned model with its mask enforced after every step,
    before clustering: a method whose pruned weights were trained under noise (Sparse Variational
    Dropout) is then tuned as the deterministic network the file will hold, distilling from
    `teacher` (the dense model) with weight `quantize.retrain_distill` when given. Checkpointed per
    epoch; returns the retrained model's evaluation."""
    q = config.quantize
    done = stage_dir / "retrained.pt"
    if done.exists():
        model.load_state_dict(checkpoint.load(done))
        return evaluate(model, splits.test_images, splits.test_labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=q.retrain_lr, momentum=0.9)
    enforcer = MaskEnforcer(model, mask)
    loss_fn = distillation_loss(teacher, q.retrain_distill, config.prune.temperature) if teacher is not None else None
    state = checkpoint.resume(stage_dir, model, optimizer, log, "quantized (masked retraining)", "retrain.pt",
                              epochs=q.retrain_epochs)

    def step(epoch: int) -> dict:
        set_lr(optimizer, lr_at(epoch, q.retrain_epochs, q.retrain_lr, "cosine"))
        row = train_epoch(model, optimizer, splits.train_images, splits.train_labels, config.train.batch_size,
                          epoch_generator(config.seed, "quantized", 1000 + epoch), after_step=enforcer,
                          loss_fn=loss_fn, progress=f"masked retraining {epoch + 1}/{q.retrain_epochs}",
                          augment=augment_of(config.train))
        return {**row, **evaluate(model, splits.test_images, splits.test_labels)}

    run_epochs(stage_dir, range(state["epoch"] if state else 0, q.retrain_epochs), step,
               lambda done: {"epoch": done, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
               lambda epoch, row: f"masked retraining epoch {epoch + 1}/{q.retrain_epochs}: "
                                  f"{config.data.evaluated_on} accuracy "
                                  f"{row['test_accuracy']:.4f}", log, None, name="retrain.pt")
    checkpoint.save(done, model.state_dict())
    (stage_dir / "retrain.pt").unlink(missing_ok=True)
    return evaluate(model, splits.test_images, splits.test_labels)
