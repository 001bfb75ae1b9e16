"""Numbers per sparsity as bars: correct test images (Fig. 5), time per epoch, ours vs torch.

Error bars are the standard deviation over seeds where there are several; the text gives the
numbers themselves, since a bar chart of 98.9 against 99.1 hides more than it shows.
"""

from prunelab.reporting.base import Figure, Skipped, by_value, describe, group, pick, sparsity_families, spread
from prunelab.reporting.curves import is_course_with
from prunelab.reporting.plotting import color, new_figure, save, seeds_note


def correct_after_5_epochs(records, folder) -> Figure | Skipped:
    """Fig. 5: correctly classified test images after 5 retraining epochs, per sparsity."""
    title = "Fig. 5: correctly classified test images after 5 epochs, per sparsity"
    family = pick(sparsity_families(records), is_course_with(5))
    if family is None:
        return Skipped(title, "no runs that differ only in sparsity (at least two sparsities)")
    epochs, split = min(5, *(len(r.pruned_rows()) for r in family)), family[0].split
    title = title.replace("test images", f"{split} images")
    fig, (ax,) = new_figure(1, width=6)
    parts = []
    for place, (sparsity, runs) in enumerate(by_value(family, "prune.sparsity").items()):
        correct = spread([r.pruned_rows()[epochs - 1][f"{split}_correct"] for r in runs])
        ax.bar(place, correct.mean, yerr=correct.std if correct.n > 1 else None, color=color(sparsity), capsize=3)
        ax.annotate(f"{correct.mean:.0f}", (place, correct.mean), ha="center", va="bottom", fontsize=7)
        parts.append(f"{sparsity:g}: {correct.text(1, 1)}")
    sparsities = list(by_value(family, "prune.sparsity"))
    total = family[0].pruned_rows()[0][f"{split}_correct"] + family[0].pruned_rows()[0][f"{split}_errors"]
    ax.set(xticks=range(len(sparsities)), xticklabels=[f"{s:g}" for s in sparsities], xlabel="sparsity",
           ylabel=f"correct of {total:,} {split} images", title=f"after {epochs} retraining epochs")
    note = "" if epochs == 5 else f" These runs have only {epochs} retraining epochs, so the bars show epoch {epochs}."
    text = (f"{describe(family)}; {seeds_note(family)}. Correct {split} images of {total:,} per sparsity: "
            + "; ".join(parts) + "." + note)
    return Figure(title, save(fig, folder, "fig5-correct-after-5-epochs.png"), text)


def per_epoch_seconds(run, key: str) -> float:
    rows = run.pruned_rows()
    return sum(row[key] for row in rows) / len(rows)


def time_per_sparsity(records, folder) -> Figure | Skipped:
    """Training and test time per retraining epoch against sparsity, spread over seeds."""
    title = "Training and test time per sparsity"
    family = pick(sparsity_families(records), lambda f: len({r.seed for r in f}))
    if family is None:
        return Skipped(title, "no runs that differ only in sparsity (at least two sparsities)")
    fig, axes = new_figure(2)
    split = family[0].split
    parts = {"train_seconds": [], f"{split}_seconds": []}
    for ax, key, name in zip(axes, parts, ("training time per epoch (s)", f"{split} time per evaluation (s)")):
        for place, (sparsity, runs) in enumerate(by_value(family, "prune.sparsity").items()):
            seconds = spread([per_epoch_seconds(r, key) for r in runs])
            ax.bar(place, seconds.mean, yerr=seconds.std if seconds.n > 1 else None, color=color(sparsity), capsize=3)
            parts[key].append(f"{sparsity:g}: {seconds.text(1, 3)} s")
        sparsities = list(by_value(family, "prune.sparsity"))
        ax.set(xticks=range(len(sparsities)), xticklabels=[f"{s:g}" for s in sparsities], xlabel="sparsity",
               ylabel=name, title=name)
    text = (f"{describe(family)}; {seeds_note(family)}; error bars one standard deviation. Training time per "
            f"epoch: " + "; ".join(parts["train_seconds"]) + f". {split.capitalize()} time per evaluation: "
            + "; ".join(parts[f"{split}_seconds"]) + ". Masked weights are stored as zeros in dense tensors, so "
            "dense kernels do the same work at every sparsity.")
    return Figure(title, save(fig, folder, "time-per-sparsity.png"), text)


