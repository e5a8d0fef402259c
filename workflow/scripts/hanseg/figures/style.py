"""What all figures share: the Agg backend, one colour per organ, distance scale bars and atomic PNG writes."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np

from .. import layout

# Hues of the 22 organs, left/right pairs counted once (the paper's "22 OARs"); the right organ of a pair is a
# lighter shade of its left partner's colour, so pairs read as one organ and a left-right swap is still visible.
_BASE_COLOURS: dict[str, str] = {
    "A_Carotid": "#d62728",
    "Arytenoid": "#8c564b",
    "Bone_Mandible": "#e6d8a8",
    "Brainstem": "#1f77b4",
    "BuccalMucosa": "#e377c2",
    "Cavity_Oral": "#ff7f0e",
    "Cochlea": "#ffd700",
    "Cricopharyngeus": "#9467bd",
    "Esophagus_S": "#bcbd22",
    "Eye_A": "#17becf",
    "Eye_P": "#2ca02c",
    "Glnd_Lacrimal": "#00ff7f",
    "Glnd_Submand": "#ff1493",
    "Glnd_Thyroid": "#7f3c8d",
    "Glottis": "#4b0082",
    "Larynx_SG": "#6a5acd",
    "Lips": "#ff6f61",
    "OpticChiasm": "#ff00ff",
    "OpticNrv": "#f0e442",
    "Parotid": "#0072b2",
    "Pituitary": "#00ced1",
    "SpinalCord": "#a0522d",
}


def _pair_stem(organ: str) -> str:
    for left, right in layout.LR_PAIRS:
        if organ in (left, right):
            return left[:-2] if left.endswith("_L") else left[:-1]
    return organ


def _lighter(hex_colour: str, amount: float = 0.45) -> tuple[float, float, float]:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    return colorsys.hls_to_rgb(h, lightness + (1 - lightness) * amount, s)


def _hex_rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))


#: RGB (0..1) of each of the 30 organs, the one colour table of every figure.
ORGAN_COLOURS: dict[str, tuple[float, float, float]] = {
    organ: (
        _lighter(_BASE_COLOURS[_pair_stem(organ)])
        if any(organ == right for _, right in layout.LR_PAIRS)
        else _hex_rgb(_BASE_COLOURS[_pair_stem(organ)])
    )
    for organ in layout.ORGANS
}


def label_colours() -> np.ndarray:
    """(31, 3) RGB lookup table indexed by official label id (0, the background, is black)."""
    table = np.zeros((len(layout.ORGANS) + 1, 3), dtype=np.float32)
    for organ, label in layout.LABEL_IDS.items():
        table[label] = ORGAN_COLOURS[organ]
    return table


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
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.stem}.tmp.png")
    fig.savefig(tmp, dpi=dpi, facecolor=fig.get_facecolor())
    plt.close(fig)
    tmp.replace(out_png)
    return out_png
