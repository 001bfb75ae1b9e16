"""Looking inside one run: its masks as images and its weights before and after each stage.

The run shown is the most pruned one (preferring one with a quantized stage for the histograms),
since that is where masks and weight distributions say the most.
"""

import numpy as np

from prunelab.pruning.mask import Mask
from prunelab.reporting.base import Figure, Skipped
from prunelab.reporting.plotting import new_figure, save
from prunelab.runs import checkpoint
from prunelab.runs.quantize_stage import FILE_NAME as QUANTIZED_FILE  # one name for the run's file


def most_pruned(records, need_quantized: bool = False):
    runs = [r for r in records if (r.path / "pruned" / "mask.pt").exists()
            and (not need_quantized or (r.path / "quantized" / QUANTIZED_FILE).exists())]
    return max(runs, key=lambda r: (r.summary["pruned"]["sparsity"], -r.seed), default=None)


def mask_image(keep: np.ndarray) -> np.ndarray:
    """A conv mask (out, in, k, k) as a grid of k x k tiles (rows: output maps, columns: input
    maps) with a one-pixel gap; an fc mask (out, in) as it is."""
    if keep.ndim == 2:
        return keep.astype(float)
    out, inputs, height, width = keep.shape
    image = np.full((out * (height + 1) - 1, inputs * (width + 1) - 1), np.nan)
    for o in range(out):
        for i in range(inputs):
            image[o * (height + 1):o * (height + 1) + height, i * (width + 1):i * (width + 1) + width] = keep[o, i]
    return image


def masks(records, folder) -> Figure | Skipped:
    title = "Learnt masks (white: kept)"
    run = most_pruned(records)
    if run is None:
        return Skipped(title, "no run with a pruned stage (mask.pt)")
    mask = Mask.load(run.path / "pruned" / "mask.pt")
    fig, axes = new_figure(len(mask), width=3.2, height=3.2)
    parts = []
    from matplotlib import colormaps

    palette = colormaps["gray"].with_extremes(bad="tab:blue")  # the gaps between conv tiles
    for ax, (name, keep) in zip(axes, mask.items()):
        ax.imshow(mask_image(keep.numpy()), cmap=palette, vmin=0, vmax=1, interpolation="nearest",
                  aspect="equal" if keep.dim() == 4 else "auto")
        kind = "filters: rows out, columns in" if keep.dim() == 4 else "rows out, columns in"
        ax.set(title=f"{name.removesuffix('.weight')} {tuple(keep.shape)}\n{kind}", xticks=[], yticks=[])
        ax.title.set_fontsize(7)
        parts.append(f"{name.removesuffix('.weight')} {100 * keep.float().mean():.1f} %")
    text = (f"Run {run.name} ({run.settings['model']}, sparsity {run.sparsity:g}, method "
            f"{run.settings['prune.method']}). Weights kept: " + ", ".join(parts) + ".")
    return Figure(title, save(fig, folder, "masks.png"), text)


def stage_weights(run) -> dict:
    """Stage -> {layer weight name -> (weights (numpy), centroids or None)}; pruned zeros left out."""
    names = list(Mask.load(run.path / "pruned" / "mask.pt"))
    stages = {}
    dense = checkpoint.load(run.path / "dense" / "model.pt")
    stages["dense"] = {n: (dense[n].numpy().ravel(), None) for n in names}
    pruned = checkpoint.load(run.path / "pruned" / "model.pt")
    stages["pruned"] = {n: (nonzero(pruned[n].numpy()), None) for n in names}
    file = run.path / "quantized" / QUANTIZED_FILE
    if file.exists():
        from prunelab.compression import CompressedModel

        compressed = CompressedModel.read(file)
        stages["quantized"] = {f"{layer.name}.weight": (nonzero(layer.unpack()), layer.codebook.centroids)
                               for layer in compressed.layers}
    return stages


def nonzero(weights: np.ndarray) -> np.ndarray:
    flat = weights.ravel()
    return flat[flat != 0]


def histograms(records, folder) -> Figure | Skipped | list:
    title = "Weight histograms: dense, after pruning, after quantization"
    run = most_pruned(records, need_quantized=True) or most_pruned(records)
    if run is None:
        return Skipped(title, "no run with a pruned stage")
    stages = stage_weights(run)
    names = list(stages["dense"])
    fig, axes = new_figure(len(stages), len(names), width=3.4, height=1.8)
    for row, name in enumerate(names):
        present = [layers[name][0] for layers in stages.values() if layers[name][0].size]
        low, high = min(float(w.min()) for w in present), max(float(w.max()) for w in present)
        for column, (stage, layers) in enumerate(stages.items()):
            ax = axes[row * len(stages) + column]
            weights, centroids = layers[name]
            ax.hist(weights, bins=80, color="tab:blue" if stage != "quantized" else "tab:red")
            if centroids is not None:
                for centroid in centroids:
                    ax.axvline(centroid, color="black", linewidth=0.3)
            counted = "weights" if stage == "dense" else "nonzero"
            ax.set_title(f"{name.removesuffix('.weight')}, {stage} ({weights.size:,} {counted})", fontsize=7)
            ax.set_xlim(low - 0.05 * (high - low), high + 0.05 * (high - low))  # one scale per row
            ax.tick_params(labelsize=6)
    text = (f"Run {run.name} (sparsity {run.sparsity:g}). Pruned weights (exact zeros) are left out after pruning; "
            f"after quantization the vertical lines are the layer's centroids.")
    figure = Figure(title, save(fig, folder, "weight-histograms.png"), text)
    if "quantized" in stages:
        return figure
    return [figure, Skipped("Weight histograms after quantization", "no run has a quantized stage (model.plc)")]
