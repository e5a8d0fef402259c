"""Everything of a case onto one grid (``preprocessing.target_spacing``: the paper's 0.5 x 0.5 x 2 mm), with the
CT's physical extent.

- CT and registered MR: cubic B-spline interpolation; the CT is clipped to the HU range again afterwards, as the
  paper did, to remove interpolation overshoot; the MR is kept non-negative.
- Organs: each organ is resampled on its own (linear interpolation of its binary mask, threshold 0.5) inside its
  bounding box, so memory stays bounded and small structures (cochleae, chiasm, optic nerves) survive: an organ that
  would vanish at 0.5 keeps the voxels at or above half of its largest interpolated value.
- The label map uses the official ids 1..30. Where organs overlap, the smaller organ (fewer voxels on the target
  grid; ties: lower id) wins, so a small structure is never swallowed by a large one (the rule lives in
  :mod:`hanseg.preprocessing.overlaps`). Overlapping voxels are counted per organ pair, and the per-organ masks are
  kept, for evaluation against the masks (``evaluation.reference: masks``) and the Dice-ceiling report.
- The direction matrices must be axial and diagonal: left-right stays the array's x axis (nnU-Net's mirroring fix
  relies on it). The registered MR, the field of view and every organ mask must lie on the CT's grid. All of this
  is checked, and every mask read, before the first file is written: bad input leaves nothing half-done.

The rule and ``hanseg resample`` call the same function, :func:`resample_case_files`, with explicit output paths
(:class:`ResampledFiles`): the rule's declared outputs, or the command line's folder with the names of
:attr:`ResampledFiles.NAMES`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.core.defaults import BODY_CROP, HU_CLIP, TARGET_SPACING
from hanseg.core.images import check_axial, check_same_grid, largest_component, read_image, write_image
from hanseg.core.output_files import OutputFiles
from hanseg.core.timing import Stopwatch
from hanseg.preprocessing import separable
from hanseg.preprocessing.overlaps import label_map_keeps, paint_order

log = logging.getLogger(__name__)

#: Margin around the body when cropping to it (mm).
BODY_MARGIN_MM = 10.0
BODY_HU = -500.0


def target_grid(image: sitk.Image, spacing_xyz: tuple[float, float, float]) -> sitk.Image:
    """An empty image on the target spacing covering the same physical extent (voxel edges aligned)."""
    old_spacing = np.asarray(image.GetSpacing())
    new_spacing = np.asarray(spacing_xyz, dtype=float)
    extent = old_spacing * np.asarray(image.GetSize())
    size = np.maximum(np.round(extent / new_spacing).astype(int), 1)
    corner = np.asarray(image.TransformContinuousIndexToPhysicalPoint([-0.5, -0.5, -0.5]))
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    origin = corner + direction @ (new_spacing / 2)
    reference = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    reference.SetSpacing(new_spacing.tolist())
    reference.SetOrigin(origin.tolist())
    reference.SetDirection(image.GetDirection())
    return reference


def crop_to_body(reference: sitk.Image, ct: sitk.Image, margin_mm: float = BODY_MARGIN_MM) -> sitk.Image:
    """The part of `reference` that holds the body (largest component above -500 HU) plus a margin."""
    body = largest_component(sitk.Cast(ct, sitk.sitkFloat32) > BODY_HU)
    indices = np.argwhere(sitk.GetArrayViewFromImage(body) > 0)
    if len(indices) == 0:
        return reference
    lo_zyx, hi_zyx = indices.min(axis=0), indices.max(axis=0)
    corners = [
        ct.TransformIndexToPhysicalPoint([int(v) for v in (z, y, x)][::-1])
        for z in (lo_zyx[0], hi_zyx[0])
        for y in (lo_zyx[1], hi_zyx[1])
        for x in (lo_zyx[2], hi_zyx[2])
    ]
    target_indices = np.array([reference.TransformPhysicalPointToContinuousIndex(p) for p in corners])
    margin = margin_mm / np.asarray(reference.GetSpacing())
    start = np.maximum(np.floor(target_indices.min(axis=0) - margin), 0).astype(int)
    stop = np.minimum(np.ceil(target_indices.max(axis=0) + margin) + 1, reference.GetSize()).astype(int)
    cropped = sitk.Image([int(v) for v in stop - start], sitk.sitkUInt8)
    cropped.SetSpacing(reference.GetSpacing())
    cropped.SetDirection(reference.GetDirection())
    cropped.SetOrigin(reference.TransformIndexToPhysicalPoint([int(v) for v in start]))
    return cropped


def _sub_reference(reference: sitk.Image, mask: sitk.Image, bbox_xyz: tuple[np.ndarray, np.ndarray]):
    """The window of `reference` (start index, sub-image) that covers a mask's bounding box (+1 voxel)."""
    lo, hi = bbox_xyz
    corners = [
        mask.TransformContinuousIndexToPhysicalPoint([float(v) for v in (x, y, z)])
        for x in (lo[0] - 1, hi[0] + 1)
        for y in (lo[1] - 1, hi[1] + 1)
        for z in (lo[2] - 1, hi[2] + 1)
    ]
    indices = np.array([reference.TransformPhysicalPointToContinuousIndex(p) for p in corners])
    start = np.maximum(np.floor(indices.min(axis=0)), 0).astype(int)
    stop = np.minimum(np.ceil(indices.max(axis=0)) + 1, reference.GetSize()).astype(int)
    if np.any(stop <= start):
        return None
    window = sitk.Image([int(v) for v in stop - start], sitk.sitkFloat32)
    window.SetSpacing(reference.GetSpacing())
    window.SetDirection(reference.GetDirection())
    window.SetOrigin(reference.TransformIndexToPhysicalPoint([int(v) for v in start]))
    return start, window


