"""Broken input, kind by kind: exit status 1, one line per problem naming the case and the file, nothing partial left.

Each kind breaks a private copy of the small phantom in one way and runs the `hanseg` command that meets it first;
the rules call the same functions (`tests/workflow/test_workflow.py` checks a rule's log). The silent cases and unclear
errors found by trying the workflow as a new user are among them, marked "was:".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hanseg.cli import main
from hanseg.core import dataset_layout

CASE = "case_01"
#: kind -> function(data root copy, output folder) -> (argv, fragments the error line must hold)
KINDS: dict[str, Callable[[Path, Path], tuple[list[str], list[str]]]] = {}


def kind(function):
    KINDS[function.__name__] = function
    return function


def _case_dir(data: Path, case: str = CASE) -> Path:
    return data / "set_1" / case


def _ct(data: Path) -> Path:
    return _case_dir(data) / dataset_layout.ct_name(CASE)


def _mr(data: Path) -> Path:
    return _case_dir(data) / dataset_layout.mr_name(CASE)


def _mask(data: Path, organ: str = "Brainstem") -> Path:
    return _case_dir(data) / dataset_layout.organ_name(CASE, organ)


def _read(path: Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def _write(image: sitk.Image, path: Path) -> None:
    sitk.WriteImage(image, str(path), useCompression=True)


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _inventory(data: Path, out: Path, *extra: str) -> list[str]:
    return ["inventory", str(data), "--out-dir", str(out), *extra]


def _set_cell(path: Path, case: str, column: str, value: str) -> None:
    """Write `value` into `case`'s row, `column`, of a comma-separated HaN-Seg CSV file."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == case:
            cells[header.index(column)] = value
            lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


# --- images the inventory reads ---------------------------------------------------------------------------


@kind
def ct_missing(data, out):
    _ct(data).unlink()
    return _inventory(data, out), [f"{CASE}: {dataset_layout.ct_name(CASE)}: missing CT"]


@kind
def mr_missing(data, out):
    _mr(data).unlink()
    return _inventory(data, out), [f"{CASE}: {dataset_layout.mr_name(CASE)}: missing MR"]


@kind
def ct_truncated(data, out):
    _ct(data).write_bytes(_ct(data).read_bytes()[:400])
    return _inventory(data, out), [
        f"{CASE}: {dataset_layout.ct_name(CASE)}: cannot read the image",
        "download it again",
    ]


@kind
def ct_2d(data, out):
    _write(_read(_ct(data))[:, :, 5], _ct(data))
    return _inventory(data, out), [f"{CASE}: {dataset_layout.ct_name(CASE)}: a 2D image, expected 3D"]


@kind
def ct_4d(data, out):
    ct = _read(_ct(data))
    _write(sitk.JoinSeries([ct, ct]), _ct(data))
    return _inventory(data, out), [f"{CASE}: {dataset_layout.ct_name(CASE)}: a 4D image, expected 3D"]


@kind
def ct_vector(data, out):
    ct = _read(_ct(data))
    _write(sitk.Compose([ct, ct, ct]), _ct(data))
    return _inventory(data, out), [f"{CASE}: {dataset_layout.ct_name(CASE)}: 3 values per voxel"]


@kind
def ct_nan(data, out):
    """was: passed the inventory and clip-ct, and failed only at registration with 'Internal elastix error'."""
    ct = _read(_ct(data))
    array = sitk.GetArrayFromImage(ct).astype(np.float32)
    array[3, 4, 5:10] = np.nan
    _write(_like(array, ct), _ct(data))
    return _inventory(data, out), [
        f"{CASE}: {dataset_layout.ct_name(CASE)}: 5 NaN and 0 infinite voxels (of",
        "replace",
    ]


@kind
def mr_infinite(data, out):
    mr = _read(_mr(data))
    array = sitk.GetArrayFromImage(mr).astype(np.float64)
    array[0, 0, :3] = np.inf
    _write(_like(array, mr), _mr(data))
    return _inventory(data, out), [f"{CASE}: {dataset_layout.mr_name(CASE)}: 0 NaN and 3 infinite voxels"]


