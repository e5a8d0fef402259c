"""Figure 1 (CT and registered MR of one case) and Figure 4 (organs over the CT: reference and prediction).

Cross-sections come from :mod:`hanseg.reporting.figures.registration_qc` (its planes, extents and origins give the
radiological convention: patient left on the image's right, anterior up in axial views, head up in coronal and sagittal
views), in mm, with a distance scale bar instead of tick labels, cropped to the body so a 500 mm field of view does not
drown the head.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.reporting.figures.registration_qc import (
    CT_WINDOW,
    PLANE_NAMES,
    PLANE_ORIGINS,
    fov_centre,
    mr_window_top,
    normalise,
    planes,
)
from hanseg.reporting.figures.style import ORGAN_COLOURS, bare, label_colours, pyplot, save, scale_bar

BODY_HU = -400.0
ROI_MARGIN_MM = 8.0
ROI_MIN_MM = 40.0


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayViewFromImage(image)


def body_box(ct: np.ndarray, spacing_xyz, margin_mm: float = 10.0) -> tuple[slice, slice, slice]:
    """(z, y, x) slices of the body (CT above -400 HU) plus a margin; the whole image when nothing is found."""
    # Slab by slab: a full-size boolean copy of a 1142 x 1142 x 202 CT would take 263 MB.
    projections = [np.zeros(n, dtype=bool) for n in ct.shape]
    for start in range(0, ct.shape[0], 16):
        inside = ct[start : start + 16] > BODY_HU
        projections[0][start : start + 16] = inside.any(axis=(1, 2))
        projections[1] |= inside.any(axis=(0, 2))
        projections[2] |= inside.any(axis=(0, 1))
    box = []
    for axis, step in zip(range(3), spacing_xyz[::-1], strict=True):
        present = np.flatnonzero(projections[axis])
        if present.size == 0:
            return (slice(None),) * 3
        pad = int(np.ceil(margin_mm / step))
        box.append(slice(max(0, present[0] - pad), min(ct.shape[axis], present[-1] + pad + 1)))
    return tuple(box)


def _crop_planes(box):
    """The in-plane (rows, columns) slices of the body box for each of the three planes."""
    z, y, x = box
    return [(y, x), (z, x), (z, y)]


def _extent(spacing_rows_cols, rows: slice, cols: slice, shape_rows_cols, origin: str):
    """Extent in mm of a crop of a plane, in the frame of :func:`hanseg.reporting.figures.registration_qc.plane_extents`
    for the whole plane."""
    dr, dc = spacing_rows_cols
    r0, r1, _ = rows.indices(shape_rows_cols[0])
    c0, c1, _ = cols.indices(shape_rows_cols[1])
    if origin == "upper":
        return (c0 * dc, c1 * dc, r1 * dr, r0 * dr)
    return (c0 * dc, c1 * dc, r0 * dr, r1 * dr)


def _plane_spacings(spacing_xyz):
    sx, sy, sz = spacing_xyz
    return [(sy, sx), (sz, sx), (sz, sy)]


def figure1(
    ct: sitk.Image,
    mr_in_ct: sitk.Image,
    out_png: Path | str,
    *,
    fov_mask: sitk.Image | None = None,
    case: str = "",
) -> Path:
    """CT (top) and registered MR (bottom) in axial, coronal and sagittal cross-sections with scale bars."""
    plt = pyplot()
    ct_array = _array(ct)
    mr_array = _array(mr_in_ct)
    if ct_array.shape != mr_array.shape:
        raise ValueError(f"figure 1: MR {mr_array.shape} is not on the CT grid {ct_array.shape}")
    fov = _array(fov_mask) > 0 if fov_mask is not None else mr_array > 0
    centre = fov_centre(fov)
    box = body_box(ct_array, ct.GetSpacing())
    mr_high = mr_window_top(mr_array, fov)
    # Windowing the three planes only: a float copy of a whole 1142 x 1142 x 202 volume would be 1 GB.
    views = {
        "CT": [normalise(plane, *CT_WINDOW) for plane in planes(ct_array, centre)],
        "MR (registered to the CT)": [normalise(plane, 0.0, mr_high) for plane in planes(mr_array, centre)],
    }
    fig, axes = plt.subplots(2, 3, figsize=(12, 8.4), facecolor="black", constrained_layout=True)
    for row, (modality, images) in enumerate(views.items()):
        for column, image in enumerate(images):
            ax = axes[row, column]
            rows, cols = _crop_planes(box)[column]
            extent = _extent(
                _plane_spacings(ct.GetSpacing())[column],
                rows,
                cols,
                image.shape,
                PLANE_ORIGINS[column],
            )
            ax.imshow(
                image[rows, cols],
                cmap="gray",
                vmin=0,
                vmax=1,
                extent=extent,
                origin=PLANE_ORIGINS[column],
                interpolation="antialiased",
            )
            ax.set_facecolor("black")
            bare(ax)
            scale_bar(ax, extent)
            ax.set_title(f"{modality}: {PLANE_NAMES[column]}", color="white", fontsize=10)
    fig.suptitle(
        f"Figure 1: {case or 'CT and MR'} (radiological convention: patient left on the image's right)",
        color="white",
        fontsize=12,
    )
    return save(fig, out_png)


def _organ_slices(labels: np.ndarray) -> list[int]:
    """Per plane (axial z, coronal y, sagittal x), the index crossing the most organs (then the most voxels)."""
    from scipy import ndimage

    best = []
    boxes = ndimage.find_objects(labels)
    for axis in range(3):
        organs = np.zeros(labels.shape[axis], dtype=np.int64)
        voxels = np.zeros(labels.shape[axis], dtype=np.int64)
        for label, box in enumerate(boxes, start=1):
            if box is None:
                continue
            crop = labels[box] == label
            counts = crop.sum(axis=tuple(a for a in range(3) if a != axis))
            start = box[axis].start
            organs[start : start + counts.size] += counts > 0
            voxels[start : start + counts.size] += counts
        if not organs.any():
            best.append(labels.shape[axis] // 2)
            continue
        best.append(int(np.lexsort((voxels, organs))[-1]))
    return best


def overlay_rgba(labels_2d: np.ndarray, *, fill_alpha: float = 0.4) -> np.ndarray:
    """RGBA image of a 2D label map: organ colours, translucent inside, opaque on each organ's outline."""
    colours = label_colours()
    rgba = np.zeros((*labels_2d.shape, 4), dtype=np.float32)
    inside = labels_2d > 0
    rgba[..., :3] = colours[np.clip(labels_2d, 0, len(colours) - 1)]
    padded = np.pad(labels_2d, 1, mode="edge")
    edge = np.zeros_like(inside)
    for dr, dc in ((0, 1), (2, 1), (1, 0), (1, 2)):
        edge |= padded[dr : dr + labels_2d.shape[0], dc : dc + labels_2d.shape[1]] != labels_2d
    rgba[..., 3] = np.where(inside, np.where(edge, 1.0, fill_alpha), 0.0)
    return rgba


