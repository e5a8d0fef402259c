"""Synthetic heads in the exact HaN-Seg layout, with the ground truth that made them.

The real archive cannot be downloaded in tests, so the phantom stands in for it and exercises the same code paths:
same folders and file names, gzip NRRD with the same pixel types, both CSV files, organs missing in some cases,
CT values above 3000 HU (metal) and an MR in unrelated physical coordinates with a smaller field of view.

Geometry, in LPS millimetres (x to the patient's left, y posterior, z superior):
- *anatomy frame*: the head model below, centred near the sella.
- CT physical point = anatomy point + `ct_shift` (CT and anatomy differ by a translation only).
- The MR is the same anatomy moved rigidly (rotation up to 10 degrees, translation of hundreds of mm) and deformed
  smoothly (a B-spline of a few mm). The ground truth is `mr_to_ct`: the SimpleITK transform that maps a point in
  MR physical space to the CT physical point of the same anatomy. That is also the transform that resamples a
  CT-grid image onto the MR grid, which is how the MR is rendered here.
- Landmarks: six points like the paper's (nasal tip, posterior skull at the height of the nasal tip, the angles of
  the mandible, the left/right C3-C6 lamina/transverse process junctions), in CT and in MR coordinates.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.atomic import replace_folder_atomic, staging_folder
from hanseg.core.defaults import PHANTOM_CASES, PHANTOM_SEED, PHANTOM_SHAPE
from hanseg.core.landmarks import write_landmarks

log = logging.getLogger(__name__)

# Physical extent of the phantom CT and MR (mm), independent of the matrix size so that every size shows the same
# anatomy. The real CTs cover 500-800 mm in-plane; 300 mm keeps small phantoms from wasting voxels on air.
CT_FOV_XY_MM = 300.0
CT_Z_RANGE_MM = (-185.0, 125.0)
MR_FOV_XY_MM = 240.0
# The MR misses the lower neck, as in the real data.
MR_Z_RANGE_MM = (-100.0, 110.0)
MR_CENTRE_XY_MM = (0.0, -10.0)


# ----------------------------------------------------------------------------------------------------------------
# Shapes. Each is evaluated on broadcastable coordinate arrays (z: [n,1,1], y: [1,n,1], x: [1,1,n]) restricted to
# its bounding box, so a 512 x 512 x 150 volume costs one pass per large shape and almost nothing per small organ.
# ----------------------------------------------------------------------------------------------------------------
Bounds = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]  # (x, y, z) min/max


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]

    def bounds(self) -> Bounds:
        return tuple((c - r, c + r) for c, r in zip(self.centre, self.radii, strict=True))  # type: ignore[return-value]

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        (cx, cy, cz), (rx, ry, rz) = self.centre, self.radii
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0

    def grown(self, mm: float) -> Ellipsoid:
        return Ellipsoid(self.centre, tuple(max(r + mm, 0.1) for r in self.radii))  # type: ignore[arg-type]

    def at_least(self, minimum: tuple[float, float, float]) -> Ellipsoid:
        return Ellipsoid(self.centre, tuple(max(r, m) for r, m in zip(self.radii, minimum, strict=True)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tube:
    """A straight tube (capsule) of constant radius from `start` to `end`."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius: float

    def bounds(self) -> Bounds:
        return tuple(  # type: ignore[return-value]
            (min(a, b) - self.radius, max(a, b) + self.radius) for a, b in zip(self.start, self.end, strict=True)
        )

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        a = np.asarray(self.start, dtype=np.float32)
        d = np.asarray(self.end, dtype=np.float32) - a
        length2 = float(d @ d) or 1e-9
        t = ((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / length2
        t = np.clip(t, 0.0, 1.0)
        dist2 = (x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (z - a[2] - t * d[2]) ** 2
        return dist2 <= self.radius**2

    def at_least(self, minimum: tuple[float, float, float]) -> Tube:
        return Tube(self.start, self.end, max(self.radius, max(minimum)))


@dataclass(frozen=True)
class Arch:
    """The anterior part of an elliptic ring, extruded along z: the mandible's U shape."""

    centre_xy: tuple[float, float]
    radii_xy: tuple[float, float]
    thickness: float
    z_range: tuple[float, float]
    y_max: float  # keep the part anterior to this y (smaller y is anterior in LPS)

    def bounds(self) -> Bounds:
        (cx, cy), (rx, ry) = self.centre_xy, self.radii_xy
        return ((cx - rx, cx + rx), (cy - ry, min(cy + ry, self.y_max)), self.z_range)

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        (cx, cy), (rx, ry) = self.centre_xy, self.radii_xy
        outer = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
        inner = ((x - cx) / (rx - self.thickness)) ** 2 + ((y - cy) / (ry - self.thickness)) ** 2 <= 1.0
        return outer & ~inner & (y <= self.y_max) & (z >= self.z_range[0]) & (z <= self.z_range[1])

    def at_least(self, minimum: tuple[float, float, float]) -> Arch:
        return Arch(self.centre_xy, self.radii_xy, max(self.thickness, max(minimum[:2])), self.z_range, self.y_max)


@dataclass(frozen=True)
class Union:
    parts: tuple[Ellipsoid | Tube | Arch, ...]

    def bounds(self) -> Bounds:
        boxes = [p.bounds() for p in self.parts]
        return tuple((min(b[i][0] for b in boxes), max(b[i][1] for b in boxes)) for i in range(3))  # type: ignore[return-value]

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        result = self.parts[0].inside(x, y, z)
        for part in self.parts[1:]:
            result = result | part.inside(x, y, z)
        return result

    def at_least(self, minimum: tuple[float, float, float]) -> Union:
        return Union(tuple(p.at_least(minimum) for p in self.parts))


Shape = Ellipsoid | Tube | Arch | Union


def mirrored(shape: Shape) -> Shape:
    """The same shape reflected across the mid-sagittal plane (x -> -x)."""
    if isinstance(shape, Ellipsoid):
        return Ellipsoid((-shape.centre[0], *shape.centre[1:]), shape.radii)
    if isinstance(shape, Tube):
        return Tube((-shape.start[0], *shape.start[1:]), (-shape.end[0], *shape.end[1:]), shape.radius)
    if isinstance(shape, Union):
        return Union(tuple(mirrored(p) for p in shape.parts))  # type: ignore[misc]
    raise TypeError(f"cannot mirror {type(shape).__name__}")


def transformed(shape: Shape, f: Callable[[np.ndarray], np.ndarray], scale: float) -> Shape:
    """Shape with its points moved by `f` and its sizes multiplied by `scale` (per-case variation)."""

    def p(v: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(float(c) for c in f(np.asarray(v, dtype=float)))

    if isinstance(shape, Ellipsoid):
        return Ellipsoid(p(shape.centre), tuple(r * scale for r in shape.radii))  # type: ignore[arg-type]
    if isinstance(shape, Tube):
        return Tube(p(shape.start), p(shape.end), shape.radius * scale)  # type: ignore[arg-type]
    if isinstance(shape, Arch):
        c = p((*shape.centre_xy, 0.0))
        z0, z1 = p((0, 0, shape.z_range[0]))[2], p((0, 0, shape.z_range[1]))[2]
        return Arch(
            (c[0], c[1]),
            (shape.radii_xy[0] * scale, shape.radii_xy[1] * scale),
            shape.thickness * scale,
            (z0, z1),
            p((0, shape.y_max, 0))[1],
        )
    return Union(tuple(transformed(q, f, scale) for q in shape.parts))  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------------------------
# The head model: tissues (drawn in order, later ones on top) and the 30 organs with their CT and T1 values.
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tissue:
    name: str
    shape: Shape
    hu: float
    t1: float


def organ_shapes() -> dict[str, Shape]:
    """Left organs are defined once and mirrored, so left/right pairs are symmetric before per-case jitter."""
    left: dict[str, Shape] = {
        "A_Carotid_L": Tube((24.0, 4.0, -160.0), (18.0, 0.0, -10.0), 3.2),
        "Cochlea_L": Ellipsoid((31.0, 12.0, -8.0), (3.0, 3.0, 2.5)),
        "Eye_AL": Ellipsoid((31.0, -66.0, 12.0), (7.0, 3.5, 7.0)),
        "Eye_PL": Ellipsoid((31.0, -55.0, 12.0), (11.5, 9.5, 11.5)),
        "Glnd_Lacrimal_L": Ellipsoid((44.0, -57.0, 22.0), (6.0, 4.0, 4.0)),
        "Glnd_Submand_L": Ellipsoid((33.0, -18.0, -78.0), (10.0, 12.0, 9.0)),
        "OpticNrv_L": Tube((9.0, -14.0, 12.0), (28.0, -46.0, 12.0), 2.2),
        "Parotid_L": Ellipsoid((52.0, 6.0, -38.0), (12.0, 18.0, 21.0)),
    }
    shapes: dict[str, Shape] = {}
    for name, shape in left.items():
        shapes[name] = shape
        shapes[name[:-1] + "R"] = mirrored(shape)
    shapes.update(
        {
            "Arytenoid": Union(
                (
                    Ellipsoid((5.0, -2.0, -100.0), (4.0, 3.5, 5.0)),
                    Ellipsoid((-5.0, -2.0, -100.0), (4.0, 3.5, 5.0)),
                )
            ),
            "Bone_Mandible": Union(
                (
                    Arch((0.0, 10.0), (46.0, 72.0), 8.0, (-72.0, -42.0), 18.0),
                    Tube((40.0, 14.0, -58.0), (38.0, 16.0, -20.0), 5.0),
                    Tube((-40.0, 14.0, -58.0), (-38.0, 16.0, -20.0), 5.0),
                )
            ),
            "Brainstem": Tube((0.0, 22.0, -30.0), (0.0, 16.0, 12.0), 11.0),
            "BuccalMucosa": Union(
                (
                    Ellipsoid((32.0, -40.0, -45.0), (3.0, 14.0, 9.0)),
                    Ellipsoid((-32.0, -40.0, -45.0), (3.0, 14.0, 9.0)),
                )
            ),
            "Cavity_Oral": Ellipsoid((0.0, -38.0, -48.0), (24.0, 22.0, 11.0)),
            "Cricopharyngeus": Ellipsoid((0.0, 12.0, -116.0), (9.0, 5.0, 5.0)),
            "Esophagus_S": Tube((0.0, 14.0, -160.0), (0.0, 14.0, -122.0), 6.5),
            "Glnd_Thyroid": Union(
                (
                    Ellipsoid((12.0, -16.0, -138.0), (7.0, 7.0, 14.0)),
                    Ellipsoid((-12.0, -16.0, -138.0), (7.0, 7.0, 14.0)),
                    Ellipsoid((0.0, -22.0, -142.0), (9.0, 3.0, 4.0)),
                )
            ),
            "Glottis": Ellipsoid((0.0, -18.0, -106.0), (9.0, 9.0, 3.0)),
            "Larynx_SG": Ellipsoid((0.0, -14.0, -92.0), (13.0, 12.0, 9.0)),
            "Lips": Ellipsoid((0.0, -84.0, -48.0), (21.0, 6.0, 11.0)),
            "OpticChiasm": Ellipsoid((0.0, -10.0, 12.0), (8.0, 4.0, 2.0)),
            "Pituitary": Ellipsoid((0.0, -4.0, 2.0), (5.0, 4.0, 3.5)),
            "SpinalCord": Tube((0.0, 40.0, -160.0), (0.0, 30.0, -32.0), 5.0),
        }
    )
    return {name: shapes[name] for name in dataset_layout.ORGANS}


# CT (HU) and T1 (arbitrary units) of each organ: distinct enough for a network to learn, in realistic ranges.
_ORGAN_VALUES: dict[str, tuple[float, float]] = {
    "A_Carotid": (260.0, 90.0),  # contrast-enhanced; flow void in T1
    "Arytenoid": (180.0, 300.0),
    "Bone_Mandible": (1500.0, 120.0),
    "Brainstem": (32.0, 520.0),
    "BuccalMucosa": (70.0, 430.0),
    "Cavity_Oral": (45.0, 300.0),
    "Cochlea": (25.0, 180.0),
    "Cricopharyngeus": (55.0, 330.0),
    "Esophagus_S": (42.0, 340.0),
    "Eye_A": (65.0, 480.0),
    "Eye_P": (8.0, 130.0),
    "Glnd_Lacrimal": (62.0, 450.0),
    "Glnd_Submand": (58.0, 470.0),
    "Glnd_Thyroid": (115.0, 500.0),
    "Glottis": (-150.0, 160.0),
    "Larynx_SG": (60.0, 380.0),
    "Lips": (52.0, 410.0),
    "OpticChiasm": (36.0, 590.0),
    "OpticNrv": (34.0, 610.0),
    "Parotid": (-15.0, 720.0),
    "Pituitary": (72.0, 650.0),
    "SpinalCord": (35.0, 500.0),
}


def organ_values(organ: str) -> tuple[float, float]:
    for prefix, values in _ORGAN_VALUES.items():
        if organ.startswith(prefix):
            return values
    raise KeyError(organ)


def _body_tissues() -> list[Tissue]:
    head = Ellipsoid((0.0, 0.0, 20.0), (76.0, 96.0, 102.0))
    face = Ellipsoid((0.0, -22.0, -50.0), (62.0, 72.0, 52.0))
    neck = Tube((0.0, 8.0, -185.0), (0.0, 6.0, -60.0), 58.0)
    nose = Ellipsoid((0.0, -92.0, -8.0), (11.0, 16.0, 22.0))
    body = Union((head, face, neck, nose))
    muscle = Union((head.grown(-5.0), face.grown(-5.0), Tube(neck.start, neck.end, neck.radius - 6.0)))
    skull_outer = Union((Ellipsoid(head.centre, (73.0, 93.0, 99.0)),))
    brain = Union((Ellipsoid(head.centre, (66.0, 86.0, 92.0)),))
    vertebrae = Tube((0.0, 36.0, -185.0), (0.0, 30.0, -38.0), 15.0)
    canal = Tube((0.0, 40.0, -185.0), (0.0, 30.0, -32.0), 7.5)
    airway = Tube((0.0, -10.0, -185.0), (0.0, -4.0, -62.0), 7.5)
    orbit_fat_l = Ellipsoid((27.0, -46.0, 12.0), (16.0, 24.0, 15.0))
    petrous_l = Ellipsoid((30.0, 12.0, -8.0), (10.0, 7.0, 6.0))
    tissues = [
        Tissue("subcutaneous fat", body, -95.0, 900.0),
        Tissue("muscle", muscle, 48.0, 350.0),
        Tissue("skull", Union((skull_outer.parts[0],)), 1250.0, 70.0),
        Tissue("brain", Union((brain.parts[0],)), 34.0, 560.0),
        Tissue("vertebrae", vertebrae, 850.0, 420.0),
        Tissue("spinal canal", canal, 15.0, 150.0),
        Tissue("airway", airway, -1000.0, 0.0),
        Tissue("orbital fat", Union((orbit_fat_l, mirrored(orbit_fat_l))), -90.0, 880.0),  # type: ignore[arg-type]
        Tissue("petrous bone", Union((petrous_l, mirrored(petrous_l))), 1400.0, 60.0),  # type: ignore[arg-type]
    ]
    return tissues


# The brain sits above the skull base: cut the skull/brain ellipsoids below this z (anatomy frame).
SKULL_BASE_Z = -25.0

LANDMARKS: dict[str, tuple[float, float, float]] = {
    "nasal_tip": (0.0, -107.0, -8.0),
    "skull_posterior": (0.0, 91.0, -8.0),
    "mandible_angle_L": (40.0, 14.0, -58.0),
    "mandible_angle_R": (-40.0, 14.0, -58.0),
    "vertebra_lamina_L": (12.0, 46.0, -88.0),
    "vertebra_lamina_R": (-12.0, 46.0, -88.0),
}


# ----------------------------------------------------------------------------------------------------------------
# Per-case parameters
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhantomOptions:
    cases: int = PHANTOM_CASES
    seed: int = PHANTOM_SEED
    #: CT matrix (x, y, z). 512 x 512 x 150 is realistic; the demo and tests use much smaller ones.
    ct_shape: tuple[int, int, int] = PHANTOM_SHAPE
    #: MR matrix (x, y, z); by default the CT's in-plane size and 40 % of its slices (thicker MR slices).
    mr_shape: tuple[int, int, int] | None = None
    #: Largest rotation of the MR relative to the CT (degrees, about each axis).
    max_rotation_deg: float = 10.0
    #: Largest smooth deformation (mm) of the MR relative to the CT.
    max_deformation_mm: float = 4.0
    #: CT in-plane field of view (mm); None: 300 mm. The real CTs span 500-800 mm (case_01: 571 mm, 0.5576 mm pixels).
    ct_fov_mm: float | None = None
    #: CT slice spacing (mm); None: the 310 mm head-and-neck range over the matrix's slices. Set, the CT keeps its
    #: top and reaches further down (towards the shoulders) or less far, as the real scans of 2-3 mm slices do.
    ct_slice_mm: float | None = None
    #: MR spacing (x, y, z) in mm; None: a 240 mm in-plane field of view over 210 mm. Set, the field of view is the
    #: matrix times the spacing, centred in-plane as before and keeping its top (real: 0.47-0.82 mm, 3-5 mm slices).
    mr_spacing_mm: tuple[float, float, float] | None = None

    def record(self) -> dict:
        """The options as phantom.json records them; the real-geometry options only when set, so that a phantom of
        the default geometry keeps the record (and checksum) it always had."""
        return {
            k: v
            for k, v in self.__dict__.items()
            if v is not None or k not in ("ct_fov_mm", "ct_slice_mm", "mr_spacing_mm")
        }

    def resolved_mr_shape(self) -> tuple[int, int, int]:
        if self.mr_shape is not None:
            return self.mr_shape
        nx, ny, nz = self.ct_shape
        return (nx, ny, max(8, round(nz * 0.4)))


@dataclass
class CaseTruth:
    case: str
    ct_shift: np.ndarray
    mr_to_ct: sitk.Transform
    landmarks_ct: dict[str, np.ndarray]
    landmarks_mr: dict[str, np.ndarray]
    availability: dict[str, float]
    age: int
    gender: str
    params: dict = field(default_factory=dict)


def _rotation_matrix(angles_rad: np.ndarray) -> np.ndarray:
    # Same convention as itk::Euler3DTransform (ComputeZYX off): R = Rz @ Rx @ Ry.
    ax, ay, az = angles_rad
    cx, sx, cy, sy, cz, sz = (
        math.cos(ax),
        math.sin(ax),
        math.cos(ay),
        math.sin(ay),
        math.cos(az),
        math.sin(az),
    )
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _ct_geometry(options: PhantomOptions) -> tuple[np.ndarray, np.ndarray]:
    """Spacing and anatomy-frame origin of the CT grid (x, y, z)."""
    nx, ny, nz = options.ct_shape
    z0, z1 = CT_Z_RANGE_MM
    if options.ct_slice_mm is not None:
        z0 = z1 - options.ct_slice_mm * nz
    fov = CT_FOV_XY_MM if options.ct_fov_mm is None else float(options.ct_fov_mm)
    spacing = np.array([fov / nx, fov / ny, (z1 - z0) / nz])
    origin = np.array([-fov / 2, -fov / 2 - 10.0, z0]) + spacing / 2
    return spacing, origin


def _mr_geometry(options: PhantomOptions) -> tuple[np.ndarray, np.ndarray]:
    """Spacing and anatomy-frame origin of the MR grid before it is moved (x, y, z)."""
    nx, ny, nz = options.resolved_mr_shape()
    z0, z1 = MR_Z_RANGE_MM
    if options.mr_spacing_mm is None:
        spacing = np.array([MR_FOV_XY_MM / nx, MR_FOV_XY_MM / ny, (z1 - z0) / nz])
        fov_x = fov_y = MR_FOV_XY_MM
    else:
        spacing = np.array([float(v) for v in options.mr_spacing_mm])
        fov_x, fov_y = spacing[0] * nx, spacing[1] * ny
        z0 = z1 - spacing[2] * nz
    origin = np.array([MR_CENTRE_XY_MM[0] - fov_x / 2, MR_CENTRE_XY_MM[1] - fov_y / 2, z0]) + spacing / 2
    return spacing, origin


def case_parameters(options: PhantomOptions, index: int) -> dict:
    """Everything random about one case, drawn from a generator seeded by (seed, case number) only.

    Drawing per case keeps case_03 identical whether the phantom has 4 cases or 42.
    """
    rng = np.random.default_rng([options.seed, index])
    # The real CT origins sit hundreds of mm from the MR's: up to ~1.1 m apart in z, and in about a quarter of the
    # cases the two volumes do not overlap in z at all. Every third case here has no z-overlap.
    ct_shift = np.array([rng.uniform(-40, 40), rng.uniform(-60, 60), rng.uniform(-800, -450)])
    if index % 3 == 1:
        mr_dz = rng.choice([-1, 1]) * rng.uniform(450, 1100)
    else:
        mr_dz = rng.uniform(-250, 250)
    mr_shift = np.array([rng.uniform(-150, 150), rng.uniform(-150, 150), ct_shift[2] + mr_dz])
    angles = np.deg2rad(rng.uniform(-options.max_rotation_deg, options.max_rotation_deg, size=3))
    missing = []
    if rng.random() < 0.3:  # an organ the annotators did not contour
        missing.append(str(rng.choice(["Arytenoid", "Cricopharyngeus", "Glnd_Lacrimal_R", "Esophagus_S", "Lips"])))
    return {
        "ct_shift_mm": ct_shift.tolist(),
        "mr_shift_mm": mr_shift.tolist(),
        "rotation_deg": np.rad2deg(angles).tolist(),
        "anatomy_scale": float(rng.uniform(0.93, 1.07)),
        "organ_jitter_seed": int(rng.integers(0, 2**31 - 1)),
        "bspline_seed": int(rng.integers(0, 2**31 - 1)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        # Case 3, 8, 13...: the CT stops above the vertex less generously, cutting the chiasm and optic nerves
        # partly or fully out of the field of view (the real case 19: 0 and 0.5 entries in OAR_data.csv).
        "ct_top_cut_mm": 110.0 if index % 5 == 3 else 0.0,
        "missing_organs": missing,
        "metal": bool(index % 2 == 1),
        "age": int(rng.integers(34, 80)),
        "gender": "M" if rng.random() < 0.71 else "F",
    }


def _case_anatomy(params: dict) -> tuple[list[Tissue], dict[str, Shape], dict[str, np.ndarray]]:
    """Tissues, organ shapes and landmarks of one case in the anatomy frame."""
    scale = params["anatomy_scale"]
    rng = np.random.default_rng(params["organ_jitter_seed"])

    def scaled(v: np.ndarray) -> np.ndarray:
        return v * scale

    tissues = [Tissue(t.name, transformed(t.shape, scaled, scale), t.hu, t.t1) for t in _body_tissues()]
    organs = {}
    for name, shape in organ_shapes().items():
        jitter = rng.normal(0.0, 1.2, size=3)
        organs[name] = transformed(shape, lambda v, j=jitter: v * scale + j, scale)
    landmarks = {name: np.asarray(p) * scale for name, p in LANDMARKS.items()}
    return tissues, organs, landmarks


def _grid_slices(bounds: Bounds, origin: np.ndarray, spacing: np.ndarray, shape_xyz: tuple[int, int, int]):
    """Index ranges (z, y, x order) of the voxels whose centres may lie inside `bounds`, clipped to the grid."""
    out = []
    for axis in (2, 1, 0):
        lo = math.floor((bounds[axis][0] - origin[axis]) / spacing[axis])
        hi = math.ceil((bounds[axis][1] - origin[axis]) / spacing[axis]) + 1
        out.append(slice(max(lo, 0), min(hi, shape_xyz[axis])))
    return tuple(out)


def grid_coords(slices, origin: np.ndarray, spacing: np.ndarray):
    sz, sy, sx = slices
    z = (origin[2] + spacing[2] * np.arange(sz.start, sz.stop, dtype=np.float32))[:, None, None]
    y = (origin[1] + spacing[1] * np.arange(sy.start, sy.stop, dtype=np.float32))[None, :, None]
    x = (origin[0] + spacing[0] * np.arange(sx.start, sx.stop, dtype=np.float32))[None, None, :]
    return x.astype(np.float32), y.astype(np.float32), z.astype(np.float32)


def render_shape(shape: Shape, origin, spacing, shape_xyz) -> tuple[tuple[slice, ...], np.ndarray]:
    slices = _grid_slices(shape.bounds(), origin, spacing, shape_xyz)
    if any(s.stop <= s.start for s in slices):
        return slices, np.zeros((0, 0, 0), dtype=bool)
    x, y, z = grid_coords(slices, origin, spacing)
    return slices, np.broadcast_to(shape.inside(x, y, z), tuple(s.stop - s.start for s in slices))


def count_unbounded(shape: Shape, origin, spacing, shape_xyz) -> int:
    """Voxels the shape would have on the same lattice if the grid extended far enough in z."""
    lo = math.floor((shape.bounds()[2][0] - origin[2]) / spacing[2]) - 1
    hi = math.ceil((shape.bounds()[2][1] - origin[2]) / spacing[2]) + 1
    ext_origin = origin.copy()
    ext_origin[2] = origin[2] + lo * spacing[2]
    ext_shape = (shape_xyz[0], shape_xyz[1], hi - lo + 1)
    _, mask = render_shape(shape, ext_origin, spacing, ext_shape)
    return int(mask.sum())


def random_bspline(reference: sitk.Image, max_mm: float, seed: int) -> sitk.BSplineTransform:
    """A smooth random deformation on a coarse control grid (about 60-80 mm between control points)."""
    extent = np.array(reference.GetSize()) * np.array(reference.GetSpacing())
    mesh = [max(1, int(round(e / 70.0))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(reference, mesh, 3)
    rng = np.random.default_rng(seed)
    n = len(bspline.GetParameters())
    # B-spline displacements are a weighted mean of control values (weights sum to one), so clipping the
    # coefficients bounds the displacement.
    coefficients = np.clip(rng.normal(0.0, max_mm / 2.0, size=n), -max_mm / math.sqrt(3), max_mm / math.sqrt(3))
    bspline.SetParameters(coefficients.tolist())
    return bspline


def _mr_to_ct_transform(params: dict, options: PhantomOptions, mr_reference: sitk.Image) -> sitk.Transform:
    """MR physical point -> CT physical point of the same anatomy: rigid after a smooth deformation in MR space."""
    mr_spacing, mr_origin_anat = _mr_geometry(options)
    mr_size = np.array(options.resolved_mr_shape())
    centre_anat = mr_origin_anat + mr_spacing * (mr_size - 1) / 2
    mr_shift = np.asarray(params["mr_shift_mm"])
    ct_shift = np.asarray(params["ct_shift_mm"])
    centre_mr = centre_anat + mr_shift
    euler = sitk.Euler3DTransform()
    euler.SetCenter(centre_mr.tolist())
    euler.SetRotation(*np.deg2rad(params["rotation_deg"]).tolist())
    euler.SetTranslation((centre_anat + ct_shift - centre_mr).tolist())
    bspline = random_bspline(mr_reference, options.max_deformation_mm, params["bspline_seed"])
    # CompositeTransform applies its list last-first: bspline, then euler.
    return sitk.CompositeTransform([euler, bspline])


def invert_mr_to_ct(transform: sitk.CompositeTransform, rotation: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The MR point that `transform` maps onto `target`: Newton-like steps with the rigid part's inverse."""
    euler = sitk.Euler3DTransform(transform.GetNthTransform(0))
    p = np.asarray(euler.GetInverse().TransformPoint(target.tolist()))
    for _ in range(100):
        residual = target - np.asarray(transform.TransformPoint(p.tolist()))
        if np.linalg.norm(residual) < 1e-8:
            break
        p = p + rotation.T @ residual
    return p


def image_from_array(array_zyx: np.ndarray, spacing, origin) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in origin])
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return image


def write_case_images(
    case_folder: Path, case: str, ct_image, mr_image, masks: dict, shape_zyx, ct_spacing, ct_origin
) -> None:
    """A case's CT, MR and organ masks under their HaN-Seg names; each mask is (slices, inside) on the CT's grid."""
    case_folder.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ct_image, str(case_folder / dataset_layout.ct_name(case)), useCompression=True)
    sitk.WriteImage(mr_image, str(case_folder / dataset_layout.mr_name(case)), useCompression=True)
    for name, (slices, inside) in masks.items():
        mask = np.zeros(shape_zyx, dtype=np.uint8)
        mask[slices][inside] = 1
        image = image_from_array(mask, ct_spacing, ct_origin)
        sitk.WriteImage(image, str(case_folder / dataset_layout.organ_name(case, name)), useCompression=True)


def generate_case(options: PhantomOptions, index: int, case_folder: Path) -> CaseTruth:
    """Write one case's CT, MR and organ masks into `case_folder`; return its ground truth."""
    case = dataset_layout.case_id(index)
    params = case_parameters(options, index)
    tissues, organs, landmarks_anat = _case_anatomy(params)
    ct_spacing, ct_origin = _ct_geometry(options)
    ct_origin = ct_origin.copy()
    ct_origin[2] -= params["ct_top_cut_mm"]
    shape_xyz = options.ct_shape
    nx, ny, nz = shape_xyz
    ct_shift = np.asarray(params["ct_shift_mm"])

    hu, t1 = _paint_tissues(tissues, params, ct_origin, ct_spacing, shape_xyz)
    availability, masks = _paint_organs(hu, t1, organs, params, ct_origin, ct_spacing, shape_xyz)
    noise_rng = np.random.default_rng(params["noise_seed"])
    ct_image = _ct_image(hu, params, noise_rng, ct_origin, ct_spacing, shape_xyz, ct_shift)
    del hu
    t1_image = image_from_array(t1, ct_spacing, ct_origin + ct_shift)
    del t1
    mr_image, mr_to_ct = _render_mr(t1_image, options, params, noise_rng)

    write_case_images(case_folder, case, ct_image, mr_image, masks, (nz, ny, nx), ct_spacing, ct_origin + ct_shift)

    rotation = _rotation_matrix(np.deg2rad(params["rotation_deg"]))
    landmarks_ct = {name: p + ct_shift for name, p in landmarks_anat.items()}
    landmarks_mr = {name: invert_mr_to_ct(mr_to_ct, rotation, p) for name, p in landmarks_ct.items()}
    return CaseTruth(
        case,
        ct_shift,
        mr_to_ct,
        landmarks_ct,
        landmarks_mr,
        availability,
        params["age"],
        params["gender"],
        params,
    )


def _paint_tissues(
    tissues: list[Tissue], params: dict, ct_origin, ct_spacing, shape_xyz
) -> tuple[np.ndarray, np.ndarray]:
    """CT values (air elsewhere) and T1 values (0 elsewhere) of the body's tissues on the CT grid, (z, y, x)."""
    nx, ny, nz = shape_xyz
    hu = np.full((nz, ny, nx), -1000.0, dtype=np.float32)
    t1 = np.zeros((nz, ny, nx), dtype=np.float32)
    for tissue in tissues:
        slices, inside = render_shape(tissue.shape, ct_origin, ct_spacing, shape_xyz)
        if inside.size == 0:
            continue
        if tissue.name in ("skull", "brain"):
            z = grid_coords(slices, ct_origin, ct_spacing)[2]
            inside = inside & (z >= SKULL_BASE_Z * params["anatomy_scale"])
        hu[slices][inside] = tissue.hu
        t1[slices][inside] = tissue.t1
    return hu, t1


def _paint_organs(
    hu: np.ndarray, t1: np.ndarray, organs: dict[str, Shape], params: dict, ct_origin, ct_spacing, shape_xyz
) -> tuple[dict[str, float], dict[str, tuple[tuple[slice, ...], np.ndarray]]]:
    """Paint the organs over the tissues; return each organ's availability (1 inside the CT, 0.5 cut by its edge, 0
    missing or almost all outside) and the masks (slices, inside) of the organs that are there."""
    availability: dict[str, float] = {}
    masks: dict[str, tuple[tuple[slice, ...], np.ndarray]] = {}
    minimum = tuple(float(s) for s in ct_spacing)  # every organ keeps at least one voxel at coarse sizes
    for name, shape in organs.items():
        shape = shape.at_least(minimum)  # type: ignore[arg-type]
        slices, inside = render_shape(shape, ct_origin, ct_spacing, shape_xyz)
        voxels = int(inside.sum())
        full = count_unbounded(shape, ct_origin, ct_spacing, shape_xyz)
        fraction = voxels / full if full else 0.0
        if name in params["missing_organs"] or fraction < 0.05:
            availability[name] = 0.0
            continue
        availability[name] = 1.0 if fraction > 0.95 else 0.5
        ct_value, t1_value = organ_values(name)
        hu[slices][inside] = ct_value
        t1[slices][inside] = t1_value
        masks[name] = (slices, np.ascontiguousarray(inside))
    return availability, masks


def _ct_image(
    hu: np.ndarray, params: dict, noise_rng: np.random.Generator, ct_origin, ct_spacing, shape_xyz, ct_shift
) -> sitk.Image:
    """The CT from the painted values: a metal filling if the case has one, noise in the body, int16 HU (`hu` is
    changed)."""
    if params["metal"]:  # a dental filling: CT values above 3000 that the workflow must clip
        minimum = tuple(float(s) for s in ct_spacing)
        tooth = Ellipsoid(
            tuple(float(v) for v in np.array([14.0, -58.0, -40.0]) * params["anatomy_scale"]), (2.5, 2.5, 2.5)
        )
        slices, inside = render_shape(tooth.at_least(minimum), ct_origin, ct_spacing, shape_xyz)
        hu[slices][inside] = 3500.0 + 400.0 * noise_rng.random(int(inside.sum()))
    body = hu > -900
    hu += noise_rng.normal(0.0, 12.0, size=hu.shape).astype(np.float32) * body
    return image_from_array(np.clip(np.rint(hu), -1024, 4000).astype(np.int16), ct_spacing, ct_origin + ct_shift)


def _render_mr(
    t1_image: sitk.Image, options: PhantomOptions, params: dict, noise_rng: np.random.Generator
) -> tuple[sitk.Image, sitk.Transform]:
    """The MR: T1 values drawn on the CT grid, resampled onto the MR grid through the ground-truth transform, with a
    coil bias and Rician noise; and that transform (MR point -> CT point)."""
    mr_spacing, mr_origin_anat = _mr_geometry(options)
    mr_reference = image_from_array(
        np.zeros(options.resolved_mr_shape()[::-1], dtype=np.uint8),
        mr_spacing,
        mr_origin_anat + np.asarray(params["mr_shift_mm"]),
    )
    mr_to_ct = _mr_to_ct_transform(params, options, mr_reference)
    mr = sitk.Resample(t1_image, mr_reference, mr_to_ct, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    mr_array = sitk.GetArrayFromImage(mr)
    zz, yy, xx = np.meshgrid(
        *(np.linspace(-1, 1, n, dtype=np.float32) for n in mr_array.shape), indexing="ij", sparse=True
    )
    bias = 1.0 + 0.12 * xx - 0.08 * yy + 0.06 * zz  # coil sensitivity: a smooth intensity gradient
    noise = noise_rng.normal(0.0, 18.0, size=(2, *mr_array.shape)).astype(np.float32)
    mr_array = np.sqrt((mr_array * bias + noise[0]) ** 2 + noise[1] ** 2)  # Rician noise, as in magnitude images
    return image_from_array(np.rint(mr_array).astype(np.int16), mr_spacing, mr_reference.GetOrigin()), mr_to_ct


def _write_truth(truth_dir: Path, truth: CaseTruth) -> None:
    folder = truth_dir / truth.case
    folder.mkdir(parents=True, exist_ok=True)
    sitk.WriteTransform(truth.mr_to_ct, str(folder / "mr_to_ct.tfm"))
    write_landmarks(folder / "landmarks_ct.csv", truth.landmarks_ct)
    write_landmarks(folder / "landmarks_mr.csv", truth.landmarks_mr)
    info = {
        "case": truth.case,
        "mr_to_ct": "mr_to_ct.tfm maps a point in MR physical space (LPS mm) to the CT physical point of the same "
        "anatomy: SimpleITK.ReadTransform(...).TransformPoint(p_mr) -> p_ct",
        "parameters": truth.params,
        "availability": truth.availability,
    }
    (folder / "truth.json").write_text(json.dumps(info, indent=2) + "\n")


def _write_csvs(set_folder: Path, truths: list[CaseTruth]) -> None:
    with open(set_folder / dataset_layout.OAR_CSV, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ID", *dataset_layout.ORGANS])
        for t in truths:
            writer.writerow([t.case, *(f"{t.availability[o]:g}" for o in dataset_layout.ORGANS)])
    with open(set_folder / dataset_layout.PATIENT_CSV, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ID", "age", "gender"])
        for t in truths:
            writer.writerow([t.case, t.age, t.gender])


_README = """# HaN-Seg phantom

Synthetic head-and-neck CT/MR pairs written by hanseg-workflow's phantom generator, in the layout of the
HaN-Seg dataset (Podobnik et al., Med Phys 2023). Not patient data. Ground truth of the MR-to-CT mapping and
landmarks lies in the `truth/` folder beside the archive, not in it.
"""


def _options_record(options) -> dict:
    """What phantom.json records of the options: their own record when they have one (another generator's options
    are recorded whole)."""
    return options.record() if hasattr(options, "record") else dict(options.__dict__)


def generate(
    out_dir: Path | str,
    options: PhantomOptions,
    *,
    as_zip: bool = False,
    make_case: Callable[..., CaseTruth] | None = None,
) -> Path:
    """Write `out_dir/HaN-Seg/...` (or `out_dir/HaN-Seg.zip`) and `out_dir/truth/`; return the data path.

    `make_case(options, index, case_folder)` writes one case and returns its truth; by default this module's
    :func:`generate_case` (another generator, e.g. :mod:`hanseg.dataset.phantom_family`, brings its own options).
    """
    make_case = make_case or generate_case
    out_dir = Path(out_dir)
    with staging_folder(out_dir, "phantom") as staging:
        data_root = staging / dataset_layout.TOP_DIR
        set_folder = dataset_layout.set_dir(data_root)
        set_folder.mkdir(parents=True)
        (data_root / "README.md").write_text(_README)
        (data_root / "LICENSE").write_text("CC0 1.0: synthetic data, no rights reserved.\n")
        truths = []
        for index in range(1, options.cases + 1):
            truth = make_case(options, index, dataset_layout.case_dir(data_root, dataset_layout.case_id(index)))
            _write_truth(staging / "truth", truth)
            truths.append(truth)
            log.info("phantom %s written", truth.case)
        _write_csvs(set_folder, truths)
        (staging / "truth" / "phantom.json").write_text(
            json.dumps({"options": _options_record(options), "cases": [t.case for t in truths]}, indent=2, default=list)
            + "\n"
        )
        if as_zip:
            target = out_dir / dataset_layout.ARCHIVE_NAME
            _zip_folder(data_root, staging / dataset_layout.ARCHIVE_NAME)
            replace_folder_atomic(staging / dataset_layout.ARCHIVE_NAME, target)
        else:
            target = out_dir / dataset_layout.TOP_DIR
            replace_folder_atomic(data_root, target)
        replace_folder_atomic(staging / "truth", out_dir / "truth")
        return target


def _zip_folder(folder: Path, zip_path: Path) -> None:
    """Zip `folder` with its own name as the top entry, like Zenodo's HaN-Seg.zip (gzip NRRDs are stored as is)."""
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            arcname = Path(folder.name) / path.relative_to(folder)
            if path.is_dir():
                archive.write(path, f"{arcname}/")
            else:
                compression = zipfile.ZIP_STORED if path.suffix == ".nrrd" else zipfile.ZIP_DEFLATED
                archive.write(path, str(arcname), compress_type=compression)
