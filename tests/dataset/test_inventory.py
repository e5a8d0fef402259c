from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.dataset.inventory import CaseValidationError, inspect_case, write_tables
from hanseg.dataset.metadata import read_organ_availability, read_patients


def _inspect(root, case="case_01", strict=False):
    set_folder = root / "set_1"
    availability = read_organ_availability(set_folder / "OAR_data.csv")
    patients = read_patients(set_folder / "patient_data.csv")
    return inspect_case(root, case, availability, patients, strict=strict)


def _mask_path(root, case, organ):
    return root / "set_1" / case / dataset_layout.organ_name(case, organ)


def _present_organ(root, case="case_01"):
    return next(o for o in dataset_layout.ORGANS if _mask_path(root, case, o).is_file())


def test_inventory_on_the_phantom(phantom_root, tmp_path):
    root = phantom_root / "HaN-Seg"
    records = [_inspect(root, case) for case in dataset_layout.list_cases(root)]
    write_tables(records, tmp_path / "cases.tsv", tmp_path / "organs.tsv")
    cases = pd.read_csv(tmp_path / "cases.tsv", sep="\t")
    organs = pd.read_csv(tmp_path / "organs.tsv", sep="\t")
    assert list(cases["case"]) == ["case_01", "case_02", "case_03"]
    assert len(organs) == 3 * 30
    first = cases.iloc[0]
    ct = sitk.ReadImage(str(root / "set_1/case_01/case_01_IMG_CT.nrrd"))
    assert (first.ct_size_x, first.ct_size_y, first.ct_size_z) == ct.GetSize()
    assert first.ct_spacing_z == pytest.approx(ct.GetSpacing()[2])
    assert first.ct_max > 3000 or cases.ct_max.max() > 3000
    assert set(cases.gender) <= {"M", "F"}
    # organs.tsv agrees with the files and with OAR_data.csv
    for row in organs.itertuples():
        assert row.file_present == _mask_path(root, row.case, row.organ).is_file()
        assert (row.voxels > 0) == row.file_present
        assert row.status in ("ok", "absent")
        assert (row.availability_csv > 0) == row.file_present
    assert (cases.organs_present == organs.groupby("case").file_present.sum().values).all()
    assert cases.warnings.sum() == 0


def test_missing_ct_is_an_error_naming_case_and_file(phantom_copy):
    (phantom_copy / "set_1/case_01/case_01_IMG_CT.nrrd").unlink()
    with pytest.raises(CaseValidationError, match=r"case_01: case_01_IMG_CT.nrrd: missing CT"):
        _inspect(phantom_copy)


def test_missing_mr_is_an_error(phantom_copy):
    (phantom_copy / "set_1/case_02/case_02_IMG_MR_T1.nrrd").unlink()
    with pytest.raises(CaseValidationError, match=r"case_02: case_02_IMG_MR_T1.nrrd: missing MR"):
        _inspect(phantom_copy, "case_02")


def test_truncated_nrrd_is_an_error(phantom_copy):
    organ = _present_organ(phantom_copy)
    path = _mask_path(phantom_copy, "case_01", organ)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CaseValidationError, match=rf"{path.name}: cannot read the image"):
        _inspect(phantom_copy)


def test_mask_off_the_ct_grid_is_an_error(phantom_copy):
    path = _mask_path(phantom_copy, "case_01", "Bone_Mandible")
    mask = sitk.ReadImage(str(path))
    mask.SetOrigin(tuple(o + 1.5 for o in mask.GetOrigin()))
    sitk.WriteImage(mask, str(path), useCompression=True)
    with pytest.raises(CaseValidationError, match=r"Bone_Mandible.seg.nrrd: mask not on the CT grid: origin"):
        _inspect(phantom_copy)


def test_mask_with_other_size_is_an_error(phantom_copy):
    path = _mask_path(phantom_copy, "case_01", "Lips")
    mask = sitk.ReadImage(str(path))
    sitk.WriteImage(mask[:-2, :, :], str(path), useCompression=True)
    with pytest.raises(CaseValidationError, match=r"Lips.seg.nrrd: mask not on the CT grid: size"):
        _inspect(phantom_copy)


