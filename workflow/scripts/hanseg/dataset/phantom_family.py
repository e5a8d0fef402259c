"""A family of CT/T1-MR pairs that look like real HaN-Seg data, for calibrating the registration and its QC.

The default phantom (:mod:`hanseg.dataset.phantom`) is what the demo, CI and the nnU-Net calibration run on, and it
stays exactly as it is. This family adds what real radiotherapy pairs show and the default phantom does not, each a way
in which a head mask, an initialisation or a QC measure can be fooled:

- T1 contrast: dark cortical bone (outer and inner skull tables, vertebral and mandibular cortex) around bright
  fatty marrow (diploe, vertebral bodies), dark CSF around the brain and in the ventricles, grey and white matter,
  dark air in the paranasal sinuses, nasal cavity, mastoid cells and airway, bright subcutaneous and orbital fat;
- the MR's coil sensitivity: a smooth multiplicative bias field of up to +-30 %, Rician noise, a per-case intensity
  scale and tissue contrast, thick slices (3-6 mm, averaged over the slice profile), a field of view covering 60 to
  100 % of the head's height and sometimes cutting the vertex;
- the patient set-up of a radiotherapy CT: the couch (carbon skins around foam), a head cushion pressed against the
  back of the head, a perforated thermoplastic immobilisation mask touching the nose and held by a frame bolted to
  the couch (all invisible in the MR), the shoulders and clavicles in the CT's lower slices;
- dental fillings with metal streaks in the CT and a signal void around them in the MR;
- a patient's asymmetries: a tumour with a bulge of the neck's skin on one side, unequal sinuses, a deviated nose,
  ears, so that a mirrored MR is not a plausible registration result;
- the MR tilted by up to 15 degrees against the CT, shifted by hundreds of mm (no z-overlap of the headers in every
  third pair), smoothly deformed by a few mm.

Each pair has its ground truth like the default phantom's (``truth/case_NN/mr_to_ct.tfm``, landmark CSVs), written
in the exact HaN-Seg layout by :func:`hanseg.dataset.phantom.generate` with ``make_case=generate_case``. Landmarks are
the paper's six plus six more, each kept only where the MR shows it. Sizes: ``ct_shape`` (x, y, z) 512 x 512 x 160 is
realistic (about 1 x 1 x 2.3 mm); tests use 128 x 128 x 64 or so.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.dataset import phantom
from hanseg.dataset.phantom import (
    LANDMARKS,
    SKULL_BASE_Z,
    CaseTruth,
    Ellipsoid,
    Tube,
    Union,
    count_unbounded,
    image_from_array,
    invert_mr_to_ct,
    mirrored,
    organ_shapes,
    organ_values,
    random_bspline,
    render_shape,
    transformed,
    write_case_images,
)

log = logging.getLogger(__name__)

#: Height of the head (mm, vertex to the hyoid at anatomy scale 1) that the MR's field of view is a fraction of.
HEAD_HEIGHT_MM = 230.0
#: Top of the skull (anatomy frame, scale 1): the head ellipsoid's centre plus its z radius.
VERTEX_Z_MM = 122.0
#: Extra landmarks beside the paper's six (anatomy frame, scale 1), so that a short MR still shows several.
EXTRA_LANDMARKS: dict[str, tuple[float, float, float]] = {
    "eye_L": (31.0, -55.0, 12.0),
    "eye_R": (-31.0, -55.0, 12.0),
    "cochlea_L": (31.0, 12.0, -8.0),
    "cochlea_R": (-31.0, 12.0, -8.0),
    "sella": (0.0, -4.0, 2.0),
    "vertex": (0.0, 0.0, 118.0),
}
#: A landmark counts only where the MR shows it, this far inside the MR's field of view (mm).
LANDMARK_MARGIN_MM = 5.0


@dataclass(frozen=True)
class RealisticOptions:
    cases: int = 4
    seed: int = 0
    #: CT matrix (x, y, z); 512 x 512 x 160 is realistic (about 1 mm pixels, 2.3 mm slices).
    ct_shape: tuple[int, int, int] = (512, 512, 160)
    #: MR in-plane matrix; None = the CT's in-plane size. The slice count follows from the drawn thickness.
    mr_matrix: int | None = None
    #: Largest tilt of the head between CT and MR (degrees, about a random axis).
    max_tilt_deg: float = 15.0
    #: Largest smooth deformation (mm) of the MR relative to the CT.
    max_deformation_mm: float = 3.0
    #: Largest amplitude of the MR's bias field (0.3 = intensities from 70 % to 130 %).
    max_bias: float = 0.30
    #: Smallest and largest MR field of view as a fraction of the head's height.
    mr_height_fraction: tuple[float, float] = (0.6, 1.0)
    #: Sub-slices averaged per MR slice (the slice profile's partial volume).
    mr_supersampling: int = 3


# ----------------------------------------------------------------------------------------------------------------
# Shapes beyond the default phantom's: boxes, differences, intersections, perforations. Like those, each evaluates
# on broadcastable coordinate arrays and has an axis-aligned bounding box.
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    def bounds(self):
        return tuple(zip(self.lo, self.hi, strict=True))

    def inside(self, x, y, z):
        return (
            (x >= self.lo[0])
            & (x <= self.hi[0])
            & (y >= self.lo[1])
            & (y <= self.hi[1])
            & (z >= self.lo[2])
            & (z <= self.hi[2])
        )


@dataclass(frozen=True)
class Difference:
    shape: object
    minus: object

    def bounds(self):
        return self.shape.bounds()

    def inside(self, x, y, z):
        return self.shape.inside(x, y, z) & ~self.minus.inside(x, y, z)


@dataclass(frozen=True)
class Intersection:
    parts: tuple

    def bounds(self):
        boxes = [p.bounds() for p in self.parts]
        return tuple((max(b[i][0] for b in boxes), min(b[i][1] for b in boxes)) for i in range(3))

    def inside(self, x, y, z):
        result = self.parts[0].inside(x, y, z)
        for part in self.parts[1:]:
            result = result & part.inside(x, y, z)
        return result


@dataclass(frozen=True)
class Perforated:
    """A shape with a lattice of spherical holes: a thermoplastic mask's mesh."""

    shape: object
    period_mm: float
    hole_radius_mm: float

    def bounds(self):
        return self.shape.bounds()

    def inside(self, x, y, z):
        p = self.period_mm
        d2 = sum(((c % p) - p / 2) ** 2 for c in (x, y, z))
        return self.shape.inside(x, y, z) & (d2 > self.hole_radius_mm**2)


