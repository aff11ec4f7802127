"""The profile as a picture: memory over time, the pressure level as coloured bands.

matplotlib is the optional extra `plot` (`pip install 'ironcliw-mem[plot]'`); without it
`plot_profile` raises `PlotUnavailable` and the profiler still writes its JSON report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LEVEL_COLOURS = {
    "green": "#4caf50",
    "yellow": "#ffc107",
    "red": "#f44336",
    "unknown": "#9e9e9e",
}
# (sample key, label, colour, line width, line style, z-order). RSS and USS often lie on top of
# each other: RSS a wide pale line underneath, USS a narrow dashed dark one above it, so both show.
SERIES = (
    ("rss_mb", "RSS", "#7b9bd1", 4.0, "-", 2),
    ("uss_mb", "USS", "#4a148c", 1.6, (0, (4, 2)), 3),
    ("cache_mb", "cache", "#00838f", 1.5, "-", 2),
    ("gpu_process_mb", "GPU (this process)", "#e65100", 1.5, "-.", 2),
)
BUDGET_COLOUR = "#bf360c"
TARGET_COLOUR = "#b71c1c"
HEADROOM = 1.08  # the y axis reaches past the highest line and the target
BAND_ALPHA = 0.18
LAST_BAND_S = 0.05
MIN_LABELLED_BAND = 0.06  # a run of one level this share of the plot wide gets its name
FIGURE_SIZE_IN = (11.0, 5.5)
FIGURE_DPI = 100


class PlotUnavailable(RuntimeError):
    """The plot cannot be drawn here; the message says why and what to install."""


def plot_profile(report: dict[str, Any], path: str | Path) -> Path:
    """Draws the report's samples to a PNG at `path`: RSS, USS and cache MB over time, the
    baseline, one band per sample coloured by its level, and the workloads named on top."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never a display
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise PlotUnavailable(
            f"matplotlib is not installed ({exc}); pip install 'ironcliw-mem[plot]'"
        ) from None
    samples = report.get("samples") or []
    if not samples:
        raise PlotUnavailable("the report has no samples to plot")
    out = Path(path)
    t0 = samples[0]["t"]
    times = [s["t"] - t0 for s in samples]
    fig, ax = plt.subplots(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    try:
        # Level bands: each sample's level holds until the next sample.
        for i, sample in enumerate(samples):
            # The last sample ends the run: its band is a sliver, not a stretch with no data.
            end = times[i + 1] if i + 1 < len(times) else times[i] + LAST_BAND_S
            ax.axvspan(
                times[i],
                end,
                color=LEVEL_COLOURS.get(sample["level"], LEVEL_COLOURS["unknown"]),
                alpha=BAND_ALPHA,
                linewidth=0,
            )
        highest = 0.0
        for key, label, colour, width, style, order in SERIES:
            values = [s.get(key) for s in samples]  # reports before GPU sampling lack gpu_*
            if any(v is not None for v in values):
                highest = max([highest, *(v for v in values if v is not None)])
                ax.plot(
                    times,
                    [float("nan") if v is None else v for v in values],
                    label=label,
                    color=colour,
                    linewidth=width,
                    linestyle=style,
                    zorder=order,
                )
        budgets = [s.get("budget_mb") for s in samples]
        if any(b is not None for b in budgets):
            highest = max([highest, *(b for b in budgets if b is not None)])
            ax.plot(
                times,
                [float("nan") if b is None else b for b in budgets],
                label="cache budget",
                color=BUDGET_COLOUR,
                linewidth=1.4,
                linestyle="--",
                drawstyle="steps-post",
                zorder=2,
            )
        target = (report.get("config") or {}).get("absolute_target_mb")
        if target:
            highest = max(highest, target)
            ax.axhline(
                target,
                color=TARGET_COLOUR,
                linewidth=1.4,
                linestyle=":",
                label=f"target: peak RSS <= {target:.0f} MB",
                zorder=2,
            )
        baseline = report.get("baseline", {}).get("rss_mb")
        if baseline:
            ax.axhline(
                baseline,
                color="#555555",
                linewidth=1,
                linestyle=":",
                label=f"baseline {baseline:.0f} MB",
            )
        # Workload boundaries and names.
        previous = None
        for time_s, sample in zip(times, samples, strict=True):
            if sample["component"] != previous:
                ax.axvline(time_s, color="#333333", linewidth=0.8)
                ax.annotate(
                    sample["component"],
                    (time_s, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(4, -14),
                    textcoords="offset points",
                    fontsize=9,
                )
                previous = sample["component"]
        level_handles = [
            Patch(color=colour, alpha=0.5, label=f"level {name}")
            for name, colour in LEVEL_COLOURS.items()
            if any(s["level"] == name for s in samples)
        ]
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(
            handles=handles + level_handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=9,
        )
        summary = report.get("summary", {})
        gpu_peaks = [
            b["peak_gpu_process_mb"]
            for b in report.get("benchmarks", [])
            if b.get("peak_gpu_process_mb") is not None
        ]
        ax.set_title(
            f"ironcliw-mem profile {report.get('generated_at', '')[:19]}: "
            f"peak {summary.get('highest_peak_mb', 0):.0f} MB, "
            + (f"GPU peak {max(gpu_peaks):.0f} MB, " if gpu_peaks else "")
            + f"target {'met' if summary.get('priority_3_target_met') else 'missed'}",
            fontsize=11,
        )
        ax.set_xlabel("seconds")
        ax.set_ylabel("MB")
        ax.set_ylim(0, max(highest, 1.0) * HEADROOM)
        _label_bands(ax, times, samples)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out


def _label_bands(ax: Any, times: list[float], samples: list[dict[str, Any]]) -> None:
    """Names each run of one level at the foot of its band, where the run is wide enough."""
    span = (times[-1] - times[0]) or 1.0
    start = 0
    for i in range(1, len(samples) + 1):
        if i < len(samples) and samples[i]["level"] == samples[start]["level"]:
            continue
        end = times[i] if i < len(samples) else times[-1]
        if (end - times[start]) / span >= MIN_LABELLED_BAND:
            ax.annotate(  # at the run's foot, left: clear of the workload names on top
                samples[start]["level"],
                (times[start], 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, 4),
                textcoords="offset points",
                ha="left",
                fontsize=9,
                color="#1d2330",
            )
        start = i