@kind
def mask_truncated(data, out):
    _mask(data).write_bytes(_mask(data).read_bytes()[:200])
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: cannot read the image"]


@kind
def mask_2d(data, out):
    _write(_read(_mask(data))[:, :, 3], _mask(data))
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: a 2D image, expected 3D"]


@kind
def mask_value_2(data, out):
    _write(_read(_mask(data)) * 2, _mask(data))
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: not a binary mask: holds 2 besides 0 and 1"]


@kind
def mask_fraction(data, out):
    mask = _read(_mask(data))
    _write(sitk.Cast(mask, sitk.sitkFloat32) * 0.3, _mask(data))
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: not a binary mask: holds 0.3 besides 0 and 1"]


@kind
def mask_origin_off_grid(data, out):
    mask = _read(_mask(data))
    mask.SetOrigin([v + 1.5 for v in mask.GetOrigin()])
    _write(mask, _mask(data))
    return _inventory(data, out), [
        f"{CASE}: {_mask(data).name}: mask not on the CT grid: origin",
        "by (1.5, 1.5, 1.5) mm (tolerance (0.0625, 0.0625, 0.129167) mm: 1% of a voxel)",
        "resample the mask onto the CT grid",
    ]


@kind
def mask_wrong_size(data, out):
    _write(_read(_mask(data))[:-2, :, :], _mask(data))
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: mask not on the CT grid: size (46, 48, 24) differs"]


@kind
def mask_wrong_spacing(data, out):
    mask = _read(_mask(data))
    mask.SetSpacing([v * 1.01 for v in mask.GetSpacing()])
    _write(mask, _mask(data))
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: mask not on the CT grid: spacing", "tolerance 1e-05"]


@kind
def mask_direction_flipped(data, out):
    mask = _read(_mask(data))
    mask.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    _write(mask, _mask(data))
    return _inventory(data, out), [f"{CASE}: {_mask(data).name}: mask not on the CT grid: direction", "by up to 2"]


@kind
def organ_files_differing_in_case(data, out):
    """was: the later file in sort order won, and an empty duplicate replaced a real mask without a warning."""
    original = _mask(data, "Glnd_Submand_L")
    duplicate = original.with_name(original.name.replace("Glnd_", "glnd_"))
    _write(_read(original) * 0, duplicate)
    return _inventory(data, out), [
        f"{CASE}: {duplicate.name}: a second mask for Glnd_Submand_L besides {original.name}",
        "keep one and remove the other",
    ]


# --- layout and CSV files (warnings that --strict turns into errors) ---------------------------------------


@kind
def case_folder_off_pattern(data, out):
    """was: `case_1` vanished from the inventory although both CSV files list it."""
    _case_dir(data).rename(data / "set_1/case_1")
    return _inventory(data, out, "--strict"), ["set_1/case_1: looks like a case folder", "rename it case_01"]


@kind
def organ_file_unknown_organ(data, out):
    shutil.copy(_mask(data), _case_dir(data) / f"{CASE}_OAR_Pharynx.seg.nrrd")
    return _inventory(data, out, "--strict"), [f"{CASE}: {CASE}_OAR_Pharynx.seg.nrrd: 'Pharynx' is not one of the 30"]


@kind
def organ_file_off_pattern(data, out):
    shutil.copy(_mask(data), _case_dir(data) / f"{CASE}_OAR_Brainstem.nrrd")
    return _inventory(data, out, "--strict"), [f"{CASE}: {CASE}_OAR_Brainstem.nrrd: does not match", "rename it"]


@kind
def age_unreadable(data, out):
    """was: blanked without a warning, and ages feed the stratified split and Table 1."""
    path = data / "set_1" / dataset_layout.PATIENT_CSV
    _set_cell(path, CASE, "age", "sixty")
    return _inventory(data, out, "--strict"), [f"{CASE}: {path}: column 'age': cannot read 'sixty'"]


