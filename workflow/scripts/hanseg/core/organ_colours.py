"""One colour per organ: every figure's colour table, and the segment colours of the Slicer segmentation.

Its own module (numpy only), so that writing a `.seg.nrrd` in the nnU-Net env needs no matplotlib; the figures use
it through :mod:`hanseg.reporting.figures.style`.
"""

from __future__ import annotations

import colorsys

import numpy as np

from hanseg.core import dataset_layout

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
    for left, right in dataset_layout.LR_PAIRS:
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
        if any(organ == right for _, right in dataset_layout.LR_PAIRS)
        else _hex_rgb(_BASE_COLOURS[_pair_stem(organ)])
    )
    for organ in dataset_layout.ORGANS
}


def label_colours() -> np.ndarray:
    """(31, 3) RGB lookup table indexed by official label id (0, the background, is black)."""
    table = np.zeros((len(dataset_layout.ORGANS) + 1, 3), dtype=np.float32)
    for organ, label in dataset_layout.LABEL_IDS.items():
        table[label] = ORGAN_COLOURS[organ]
    return table
