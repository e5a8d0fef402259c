"""The package as users install it, and its command line against the workflow.

A non-editable ``pip install --no-deps .`` into a fresh virtual environment (which sees this test environment's
packages through a ``.pth`` file, so nothing is downloaded), run from a folder outside the checkout: the ``hanseg``
it imports is the installed copy, with the package data (config schema, elastix parameter files, the paper's
Table 2). Then the installed command line and the workflow process one phantom case each (inventory, HU clipping,
registration, resampling, evaluation) and must write the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.preprocessing.resampling import ResampledFiles, resample_case_files
from tests.support import REPO

CASE = "case_01"
#: A coarse grid and the rigid stage alone keep both registrations and resamplings to seconds.
SPACING = (4.0, 4.0, 8.0)
PARAMS = "hanseg:elastix/rigid.txt"


def _without_checkout_on_path() -> dict:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv holding a non-editable install of the package."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"  # pip builds in the source tree: a copy keeps the checkout clean
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "workflow/scripts/hanseg",
        source / "workflow/scripts/hanseg",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    venv.create(root / "venv", with_pip=False, symlinks=True)
    python = root / "venv/bin/python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies (and pip, setuptools) from this test environment: a plain path line, so the editable
    # install's own .pth there is not processed and the checkout stays off the new venv's path.
    ours = sysconfig.get_paths()
    Path(site, "test-environment.pth").write_text("\n".join(dict.fromkeys([ours["purelib"], ours["platlib"]])) + "\n")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=_without_checkout_on_path(),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root / "venv/bin"


def _run(command: list, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=_without_checkout_on_path())
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result


def test_installed_package_is_the_installed_copy_with_its_data(installed, tmp_path):
    probe = (
        "import json, hanseg, hanseg.core.defaults as d, hanseg.reporting.table2 as t;"
        "print(json.dumps([hanseg.__file__, [str(p) for p in d.resolve_data_files(d.ELASTIX_PARAMETER_FILES)],"
        " d.TARGET_SPACING, len(t.paper_table2())]))"
    )
    module, parameter_files, spacing, rows = json.loads(_run([installed / "python", "-c", probe], tmp_path).stdout)
    site = installed.parent / "lib"
    assert Path(module).is_relative_to(site), module  # not the checkout
    assert [Path(p).name for p in parameter_files] == ["rigid.txt"]
    assert (Path(parameter_files[0]).parent / "bspline.txt").is_file()  # the paper's stage, installed as an option
    assert all(Path(p).is_relative_to(site) and Path(p).is_file() for p in parameter_files)
    assert spacing == [0.5, 0.5, 2.0] and rows == 38
    assert "--params" in _run([installed / "hanseg", "register", "--help"], tmp_path).stdout


def _prediction(data_root: Path, out: Path, scratch: Path) -> Path:
    """A prediction on the resampled grid with real errors: the case's label map (it depends on the CT's grid
    and the masks only, so it is the one both front doors will make) one voxel off in x, without the brainstem."""
    folder = dataset_layout.case_dir(data_root, CASE)
    outputs = ResampledFiles.in_folder(scratch)
    resample_case_files(
        folder / dataset_layout.ct_name(CASE), None, None, folder, outputs, spacing_xyz=SPACING, case=CASE
    )
    labels = sitk.ReadImage(str(scratch / "labels.nrrd"))
    array = np.roll(sitk.GetArrayFromImage(labels), 1, axis=2)
    array[array == dataset_layout.LABEL_IDS["Brainstem"]] = 0
    prediction = sitk.GetImageFromArray(array)
    prediction.CopyInformation(labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(prediction, str(out), useCompression=True)
    return out


def _same_files(ours: Path, theirs: Path, names: list[str]) -> None:
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), f"{name}: CLI and workflow differ"


@pytest.mark.slow
def test_cli_and_workflow_write_the_same_files(installed, phantom_root, tmp_path):
    """The installed `hanseg`, run from a folder outside the checkout, and the workflow on the same case.

    Registration is compared file by file too: elastix's random sampler has a fixed seed and both run with one
    thread, so the result is deterministic (only the seconds it took differ).
    """
    data = phantom_root / "HaN-Seg"
    workdir = tmp_path / "workflow"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config/config.yaml").write_text(
        f"dataset: {{source: local, local_path: {data}, cases: [{CASE}]}}\n"
        f"preprocessing: {{target_spacing: {list(SPACING)}}}\n"
        f'registration: {{parameter_files: ["{PARAMS}"], landmarks_dir: {phantom_root / "truth"}}}\n'
    )
    results = workdir / "results"
    case_results = results / "cases" / CASE
    evaluation = results / f"experiments/ct_mr/evaluation/cases/{CASE}.tsv"
    prediction = _prediction(data, results / f"experiments/ct_mr/predictions/{CASE}.nrrd", tmp_path / "labels")
    command = [sys.executable, "-m", "snakemake", "--snakefile", REPO / "Snakefile", "--directory", workdir]
    command += ["--cores", "1"]  # one thread for elastix, as the command line's below
    targets = ["results/inventory/cases.tsv", f"results/cases/{CASE}/resampled/labels.nrrd"]
    snakemake = subprocess.Popen(  # runs beside the command line below: two cores, half the wait
        [*command, *targets], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    cli = tmp_path / "cli"  # outside the checkout
    cli.mkdir()
    hanseg = installed / "hanseg"
    folder = dataset_layout.case_dir(data, CASE)
    _run([hanseg, "inventory", data, "--out-dir", "inventory", "--cases", CASE], cli)
    _run([hanseg, "clip-ct", folder / dataset_layout.ct_name(CASE), "--out", "ct_clipped.nrrd"], cli)
    truth = phantom_root / "truth" / CASE
    _run(
        [hanseg, "register", "--ct", "ct_clipped.nrrd", "--mr", folder / dataset_layout.mr_name(CASE), "--out-dir"]
        + ["registration", "--params", PARAMS, "--threads", "1", "--case", CASE]
        + ["--landmarks-ct", truth / "landmarks_ct.csv", "--landmarks-mr", truth / "landmarks_mr.csv"],
        cli,
    )
    _run(
        [hanseg, "resample", "--ct", "ct_clipped.nrrd", "--mr", "registration/mr_in_ct.nrrd", "--fov"]
        + ["registration/fov_mask.nrrd", "--case-dir", folder, "--out-dir", "resampled", "--case", CASE]
        + ["--spacing", *map(str, SPACING)],
        cli,
    )
    _run(
        [hanseg, "evaluate", "--ref", "resampled/labels.nrrd", "--pred", prediction, "--fov-mask"]
        + ["resampled/fov_mask.nrrd", "--case", CASE, "--out", "evaluation.tsv"],
        cli,
    )

    log, _ = snakemake.communicate(timeout=600)
    assert snakemake.returncode == 0, log[-3000:]
    # Then the evaluation alone, with the prediction above standing in for nnU-Net's (a second run: while the
    # resampled images are still to be made, nnU-Net's prediction rule asks for the split, which needs more cases).
    result = subprocess.run(
        [*command, "--allowed-rules", "evaluate", "--", str(evaluation.relative_to(workdir))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _same_files(cli / "inventory", results / "inventory", ["cases.tsv", "organs.tsv"])
    _same_files(cli, case_results, ["ct_clipped.nrrd"])
    registration = ["mr_in_ct.nrrd", "fov_mask.nrrd", "TransformParameters.init.txt", "TransformParameters.0.txt"]
    _same_files(cli / "registration", case_results / "registration", registration)
    reports = [json.loads((path / "registration/registration.json").read_text()) for path in (cli, case_results)]
    for report in reports:
        report.pop("seconds")
    assert reports[0] == reports[1] and reports[0]["tre_mm"]["mean"] > 0
    organs = sorted(p.name for p in (cli / "resampled/organs").glob("*.nrrd"))
    assert organs == sorted(p.name for p in (case_results / "resampled/organs").glob("*.nrrd")) and len(organs) > 20
    resampled = ["ct.nrrd", "mr.nrrd", "fov_mask.nrrd", "labels.nrrd", "overlaps.tsv", "resample.json"]
    _same_files(cli / "resampled", case_results / "resampled", [*resampled, *(f"organs/{name}" for name in organs)])
    assert (cli / "evaluation.tsv").read_text() == evaluation.read_text()
    rows = (cli / "evaluation.tsv").read_text().splitlines()
    assert len(rows) == 31 and "empty prediction" in (cli / "evaluation.tsv").read_text()  # a real evaluation
