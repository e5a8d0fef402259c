"""Phantom cases ready for nnU-Net without running elastix (shared by the nnU-Net tests and benchmark)."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.images import clip_intensity
from hanseg.dataset.phantom import PhantomOptions
from hanseg.preprocessing.resampling import ResampledFiles, resample_case

#: Small enough for seconds, large enough that every organ has voxels.
SMALL = PhantomOptions(cases=3, seed=11, ct_shape=(48, 48, 24))


def resampled_phantom_case(
    phantom_root: Path, case: str, out_dir: Path, spacing_xyz=None, *, body_crop: bool = False
) -> tuple[dict, dict]:
    """CT, MR and labels of one phantom case on one grid; returns ({"ct", "mr", "labels"} -> path, summary).

    The MR is placed with the rigid part of the ground truth: a co-registered second channel (within the few-mm
    deformation) is all nnU-Net needs here. `spacing_xyz` None keeps the CT's own grid.
    """
    folder = Path(phantom_root) / "HaN-Seg/set_1" / case
    ct = clip_intensity(sitk.ReadImage(str(folder / f"{case}_IMG_CT.nrrd")), -1000, 3000)
    truth = sitk.ReadTransform(str(Path(phantom_root) / "truth" / case / "mr_to_ct.tfm"))
    rigid = sitk.Euler3DTransform(sitk.CompositeTransform(truth).GetNthTransform(0))
    mr_image = sitk.ReadImage(str(folder / f"{case}_IMG_MR_T1.nrrd"))
    mr = sitk.Resample(mr_image, ct, rigid.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    organs = {dataset_layout.parse_organ_file(p.name)[1]: p for p in folder.glob("*.seg.nrrd")}
    spacing = tuple(spacing_xyz) if spacing_xyz is not None else ct.GetSpacing()
    summary = resample_case(
        ct, mr, None, organs, ResampledFiles.in_folder(out_dir), spacing_xyz=spacing, body_crop=body_crop
    )
    written = ResampledFiles.in_folder(out_dir)
    return {"ct": written.ct, "mr": written.mr, "labels": written.labels}, summary


def write_holdout_dataset(root: Path, dataset_id: int, dataset_name: str, cases: dict, test_case: str) -> dict:
    """nnU-Net's roots under `root` (set in the environment) and a CT + MR raw dataset of `cases`, `test_case` held
    out for prediction; returns the roots."""
    from hanseg.nnunet import dataset_folder_name, set_roots
    from hanseg.nnunet.dataset import write_raw_dataset

    roots = set_roots(root)
    write_raw_dataset(
        Path(roots["nnUNet_raw"]) / dataset_folder_name(dataset_id, dataset_name),
        {c: f for c, f in cases.items() if c != test_case},
        {test_case: cases[test_case]},
        ["CT", "MR"],
    )
    return roots
