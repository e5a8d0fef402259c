from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.cli import build_parser
from hanseg.core import dataset_layout
from hanseg.core.landmarks import read_landmarks
from hanseg.dataset.phantom import PhantomOptions, generate
from tests.support.phantom_cases import SMALL


def _array(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_layout_matches_han_seg(phantom_root):
    root = phantom_root / "HaN-Seg"
    set_folder = root / "set_1"
    assert (set_folder / "OAR_data.csv").is_file() and (set_folder / "patient_data.csv").is_file()
    assert dataset_layout.list_cases(root) == ["case_01", "case_02", "case_03"]
    for case in dataset_layout.list_cases(root):
        folder = set_folder / case
        assert (folder / f"{case}_IMG_CT.nrrd").is_file()
        assert (folder / f"{case}_IMG_MR_T1.nrrd").is_file()
        for path in folder.glob("*.seg.nrrd"):
            parsed = dataset_layout.parse_organ_file(path.name)
            assert parsed and parsed[0] == case and parsed[1] in dataset_layout.LABEL_IDS, path.name
        # gzip-encoded NRRD with the real files' pixel types
        header = (folder / f"{case}_OAR_Bone_Mandible.seg.nrrd").read_bytes()[:400].decode("latin-1")
        assert "encoding: gzip" in header and "type: unsigned char" in header
        ct_header = (folder / f"{case}_IMG_CT.nrrd").read_bytes()[:400].decode("latin-1")
        assert "type: short" in ct_header and "space: left-posterior-superior" in ct_header


def test_masks_are_binary_on_the_ct_grid(phantom_root):
    folder = phantom_root / "HaN-Seg" / "set_1" / "case_01"
    ct = sitk.ReadImage(str(folder / "case_01_IMG_CT.nrrd"))
    for path in folder.glob("*.seg.nrrd"):
        mask = sitk.ReadImage(str(path))
        assert mask.GetSize() == ct.GetSize() and mask.GetOrigin() == ct.GetOrigin()
        assert mask.GetSpacing() == ct.GetSpacing()
        values = set(np.unique(sitk.GetArrayViewFromImage(mask)).tolist())
        assert values == {0, 1}, path.name


def test_csvs_record_missing_organs(phantom_root):
    set_folder = phantom_root / "HaN-Seg" / "set_1"
    with open(set_folder / "OAR_data.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["ID"] for r in rows] == ["case_01", "case_02", "case_03"]
    absent = 0
    for row in rows:
        for organ in dataset_layout.ORGANS:
            value = float(row[organ])
            assert value in (0.0, 0.5, 1.0)
            present = (set_folder / row["ID"] / dataset_layout.organ_name(row["ID"], organ)).is_file()
            assert present == (value > 0), (row["ID"], organ)
            absent += value == 0
    assert absent > 0, "the phantom should miss some organs, as the real data do"
    with open(set_folder / "patient_data.csv") as handle:
        patients = list(csv.DictReader(handle))
    assert all(34 <= int(p["age"]) <= 79 and p["gender"] in "MF" for p in patients)


def test_ct_has_realistic_hu_and_metal(phantom_root):
    arrays = [_array(phantom_root / "HaN-Seg/set_1" / c / f"{c}_IMG_CT.nrrd") for c in ("case_01", "case_02")]
    for ct in arrays:
        assert ct.min() <= -1000 + 50  # air
        assert ((ct > 700) & (ct < 2000)).sum() > 100  # bone
    assert max(ct.max() for ct in arrays) > 3000  # metal in every other case, to exercise clipping


def test_mr_in_unrelated_coordinates_with_one_case_without_z_overlap(phantom_root):
    no_overlap = 0
    for case in ("case_01", "case_02", "case_03"):
        folder = phantom_root / "HaN-Seg/set_1" / case
        ct = sitk.ReadImage(str(folder / f"{case}_IMG_CT.nrrd"))
        mr = sitk.ReadImage(str(folder / f"{case}_IMG_MR_T1.nrrd"))
        assert np.linalg.norm(np.subtract(ct.GetOrigin(), mr.GetOrigin())) > 100.0
        ct_z = (ct.GetOrigin()[2], ct.GetOrigin()[2] + ct.GetSpacing()[2] * ct.GetSize()[2])
        mr_z = (mr.GetOrigin()[2], mr.GetOrigin()[2] + mr.GetSpacing()[2] * mr.GetSize()[2])
        no_overlap += ct_z[1] < mr_z[0] or mr_z[1] < ct_z[0]
        # smaller field of view than the CT, thicker slices
        assert mr.GetSize()[2] * mr.GetSpacing()[2] < ct.GetSize()[2] * ct.GetSpacing()[2]
    assert no_overlap >= 1


def test_truth_transform_maps_mr_landmarks_onto_ct_landmarks(phantom_root):
    for case in ("case_01", "case_02", "case_03"):
        truth = phantom_root / "truth" / case
        transform = sitk.ReadTransform(str(truth / "mr_to_ct.tfm"))
        ct_points = read_landmarks(truth / "landmarks_ct.csv")
        mr_points = read_landmarks(truth / "landmarks_mr.csv")
        assert set(ct_points) == set(mr_points) and len(ct_points) == 6
        for name, q in mr_points.items():
            mapped = np.asarray(transform.TransformPoint(q.tolist()))
            assert np.linalg.norm(mapped - ct_points[name]) < 1e-3, (case, name)


def test_truth_transform_aligns_the_images(phantom_root):
    """Resampling the CT onto the MR grid through the truth puts bone where the MR is dark, air where it is 0."""
    folder = phantom_root / "HaN-Seg/set_1/case_02"
    ct = sitk.ReadImage(str(folder / "case_02_IMG_CT.nrrd"))
    mr = sitk.ReadImage(str(folder / "case_02_IMG_MR_T1.nrrd"))
    transform = sitk.ReadTransform(str(phantom_root / "truth/case_02/mr_to_ct.tfm"))
    ct_on_mr = sitk.GetArrayFromImage(sitk.Resample(ct, mr, transform, sitk.sitkNearestNeighbor, -1000))
    mr_array = sitk.GetArrayFromImage(mr)
    air, body = ct_on_mr < -900, (ct_on_mr > -150) & (ct_on_mr < 150)
    assert mr_array[air].mean() < 0.25 * mr_array[body].mean()
    # without the truth (identity), the images do not line up at all
    unaligned = sitk.GetArrayFromImage(sitk.Resample(ct, mr, sitk.Transform(), sitk.sitkNearestNeighbor, -1000))
    assert (unaligned > -900).mean() < 0.5 * (ct_on_mr > -900).mean()


def test_deterministic_per_seed(tmp_path):
    options = PhantomOptions(cases=2, seed=5, ct_shape=(32, 32, 16))
    generate(tmp_path / "a", options)
    generate(tmp_path / "b", options)
    generate(tmp_path / "c", PhantomOptions(cases=2, seed=6, ct_shape=(32, 32, 16)))
    for name in ("case_02/case_02_IMG_CT.nrrd", "case_02/case_02_IMG_MR_T1.nrrd"):
        a, b, c = (_array(tmp_path / x / "HaN-Seg/set_1" / name) for x in "abc")
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)
    assert (tmp_path / "a/HaN-Seg/set_1/OAR_data.csv").read_text() == (
        tmp_path / "b/HaN-Seg/set_1/OAR_data.csv"
    ).read_text()


def test_a_case_does_not_depend_on_how_many_cases_are_made(tmp_path):
    generate(tmp_path / "two", PhantomOptions(cases=2, seed=3, ct_shape=(32, 32, 16)))
    generate(tmp_path / "three", PhantomOptions(cases=3, seed=3, ct_shape=(32, 32, 16)))
    name = "HaN-Seg/set_1/case_02/case_02_IMG_MR_T1.nrrd"
    assert np.array_equal(_array(tmp_path / "two" / name), _array(tmp_path / "three" / name))


def test_zip_like_zenodo(tmp_path):
    target = generate(tmp_path, PhantomOptions(cases=1, seed=1, ct_shape=(32, 32, 16)), as_zip=True)
    assert target == tmp_path / "HaN-Seg.zip"
    assert not (tmp_path / "HaN-Seg").exists()
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert "HaN-Seg/set_1/OAR_data.csv" in names
    assert "HaN-Seg/set_1/case_01/case_01_IMG_CT.nrrd" in names
    assert all(n.startswith("HaN-Seg/") for n in names)
    assert (tmp_path / "truth/case_01/landmarks_ct.csv").is_file()


@pytest.mark.parametrize("shape", [(32, 32, 16), (96, 96, 40)])
def test_every_organ_has_voxels_at_any_size(tmp_path, shape):
    generate(tmp_path, PhantomOptions(cases=1, seed=SMALL.seed, ct_shape=shape))
    folder = tmp_path / "HaN-Seg/set_1/case_01"
    for path in folder.glob("*.seg.nrrd"):
        assert _array(path).sum() > 0, path.name


def _digest(root: Path) -> str:
    """Every file under `root`: images by their decoded pixels and geometry (gzip's bytes may differ between zlib
    builds), everything else by its bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        if path.suffix == ".nrrd":
            image = sitk.ReadImage(str(path))
            geometry = (image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())
            digest.update(repr((geometry, image.GetPixelIDTypeAsString())).encode())
            digest.update(sitk.GetArrayViewFromImage(image).tobytes())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()


#: `_digest` of PhantomOptions(cases=2, ct_shape=(32, 32, 16)) as written before the real-geometry options existed,
#: in the pinned environment (constraints-cpu.txt). The options' defaults must leave the default phantom, and so
#: every test and config made with it, exactly as it was.
DEFAULT_PHANTOM_DIGEST = "7bd2d3291cd8a133cc9f4ad6b2ec5ddf78f62d76e3925ddcb8bcc4a0c1b3798a"


def test_default_geometry_is_unchanged(tmp_path):
    generate(tmp_path, PhantomOptions(cases=2, ct_shape=(32, 32, 16)))
    assert "ct_fov_mm" not in json.loads((tmp_path / "truth/phantom.json").read_text())["options"]
    assert _digest(tmp_path) == DEFAULT_PHANTOM_DIGEST


def test_real_geometry_options(tmp_path):
    """case_01's geometry in miniature: a 571 mm CT field of view with 2 mm slices, an MR of its own spacing."""
    args = build_parser().parse_args(
        ["phantom", str(tmp_path), "--cases", "2", "--shape", "64x64x40", "--fov-mm", "571", "--slice-mm", "8"]
        + ["--mr-shape", "48x48x20", "--mr-spacing", "5.5x5.5x10"]
    )
    options = PhantomOptions(
        cases=args.cases,
        ct_shape=args.shape,
        mr_shape=args.mr_shape,
        ct_fov_mm=args.fov_mm,
        ct_slice_mm=args.slice_mm,
        mr_spacing_mm=args.mr_spacing,
    )
    generate(tmp_path, options)
    recorded = json.loads((tmp_path / "truth/phantom.json").read_text())["options"]
    assert recorded["ct_fov_mm"] == 571 and recorded["mr_spacing_mm"] == [5.5, 5.5, 10.0]
    for case in ("case_01", "case_02"):
        folder = tmp_path / "HaN-Seg/set_1" / case
        ct = sitk.ReadImage(str(folder / f"{case}_IMG_CT.nrrd"))
        mr = sitk.ReadImage(str(folder / f"{case}_IMG_MR_T1.nrrd"))
        assert ct.GetSize() == (64, 64, 40) and np.allclose(ct.GetSpacing(), (571 / 64, 571 / 64, 8.0))
        assert mr.GetSize() == (48, 48, 20) and np.allclose(mr.GetSpacing(), (5.5, 5.5, 10.0))
        # the anatomy is the same size whatever the field of view: the head fills less of the wider CT
        body = _array(folder / f"{case}_IMG_CT.nrrd") > -500
        assert 0.02 < body.mean() < 0.3
        assert _array(folder / f"{case}_IMG_MR_T1.nrrd").mean() > 20
        assert _array(folder / f"{case}_OAR_Bone_Mandible.seg.nrrd").sum() > 0
        truth = tmp_path / "truth" / case
        transform = sitk.ReadTransform(str(truth / "mr_to_ct.tfm"))
        ct_points, mr_points = read_landmarks(truth / "landmarks_ct.csv"), read_landmarks(truth / "landmarks_mr.csv")
        for name, q in mr_points.items():
            assert np.linalg.norm(np.asarray(transform.TransformPoint(q.tolist())) - ct_points[name]) < 1e-3
