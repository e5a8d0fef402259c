"""Image files: atomic NRRD writing, and the CT's HU clipping."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def write_image(image: sitk.Image, path: Path | str, *, compress: bool = True) -> None:
    """Write next to the target, then rename: a killed job never leaves a truncated file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix="".join(path.suffixes), dir=path.parent)
    os.close(handle)
    try:
        sitk.WriteImage(image, tmp, useCompression=compress)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clip_intensity(image: sitk.Image, lower: float, upper: float) -> sitk.Image:
    """Values clipped to [lower, upper]; pixel type, grid and metadata kept exactly.

    The paper set CT values above 3000 HU (metal) to 3000, and clipped to [-1000, 3000] again after resampling.
    """
    if lower >= upper:
        raise ValueError(f"HU range [{lower}, {upper}] is empty")
    array = sitk.GetArrayViewFromImage(image)
    clipped = sitk.GetImageFromArray(np.clip(array, lower, upper).astype(array.dtype, copy=False))
    clipped.CopyInformation(image)
    for key in image.GetMetaDataKeys():
        clipped.SetMetaData(key, image.GetMetaData(key))
    return clipped


def clip_ct_file(ct_path: Path | str, out_path: Path | str, lower: float, upper: float) -> dict:
    """Clip a CT file; return how many voxels changed on each side (for the log)."""
    image = sitk.ReadImage(str(ct_path))
    array = sitk.GetArrayViewFromImage(image)
    below, above = int(np.count_nonzero(array < lower)), int(np.count_nonzero(array > upper))
    write_image(clip_intensity(image, lower, upper), out_path)
    return {"voxels_below": below, "voxels_above": above, "lower": lower, "upper": upper}