@dataclass(frozen=True)
class Layer:
    """One tissue or object, drawn over the layers before it (painter's order).

    `hu` None: invisible in the CT; `t1` None: invisible in the MR (drawn neither as signal nor as void).
    `over_air`: drawn only where nothing has been drawn yet (set-up objects never replace the patient).
    """

    name: str
    shape: object
    hu: float | None
    t1: float | None
    over_air: bool = False


def grown(shape, mm: float):
    """Shape grown (or shrunk, mm < 0) by about `mm` in every direction."""
    if isinstance(shape, Ellipsoid):
        return shape.grown(mm)
    if isinstance(shape, Tube):
        return Tube(shape.start, shape.end, max(shape.radius + mm, 0.1))
    if isinstance(shape, Union):
        return Union(tuple(grown(p, mm) for p in shape.parts))
    raise TypeError(f"cannot grow {type(shape).__name__}")


def _mirror_pair(left: Ellipsoid, factor_right: float = 1.0) -> tuple[Ellipsoid, Ellipsoid]:
    right = mirrored(left)
    return left, Ellipsoid(right.centre, tuple(r * factor_right for r in right.radii))


# ----------------------------------------------------------------------------------------------------------------
# Per-case parameters
# ----------------------------------------------------------------------------------------------------------------
def _random_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """A rotation matrix about a random axis by up to `max_deg` (a head tilted on the couch or in the coil)."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(0.3, 1.0) * max_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def case_parameters(options: RealisticOptions, index: int) -> dict:
    """Everything random about one pair, drawn from (seed, case number) only: a case does not depend on the count."""
    rng = np.random.default_rng([options.seed, index, 12])
    scale = float(rng.uniform(0.92, 1.08))
    ct_shift = np.array([rng.uniform(-40, 40), rng.uniform(-60, 60), rng.uniform(-800, -450)])
    no_overlap = index % 3 == 1  # a third of the pairs: the headers do not overlap in z at all
    mr_dz = rng.choice([-1, 1]) * rng.uniform(450, 1100) if no_overlap else rng.uniform(-250, 250)
    rotation = _random_rotation(rng, options.max_tilt_deg)
    tumour_side = float(rng.choice([-1.0, 1.0]))
    fillings = []
    for _ in range(int(rng.integers(0, 4))):
        side = rng.choice([-1.0, 1.0])
        upper = rng.random() < 0.5
        fillings.append([side * rng.uniform(22, 32), rng.uniform(-48, -30), -40.0 if upper else -50.0])
    return {
        "anatomy_scale": scale,
        "ct_shift_mm": ct_shift.tolist(),
        "mr_shift_mm": [rng.uniform(-150, 150), rng.uniform(-150, 150), float(ct_shift[2] + mr_dz)],
        "headers_overlap_in_z": not no_overlap,
        "rotation_matrix": rotation.tolist(),
        "tilt_deg": float(math.degrees(math.acos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))),
        "ct_fov_xy_mm": float(rng.uniform(470, 520)),
        "ct_z_bottom_mm": float(rng.uniform(-265, -225) * scale),
        "ct_z_top_margin_mm": float(rng.uniform(5, 25)),
        "mr_fov_xy_mm": float(rng.uniform(220, 260)),
        "mr_centre_xy_mm": [rng.uniform(-10, 10), rng.uniform(-15, 5)],
        "mr_height_fraction": float(rng.uniform(*options.mr_height_fraction)),
        "mr_top_margin_mm": float(rng.uniform(-15, 20)),  # negative: the MR cuts the vertex
        "mr_slice_mm": float(rng.uniform(3.0, 6.0)),
        "fat_mm": float(rng.uniform(3, 8)),
        "nose_deviation_mm": float(rng.choice([-1, 1]) * rng.uniform(1, 4)),
        "face_shift_mm": float(rng.uniform(-3, 3)),
        "skull_shift_mm": float(rng.uniform(-2, 2)),
        "sinus_factors": [float(rng.uniform(0.8, 1.1)), float(rng.uniform(0.8, 1.1))],
        "sinus_thickening": bool(rng.random() < 0.5),
        "frontal_sinus_x_mm": float(rng.uniform(-6, 6)) if rng.random() < 0.85 else None,
        "ventricle_factors": [float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2))],
        "tumour_centre_mm": [tumour_side * rng.uniform(30, 45), rng.uniform(-15, 10), rng.uniform(-80, -35)],
        "tumour_radii_mm": [float(r) for r in rng.uniform(10, 22, size=3)],
        "neck_bulge": bool(rng.random() < 0.7),
        "ear_offsets_mm": [[float(v) for v in rng.uniform(-5, 5, size=2)] for _ in range(2)],
        "fillings_mm": fillings,
        "metal_void_mm": float(rng.uniform(6, 12)),
        "mask_gap_mm": float(rng.uniform(0.5, 3.0)),
        "mask_thickness_mm": float(rng.uniform(1.5, 2.5)),
        "mask_hu": float(rng.uniform(100, 250)),
        "frame_offset_mm": float(rng.uniform(15, 30)),
        "couch_gap_mm": float(rng.uniform(0, 2)),
        "ct_noise_hu": float(rng.uniform(6, 18)),
        "mr_gain": float(rng.uniform(0.6, 2.0)),
        "mr_contrast": [float(v) for v in rng.normal(1.0, 0.06, size=8)],
        "bias_amplitude": float(rng.uniform(0.1, options.max_bias)),
        "bias_coefficients": [float(v) for v in rng.normal(size=9)],
        "mr_noise_fraction": float(rng.uniform(0.015, 0.05)),
        "streaks_seed": int(rng.integers(0, 2**31 - 1)),
        "organ_jitter_seed": int(rng.integers(0, 2**31 - 1)),
        "bspline_seed": int(rng.integers(0, 2**31 - 1)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        "texture_seed": int(rng.integers(0, 2**31 - 1)),
        "missing_organs": [str(rng.choice(["Arytenoid", "Cricopharyngeus", "Lips"]))] if rng.random() < 0.3 else [],
        "age": int(rng.integers(34, 80)),
        "gender": "M" if rng.random() < 0.71 else "F",
    }


# ----------------------------------------------------------------------------------------------------------------
# Anatomy and set-up, in the anatomy frame (LPS mm, centred near the sella), as painter's layers.
# ----------------------------------------------------------------------------------------------------------------
def _s(v, scale: float) -> tuple[float, float, float]:
    return tuple(float(c) * scale for c in v)  # type: ignore[return-value]


def _body(p: dict) -> tuple[Union, Union]:
    """The outer skin (with asymmetries) and the torso with the shoulders."""
    k = p["anatomy_scale"]
    fx = p["face_shift_mm"]
    parts = [
        Ellipsoid(_s((0, 0, 20), k), _s((76, 96, 102), k)),  # head
        Ellipsoid(_s((fx, -22, -50), k), _s((62, 72, 52), k)),  # face
        Tube(_s((0, 8, -200), k), _s((0, 6, -60), k), 58 * k),  # neck
        Ellipsoid(_s((p["nose_deviation_mm"], -92, -8), k), _s((11, 16, 22), k)),  # nose
    ]
    for side, (dy, dz) in zip((1, -1), p["ear_offsets_mm"], strict=True):
        parts.append(Ellipsoid(_s((side * 78, 8 + dy, 2 + dz), k), _s((6, 14, 26), k)))  # ears
    if p["neck_bulge"]:
        cx, cy, cz = p["tumour_centre_mm"]
        parts.append(Ellipsoid(_s((math.copysign(48, cx), cy, cz), k), _s((18, 25, 28), k)))
    torso = Union((Ellipsoid(_s((0, 20, -290), k), _s((195, 100, 125), k)),))
    return Union(tuple(parts)), torso


def anatomy_layers(p: dict) -> tuple[list[Layer], dict, dict[str, np.ndarray]]:
    """Layers of one case (patient, then the CT's set-up), its organs and its landmarks, all in the anatomy frame."""
    k = p["anatomy_scale"]
    body, torso = _body(p)
    layers = _tissue_layers(p, body, torso)
    organs = _jittered_organs(p)
    layers += _organ_and_lesion_layers(p, organs)
    layers += setup_layers(p, body)

    landmarks = {name: np.asarray(q, float) * k for name, q in {**LANDMARKS, **EXTRA_LANDMARKS}.items()}
    return layers, organs, landmarks


def _tissue_layers(p: dict, body: Union, torso: Union) -> list[Layer]:
    """The patient's tissues around the organs, in painting order: fat, muscle, bones, brain, air and fluid spaces."""
    k = p["anatomy_scale"]
    c = p["mr_contrast"]
    fat = p["fat_mm"]
    skull_centre = _s((p["skull_shift_mm"], 0, 20), k)
    skull = Ellipsoid(skull_centre, _s((73, 93, 99), k))
    above_base = Box((-1e4, -1e4, SKULL_BASE_Z * k), (1e4, 1e4, 1e4))

    def cranial(shape):
        return Intersection((shape, above_base))

    vert = (Tube(_s((0, 36, -280), k), _s((0, 30, -38), k), 15 * k),)
    ventricle_l = Ellipsoid(_s((9, -5, 40), k), _s((6 * p["ventricle_factors"][0], 22, 12), k))
    ventricle_r = mirrored(Ellipsoid(_s((9, -5, 40), k), _s((6 * p["ventricle_factors"][1], 22, 12), k)))
    maxillary_l = Ellipsoid(_s((28, -52, -22), k), _s(np.array((13, 16, 17)) * p["sinus_factors"][0], k))
    maxillary_r = mirrored(Ellipsoid(_s((28, -52, -22), k), _s(np.array((13, 16, 17)) * p["sinus_factors"][1], k)))
    sinuses = [maxillary_l, maxillary_r, Ellipsoid(_s((0, -24, -6), k), _s((10, 10, 8), k))]  # + sphenoid
    if p["frontal_sinus_x_mm"] is not None:
        sinuses.append(Ellipsoid(_s((p["frontal_sinus_x_mm"], -80, 52), k), _s((15, 6, 10), k)))
    nasal = Ellipsoid(_s((0, -70, -20), k), _s((9, 24, 18), k))
    septum_plate = Box(
        _s((p["nose_deviation_mm"] / 2 - 1, -95, -38), k), _s((p["nose_deviation_mm"] / 2 + 1, -48, -2), k)
    )
    septum = Intersection((septum_plate, nasal.grown(2 * k)))
    mastoid_l, mastoid_r = _mirror_pair(Ellipsoid(_s((46, 22, -14), k), _s((8, 10, 10), k)))
    petrous_l, petrous_r = _mirror_pair(Ellipsoid(_s((30, 12, -8), k), _s((10, 7, 6), k)))
    orbit_l, orbit_r = _mirror_pair(Ellipsoid(_s((27, -46, 12), k), _s((16, 24, 15), k)))
    clavicle_l = Tube(_s((15, -25, -205), k), _s((150, 10, -195), k), 7 * k)
    humerus_l = Ellipsoid(_s((178, 22, -232), k), _s((22, 22, 22), k))

    layers = [
        Layer("fat", Union((*body.parts, *torso.parts)), -100.0, 900.0 * c[0]),
        Layer("muscle", Union((*grown(body, -fat).parts, *grown(torso, -fat - 4).parts)), 45.0, 330.0 * c[1]),
        Layer("clavicles", Union((clavicle_l, mirrored(clavicle_l))), 900.0, 40.0),
        Layer("humeral heads", Union((humerus_l, mirrored(humerus_l))), 700.0, 500.0 * c[2]),
        Layer("skull outer table", cranial(skull), 1700.0, 30.0),
        Layer("diploe", cranial(skull.grown(-2 * k)), 550.0, 620.0 * c[2]),
        Layer("skull inner table", cranial(skull.grown(-5 * k)), 1600.0, 30.0),
        Layer("CSF", cranial(skull.grown(-7 * k)), 10.0, 110.0 * c[3]),
        Layer("grey matter", cranial(skull.grown(-9.5 * k)), 38.0, 430.0 * c[4]),
        Layer("white matter", cranial(skull.grown(-20 * k)), 28.0, 620.0 * c[5]),
        Layer("ventricles", Union((ventricle_l, ventricle_r)), 8.0, 100.0 * c[3]),
        Layer("petrous bone", Union((petrous_l, petrous_r)), 1400.0, 40.0),
        Layer("mastoid cells", Union((mastoid_l, mastoid_r)), -650.0, 10.0),
        Layer("vertebral cortex", Union(vert), 1100.0, 40.0),
        Layer("vertebral marrow", Union((grown(vert[0], -2.5 * k),)), 300.0, 560.0 * c[2]),
        Layer("spinal canal", Tube(_s((0, 40, -280), k), _s((0, 30, -32), k), 7.5 * k), 12.0, 110.0 * c[3]),
        Layer("sinus walls", Union(tuple(s.grown(1.5 * k) for s in sinuses)), 1000.0, 30.0),
        Layer("sinuses", Union(tuple(sinuses)), -1000.0, 0.0),
        Layer("nasal cavity", Union((nasal,)), -1000.0, 0.0),
        Layer("septum", septum, 400.0, 60.0),
        Layer("airway", Tube(_s((0, -10, -280), k), _s((0, -4, -62), k), 7.5 * k), -1000.0, 0.0),
        Layer("orbital fat", Union((orbit_l, orbit_r)), -90.0, 880.0 * c[0]),
    ]
    if p["sinus_thickening"]:  # mucosal thickening on the floor of one maxillary sinus
        floor = Box((-1e4, -1e4, -1e4), (1e4, 1e4, maxillary_l.centre[2] - 0.3 * maxillary_l.radii[2]))
        layers.append(Layer("sinus mucosa", Intersection((maxillary_l, floor)), 35.0, 300.0 * c[1]))
    return layers


def _jittered_organs(p: dict) -> dict:
    """The default phantom's organs, scaled to the case's anatomy, each shifted at random (1.2 mm SD per axis)."""
    k = p["anatomy_scale"]
    rng = np.random.default_rng(p["organ_jitter_seed"])
    organs = {}
    for name, shape in organ_shapes().items():
        jitter = rng.normal(0.0, 1.2, size=3)
        organs[name] = transformed(shape, lambda v, j=jitter: v * k + j, k)
    return organs


def _organ_and_lesion_layers(p: dict, organs: dict) -> list[Layer]:
    """The organs (painted over the tissues), the tumour with its necrosis, and the dental fillings with their
    metal voids."""
    k = p["anatomy_scale"]
    c = p["mr_contrast"]
    tumour = Ellipsoid(_s(p["tumour_centre_mm"], k), _s(p["tumour_radii_mm"], k))
    layers = []
    for name, shape in organs.items():
        hu, t1 = organ_values(name)
        if name == "Bone_Mandible":
            t1 = 60.0  # cortical bone: dark in T1
        layers.append(Layer(name, shape, hu, t1 * c[6]))
    layers.append(Layer("tumour", tumour, 60.0, 360.0 * c[7]))
    layers.append(Layer("necrosis", tumour.grown(-6 * k), 22.0, 180.0 * c[7]))
    for i, centre in enumerate(p["fillings_mm"]):
        filling = Ellipsoid(_s(centre, k), (2.5, 2.5, 2.0))
        layers.append(Layer(f"metal void {i}", filling.grown(p["metal_void_mm"]), None, 0.0))
        layers.append(Layer(f"filling {i}", filling, 3400.0, 0.0))
    return layers


def setup_layers(p: dict, body: Union) -> list[Layer]:
    """Couch, head cushion, thermoplastic mask and its frame: in the CT only, never over the patient."""
    k = p["anatomy_scale"]
    couch_top = 120 * k + p["couch_gap_mm"]  # the torso's back rests on the couch
    far = 1e4
    gap, thick = p["mask_gap_mm"], p["mask_thickness_mm"]
    front = Box((-far, -far, -150 * k), (far, 10 * k, far))  # the mask covers the face and front of the head
    nose = body.parts[3]
    inner = Union(tuple(grown(q, 0.0 if q is nose else gap) for q in body.parts))  # pressed onto the nose
    outer = Union(tuple(grown(q, (0.0 if q is nose else gap) + thick) for q in body.parts))
    mask = Perforated(Intersection((Difference(outer, inner), front)), 7.0, 2.2)
    half_width = 76 * k + p["frame_offset_mm"]
    z_frame = (-150 * k, (VERTEX_Z_MM - 20) * k)
    # The mask's rim: a coronal bar on each side of the head, clipped onto plates that stand on the couch.
    bar = Box((-half_width - 5, 4 * k, z_frame[0]), (half_width + 5, 10 * k, z_frame[1]))
    plates = tuple(
        Box((side * half_width - 2.5, 10 * k, z_frame[0]), (side * half_width + 2.5, couch_top, z_frame[1]))
        for side in (-1, 1)
    )
    cushion_box = Box((-70 * k, 30 * k, -150 * k), (70 * k, couch_top, 70 * k))
    cushion_cover = Intersection((grown(body, 2.5), cushion_box))
    couch = Box((-far, couch_top, -far), (far, couch_top + 50, far))
    couch_skins = Union(
        tuple(Box((-far, y, -far), (far, y + 2.0, far)) for y in (couch_top, couch_top + 48.0))  # carbon fibre
    )
    return [
        Layer("mask", mask, p["mask_hu"], None, over_air=True),
        Layer("mask frame", bar, 300.0, None, over_air=True),
        Layer("mask base plates", Union(plates), 250.0, None, over_air=True),
        Layer("cushion cover", cushion_cover, -150.0, None, over_air=True),
        Layer("cushion", cushion_box, -880.0, None, over_air=True),
        Layer("couch skins", couch_skins, 200.0, None, over_air=True),
        Layer("couch core", couch, -950.0, None, over_air=True),
    ]


# ----------------------------------------------------------------------------------------------------------------
# Rendering: the CT on its axis-aligned grid, the MR through the ground-truth transform, point by point.
# ----------------------------------------------------------------------------------------------------------------
def paint_grid(layers: list[Layer], origin, spacing, shape_xyz, *, modality: str) -> np.ndarray:
    """Label (1 + layer index, 0 = nothing) of every voxel of an axis-aligned grid, (z, y, x)."""
    nx, ny, nz = shape_xyz
    labels = np.zeros((nz, ny, nx), dtype=np.uint8)
    for index, layer in enumerate(layers, start=1):
        if (layer.hu if modality == "CT" else layer.t1) is None:
            continue
        slices, inside = render_shape(layer.shape, origin, spacing, shape_xyz)
        if inside.size == 0:
            continue
        view = labels[slices]
        if layer.over_air:
            inside = inside & (view == 0)
        view[inside] = index
    return labels


def paint_points(layers: list[Layer], x: np.ndarray, y: np.ndarray, z: np.ndarray, *, modality: str) -> np.ndarray:
    """Label of each of the points (x, y, z: flat arrays in the anatomy frame)."""
    labels = np.zeros(x.shape, dtype=np.uint8)
    for index, layer in enumerate(layers, start=1):
        if (layer.hu if modality == "CT" else layer.t1) is None:
            continue
        (x0, x1), (y0, y1), (z0, z1) = layer.shape.bounds()
        near = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & (z >= z0) & (z <= z1))
        if near.size == 0:
            continue
        hit = near[np.asarray(layer.shape.inside(x[near], y[near], z[near]), dtype=bool)]
        if layer.over_air:
            hit = hit[labels[hit] == 0]
        labels[hit] = index
    return labels


