"""Loss and accuracy per retraining epoch: the course project's Fig. 4, 6 and 7.

How the project's "N epochs at sparsity s" maps onto our runs (experiments/seed-paper.toml): a
dense model is trained first, then pruned to s and retrained for N epochs; the curves are those
N retraining epochs. Sparsity 0 is the same dense model trained N epochs more, so both sides of
every comparison have had the same number of epochs.
"""

from prunelab.reporting.base import Figure, Skipped, by_value, describe, pick, sparsity_families, spread
from prunelab.reporting.plotting import color, mean_curve, new_figure, save, seeds_note


def is_course_with(epochs: int):
    return lambda f: (f[0].settings["prune.method"] == "course", len(f[0].pruned_rows()) == epochs)


def loss_per_sparsity(records, folder) -> Figure | Skipped:
    """Fig. 4: training and test loss per epoch, one curve per sparsity."""
    title = "Fig. 4: loss per epoch, one curve per sparsity"
    family = pick(sparsity_families(records), is_course_with(5))
    if family is None:
        return Skipped(title, "no runs that differ only in sparsity (at least two sparsities)")
    epochs, split = min(len(r.pruned_rows()) for r in family), family[0].split
    fig, (train, test) = new_figure(2)
    finals = []
    for sparsity, runs in by_value(family, "prune.sparsity").items():
        means = mean_curve(train, runs, "train_loss", epochs, f"{sparsity:g}", color(sparsity))
        tests = mean_curve(test, runs, f"{split}_loss", epochs, f"{sparsity:g}", color(sparsity))
        finals.append(f"{sparsity:g}: {means[-1]:.4f} / {tests[-1]:.4f}")
    for ax, name in ((train, "training loss"), (test, f"{split} loss")):
        ax.set(xlabel="retraining epoch", ylabel=name, title=name)
        ax.legend(title="sparsity", fontsize=7)
    text = (f"{describe(family)}; {seeds_note(family)}. Final training / {split} loss per sparsity: "
            + "; ".join(finals) + ".")
    return Figure(title, save(fig, folder, "fig4-loss-per-sparsity.png"), text)


def high_sparsity_20_epochs(records, folder) -> Figure | Skipped:
    """Fig. 6: loss over 20 epochs at high sparsity (sparsity 0 dashed, for reference)."""
    title = "Fig. 6: loss over 20 epochs at high sparsity"
    families = [f for f in sparsity_families(records, min_epochs=20) if max(r.sparsity for r in f) >= 0.9]
    family = pick(families, is_course_with(20))
    if family is None:
        return Skipped(title, "no runs retrained for 20 or more epochs at sparsity >= 0.9 beside another sparsity")
    fig, (train, test) = new_figure(2)
    finals, split = [], family[0].split
    for sparsity, runs in by_value(family, "prune.sparsity").items():
        if 0 < sparsity < 0.9:
            continue
        style = "--" if sparsity == 0 else "-"
        means = mean_curve(train, runs, "train_loss", 20, f"{sparsity:g}", color(sparsity), style)
        tests = mean_curve(test, runs, f"{split}_loss", 20, f"{sparsity:g}", color(sparsity), style)
        finals.append(f"{sparsity:g}: epoch 1 {means[0]:.4f} -> epoch 20 {means[-1]:.4f} ({split} {tests[-1]:.4f})")
    for ax, name in ((train, "training loss"), (test, f"{split} loss")):
        ax.set(xlabel="retraining epoch", ylabel=name, title=name, yscale="log")
        ax.legend(title="sparsity", fontsize=7)
    text = f"{describe(family)}; {seeds_note(family)}. Training loss per sparsity: " + "; ".join(finals) + "."
    return Figure(title, save(fig, folder, "fig6-high-sparsity-20-epochs.png"), text)


def dense_vs_sparse_60_epochs(records, folder) -> Figure | Skipped:
    """Fig. 7: 60 epochs, sparsity 0 against 0.9, and the size of the gap at the end."""
    title = "Fig. 7: 60 epochs, dense (sparsity 0) vs 0.9"
    families = [f for f in sparsity_families(records, min_epochs=60) if {0.0, 0.9} <= {r.sparsity for r in f}]
    family = pick(families, is_course_with(60))
    if family is None:
        return Skipped(title, "no runs retrained for 60 or more epochs at both sparsity 0 and 0.9")
    runs = by_value(family, "prune.sparsity")
    dense, sparse, split = runs[0.0], runs[0.9], family[0].split
    fig, (accuracy, loss) = new_figure(2)
    curves = {}
    for sparsity, group in ((0.0, dense), (0.9, sparse)):
        curves[sparsity] = mean_curve(accuracy, group, f"{split}_accuracy", 60, f"{sparsity:g}", color(sparsity), scale=100)
        mean_curve(loss, group, "train_loss", 60, f"{sparsity:g}", color(sparsity))
    accuracy.set(xlabel="retraining epoch", ylabel=f"{split} accuracy (%)", title=f"{split} accuracy")
    loss.set(xlabel="retraining epoch", ylabel="training loss", title="training loss", yscale="log")
    for ax in (accuracy, loss):
        ax.legend(title="sparsity", fontsize=7)
    ahead = sum(d > s for d, s in zip(curves[0.0], curves[0.9]))
    final = {s: spread([r.pruned_rows()[59][f"{split}_accuracy"] for r in group]) for s, group in runs.items()}
    errors = {s: spread([r.pruned_rows()[59][f"{split}_errors"] for r in group]) for s, group in runs.items()}
    last = {s: {r.seed: r.pruned_rows()[59][f"{split}_accuracy"] for r in group} for s, group in runs.items()}
    gaps = spread([last[0.0][seed] - last[0.9][seed] for seed in last[0.0] if seed in last[0.9]])
    text = (f"{describe(family)}; {seeds_note(family)}. After 60 epochs: sparsity 0 {final[0.0].text(100)} % "
            f"({errors[0.0].text(1, 1)} errors), sparsity 0.9 {final[0.9].text(100)} % ({errors[0.9].text(1, 1)} "
            f"errors). Gap (sparsity 0 minus 0.9, same seed): {gaps.text(100)} points of {split} accuracy; "
            f"{errors[0.9].mean - errors[0.0].mean:+.1f} errors. The dense model's mean {split} accuracy is ahead "
            f"at {ahead} of the 60 epochs.")
    return Figure(title, save(fig, folder, "fig7-dense-vs-0.9-60-epochs.png"), text)

