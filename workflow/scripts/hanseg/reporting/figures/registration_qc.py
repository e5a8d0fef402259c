"""Registration QC pictures: CT/MR checkerboard and colour fusion in three planes, with the MR's field of view.

Radiological convention: axial views show the patient's left on the image's right and anterior at the top; coronal
and sagittal views show the head up. Axes are in millimetres so anisotropic voxels are not distorted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

#: CT display window (HU): soft tissue, bone saturates. The registration QC and the paper's figures share it.
CT_WINDOW = (-250.0, 450.0)
#: The three planes in the order :func:`planes` returns them.
PLANE_NAMES = ("axial", "coronal", "sagittal")
#: imshow origin per plane: axial rows run anterior -> posterior (anterior up), the others inferior -> superior.
PLANE_ORIGINS = ("upper", "lower", "lower")


def normalise(array: np.ndarray, low: float, high: float) -> np.ndarray:
    """Intensities windowed to [low, high] and scaled to 0..1 (float32)."""
    return np.clip((array.astype(np.float32) - low) / max(high - low, 1e-6), 0.0, 1.0)


def planes(volume: np.ndarray, centre_zyx: tuple[int, int, int]) -> list[np.ndarray]:
    """Axial (y, x), coronal (z, x) and sagittal (z, y) cross-sections of a (z, y, x) array through a voxel.

    Shown with :func:`plane_extents` and :data:`PLANE_ORIGINS`, they are in radiological convention: the array's x
    (LPS: towards the patient's left) runs to the image's right, anterior is up in axial views, head up otherwise.
    """
    z, y, x = centre_zyx
    return [volume[z], volume[:, y, :], volume[:, :, x]]


def plane_extents(spacing_xyz, shape_zyx) -> list[tuple[float, float, float, float]]:
    """imshow extents in mm of the three planes of :func:`planes`, so anisotropic voxels keep their aspect."""
    sx, sy, sz = spacing_xyz
    nz, ny, nx = shape_zyx
    return [(0, nx * sx, ny * sy, 0), (0, nx * sx, 0, nz * sz), (0, ny * sy, 0, nz * sz)]


def fov_centre(fov: np.ndarray) -> tuple[int, int, int]:
    """The (z, y, x) voxel at the centre of the MR's field of view (the image centre when it is empty)."""
    # From per-axis counts: an argwhere of a real-size field of view would hold tens of millions of indices.
    total = int(np.count_nonzero(fov))
    if not total:
        return tuple(int(v) for v in np.array(fov.shape) // 2)
    centre = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        counts = np.count_nonzero(fov, axis=others)
        centre.append(int(float((np.arange(len(counts)) * counts).sum()) / total))  # as the mean index, truncated
    return tuple(centre)


def mr_window_top(mr: np.ndarray, fov: np.ndarray) -> float:
    """Upper end of the MR's display window: the 99.5th percentile inside the field of view."""
    values = mr[fov] if fov.any() else mr.ravel()
    return float(np.percentile(values, 99.5)) if values.size else 1.0


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
    from hanseg.reporting.figures.style import pyplot, save

    plt = pyplot()

    ct_array = sitk.GetArrayViewFromImage(ct)
    mr_array = sitk.GetArrayViewFromImage(mr_in_ct)
    fov = sitk.GetArrayViewFromImage(fov_mask) > 0
    centre = fov_centre(fov)
    # Windowed plane by plane: float copies of whole volumes would cost GBs on a real-size CT.
    mr_top = mr_window_top(mr_array, fov)
    ct_planes = [normalise(plane, *CT_WINDOW) for plane in planes(ct_array, centre)]
    mr_planes = [normalise(plane, 0.0, mr_top) for plane in planes(mr_array, centre)]
    extents = plane_extents(ct.GetSpacing(), ct_array.shape)
    origins = PLANE_ORIGINS
    names = ["axial (patient left on the right)", "coronal", "sagittal (anterior on the left)"]

    fig, axes = plt.subplots(2, 3, figsize=(13, 8.6), constrained_layout=True)
    for column, (ct_plane, mr_plane, fov_plane) in enumerate(
        zip(ct_planes, mr_planes, [p.astype(np.uint8) for p in planes(fov, centre)], strict=True)
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
        qc = report.get("qc")
        if qc and "checks" in qc:
            checks = ", ".join(
                f"{name} {c['value']}{' ' + c['unit'] if c.get('unit') else ''}"
                + ("" if c["status"] == "pass" else f" ({c['status'].upper()})")
                for name, c in qc["checks"].items()
            )
            heading += f"\nregistration QC {qc['status'].upper()}: {checks}"
    fig.suptitle(
        heading.strip(),
        fontsize=11,
        color="firebrick" if (report or {}).get("qc", {}).get("status") == "fail" else "black",
    )
    save(fig, out_png, dpi=80)