def _lookup(layers: list[Layer], attribute: str) -> np.ndarray:
    """Value per label (0 = air: -1000 HU in the CT, no signal in the MR)."""
    air = -1000.0 if attribute == "hu" else 0.0
    values = [getattr(layer, attribute) for layer in layers]
    return np.array([air, *(air if v is None else v for v in values)], dtype=np.float32)


#: Bone, air and set-up layers by name: the texture amplitudes below tell tissues apart by these.
_BONE = ("skull outer table", "skull inner table", "vertebral cortex", "petrous bone", "septum", "sinus walls",
         "clavicles", "Bone_Mandible")  # fmt: skip
_AIR = ("sinuses", "nasal cavity", "airway", "mastoid cells")
_FLUID = ("CSF", "ventricles", "spinal canal")


def _texture_amplitudes(layers: list[Layer]) -> tuple[np.ndarray, np.ndarray]:
    """Per label: the texture's amplitude in the CT (HU) and in the MR (fraction of the signal)."""
    ct, mr = [0.0], [0.0]
    for layer in layers:
        if layer.hu is None or layer.t1 is None or layer.name.startswith(("filling", "metal")):
            amplitude = (0.0, 0.0)  # set-up objects and metal
        elif layer.name in _BONE:
            amplitude = (80.0, 0.0)
        elif layer.name in _AIR:
            amplitude = (0.0, 0.0)
        elif layer.name in _FLUID:
            amplitude = (3.0, 0.05)
        else:
            amplitude = (12.0, 0.08)
        ct.append(amplitude[0])
        mr.append(amplitude[1])
    return np.array(ct, np.float32), np.array(mr, np.float32)


