"""Bounding boxes of masks and label maps, found with cheap projections instead of full-volume scans.

Organs fill well under 1 % of a head-and-neck CT, so everything that scores or crops organs works on their
boxes: these functions find them in one or two passes over the volume. A box is a tuple of slices in numpy
axis order; ``None`` stands for "no foreground".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["Box", "bounding_box", "label_boxes", "union_box"]

Box = tuple[slice, ...]


def bounding_box(mask: np.ndarray) -> Box | None:
    """Slices of the foreground's (nonzero voxels') bounding box, or None if empty.

    One full pass (OR of the slices along the first axis, which vectorises best), then the first axis only
    inside the box found in the other two: ~15 ms on a 1142 x 1142 x 202 volume, where find_objects
    takes ~0.4 s and surface-distance's three full projections several times more than this. Works on uint8
    views too, so no full-size bool copy is made.
    """
    plane = np.any(mask, axis=0)
    rows = np.flatnonzero(np.any(plane, axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(np.any(plane, axis=0))
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    depth = np.flatnonzero(np.any(mask[:, box[0], box[1]], axis=(1, 2)))
    return (slice(int(depth[0]), int(depth[-1]) + 1), *box)


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both (None only if both are None)."""
    if a is None or b is None:
        return a if b is None else b
    return tuple(slice(min(s.start, t.start), max(s.stop, t.stop)) for s, t in zip(a, b, strict=True))


def label_boxes(labels: np.ndarray, wanted: Sequence[int]) -> dict[int, Box | None]:
    """Bounding box of each wanted label of a 3-D label map (None if absent), like ``find_objects`` but 3-4x
    faster.

    After one cheap pass that collapses the last axis, only the rows holding any label are read again, and
    the few foreground voxels are grouped by label.
    """
    zs, ys = np.nonzero(np.any(labels, axis=2))
    rows = labels[zs, ys]  # (rows with any label, last axis)
    which, xs = np.nonzero(rows)
    values = rows[which, xs]
    order = np.argsort(values, kind="stable")
    values, coords = values[order], [zs[which][order], ys[which][order], xs[order]]
    boxes: dict[int, Box | None] = dict.fromkeys(wanted)
    if values.size == 0:
        return boxes
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])  # one group per label value
    lows = [np.minimum.reduceat(c, starts) for c in coords]
    highs = [np.maximum.reduceat(c, starts) for c in coords]
    for group, value in enumerate(values[starts].tolist()):
        if value in boxes:
            boxes[value] = tuple(slice(int(lo[group]), int(hi[group]) + 1) for lo, hi in zip(lows, highs, strict=True))
    return boxes
