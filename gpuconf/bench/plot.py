"""reports/latency.png: latency distributions per device and batch, log scale, speedup annotated.

Top row: model time inside the replica; bottom row: end to end through Serve HTTP, with the
no-op twin's median drawn across, so what Serve costs is visible next to what the model costs.
One column per model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpuconf.bench.results import Measurement, Overhead
from gpuconf.bench.stats import percentile

CPU_COLOR = "#4C72B0"
GPU_COLOR = "#55A868"
GPU_ON_CPU_COLOR = "#C44E52"  # a "GPU" twin that ran on the CPU stands out


def _boxes(ax, data: list[list[float]], positions: list[float], color: str) -> None:
    if not any(data):
        return
    keep = [(d, p) for d, p in zip(data, positions, strict=False) if d]
    bp = ax.boxplot(
        [d for d, _ in keep],
        positions=[p for _, p in keep],
        widths=0.32,
        patch_artist=True,
        whis=(1, 99),
        showfliers=True,
        manage_ticks=False,
        flierprops={"marker": ".", "markersize": 3, "markeredgecolor": color, "alpha": 0.5},
        medianprops={"color": "black", "linewidth": 1.2},
    )
    for patch in bp["boxes"]:
        patch.set_facecolor(color)
        patch.set_alpha(0.75)


def _annotate(ax, x: float, cpu: Sequence[float], gpu: Sequence[float]) -> None:
    if not cpu or not gpu:
        return
    ratio = percentile(cpu, 50) / percentile(gpu, 50)
    top = max(max(cpu), max(gpu))
    ax.annotate(
        f"x{ratio:.1f}" if ratio < 100 else f"x{ratio:.0f}",
        (x, top),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=9,
        fontweight="bold",
    )


def plot_latency(results: list[Measurement], overhead: Overhead | None, path: Path, title: str) -> Path:
    """Draw and save the figure; returns ``path``. ``title`` may hold two lines (what, and versions)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI runners
    import matplotlib.pyplot as plt
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    models = list(dict.fromkeys(m.model for m in results))
    if not models:
        raise ValueError("nothing was measured, so there is nothing to plot")
    fig, axes = plt.subplots(2, len(models), figsize=(5.2 * len(models) + 0.8, 8.2), squeeze=False)
    gpu_on_cpu = any(m.twin == "gpu" and not m.on_cuda for m in results)
    noop = percentile(overhead.samples_ms, 50) if overhead is not None and overhead.samples_ms else None
    gpu_color = GPU_ON_CPU_COLOR if gpu_on_cpu else GPU_COLOR
    for col, model in enumerate(models):
        mine = [m for m in results if m.model == model]
        batches = sorted({m.batch for m in mine})
        get = {(m.batch, m.twin): m for m in mine}
        for row, (kind, label) in enumerate(
            (("in_replica", "model time in the replica"), ("e2e", "end to end, Serve HTTP"))
        ):
            ax = axes[row][col]
            xs = list(range(len(batches)))
            series = {}
            for twin in ("cpu", "gpu"):
                series[twin] = [
                    (
                        (get[(b, twin)].samples_ms if kind == "in_replica" else get[(b, twin)].e2e_samples_ms)
                        if (b, twin) in get
                        else []
                    )
                    for b in batches
                ]
            _boxes(ax, series["cpu"], [x - 0.19 for x in xs], CPU_COLOR)
            _boxes(ax, series["gpu"], [x + 0.19 for x in xs], gpu_color)
            for x, c, g in zip(xs, series["cpu"], series["gpu"], strict=False):
                _annotate(ax, x, c, g)
            if kind == "e2e" and noop is not None:
                ax.axhline(noop, color="gray", linestyle="--", linewidth=1)
            ax.set_yscale("log")
            # Plain numbers at 1-2-5 steps read better than 2x10^2 on a narrow log range.
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(xs, [f"batch {b}" for b in batches])
            ax.set_xlim(-0.6, len(batches) - 0.4)
            ax.margins(y=0.15)
            ax.set_ylabel("latency, ms (log)")
            ax.set_title(f"{model}: {label}", fontsize=10)
            ax.grid(axis="y", which="both", alpha=0.25)
    gpu_name = next((m.device_name for m in results if m.twin == "gpu"), "?")
    handles: list[Artist] = [
        Patch(color=CPU_COLOR, label="CPU twin"),
        Patch(color=gpu_color, label=f"GPU twin ({gpu_name})" + (": ran on the CPU!" if gpu_on_cpu else "")),
    ]
    if noop is not None:
        handles.append(Line2D([], [], color="gray", linestyle="--", label=f"no-op Serve HTTP p50 ({noop:.3g} ms)"))
    fig.suptitle(
        title + "\nboxes: quartiles and median, whiskers p1-p99; bold: CPU p50 / GPU p50",
        fontsize=10,
        x=0.01,
        ha="left",
    )
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
