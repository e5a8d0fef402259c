"""Registration QC pictures: CT/MR checkerboard and colour fusion in three planes, with the MR's field of view.

Radiological convention: axial views show the patient's left on the image's right and anterior at the top; coronal
and sagittal views show the head up. Axes are in millimetres so anisotropic voxels are not distorted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk


def _normalise(array: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((array.astype(np.float32) - low) / max(high - low, 1e-6), 0.0, 1.0)


def _planes(volume: np.ndarray, centre_zyx: tuple[int, int, int]) -> list[np.ndarray]:
    z, y, x = centre_zyx
    return [volume[z], volume[:, y, :], volume[:, :, x]]  # axial (y, x), coronal (z, x), sagittal (z, y)


def _checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 8) -> np.ndarray:
    rows = (np.arange(a.shape[0]) * tiles // max(a.shape[0], 1)) % 2
    cols = (np.arange(a.shape[1]) * tiles // max(a.shape[1], 1)) % 2
    return np.where((rows[:, None] + cols[None, :]) % 2 == 0, a, b)


def registration_qc(
    ct: sitk.Image,
    mr_in_ct: sitk.Image,
    fov_mask: sitk.Image,
    out_png: Path | str,
    *,
    title: str = "",
    report: dict | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct_array = sitk.GetArrayViewFromImage(ct)
    mr_array = sitk.GetArrayViewFromImage(mr_in_ct)
    fov = sitk.GetArrayViewFromImage(fov_mask) > 0
    inside = np.argwhere(fov)
    centre = tuple(int(v) for v in (inside.mean(axis=0) if len(inside) else np.array(ct_array.shape) // 2))
    ct_view = _normalise(ct_array, -250.0, 450.0)  # soft-tissue window, bone saturates
    mr_values = mr_array[fov] if fov.any() else mr_array.ravel()
    mr_view = _normalise(mr_array, 0.0, float(np.percentile(mr_values, 99.5)) if mr_values.size else 1.0)
    sx, sy, sz = ct.GetSpacing()
    nz, ny, nx = ct_array.shape
    extents = [(0, nx * sx, ny * sy, 0), (0, nx * sx, 0, nz * sz), (0, ny * sy, 0, nz * sz)]
    origins = ["upper", "lower", "lower"]
    names = ["axial (patient left on the right)", "coronal", "sagittal (anterior on the left)"]

    fig, axes = plt.subplots(2, 3, figsize=(13, 8.6), constrained_layout=True)
    for column, (ct_plane, mr_plane, fov_plane) in enumerate(
        zip(_planes(ct_view, centre), _planes(mr_view, centre), _planes(fov.astype(np.uint8), centre), strict=True)
    ):
        kwargs = {"extent": extents[column], "origin": origins[column], "interpolation": "nearest"}
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(_checkerboard(ct_plane, mr_plane), cmap="gray", vmin=0, vmax=1, **kwargs)
        fusion = np.stack([mr_plane, ct_plane, mr_plane], axis=-1)  # CT green, MR magenta: grey where they agree
        bottom.imshow(fusion, **kwargs)
        for ax in (top, bottom):
            if fov_plane.any() and not fov_plane.all():
                ax.contour(
                    fov_plane,
                    levels=[0.5],
                    colors="yellow",
                    linewidths=1.0,
                    extent=extents[column],
                    origin=origins[column],
                )
            ax.set_xlabel("mm")
            ax.tick_params(labelsize=7)
        top.set_title(f"{names[column]}: checkerboard CT / MR", fontsize=9)
        bottom.set_title("fusion: CT green, MR magenta; yellow = MR field of view", fontsize=9)
    heading = title
    if report:
        tre = report.get("tre_mm")
        heading += f"   head Dice {report['head_dice']['final']:.2f}, MI {report['mutual_information']['final']:.3f}"
        if tre:
            heading += f", TRE mean {tre['mean']:.2f} mm, max {tre['max']:.2f} mm"
    fig.suptitle(heading.strip(), fontsize=11)
    out_png = Path(out_png)
    tmp = out_png.with_name(f".{out_png.stem}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(out_png)
