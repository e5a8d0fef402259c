"""Figure 3: the reference organs of one case as colour-coded 3D surfaces (marching cubes), in bounded memory.

Each organ is meshed on its own bounding box, block-averaged to coarser voxels first: the step per axis is the
smallest that keeps voxels at least `min_voxel_mm` and the box under `max_box_voxels`, so large organs (mandible,
oral cavity) are simplified while tiny ones (cochleae, chiasm) keep their resolution. The full label map is read
once; no full-resolution mask or mesh of a 1142 x 1142 x 202 grid is ever built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hanseg.core import dataset_layout
from hanseg.reporting.figures.style import ORGAN_COLOURS, pyplot, save

MIN_VOXEL_MM = 1.5
MAX_BOX_VOXELS = 150_000


def block_steps(shape_zyx, spacing_zyx, *, min_voxel_mm: float, max_box_voxels: int) -> tuple[int, int, int]:
    """Integer downsampling steps (z, y, x) for a box: voxels of at least `min_voxel_mm`, at most `max_box_voxels`."""
    steps = [max(1, int(np.ceil(min_voxel_mm / s - 1e-9))) for s in spacing_zyx]
    while np.prod([int(np.ceil(n / k)) for n, k in zip(shape_zyx, steps, strict=True)]) > max_box_voxels:
        # Coarsen the axis whose voxels are currently finest in mm.
        axis = int(np.argmin([s * k for s, k in zip(spacing_zyx, steps, strict=True)]))
        steps[axis] += 1
    return tuple(steps)


def block_mean(mask: np.ndarray, steps) -> np.ndarray:
    """Fraction of each block of `steps` voxels that lies inside the mask (the array padded to whole blocks)."""
    pads = [(0, (-n) % k) for n, k in zip(mask.shape, steps, strict=True)]
    padded = np.pad(mask.astype(np.float32), pads)
    nz, ny, nx = (n // k for n, k in zip(padded.shape, steps, strict=True))
    kz, ky, kx = steps
    return padded.reshape(nz, kz, ny, ky, nx, kx).mean(axis=(1, 3, 5))


def organ_meshes(
    labels: np.ndarray,
    spacing_xyz,
    *,
    min_voxel_mm: float = MIN_VOXEL_MM,
    max_box_voxels: int = MAX_BOX_VOXELS,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per organ present: (vertices in mm as (x, y, z) on the image's index axes, triangle indices)."""
    from scipy import ndimage
    from skimage.measure import marching_cubes

    spacing_zyx = np.array(spacing_xyz[::-1], dtype=float)
    meshes = {}
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or label > len(dataset_layout.ORGANS):
            continue
        mask = labels[box] == label
        steps = block_steps(mask.shape, spacing_zyx, min_voxel_mm=min_voxel_mm, max_box_voxels=max_box_voxels)
        occupancy = np.pad(block_mean(mask, steps), 1)  # closed surfaces at the box's border
        # A structure thinner than a block never reaches 0.5 occupancy; its own peak keeps it visible.
        level = min(0.5, 0.5 * float(occupancy.max()))
        block_mm = spacing_zyx * steps
        verts, faces, _, _ = marching_cubes(occupancy, level=level, spacing=tuple(block_mm))
        start_mm = np.array([s.start for s in box]) * spacing_zyx - block_mm + (block_mm - spacing_zyx) / 2
        verts = verts + start_mm
        meshes[dataset_layout.ORGANS[label - 1]] = (verts[:, ::-1].astype(np.float32), faces)
    return meshes


def figure3(labels: np.ndarray, spacing_xyz, out_png: Path | str, *, case: str = "", elev=12.0, azim=-62.0) -> Path:
    """The organs as shaded surfaces, one colour per organ (the table of every figure), seen from the front-left."""
    plt = pyplot()
    from matplotlib.colors import LightSource
    from matplotlib.patches import Patch
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    meshes = organ_meshes(labels, spacing_xyz)
    fig = plt.figure(figsize=(10, 8), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    if meshes:
        triangles = np.concatenate([verts[faces] for verts, faces in meshes.values()])
        colours = np.concatenate([np.tile(ORGAN_COLOURS[o], (len(f), 1)) for o, (_, f) in meshes.items()])
        # One collection for all organs: matplotlib depth-sorts within a collection, not between collections.
        surface = Poly3DCollection(
            triangles,
            facecolors=colours,
            linewidths=0,
            shade=True,
            lightsource=LightSource(azdeg=225, altdeg=45),
        )
        ax.add_collection3d(surface)
        points = triangles.reshape(-1, 3)
        low, high = points.min(axis=0), points.max(axis=0)
        centre, half = (low + high) / 2, (high - low).max() / 2
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            setter(c - half, c + half)
        ax.set_box_aspect((1, 1, 1), zoom=1.1)
    # LPS: y grows towards posterior, so a camera at negative azimuth looks at the face, patient left to the right.
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("x (mm, to patient left)", fontsize=8)
    ax.set_ylabel("y (mm, to posterior)", fontsize=8)
    ax.set_zlabel("z (mm, to head)", fontsize=8)
    ax.tick_params(labelsize=7)
    handles = [Patch(facecolor=ORGAN_COLOURS[o], label=o) for o in dataset_layout.ORGANS if o in meshes]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    of_case = f" of {case}" if case else ""
    fig.suptitle(f"Figure 3: reference organs{of_case} ({len(meshes)} organs)", fontsize=12)
    return save(fig, out_png)