def _roi(plane_labels: list[np.ndarray], spacing_rows_cols, shape) -> tuple[slice, slice]:
    """Bounding box of the organs in the given 2D label maps together, with a margin and a minimum size."""
    union = np.zeros(shape, dtype=bool)
    for labels_2d in plane_labels:
        union |= labels_2d > 0
    if not union.any():
        return slice(0, shape[0]), slice(0, shape[1])
    box = []
    for axis, step in enumerate(spacing_rows_cols):
        present = np.flatnonzero(union.any(axis=1 - axis))
        lo, hi = present[0] - ROI_MARGIN_MM / step, present[-1] + 1 + ROI_MARGIN_MM / step
        grow = max(0.0, ROI_MIN_MM / step - (hi - lo)) / 2
        lo, hi = int(max(0, np.floor(lo - grow))), int(min(shape[axis], np.ceil(hi + grow)))
        box.append(slice(lo, hi))
    return tuple(box)


def _legend(fig, organs: list[str]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=ORGAN_COLOURS[o], edgecolor="none", label=o) for o in organs]
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(8, len(handles)),
            fontsize=8,
            frameon=False,
            labelcolor="white",
        )


def figure4(
    ct: sitk.Image,
    reference: sitk.Image,
    prediction: sitk.Image,
    out_png: Path | str,
    *,
    case: str = "",
) -> Path:
    """Reference (left) and predicted (right) organs over the CT in three planes (top) and enlarged ROIs (bottom)."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    ct_array = _array(ct)
    ref_pred = {"reference": reference, "prediction": prediction}
    # No copies of the label maps when they are uint8 already (263 MB each on a 1142 x 1142 x 202 grid).
    maps = {name: _array(image).astype(np.uint8, copy=False) for name, image in ref_pred.items()}
    for name, array in maps.items():
        if array.shape != ct_array.shape:
            raise ValueError(f"figure 4: the {name} {array.shape} is not on the CT grid {ct_array.shape}")
    spacing = ct.GetSpacing()
    z, y, x = _organ_slices(maps["reference"] if maps["reference"].any() else maps["prediction"])
    centre = (z, y, x)
    ct_planes = [normalise(plane, *CT_WINDOW) for plane in planes(ct_array, centre)]
    label_planes = {name: planes(array, centre) for name, array in maps.items()}
    box = body_box(ct_array, spacing)
    fig, axes = plt.subplots(2, 6, figsize=(19, 7.6), facecolor="black", layout="constrained")
    for half, name in enumerate(maps):
        for plane in range(3):
            full, zoom = axes[0, 3 * half + plane], axes[1, 3 * half + plane]
            step = _plane_spacings(spacing)[plane]
            shape = ct_planes[plane].shape
            # The reference decides the region (a poor prediction must not blow it up); the prediction shows the same.
            reference_plane = label_planes["reference"][plane]
            roi = _roi([reference_plane if reference_plane.any() else label_planes["prediction"][plane]], step, shape)
            for ax, (rows, cols) in ((full, _crop_planes(box)[plane]), (zoom, roi)):
                extent = _extent(step, rows, cols, shape, PLANE_ORIGINS[plane])
                kwargs = {"extent": extent, "origin": PLANE_ORIGINS[plane], "interpolation": "nearest"}
                ax.imshow(ct_planes[plane][rows, cols], cmap="gray", vmin=0, vmax=1, **kwargs)
                ax.imshow(overlay_rgba(label_planes[name][plane][rows, cols]), **kwargs)
                ax.set_facecolor("black")
                bare(ax)
                scale_bar(ax, extent)
            roi_extent = _extent(step, *roi, shape, PLANE_ORIGINS[plane])
            full.add_patch(
                Rectangle(
                    (roi_extent[0], min(roi_extent[2], roi_extent[3])),
                    roi_extent[1] - roi_extent[0],
                    abs(roi_extent[3] - roi_extent[2]),
                    fill=False,
                    edgecolor="yellow",
                    linewidth=1.2,
                )
            )
            full.set_title(f"{name}: {PLANE_NAMES[plane]}", color="white", fontsize=10)
            zoom.set_title(f"{name}: {PLANE_NAMES[plane]}, enlarged", color="white", fontsize=9)
    present = sorted(
        {int(v) for n in maps for plane in label_planes[n] for v in np.unique(plane) if v > 0},
    )
    _legend(fig, [dataset_layout.ORGANS[v - 1] for v in present if v <= len(dataset_layout.ORGANS)])
    fig.suptitle(
        f"Figure 4: {case or 'organs'}, reference (left) and predicted (right); yellow box: enlarged region below",
        color="white",
        fontsize=12,
    )
    return save(fig, out_png)
