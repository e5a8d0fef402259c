"""The training label map's overlap rule: one label per voxel, the smaller organ keeps shared voxels.

HaN-Seg's organ masks overlap (a parotid and a submandibular gland, the oral cavity and the buccal mucosa...).
The label map nnU-Net trains on holds one label per voxel: the smaller organ (fewer voxels on the map's grid;
ties: the lower official id) keeps each shared voxel, so a small structure is never swallowed by a large one.
One rule, used by resampling to paint ``labels.nrrd`` and by evaluation (``evaluation.reference: labelmap``)
to build the same one-label-per-voxel reference from masks on another grid.

What the rule costs organs scored against their full masks: :mod:`hanseg.evaluation.overlap_ceiling`.
"""

from __future__ import annotations

from collections.abc import Mapping

from hanseg.core import dataset_layout
from hanseg.preprocessing.cropped_masks import CroppedMask

__all__ = ["label_map_keeps", "paint_order", "resolve_overlaps"]


def _rank(organ: str, voxels: Mapping[str, int]) -> tuple[int, int]:
    # The smaller rank keeps a shared voxel: fewer voxels first, ties broken by the lower official id.
    return int(voxels[organ]), dataset_layout.LABEL_IDS[organ]


def paint_order(voxels: Mapping[str, int]) -> list[str]:
    """Organs in the order a label map must be painted so that the rule holds: the one that keeps shared
    voxels last (largest organ first; equal sizes: higher id first)."""
    return sorted(voxels, key=lambda organ: _rank(organ, voxels), reverse=True)


def label_map_keeps(a: str, b: str, voxels: Mapping[str, int]) -> str:
    """Which of two overlapping organs keeps their shared voxels in the label map."""
    return min(a, b, key=lambda organ: _rank(organ, voxels))


def resolve_overlaps(masks: Mapping[str, CroppedMask]) -> dict[str, CroppedMask]:
    """Each organ's voxels in the one-label-per-voxel map the rule makes of these masks (same grid).

    Equal to painting the masks in :func:`paint_order` and reading each label back, without a full-size map:
    every organ loses the voxels of each organ that beats it, box against box.
    """
    voxels = {organ: mask.voxels for organ, mask in masks.items()}
    resolved = {}
    for organ, mask in masks.items():
        kept = mask
        for other, other_mask in masks.items():
            if other != organ and label_map_keeps(organ, other, voxels) == other:
                kept = kept.without(other_mask)
        resolved[organ] = kept
    return resolved