@kind
def gender_unreadable(data, out):
    path = data / "set_1" / dataset_layout.PATIENT_CSV
    _set_cell(path, CASE, "gender", "X")
    return _inventory(data, out, "--strict"), [f"{CASE}: {path}: column 'gender': cannot read 'X'"]


@kind
def availability_unreadable(data, out):
    path = data / "set_1" / dataset_layout.OAR_CSV
    _set_cell(path, CASE, "A_Carotid_L", "yes")
    return _inventory(data, out, "--strict"), [f"{CASE}: {path}: column 'A_Carotid_L': cannot read 'yes'"]


@kind
def patient_csv_missing(data, out):
    (data / "set_1" / dataset_layout.PATIENT_CSV).unlink()
    return _inventory(data, out), [f"{data / 'set_1'}: missing {dataset_layout.PATIENT_CSV}"]


# --- archives ----------------------------------------------------------------------------------------------


def _zip(data: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(data.rglob("*")):
            if file.is_file():
                archive.write(file, f"HaN-Seg/{file.relative_to(data)}")
    return path


def _extract(archive: Path, out: Path) -> list[str]:
    return ["extract", str(archive), "--out-dir", str(out / "HaN-Seg")]


@kind
def zip_member_bad_crc(data, out):
    """was: a 27-line traceback."""
    archive = _zip(data, out.parent / "HaN-Seg.zip")
    member = f"HaN-Seg/set_1/{CASE}/{dataset_layout.ct_name(CASE)}"
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(member)
    raw = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF  # one byte of the compressed data
    archive.write_bytes(bytes(raw))
    return _extract(archive, out), [f"entry '{member}'", "delete it and download it again"]


@kind
def zip_truncated(data, out):
    archive = _zip(data, out.parent / "HaN-Seg.zip")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    return _extract(archive, out), [f"{archive}: not a readable zip archive"]


@kind
def zip_slip(data, out):
    archive = _zip(data, out.parent / "HaN-Seg.zip")
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr(f"HaN-Seg/set_1/{CASE}/../../../evil.txt", "x")
    return _extract(archive, out), ["refusing entry that climbs out of the target folder", "evil.txt"]


# --- single-image commands ---------------------------------------------------------------------------------


@kind
def clip_ct_truncated(data, out):
    """was: an ITK dump."""
    _ct(data).write_bytes(_ct(data).read_bytes()[:400])
    return ["clip-ct", str(_ct(data)), "--out", str(out / "ct.nrrd")], [f"{_ct(data)}: cannot read the image"]


@kind
def clip_ct_vector(data, out):
    """was: wrote an output."""
    ct = _read(_ct(data))
    _write(sitk.Compose([ct, ct]), _ct(data))
    return ["clip-ct", str(_ct(data)), "--out", str(out / "ct.nrrd")], [f"{_ct(data)}: 2 values per voxel"]


@kind
def clip_ct_2d(data, out):
    """was: wrote an output."""
    _write(_read(_ct(data))[:, :, 4], _ct(data))
    return ["clip-ct", str(_ct(data)), "--out", str(out / "ct.nrrd")], [f"{_ct(data)}: a 2D image, expected 3D"]


def _register(data: Path, out: Path) -> list[str]:
    return ["register", "--ct", str(_ct(data)), "--mr", str(_mr(data)), "--out-dir", str(out), "--case", CASE]


@kind
def register_ct_2d(data, out):
    """was: "cannot reshape array of size 4 into shape (3,3)"."""
    _write(_read(_ct(data))[:, :, 4], _ct(data))
    return _register(data, out), [f"{_ct(data)}: a 2D image, expected 3D"]


@kind
def register_mr_4d(data, out):
    mr = _read(_mr(data))
    _write(sitk.JoinSeries([mr, mr]), _mr(data))
    return _register(data, out), [f"{_mr(data)}: a 4D image, expected 3D"]


@kind
def register_ct_not_axial(data, out):
    ct = _read(_ct(data))
    ct.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, 1))
    _write(ct, _ct(data))
    return _register(data, out), [f"{CASE}: CT: direction matrix", "Reorient the image first"]