def test_non_binary_mask_is_an_error(phantom_copy):
    path = _mask_path(phantom_copy, "case_01", "Brainstem")
    mask = sitk.ReadImage(str(path))
    relabelled = sitk.Cast(mask, sitk.sitkUInt8) * 255
    sitk.WriteImage(relabelled, str(path), useCompression=True)
    with pytest.raises(CaseValidationError, match=r"Brainstem.seg.nrrd: not a binary mask: holds 255 besides"):
        _inspect(phantom_copy)


def test_all_errors_of_a_case_are_reported_together(phantom_copy):
    (phantom_copy / "set_1/case_01/case_01_IMG_MR_T1.nrrd").unlink()
    path = _mask_path(phantom_copy, "case_01", "Brainstem")
    sitk.WriteImage(sitk.ReadImage(str(path)) * 2, str(path), useCompression=True)
    with pytest.raises(CaseValidationError) as error:
        _inspect(phantom_copy)
    lines = str(error.value).splitlines()  # one line per problem, each naming the case and the file
    assert len(lines) == 2 and lines[0].startswith("case_01: case_01_IMG_MR_T1.nrrd: missing MR")
    assert lines[1].startswith("case_01: case_01_OAR_Brainstem.seg.nrrd: not a binary mask")


def test_file_that_csv_marks_absent_is_a_warning_and_the_file_is_used(phantom_copy, caplog):
    csv_path = phantom_copy / "set_1/OAR_data.csv"
    text = csv_path.read_text().splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("Lips")] = "0"
    csv_path.write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n")
    assert _mask_path(phantom_copy, "case_01", "Lips").is_file()
    record = _inspect(phantom_copy)
    lips = next(o for o in record["organs"] if o["organ"] == "Lips")
    assert lips["status"] == "file_but_csv_absent" and lips["voxels"] > 0
    assert any("case_01_OAR_Lips.seg.nrrd" in w and "absent" in w for w in record["warnings"])
    with pytest.raises(CaseValidationError, match="Lips"):
        _inspect(phantom_copy, strict=True)


def test_csv_present_but_file_missing_is_a_warning(phantom_copy):
    organ = _present_organ(phantom_copy)
    _mask_path(phantom_copy, "case_01", organ).unlink()
    record = _inspect(phantom_copy)
    row = next(o for o in record["organs"] if o["organ"] == organ)
    assert row["status"] == "csv_present_but_no_file" and not row["file_present"]
    assert any(dataset_layout.organ_name("case_01", organ) in w for w in record["warnings"])


def test_empty_mask_and_unknown_organ_file_are_warnings(phantom_copy):
    path = _mask_path(phantom_copy, "case_01", "SpinalCord")
    mask = sitk.ReadImage(str(path))
    sitk.WriteImage(mask * 0, str(path), useCompression=True)
    shutil.copy(path, path.with_name("case_01_OAR_Pharynx.seg.nrrd"))
    record = _inspect(phantom_copy)
    cord = next(o for o in record["organs"] if o["organ"] == "SpinalCord")
    assert cord["status"] == "empty" and cord["voxels"] == 0
    assert any("Pharynx" in w for w in record["warnings"])
    assert record["organs_present"] == sum(o["voxels"] > 0 for o in record["organs"])


def test_case_missing_from_patient_data_is_a_warning(phantom_copy):
    path = phantom_copy / "set_1/patient_data.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("case_01")) + "\n")
    record = _inspect(phantom_copy)
    assert record["age"] is None and any("patient_data.csv" in w for w in record["warnings"])


def test_voxel_counts_match_the_masks(phantom_root):
    root = phantom_root / "HaN-Seg"
    record = _inspect(root, "case_02")
    for row in record["organs"]:
        if row["file_present"]:
            array = sitk.GetArrayFromImage(sitk.ReadImage(str(_mask_path(root, "case_02", row["organ"]))))
            assert row["voxels"] == int(np.count_nonzero(array))
