"""What every figure must be: a readable PNG of sensible size that is not blank (shared by the figure tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_figure(path: Path | str, *, min_width: int = 400, min_height: int = 300) -> np.ndarray:
    """The PNG's pixels (rows, columns, channels in 0..1), after checking signature, size and content."""
    import matplotlib.image

    path = Path(path)
    assert path.is_file(), f"{path} is missing"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, f"{path}: {width} x {height} pixels is too small"
    assert width <= 6000 and height <= 6000, f"{path}: {width} x {height} pixels is too large"
    rgb = pixels[..., :3]
    # Not blank: many distinct colours and real contrast, not one flat background.
    assert float(rgb.std()) > 0.03, f"{path} looks blank"
    assert len(np.unique((rgb.reshape(-1, 3) * 255).astype(np.uint8), axis=0)) > 20, f"{path} has almost no colours"
    return pixels