@kind
def register_mr_empty(data, out):
    _write(_read(_mr(data)) * 0, _mr(data))
    return _register(data, out), [f"{CASE}: the MR is empty"]


def _resample(data: Path, out: Path) -> list[str]:
    argv = ["resample", "--ct", str(_ct(data)), "--case-dir", str(_case_dir(data)), "--out-dir", str(out)]
    return [*argv, "--spacing", "4", "4", "8"]  # coarse: the phantom's 300 mm at 0.5 mm would take half a minute


@kind
def resample_mask_off_grid(data, out):
    mask = _read(_mask(data, "SpinalCord"))  # the last organ: every other one is read before it fails
    mask.SetOrigin([v - 20 for v in mask.GetOrigin()])
    _write(mask, _mask(data, "SpinalCord"))
    return _resample(data, out), [f"{_mask(data, 'SpinalCord')} is not on the grid of the CT: origin", "tolerance"]


@kind
def resample_mask_not_binary(data, out):
    _write(_read(_mask(data, "SpinalCord")) * 7, _mask(data, "SpinalCord"))
    return _resample(data, out), [f"{_mask(data, 'SpinalCord')}: not a binary mask: holds 7"]


def _prediction(data: Path, out: Path, value: int = 5, shift: float = 0.0) -> Path:
    ct = _read(_ct(data))
    labels = np.zeros(sitk.GetArrayViewFromImage(ct).shape, np.uint8)
    labels[10:14, 20:26, 20:26] = value
    image = _like(labels, ct)
    image.SetOrigin([v + shift for v in ct.GetOrigin()])
    path = out.parent / f"{CASE}.nrrd"  # named as the workflow names predictions
    _write(image, path)
    return path


def _evaluate(data: Path, prediction: Path, out: Path) -> list[str]:
    return ["evaluate", "--ref", str(_case_dir(data)), "--pred", str(prediction), "--out", str(out / "x.tsv")]


@kind
def evaluate_reference_value_2(data, out):
    """was: accepted."""
    _write(_read(_mask(data)) * 2, _mask(data))
    return _evaluate(data, _prediction(data, out), out), [f"{_mask(data)}: not a binary mask: holds 2"]


@kind
def evaluate_reference_fraction(data, out):
    """was: accepted."""
    _write(sitk.Cast(_read(_mask(data)), sitk.sitkFloat32) * 0.3, _mask(data))
    return _evaluate(data, _prediction(data, out), out), [f"{_mask(data)}: not a binary mask: holds 0.3"]


@kind
def evaluate_labels_out_of_range(data, out):
    prediction = _prediction(data, out, value=31)
    return _evaluate(data, prediction, out), [f"{prediction}: label values must be the official ids 0..30"]


@kind
def evaluate_prediction_off_grid(data, out):
    prediction = _prediction(data, out, shift=3.0)
    return _evaluate(data, prediction, out), [
        f"{prediction} is not on the grid of",
        "by (3, 3, 3) mm (tolerance",
        "--resample-prediction",
    ]


@kind
def evaluate_duplicate_reference(data, out):
    original = _mask(data, "Parotid_L")
    shutil.copy(original, original.with_name(original.name.replace("Parotid_L", "parotid_l")))
    return _evaluate(data, _prediction(data, out), out), ["a second mask for Parotid_L", original.name]


# ---------------------------------------------------------------------------------------------------------


#: Kinds about the whole dataset, not one case: their line names the file only.
SET_LEVEL = {"patient_csv_missing", "zip_truncated"}


def test_at_least_25_kinds():
    assert len(KINDS) >= 25


@pytest.mark.parametrize("name", sorted(KINDS))
def test_bad_input_is_one_line_naming_case_and_file_and_leaves_nothing(name, phantom_copy, tmp_path, capsys):
    out = tmp_path / "out"
    argv, fragments = KINDS[name](phantom_copy, out)
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one problem, one line
    assert lines[0].startswith(f"hanseg {argv[0]}: error: ")
    if name not in SET_LEVEL:
        assert CASE in lines[0] or "case_1" in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not leftovers, f"partial output left: {leftovers}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary file or folder was left"