class Texture:
    """A smooth random field (unit SD, correlated over a few mm) in the anatomy frame, shared by CT and MR.

    Real tissue is not flat: vessels, fascia, fat infiltration and sulci give a registration something to hold on to
    inside large organs, in both modalities. Without it the phantom's uniform brain and muscles leave a B-spline free
    to drift where no edge constrains it.
    """

    SPACING_MM = 2.0
    SIGMA_MM = 2.5

    def __init__(self, seed: int, scale: float):
        from scipy import ndimage

        self.lo = np.array([-230.0, -160.0, -310.0]) * scale
        hi = np.array([230.0, 200.0, 150.0]) * scale
        shape = tuple(int(v) for v in np.ceil((hi - self.lo) / self.SPACING_MM)[::-1] + 1)  # z, y, x
        field = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        field = ndimage.gaussian_filter(field, self.SIGMA_MM / self.SPACING_MM)
        self.field = field / max(float(field.std()), 1e-6)

    def at(self, x, y, z) -> np.ndarray:
        from scipy import ndimage

        x, y, z = np.broadcast_arrays(x, y, z)
        coordinates = [(c - lo) / self.SPACING_MM for c, lo in zip((z, y, x), self.lo[::-1], strict=True)]
        return ndimage.map_coordinates(self.field, coordinates, order=1, mode="nearest").astype(np.float32)


