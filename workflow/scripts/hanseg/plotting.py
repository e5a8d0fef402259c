"""What every picture of the package shares: matplotlib on the Agg backend and atomic PNG writes.

The registration QC (:mod:`hanseg.qc`) and the figures (:mod:`hanseg.figures`) both draw through here, so the
dependency points one way: figures may use the QC's slicing, the QC never imports the figures.
"""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures are written to files, on machines without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