def test_several_problems_of_several_cases_are_one_line_each(phantom_copy, tmp_path, capsys):
    _mr(phantom_copy).unlink()
    _write(_read(_mask(phantom_copy)) * 2, _mask(phantom_copy))
    ct3 = phantom_copy / "set_1/case_03" / dataset_layout.ct_name("case_03")
    ct3.write_bytes(ct3.read_bytes()[:300])
    assert main(_inventory(phantom_copy, tmp_path / "out")) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(": ")[2:4] for line in lines] == [
        [CASE, dataset_layout.mr_name(CASE)],
        [CASE, _mask(phantom_copy).name],
        ["case_03", dataset_layout.ct_name("case_03")],
    ]
    assert not (tmp_path / "out").exists()


def test_warnings_name_what_they_ignore_and_the_run_goes_on(phantom_copy, tmp_path, caplog):
    (phantom_copy / "set_1/case_03").rename(phantom_copy / "set_1/Case_3")
    shutil.copy(_mask(phantom_copy), _case_dir(phantom_copy) / f"{CASE}_OAR_Pharynx.seg.nrrd")
    patients = phantom_copy / "set_1" / dataset_layout.PATIENT_CSV
    _set_cell(patients, CASE, "age", "sixty")
    _set_cell(patients, CASE, "gender", "X")
    assert main(_inventory(phantom_copy, tmp_path / "out")) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("set_1/Case_3: looks like a case folder" in w and "rename it case_03" in w for w in warnings)
    assert any(w.startswith(f"{CASE}: {CASE}_OAR_Pharynx.seg.nrrd: 'Pharynx' is not one") for w in warnings)
    assert any(f"{CASE}: {patients}: column 'age': cannot read 'sixty'" in w for w in warnings)
    assert any(f"{CASE}: {patients}: column 'gender': cannot read 'X'" in w for w in warnings)
    cases = pd.read_csv(tmp_path / "out/cases.tsv", sep="\t")
    assert list(cases["case"]) == [CASE, "case_02"]  # Case_3 is not processed, and was named
    assert list(cases["warnings"]) == [3, 0] and pd.isna(cases["age"][0]) and pd.isna(cases["gender"][0])


def test_evaluate_names_an_unknown_organ_file_and_goes_on(phantom_copy, tmp_path, caplog):
    """was: unknown organ files that the inventory would reject were ignored silently."""
    unknown = _case_dir(phantom_copy) / f"{CASE}_OAR_Pharynx.seg.nrrd"
    shutil.copy(_mask(phantom_copy), unknown)
    argv = _evaluate(phantom_copy, _prediction(phantom_copy, tmp_path / "out"), tmp_path)
    assert main(argv) == 0
    assert any(str(unknown) in r.getMessage() and "names no HaN-Seg organ" in r.getMessage() for r in caplog.records)


def test_a_real_process_exits_1_without_a_traceback(phantom_copy, tmp_path):
    argv, fragments = KINDS["register_ct_2d"](phantom_copy, tmp_path / "out")
    result = subprocess.run([sys.executable, "-m", "hanseg.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and fragments[0] in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    verbose = subprocess.run([sys.executable, "-m", "hanseg.cli", "-v", *argv], capture_output=True, text=True)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr  # -v: for a bug report


def test_the_unbroken_phantom_passes_every_check(phantom_copy, tmp_path, capsys):
    """The checks do not reject good input (a check that rejects everything proves nothing)."""
    assert main(_inventory(phantom_copy, tmp_path / "inventory", "--strict")) == 0
    assert len(pd.read_csv(tmp_path / "inventory/cases.tsv", sep="\t")) == 3
    assert main(["clip-ct", str(_ct(phantom_copy)), "--out", str(tmp_path / "ct.nrrd")]) == 0
    assert main(_resample(phantom_copy, tmp_path / "resampled")) == 0
    assert main(_evaluate(phantom_copy, _prediction(phantom_copy, tmp_path / "x"), tmp_path)) == 0
    assert "error" not in capsys.readouterr().err