@dataclass(frozen=True)
class ResampledFiles(OutputFiles):
    """Where :func:`resample_case` writes a case (the ``resample`` rule's outputs, by name)."""

    NAMES = {
        "ct": "ct.nrrd",
        "labels": "labels.nrrd",
        "organs": "organs",
        "overlaps": "overlaps.tsv",
        "summary": "resample.json",
        "mr": "mr.nrrd",
        "fov": "fov_mask.nrrd",
    }

    ct: Path
    labels: Path
    #: Folder of the per-organ masks, one ``<Organ>.nrrd`` each.
    organs: Path
    #: Overlapping voxels per organ pair (TSV).
    overlaps: Path
    #: Grid, crop and voxels per organ (JSON).
    summary: Path
    #: Needed when an MR is given.
    mr: Path | None = None
    #: Needed when a field-of-view mask is given.
    fov: Path | None = None


@dataclass
class OrganOnGrid:
    organ: str
    start_xyz: np.ndarray
    mask_zyx: np.ndarray  # bool, the window's voxels

    @property
    def voxels(self) -> int:
        return int(self.mask_zyx.sum())

    def slices(self) -> tuple[slice, slice, slice]:
        x, y, z = (int(v) for v in self.start_xyz)
        dz, dy, dx = self.mask_zyx.shape
        return slice(z, z + dz), slice(y, y + dy), slice(x, x + dx)