def ct_geometry(p: dict, options: RealisticOptions) -> tuple[np.ndarray, np.ndarray]:
    """Spacing and anatomy-frame origin (x, y, z) of the CT grid: shoulders to above the vertex, couch included."""
    nx, ny, nz = options.ct_shape
    k = p["anatomy_scale"]
    fov = p["ct_fov_xy_mm"]
    z0, z1 = p["ct_z_bottom_mm"], VERTEX_Z_MM * k + p["ct_z_top_margin_mm"]
    y_back = 120 * k + 70.0  # below the couch
    spacing = np.array([fov / nx, fov / ny, (z1 - z0) / nz])
    origin = np.array([-fov / 2, y_back - fov, z0]) + spacing / 2
    return spacing, origin


def mr_geometry(p: dict, options: RealisticOptions) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Spacing, anatomy-frame origin (before the MR is moved) and matrix of the MR grid."""
    k = p["anatomy_scale"]
    n = options.mr_matrix or options.ct_shape[0]
    fov = p["mr_fov_xy_mm"]
    height = p["mr_height_fraction"] * HEAD_HEIGHT_MM * k
    nz = max(8, int(round(height / p["mr_slice_mm"])))
    spacing = np.array([fov / n, fov / n, height / nz])
    top = VERTEX_Z_MM * k + p["mr_top_margin_mm"]
    cx, cy = p["mr_centre_xy_mm"]
    origin = np.array([cx - fov / 2, cy - fov / 2, top - height]) + spacing / 2
    return spacing, origin, (n, n, nz)


def mr_to_ct_transform(p: dict, mr_reference: sitk.Image) -> sitk.Transform:
    """MR physical point -> CT physical point of the same anatomy: a smooth deformation, then the tilt and shifts."""
    size = np.array(mr_reference.GetSize())
    centre_mr = np.asarray(mr_reference.TransformContinuousIndexToPhysicalPoint(((size - 1) / 2).tolist()))
    centre_anat = centre_mr - np.asarray(p["mr_shift_mm"])
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(centre_mr.tolist())
    rigid.SetMatrix(np.asarray(p["rotation_matrix"]).ravel().tolist())
    rigid.SetTranslation((centre_anat + np.asarray(p["ct_shift_mm"]) - centre_mr).tolist())
    bspline = random_bspline(mr_reference, p["max_deformation_mm"], p["bspline_seed"])
    return sitk.CompositeTransform([rigid, bspline])  # applied last-first: bspline, then rigid


def add_metal_streaks(hu: np.ndarray, p: dict, origin, spacing) -> None:
    """Metal streaks in the axial slices through the fillings: bright and dark lines radiating from each filling,
    a dark band between two fillings in the same slices (beam hardening), fading with distance."""
    if not p["fillings_mm"]:
        return
    rng = np.random.default_rng(p["streaks_seed"])
    k = p["anatomy_scale"]
    nz, ny, nx = hu.shape
    x = origin[0] + spacing[0] * np.arange(nx, dtype=np.float32)[None, :]
    y = origin[1] + spacing[1] * np.arange(ny, dtype=np.float32)[:, None]
    z = origin[2] + spacing[2] * np.arange(nz)
    centres = [np.asarray(c, float) * k for c in p["fillings_mm"]]
    for i, (cx, cy, cz) in enumerate(centres):
        r = np.hypot(x - cx, y - cy)
        pattern = np.zeros((ny, nx), dtype=np.float32)
        for angle in rng.uniform(0, np.pi, size=int(rng.integers(6, 12))):
            distance = np.abs((x - cx) * np.sin(angle) - (y - cy) * np.cos(angle))
            width = rng.uniform(0.8, 2.0)
            pattern += rng.choice([-1, 1]) * rng.uniform(150, 600) * np.exp(-0.5 * (distance / width) ** 2)
        for ox, oy, oz in centres[i + 1 :]:
            if abs(oz - cz) < 3:
                length = np.hypot(ox - cx, oy - cy) or 1.0
                distance = np.abs((x - cx) * (oy - cy) - (y - cy) * (ox - cx)) / length
                pattern -= rng.uniform(400, 900) * np.exp(-0.5 * (distance / 3.0) ** 2)
        pattern *= np.exp(-r / rng.uniform(50, 90))
        for iz in np.flatnonzero(np.abs(z - cz) <= 4.0):
            hu[iz] += pattern * float(np.exp(-0.5 * ((z[iz] - cz) / 3.0) ** 2))


def _bias_field(shape_zyx: tuple[int, int, int], p: dict) -> np.ndarray:
    """A smooth multiplicative field over the MR grid, 1 +- bias_amplitude at its extremes (coil sensitivity)."""
    w, v, u = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape_zyx), indexing="ij", sparse=True)
    a = p["bias_coefficients"]
    terms = [u, v, w, u * v, v * w, u * w, u * u - 1 / 3, v * v - 1 / 3, w * w - 1 / 3]
    field = sum(c * t for c, t in zip(a, terms, strict=True))
    field = field / max(float(np.abs(field).max()), 1e-6)
    return (1.0 + p["bias_amplitude"] * field).astype(np.float32)


def render_mr(
    layers: list[Layer], p: dict, mr_to_ct: sitk.Transform, reference: sitk.Image, sub: int, texture: Texture
) -> np.ndarray:
    """T1 signal on the MR grid (z, y, x), each slice the mean of `sub` sub-slices across its thickness."""
    t1 = _lookup(layers, "t1")
    _, t1_texture = _texture_amplitudes(layers)
    nx, ny, nz = reference.GetSize()
    spacing = np.asarray(reference.GetSpacing())
    ct_shift = np.asarray(p["ct_shift_mm"])
    out = np.zeros((nz, ny, nx), dtype=np.float32)
    chunk = max(1, 2_000_000 // (nx * ny * sub))
    for start in range(0, nz, chunk):
        stop = min(nz, start + chunk)
        # Sub-slice centres of slices start..stop-1, as a grid of (stop - start) * sub thin slices.
        origin = np.asarray(reference.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, start - 0.5 + 0.5 / sub)))
        field = sitk.TransformToDisplacementField(
            mr_to_ct,
            sitk.sitkVectorFloat64,
            [nx, ny, (stop - start) * sub],
            origin.tolist(),
            [spacing[0], spacing[1], spacing[2] / sub],
            reference.GetDirection(),
        )
        displacement = sitk.GetArrayViewFromImage(field)  # (z, y, x, 3)
        zz, yy, xx = np.meshgrid(
            origin[2] + spacing[2] / sub * np.arange((stop - start) * sub),
            origin[1] + spacing[1] * np.arange(ny),
            origin[0] + spacing[0] * np.arange(nx),
            indexing="ij",
        )
        x = (xx + displacement[..., 0] - ct_shift[0]).astype(np.float32).ravel()
        y = (yy + displacement[..., 1] - ct_shift[1]).astype(np.float32).ravel()
        z = (zz + displacement[..., 2] - ct_shift[2]).astype(np.float32).ravel()
        labels = paint_points(layers, x, y, z, modality="MR")
        values = t1[labels] * (1.0 + t1_texture[labels] * texture.at(x, y, z))
        out[start:stop] = values.reshape(stop - start, sub, ny, nx).mean(axis=1)
    return out


def generate_case(options: RealisticOptions, index: int, case_folder: Path) -> CaseTruth:
    """Write one pair's CT, MR and organ masks into `case_folder` (HaN-Seg names); return its ground truth."""
    case = dataset_layout.case_id(index)
    p = case_parameters(options, index)
    p["max_deformation_mm"] = options.max_deformation_mm
    layers, organs, landmarks_anat = anatomy_layers(p)
    ct_spacing, ct_origin = ct_geometry(p, options)
    ct_shift = np.asarray(p["ct_shift_mm"])
    shape_xyz = options.ct_shape
    noise = np.random.default_rng(p["noise_seed"])

    # CT: organs drawn at least one voxel thick, so the smallest keep a mask at coarse sizes (as the default).
    minimum = tuple(float(s) for s in ct_spacing)
    ct_layers = [
        Layer(layer.name, organs[layer.name].at_least(minimum), layer.hu, layer.t1) if layer.name in organs else layer
        for layer in layers
    ]
    labels = paint_grid(ct_layers, ct_origin, ct_spacing, shape_xyz, modality="CT")
    hu = _lookup(ct_layers, "hu")[labels]
    texture = Texture(p["texture_seed"], p["anatomy_scale"])
    hu_texture = _texture_amplitudes(ct_layers)[0]
    nx, ny, nz = shape_xyz
    x = (ct_origin[0] + ct_spacing[0] * np.arange(nx, dtype=np.float32))[None, None, :]
    y = (ct_origin[1] + ct_spacing[1] * np.arange(ny, dtype=np.float32))[None, :, None]
    for start in range(0, nz, 8):  # slab by slab: full coordinate arrays of a 512 x 512 x 200 grid would take 600 MB
        z = (ct_origin[2] + ct_spacing[2] * np.arange(start, min(nz, start + 8), dtype=np.float32))[:, None, None]
        hu[start : start + 8] += hu_texture[labels[start : start + 8]] * texture.at(x, y, z)
    del labels
    hu += noise.normal(0.0, p["ct_noise_hu"], size=hu.shape).astype(np.float32) * (hu > -990)
    add_metal_streaks(hu, p, ct_origin, ct_spacing)
    ct_image = image_from_array(np.clip(np.rint(hu), -1024, 4000).astype(np.int16), ct_spacing, ct_origin + ct_shift)
    del hu

    availability: dict[str, float] = {}
    masks: dict[str, tuple[tuple[slice, ...], np.ndarray]] = {}
    for name in dataset_layout.ORGANS:
        shape = organs[name].at_least(minimum)
        slices, inside = render_shape(shape, ct_origin, ct_spacing, shape_xyz)
        full = count_unbounded(shape, ct_origin, ct_spacing, shape_xyz)
        fraction = int(inside.sum()) / full if full else 0.0
        present = name not in p["missing_organs"] and fraction >= 0.05
        availability[name] = (1.0 if fraction > 0.95 else 0.5) if present else 0.0
        if present:
            masks[name] = (slices, np.ascontiguousarray(inside))

    # MR: its own grid, in coordinates unrelated to the CT's, rendered through the ground truth.
    mr_spacing, mr_origin_anat, mr_size = mr_geometry(p, options)
    reference = image_from_array(
        np.zeros(mr_size[::-1], dtype=np.uint8), mr_spacing, mr_origin_anat + np.asarray(p["mr_shift_mm"])
    )
    mr_to_ct = mr_to_ct_transform(p, reference)
    signal = render_mr(layers, p, mr_to_ct, reference, options.mr_supersampling, texture)
    gain = p["mr_gain"]
    sigma = p["mr_noise_fraction"] * 620.0 * gain
    signal *= gain * _bias_field(signal.shape, p)
    noisy = noise.normal(0.0, sigma, size=(2, *signal.shape)).astype(np.float32)
    magnitude = np.sqrt((signal + noisy[0]) ** 2 + noisy[1] ** 2)  # Rician: magnitude of a complex signal
    mr_image = image_from_array(np.rint(magnitude).astype(np.int16), mr_spacing, reference.GetOrigin())
    del signal, noisy, magnitude

    write_case_images(case_folder, case, ct_image, mr_image, masks, (nz, ny, nx), ct_spacing, ct_origin + ct_shift)

    rotation = np.asarray(p["rotation_matrix"])
    landmarks_ct, landmarks_mr = {}, {}
    for name, point in landmarks_anat.items():
        p_ct = point + ct_shift
        p_mr = invert_mr_to_ct(mr_to_ct, rotation, p_ct)
        index_mr = np.asarray(mr_image.TransformPhysicalPointToContinuousIndex(p_mr.tolist()))
        margin = LANDMARK_MARGIN_MM / mr_spacing
        if np.all(index_mr >= margin - 0.5) and np.all(index_mr <= np.asarray(mr_size) - 0.5 - margin):
            landmarks_ct[name], landmarks_mr[name] = p_ct, p_mr
    log.info("realistic pair %s: %d landmarks in the MR, tilt %.1f deg", case, len(landmarks_ct), p["tilt_deg"])
    return CaseTruth(case, ct_shift, mr_to_ct, landmarks_ct, landmarks_mr, availability, p["age"], p["gender"], p)


def generate(out_dir: Path | str, options: RealisticOptions, *, as_zip: bool = False) -> Path:
    """The family in the HaN-Seg layout, with its ground truth in `out_dir/truth/` (as the default phantom's)."""
    return phantom.generate(out_dir, options, as_zip=as_zip, make_case=generate_case)


def mirrored_left_right(mr: sitk.Image) -> sitk.Image:
    """The MR's voxels flipped along x with its header kept: a left-right header error no rigid transform undoes."""
    flipped = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(mr)[:, :, ::-1].copy())
    flipped.CopyInformation(mr)  # sitk.Flip would keep the anatomy in place by changing the header
    return flipped
