"""Accuracy against compression, ours beside the published points, and per-layer sparsity."""

from prunelab.reporting import published
from prunelab.reporting.base import Figure, Skipped, by_value, group, pick, sparsity_families, spread, varying
from prunelab.reporting.plotting import color, new_figure, save

MARKERS = {"lenet5": "o", "lenet5-1998": "v", "lenet5-caffe": "s", "lenet-300-100": "^"}


def error_vs_compression(records, folder) -> Figure | Skipped:
    """Test error against compression: our runs (mean over seeds) and the published points."""
    title = "Test error vs compression, with published results"
    pruned = [r for r in records if "pruned" in r.summary]
    if not pruned:
        return Skipped(title, "no pruned runs")
    fig, (ax,) = new_figure(1, width=7, height=4.5)
    keys = varying(pruned)
    lines = []
    for runs in group(pruned, ("seed",)):
        label = ", ".join(f"{k}={runs[0].settings[k]}" for k in keys) or runs[0].settings["model"]
        marker = MARKERS.get(runs[0].settings["model"], "o")
        for kind, x, errors, colour in points(runs):
            error = spread(errors)
            ax.errorbar(x, error.mean, yerr=error.std if error.n > 1 else None, fmt=marker,
                        color=colour if kind == "weights" else "tab:red", markersize=5, capsize=2)
            lines.append(f"| {label} | {kind} | {x:.1f} | {error.text(1, 2)} |")
    names = []
    for number, point in enumerate(published.POINTS, 1):
        names.append(f"{number} {point.method}, {point.model}: {point.error_pct} %")
        for ratio, kind in ((point.params_x, "weights"), (point.storage_x, "storage")):
            if ratio is not None:
                ax.plot(ratio, point.error_pct, MARKERS.get(point.model, "o"), mfc="none", markersize=7,
                        color="black" if kind == "weights" else "tab:red")
                ax.annotate(str(number), (ratio, point.error_pct), fontsize=6, xytext=(4, 3), textcoords="offset points")
    ax.plot([], [], "o", mfc="none", color="black", label="published, nonzero weights (not measured here)")
    ax.plot([], [], "o", mfc="none", color="tab:red", label="published, storage")
    ax.plot([], [], "o", color=color(0.5), label="ours, nonzero weights (colour = sparsity)")
    ax.plot([], [], "o", color="tab:red", label="ours, compressed file")
    ax.set(xscale="log", yscale="log", xlabel="compression (x)", ylabel="test error (%)",
           title="o lenet5, s lenet5-caffe, ^ lenet-300-100, v lenet5-1998")
    ax.legend(fontsize=7)
    text = ("Our runs are grouped over seeds (error bars one standard deviation). Hollow markers are published "
            "results from REFERENCES.md, for comparison only: " + "; ".join(names) + ".\n\n"
            + "\n".join(["| run settings | compression of | x | test error (%) |", "|---|---|---|---|", *lines]))
    return Figure(title, save(fig, folder, "error-vs-compression.png"), text)


def points(runs):
    """(kind, compression, errors in %, colour) for a group of seeds: nonzero weights, and the
    compressed file where every seed has one."""
    s = runs[0].summary["pruned"]
    found = [("weights", s["weights_total"] / max(1, s["weights_nonzero"]),
              [100 * (1 - r.summary["pruned"]["test_accuracy"]) for r in runs], color(runs[0].sparsity))]
    if all("compressed" in r.summary for r in runs):
        found.append(("storage (file)", runs[0].summary["compressed"]["ratio"],
                      [100 * (1 - r.summary["compressed"]["test_accuracy"]) for r in runs], "tab:red"))
    return found


def layer_sparsity(records, folder) -> Figure | Skipped:
    """Kept weights per layer, one bar per sparsity, with Han et al.'s per-layer densities."""
    title = "Per-layer density after pruning"
    family = pick(sparsity_families(records))
    if family is None:
        pruned = [r for r in records if "pruned" in r.summary]
        if not pruned:
            return Skipped(title, "no pruned runs")
        family = [max(pruned, key=lambda r: r.summary["pruned"]["sparsity"])]
    shown = [min(runs, key=lambda r: r.seed) for runs in by_value(family, "prune.sparsity").values()]
    layers = [row["layer"] for row in shown[0].summary["pruned"]["layers"][:-1]]
    fig, (ax,) = new_figure(1, width=7)
    width = 0.8 / len(shown)
    parts = []
    for place, run in enumerate(shown):
        density = [100 * row["density"] for row in run.summary["pruned"]["layers"][:-1]]
        ax.bar([i - 0.4 + width * (place + 0.5) for i in range(len(layers))], density, width,
               color=color(run.sparsity), label=f"{run.sparsity:g}")
        parts.append(f"{run.sparsity:g}: " + ", ".join(f"{n} {d:.1f} %" for n, d in zip(layers, density)))
    paper = published.LAYER_DENSITY.get(shown[0].settings["model"])
    if paper:
        ax.plot(range(len(layers)), [100 * paper.get(n, float("nan")) for n in layers], "kx", markersize=8,
                label="Han 2015 (published)")
    ax.set(xticks=range(len(layers)), xticklabels=layers, ylabel="weights kept (%)", yscale="log",
           title=f"{shown[0].settings['model']}, method {shown[0].settings['prune.method']}")
    ax.legend(title="sparsity", fontsize=7)
    text = f"Run {', '.join(r.name for r in shown)}. Weights kept per layer: " + "; ".join(parts) + "."
    return Figure(title, save(fig, folder, "layer-density.png"), text)