def backends_side_by_side(records, folder) -> Figure | Skipped:
    """Our masks against torch.nn.utils.prune on otherwise identical runs: accuracy and time."""
    title = "prunelab masks vs torch.nn.utils.prune"
    pruned = [r for r in records if r.pruned_rows()]
    families = [f for f in group(pruned, ("prune.backend", "prune.sparsity", "seed"))
                if {"prunelab", "torch"} <= {r.settings["prune.backend"] for r in f}]
    family = pick(families)
    if family is None:
        return Skipped(title, "no runs that differ only in backend (prunelab and torch)")
    sparsities, split = sorted({r.sparsity for r in family}), family[0].split
    fig, axes = new_figure(2)
    lines = []
    for offset, backend in ((-0.2, "prunelab"), (0.2, "torch")):
        runs = [r for r in family if r.settings["prune.backend"] == backend]
        for sparsity in sparsities:
            chosen = [r for r in runs if r.sparsity == sparsity]
            if not chosen:
                continue
            accuracy = spread([100 * r.summary["pruned"][f"{split}_accuracy"] for r in chosen])
            seconds = spread([per_epoch_seconds(r, "train_seconds") for r in chosen])
            place = sparsities.index(sparsity) + offset
            for ax, value in zip(axes, (accuracy, seconds)):
                ax.bar(place, value.mean, width=0.4, yerr=value.std if value.n > 1 else None, capsize=3,
                       color="tab:blue" if backend == "prunelab" else "tab:orange",
                       label=backend if sparsity == sparsities[0] else None)
            lines.append(f"| {sparsity:g} | {backend} | {accuracy.text(1, 2)} | {seconds.text(1, 3)} |")
    for ax, name in zip(axes, (f"{split} accuracy after retraining (%)", "training time per epoch (s)")):
        ax.set(xticks=range(len(sparsities)), xticklabels=[f"{s:g}" for s in sparsities], xlabel="sparsity",
               ylabel=name, title=name)
        ax.legend(fontsize=7)
    low = min(100 * r.summary["pruned"][f"{split}_accuracy"] for r in family)
    axes[0].set_ylim(max(0.0, low - 2.0), 100.0)
    table = "\n".join([f"| sparsity | backend | {split} accuracy (%) | training s/epoch |", "|---|---|---|---|", *lines])
    text = (f"{describe(family)}; {seeds_note(family)}. The accuracy axis "
            f"starts at {max(0.0, low - 2.0):.1f} %.\n\n{table}\n\n{memory_table(family)}")
    return Figure(title, save(fig, folder, "backends-side-by-side.png"), text)


def memory_table(family) -> str:
    """Bytes each backend holds while training this family's model (counted, see pruning/footprint.py)."""
    from prunelab.errors import PrunelabError
    from prunelab.pruning.footprint import BACKENDS, training_footprint

    model, batch = family[0].settings["model"], family[0].settings["train.batch_size"]
    shape = family[0].input_shape
    try:
        if shape is None:
            raise PrunelabError("its summary.json does not record the input shape")
        rows = [training_footprint(model, backend, 0.9, batch, shape) for backend in BACKENDS]
    except PrunelabError as exc:  # e.g. a user's model whose module cannot be imported here
        return f"Memory while training {model}: not counted, {exc}."
    lines = [f"| {r['backend']} | {r['state_bytes']:,} | {r['saved_for_backward_bytes']:,} | {r['checkpoint_bytes']:,} |"
             for r in rows]
    return "\n".join([f"Memory while training {model} (bytes, counted tensor by tensor; a batch of {batch}; "
                      "plain is the unpruned loop; the counts do not depend on the sparsity):", "",
                      "| backend | state between steps | saved for backward | checkpoint |", "|---|---|---|---|", *lines])
