"""What all figures share: the Agg backend, one colour per organ, distance scale bars and atomic PNG writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hanseg.core.atomic import atomic_path
from hanseg.core.organ_colours import ORGAN_COLOURS, label_colours

__all__ = ["ORGAN_COLOURS", "label_colours", "pyplot", "nice_length", "scale_bar", "bare", "save"]


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures are written to files, on machines without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def nice_length(span_mm: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k mm) of about a fifth of the visible span."""
    target = max(span_mm / 5.0, 1e-3)
    power = 10 ** np.floor(np.log10(target))
    for step in (5, 2, 1):
        if step * power <= target:
            return float(step * power)
    return float(power)


def scale_bar(ax, extent: tuple[float, float, float, float], *, colour: str = "white") -> None:
    """A labelled distance bar in the lower left corner of an image shown with `extent` (mm)."""
    left, right, bottom, top = extent
    width, height = abs(right - left), abs(top - bottom)
    length = nice_length(min(width, height))
    x0 = min(left, right) + 0.05 * width
    # With origin "upper" the extent's bottom is the larger y: place the bar near the visual bottom either way.
    y0 = bottom - 0.07 * height if bottom > top else bottom + 0.07 * height
    from matplotlib import patheffects

    # A dark outline keeps bar and label readable over bright tissue and coloured overlays.
    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    ax.plot(
        [x0, x0 + length],
        [y0, y0],
        color=colour,
        linewidth=3,
        solid_capstyle="butt",
        path_effects=[patheffects.Stroke(linewidth=5, foreground="black"), patheffects.Normal()],
    )
    dy = -0.025 * height if bottom > top else 0.025 * height
    ax.text(
        x0 + length / 2,
        y0 + dy,
        f"{length:g} mm",
        color=colour,
        ha="center",
        va="bottom",
        fontsize=8,
        fontweight="bold",
        path_effects=outline,
    )


def bare(ax) -> None:
    """No ticks or frame: the scale bar carries the distances."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def save(fig, out_png: Path | str, *, dpi: int = 100) -> Path:
    """Write the figure under a temporary name and rename it, so a killed job never leaves a half-written PNG."""
    plt = pyplot()
    out_png = Path(out_png)
    with atomic_path(out_png) as temporary:  # ends in .png: matplotlib picks the format from it
        fig.savefig(temporary, dpi=dpi, facecolor=fig.get_facecolor())
        plt.close(fig)
    return out_png
