"""Landmark files: CSV `name,x,y,z` in LPS millimetres (one file per image)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_landmarks(path: Path | str, points: dict[str, np.ndarray]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "x", "y", "z"])
        for name, p in points.items():
            writer.writerow([name, *(f"{v:.4f}" for v in p)])


def read_landmarks(path: Path | str) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"name", "x", "y", "z"} <= set(rows[0]):
        raise ValueError(f"{path}: expected a CSV with columns name,x,y,z")
    return {row["name"]: np.array([float(row[k]) for k in "xyz"]) for row in rows}
