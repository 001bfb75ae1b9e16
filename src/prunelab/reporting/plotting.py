"""Matplotlib helpers. Figures are built without pyplot: no global state, no display needed
(the Agg canvas writes the PNG), so reports render on a headless machine or in a worker."""

from pathlib import Path

from prunelab.errors import PrunelabError


def new_figure(columns: int = 1, rows: int = 1, width: float = 5.0, height: float = 3.6):
    """(figure, flat list of axes)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PrunelabError("prunelab report needs matplotlib: pip install 'prunelab[report]'") from None
    fig = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def color(sparsity: float):
    """One colour per sparsity, the same in every figure (dark = dense, yellow = sparse)."""
    from matplotlib import colormaps

    return colormaps["viridis"](min(float(sparsity), 0.99) / 0.99 * 0.9)


def mean_curve(ax, runs, metric: str, epochs: int, label: str, colour, style: str = "-",
               scale: float = 1.0) -> list[float]:
    """Mean over runs (seeds) per retraining epoch, shaded between min and max; returns the means."""
    table = [[scale * r.pruned_rows()[i][metric] for r in runs] for i in range(epochs)]
    means = [sum(values) / len(values) for values in table]
    x = list(range(1, epochs + 1))
    ax.plot(x, means, style, color=colour, label=label, marker="o" if epochs <= 20 else None, markersize=3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if len(runs) > 1:
        ax.fill_between(x, [min(v) for v in table], [max(v) for v in table], color=colour, alpha=0.2, linewidth=0)
    return means


def save(fig, folder: Path, name: str) -> str:
    fig.savefig(Path(folder) / name, dpi=110)
    return name


def seeds_note(runs) -> str:
    seeds = len({r.seed for r in runs})
    return f"mean over {seeds} seeds, shaded from min to max" if seeds > 1 else "one seed"