def resample_organ(mask: sitk.Image, reference: sitk.Image, organ: str) -> OrganOnGrid | None:
    """One organ onto the reference grid, inside its bounding box; None if it has no voxel."""
    array = sitk.GetArrayViewFromImage(mask)
    inside = np.argwhere(array > 0)
    if len(inside) == 0:
        return None
    lo, hi = inside.min(axis=0)[::-1], inside.max(axis=0)[::-1]  # x, y, z
    window = _sub_reference(reference, mask, (lo, hi))
    if window is None:
        return None
    start, window_image = window
    crop_lo = np.maximum(lo - 2, 0)
    crop_hi = np.minimum(hi + 3, mask.GetSize())
    cropped = sitk.Cast(
        mask[int(crop_lo[0]) : int(crop_hi[0]), int(crop_lo[1]) : int(crop_hi[1]), int(crop_lo[2]) : int(crop_hi[2])],
        sitk.sitkFloat32,
    )
    values = sitk.GetArrayFromImage(
        sitk.Resample(cropped, window_image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    )
    kept = values >= 0.5
    if not kept.any():
        peak = float(values.max())
        if peak <= 0:
            return None
        kept = values >= 0.5 * peak  # a structure thinner than the new voxels: keep its core
        log.info("%s: thinner than the target voxels, kept %d voxels at >= %.2f", organ, int(kept.sum()), 0.5 * peak)
    return OrganOnGrid(organ, start, kept)


def build_label_map(organs: list[OrganOnGrid], shape_zyx: tuple[int, int, int]) -> tuple[np.ndarray, list[dict]]:
    """uint8 label map with the official ids, and the overlapping voxel count of every overlapping organ pair."""
    labels = np.zeros(shape_zyx, dtype=np.uint8)
    voxels = {o.organ: o.voxels for o in organs}
    by_name = {o.organ: o for o in organs}
    for name in paint_order(voxels):  # the organ that keeps shared voxels is painted last
        organ = by_name[name]
        labels[organ.slices()][organ.mask_zyx] = dataset_layout.LABEL_IDS[name]
    overlaps = []
    for i, a in enumerate(organs):
        for b in organs[i + 1 :]:
            sa, sb = a.slices(), b.slices()
            common = tuple(slice(max(p.start, q.start), min(p.stop, q.stop)) for p, q in zip(sa, sb, strict=True))
            if any(s.stop <= s.start for s in common):
                continue
            part_a = a.mask_zyx[
                tuple(slice(c.start - p.start, c.stop - p.start) for c, p in zip(common, sa, strict=True))
            ]
            part_b = b.mask_zyx[
                tuple(slice(c.start - q.start, c.stop - q.start) for c, q in zip(common, sb, strict=True))
            ]
            count = int((part_a & part_b).sum())
            if count:
                winner = label_map_keeps(a.organ, b.organ, voxels)
                overlaps.append({"organ_a": a.organ, "organ_b": b.organ, "voxels": count, "label_map_keeps": winner})
    return labels, overlaps


def crop_to_content(mask: sitk.Image, margin: int = 3) -> sitk.Image | None:
    """The mask's bounding box plus `margin` voxels (geometry kept), or None if it has no voxel.

    The margin covers what :func:`resample_organ` reads around the box, so its result is the same as on the full
    mask, while a case's 30 cropped masks fit in memory together.
    """
    array = sitk.GetArrayViewFromImage(mask)  # (z, y, x); a 1024 x 1024 x 202 mask is 211 MB
    # Projections, each over the part the one before found: a tenth of the time of listing every voxel inside.
    zs = np.flatnonzero(array.any(axis=(1, 2)))
    if len(zs) == 0:
        return None
    slab = array[zs[0] : zs[-1] + 1]
    ys = np.flatnonzero(slab.any(axis=(0, 2)))
    xs = np.flatnonzero(slab[:, ys[0] : ys[-1] + 1].any(axis=(0, 1)))
    lo = np.maximum(np.array([xs[0], ys[0], zs[0]]) - margin, 0)
    hi = np.minimum(np.array([xs[-1], ys[-1], zs[-1]]) + margin + 1, mask.GetSize())
    return mask[int(lo[0]) : int(hi[0]), int(lo[1]) : int(hi[1]), int(lo[2]) : int(hi[2])]


def _read_masks(ct: sitk.Image, organ_masks: dict[str, Path], case: str) -> dict[str, sitk.Image | None]:
    """Every organ mask read, checked (binary, axial, on the CT grid) and cropped, before anything is written."""
    masks: dict[str, sitk.Image | None] = {}
    for organ, path in sorted(organ_masks.items(), key=lambda item: dataset_layout.LABEL_IDS[item[0]]):
        mask = read_image(path, "mask")
        check_axial(mask, f"{case}: {path.name}" if case else str(path))
        check_same_grid(mask, ct, str(path), "the CT", fix="resample the mask onto the CT grid or correct its header")
        masks[organ] = crop_to_content(mask)
    return masks


def _on_reference(array_zyx: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing(reference.GetSpacing())
    image.SetOrigin(reference.GetOrigin())
    image.SetDirection(reference.GetDirection())
    return image


def _cubic(image: sitk.Image, reference: sitk.Image, default: float) -> np.ndarray:
    """`image` on `reference` (float32 array, z y x), cubic B-spline: axis by axis where the grids' axes are
    parallel (exactly diagonal direction matrices; :mod:`hanseg.preprocessing.separable`), else ITK's 3D resampling
    (the same result, slower)."""
    if separable.axis_aligned(image, reference):
        return separable.resample_cubic(image, reference, default)
    resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkBSpline, default, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(resampled)


def _resample_images(ct, mr_in_ct, fov_mask, reference: sitk.Image, outputs: ResampledFiles, hu_range) -> None:
    """The CT (cubic B-spline, clamped to the HU range), the registered MR (cubic) and its field of view (nearest)."""
    lower, upper = hu_range
    values = _cubic(ct, reference, lower)
    np.clip(values, lower, upper, out=values)
    write_image(_on_reference(values.astype(np.int16), reference), outputs.ct)  # truncated, as sitk.Cast
    del values
    if mr_in_ct is not None:
        values = _cubic(mr_in_ct, reference, 0.0)
        np.clip(values, 0.0, 32767.0, out=values)
        write_image(_on_reference(np.floor(values + 0.5).astype(np.int16), reference), outputs.mr)
        del values
    if fov_mask is not None:
        fov = sitk.Resample(fov_mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        write_image(fov, outputs.fov)


def _resample_organs(masks: dict, organ_masks: dict, reference: sitk.Image, outputs: ResampledFiles) -> list:
    """Each organ's mask on the target grid (written whole, one file per organ); the organs found there."""
    organs: list[OrganOnGrid] = []
    shape_zyx = tuple(reference.GetSize()[::-1])
    for organ, mask in masks.items():
        if mask is None:
            log.warning("%s: empty mask", organ_masks[organ].name)
            continue
        on_grid = resample_organ(mask, reference, organ)
        if on_grid is None:
            log.warning("%s: no voxel left on the target grid", organ_masks[organ].name)
            continue
        organs.append(on_grid)
        full = np.zeros(shape_zyx, dtype=np.uint8)
        full[on_grid.slices()][on_grid.mask_zyx] = 1
        write_image(_on_reference(full, reference), outputs.organs / f"{organ}.nrrd")
        del full
    return organs


def resample_case(
    ct: sitk.Image,
    mr_in_ct: sitk.Image | None,
    fov_mask: sitk.Image | None,
    organ_masks: dict[str, Path],
    outputs: ResampledFiles,
    *,
    spacing_xyz: tuple[float, float, float] = TARGET_SPACING,
    hu_range: tuple[float, float] = HU_CLIP,
    body_crop: bool = BODY_CROP,
    case: str = "",
) -> dict:
    """Write the resampled CT, MR and field of view (those given), the label map, the per-organ masks, the organ
    pairs' overlaps and a summary to `outputs`; return the summary."""
    for name, image, path in (("MR in CT space", mr_in_ct, outputs.mr), ("MR field of view", fov_mask, outputs.fov)):
        if image is not None and path is None:
            raise ValueError(f"{name} given but no output path for it")
    check_axial(ct, f"{case}: CT" if case else "CT")
    for name, image in (("MR in CT space", mr_in_ct), ("MR field of view", fov_mask)):
        if image is not None:
            check_same_grid(
                image, ct, f"{case}: {name}" if case else name, "the CT", fix="pass hanseg register's output"
            )
    watch = Stopwatch(log, "resample")
    with watch("reading the organ masks"):
        masks = _read_masks(ct, organ_masks, case)
    outputs.organs.mkdir(parents=True, exist_ok=True)
    reference = target_grid(ct, spacing_xyz)
    if body_crop:
        reference = crop_to_body(reference, ct)
    with watch("CT, MR and field of view"):
        _resample_images(ct, mr_in_ct, fov_mask, reference, outputs, hu_range)
    with watch("organ masks"):
        organs = _resample_organs(masks, organ_masks, reference, outputs)
    with watch("label map"):
        labels, overlaps = build_label_map(organs, tuple(reference.GetSize()[::-1]))
        write_image(_on_reference(labels, reference), outputs.labels)
    lines = ["organ_a\torgan_b\tvoxels\tlabel_map_keeps"]
    lines += [f"{row['organ_a']}\t{row['organ_b']}\t{row['voxels']}\t{row['label_map_keeps']}" for row in overlaps]
    write_text_atomic(outputs.overlaps, "\n".join(lines) + "\n")
    summary = {
        "spacing": list(reference.GetSpacing()),
        "size": list(reference.GetSize()),
        "origin": list(reference.GetOrigin()),
        "body_crop": body_crop,
        "organ_voxels": {o.organ: o.voxels for o in organs},
        "overlapping_pairs": len(overlaps),
    }
    write_text_atomic(outputs.summary, json.dumps(summary, indent=1) + "\n")
    return summary


def resample_case_files(
    ct: Path | str,
    mr_in_ct: Path | str | None,
    fov_mask: Path | str | None,
    case_dir: Path | str | None,
    outputs: ResampledFiles,
    *,
    spacing_xyz: tuple[float, float, float] = TARGET_SPACING,
    hu_range: tuple[float, float] = HU_CLIP,
    body_crop: bool = BODY_CROP,
    case: str = "",
) -> dict:
    """:func:`resample_case` from files: the clipped CT, the registered MR and its field of view (``hanseg register``'s
    outputs) and the organ masks of a HaN-Seg case folder, found as the inventory finds them. The rule and
    ``hanseg resample`` both call this."""
    organs = {}
    if case_dir is not None:
        organs = dataset_layout.organ_files(case_dir, case if dataset_layout.is_case_id(case) else None)
    return resample_case(
        read_image(ct),
        read_image(mr_in_ct) if mr_in_ct is not None else None,
        read_image(fov_mask, "mask") if fov_mask is not None else None,
        organs,
        outputs,
        spacing_xyz=tuple(spacing_xyz),
        hu_range=tuple(hu_range),
        body_crop=body_crop,
        case=case,
    )
