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
    for number, point in enumerate(published_for(pruned), 1):
        names.append(f"{number} {point.method}, {point.model}: {point.error_pct} %")
        for ratio, kind in ((point.params_x, "weights"), (point.storage_x, "storage")):
            if ratio is not None:
                ax.plot(ratio, point.error_pct, MARKERS.get(point.model, "o"), mfc="none", markersize=7,
                        color="black" if kind == "weights" else "tab:red")
                ax.annotate(str(number), (ratio, point.error_pct), fontsize=6, xytext=(4, 3), textcoords="offset points")
    if names:
        ax.plot([], [], "o", mfc="none", color="black", label="published, nonzero weights (not measured here)")
        ax.plot([], [], "o", mfc="none", color="tab:red", label="published, storage")
    ax.plot([], [], "o", color=color(0.5), label="ours, nonzero weights (colour = sparsity)")
    ax.plot([], [], "o", color="tab:red", label="ours, compressed file")
    ax.set(xscale="log", yscale="log", xlabel="compression (x)", ylabel="test error (%)",
           title="o lenet5, s lenet5-caffe, ^ lenet-300-100, v lenet5-1998")
    ax.legend(fontsize=7)
    compared = ("Hollow markers are published results from REFERENCES.md, for comparison only: " + "; ".join(names)
                if names else "No published points: the papers measured on MNIST, these runs are not all on MNIST")
    text = ("Our runs are grouped over seeds (error bars one standard deviation). " + compared + ".\n\n"
            + "\n".join(["| run settings | compression of | x | test error (%) |", "|---|---|---|---|", *lines]))
    return Figure(title, save(fig, folder, "error-vs-compression.png"), text)


def published_for(runs) -> list:
    """The published MNIST points, where every run is on MNIST too (nothing to compare otherwise)."""
    return published.POINTS if all(r.settings["data.dataset"] == "mnist" for r in runs) else []


def points(runs):
    """(kind, compression, errors in %, colour) for a group of seeds: nonzero weights, and the
    compressed file where every seed has one; only where the test set measured them."""
    s = runs[0].summary["pruned"]
    found = []
    errors = [test_error_pct(r, "pruned") for r in runs]
    if None not in errors:
        found.append(("weights", s["weights_total"] / max(1, s["weights_nonzero"]), errors, color(runs[0].sparsity)))
    errors = [test_error_pct(r, "quantized") for r in runs]
    if all("compressed" in r.summary for r in runs) and None not in errors:
        found.append(("storage (file)", runs[0].summary["compressed"]["ratio"], errors, "tab:red"))
    return found


def test_error_pct(record, stage: str) -> float | None:
    """Test error (%) of a stage's model: a run that chose its settings on the validation split has
    it in final_test; a run evaluated on the test set throughout has it in its summary."""
    final = record.summary.get("final_test") or {}
    if stage in final:
        return 100 * (1 - final[stage]["test_accuracy"])
    key = "compressed" if stage == "quantized" else stage
    if record.summary.get("evaluated_on", "test") == "test" and key in record.summary:
        return 100 * (1 - record.summary[key]["test_accuracy"])
    return None


METHODS = {"svd": "Sparse VD", "svd-units": "Sparse VD + units", "global": "magnitude, global",
           "magnitude": "magnitude, per layer", "std": "magnitude, std threshold", "course": "course project"}


