"""Tests of hanseg.core.boxes: the bounding boxes every crop relies on must be find_objects' boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from hanseg.core import boxes


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, bool])
def test_label_boxes_match_find_objects(dtype: type) -> None:
    """label_boxes finds every organ's box in one pass of its own; it must be find_objects' box."""
    rng = np.random.default_rng(11)
    top = 1 if dtype is bool else 6
    for _ in range(10):
        labels = rng.integers(-2 if dtype is np.int16 else 0, top + 1, (7, 9, 8))
        labels = (labels * (rng.random(labels.shape) < 0.15)).astype(dtype)
        expected = ndimage.find_objects(np.maximum(labels, 0).astype(np.int64), max_label=top + 1)
        got = boxes.label_boxes(labels, list(range(1, top + 2)))
        assert got == {k: expected[k - 1] for k in range(1, top + 2)}


def test_bounding_box_matches_find_objects() -> None:
    rng = np.random.default_rng(12)
    for _ in range(50):
        mask = rng.random(tuple(rng.integers(1, 9, 3))) < rng.choice([0.0, 0.01, 0.1, 0.5])
        found = ndimage.find_objects(mask.view(np.uint8))
        assert boxes.bounding_box(mask) == (found[0] if found else None)


def test_union_box() -> None:
    a, b = (slice(2, 5), slice(0, 3), slice(4, 6)), (slice(1, 3), slice(2, 8), slice(5, 9))
    assert boxes.union_box(a, b) == (slice(1, 5), slice(0, 8), slice(4, 9))
    assert boxes.union_box(a, None) == a and boxes.union_box(None, b) == b and boxes.union_box(None, None) is None