def size_vs_error(records, folder) -> Figure | Skipped:
    """Test error against the compressed file's bytes (log axis), one panel per model, one line per
    method, with the published storage records where the paper gives one."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    title = "Test error vs compressed size, per model"
    runs = [r for r in records if "compressed" in r.summary and test_error_pct(r, "quantized") is not None]
    if not runs:
        return Skipped(title, "no runs with a compressed file measured on the test set")
    model_names = sorted({r.settings["model"] for r in runs})
    fig, axes = new_figure(len(model_names), width=5.0, height=4.0)
    lines = []
    for ax, model in zip(axes, model_names):
        dense_bytes = next(r for r in runs if r.settings["model"] == model).summary["compressed"]["dense_bytes"]
        families = group([r for r in runs if r.settings["model"] == model], ("seed",))
        by_method = {}
        for family in families:
            by_method.setdefault(family[0].settings["prune.method"], []).append(family)
        for number, (method, found) in enumerate(sorted(by_method.items())):
            table = sorted(((spread([r.summary["compressed"]["file_bytes"] for r in f]),
                             spread([test_error_pct(r, "quantized") for r in f]), f) for f in found),
                           key=lambda row: row[0].mean)
            ax.errorbar([b.mean for b, _, _ in table], [e.mean for _, e, _ in table],
                        yerr=[e.std if e.n > 1 else 0.0 for _, e, _ in table], fmt="o-", capsize=2, markersize=4,
                        color=f"C{number}", label=f"{METHODS.get(method, method)} (ours)")
            for size, error, family in table:
                pruned = family[0].summary["pruned"]
                q = family[0].settings
                lines.append(f"| {model} | {METHODS.get(method, method)} | {pruned['sparsity']:.4f} | "
                             f"{pruned['weights_total'] / max(1, pruned['weights_nonzero']):.0f}x | "
                             f"{code_widths(q)} | {size.text(1, 0)} | "
                             f"{dense_bytes / size.mean:.0f}x | {error.text(1, 2)} | {len(family)} |")
        for point in published_for(runs):
            if point.model == model and point.storage_x:
                ax.plot(dense_bytes / point.storage_x, point.error_pct, "kD", mfc="none", markersize=6)
                ax.annotate(f"{point.method} (published)", (dense_bytes / point.storage_x, point.error_pct),
                            fontsize=6, xytext=(4, 3), textcoords="offset points")
        ax.set(xscale="log", xlabel="compressed file (bytes)", ylabel="test error (%)", title=model)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # a short log axis needs 1-2-5 ticks
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g} kB"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        low, high = ax.get_xlim()
        if high / low < 2.5:  # narrower than one 1-2-5 step: matplotlib would crowd the axis with ticks
            middle = (low * high) ** 0.5
            ax.set_xlim(middle / 1.6, middle * 1.6)
        ax.legend(fontsize=7)
    weights_only = [f"{p.method} on {p.model}: {p.params_x:g}x fewer weights at {p.error_pct} %"
                    for p in published_for(runs) if p.model in model_names and not p.storage_x]
    text = ("Each point is a run's compressed file (prunelab's format, read back and evaluated on the test set; "
            "mean over seeds where there are several). Hollow diamonds are published storage figures, "
            "drawn at dense fp32 bytes / published ratio, for comparison only (not measured here). "
            "Published without a storage figure: " + ("; ".join(weights_only) or "none") + ".\n\n"
            + "\n".join(["| model | method | sparsity | fewer weights | bits conv/fc | file bytes | smaller | "
                         "test error (%) | seeds |", "|---|---|---|---|---|---|---|---|---|", *lines]))
    return Figure(title, save(fig, folder, "size-vs-error.png"), text)


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
    paper = published.LAYER_DENSITY.get(shown[0].settings["model"]) if published_for(shown) else None
    if paper:
        ax.plot(range(len(layers)), [100 * paper.get(n, float("nan")) for n in layers], "kx", markersize=8,
                label="Han 2015 (published)")
    ax.set(xticks=range(len(layers)), xticklabels=layers, ylabel="weights kept (%)", yscale="log",
           title=f"{shown[0].settings['model']}, method {shown[0].settings['prune.method']}")
    ax.legend(title="sparsity", fontsize=7)
    text = f"Run {', '.join(r.name for r in shown)}. Weights kept per layer: " + "; ".join(parts) + "."
    return Figure(title, save(fig, folder, "layer-density.png"), text)


def code_widths(settings: dict) -> str:
    """"8/5" (conv/fc code bits), with the per-layer widths where a run set them."""
    widths = f"{settings['quantize.conv_bits']}/{settings['quantize.fc_bits']}"
    return f"{widths} ({settings['quantize.layers']})" if settings.get("quantize.layers") else widths
