from __future__ import annotations

import subprocess
import sys

import pandas as pd

import hanseg
from hanseg.cli import main
from hanseg.core import defaults


def test_version_is_the_packages_and_the_distributions():
    from importlib import metadata

    result = subprocess.run([sys.executable, "-m", "hanseg.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"hanseg-workflow {hanseg.__version__}"
    assert metadata.version("hanseg-workflow") == hanseg.__version__


def test_segment_takes_the_schemas_devices_and_back_mappings():
    from hanseg.cli import build_parser

    parser = build_parser()
    segment = parser._subparsers._group_actions[0].choices["segment"]
    choices = {action.dest: action for action in segment._actions}
    assert set(choices["device"].choices) == set(defaults.choices("nnunet.device")) == {"cpu", "cuda", "mps"}
    assert tuple(choices["backmap"].choices) == defaults.choices("segment.backmap")
    assert choices["backmap"].default == defaults.default("segment.backmap")


def test_help_lists_the_subcommands():
    result = subprocess.run([sys.executable, "-m", "hanseg.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in (
        "phantom",
        "download",
        "extract",
        "inventory",
        "clip-ct",
        "register",
        "resample",
        "evaluate",
        "table2",
    ):
        assert command in result.stdout


def test_phantom_extract_inventory_clip(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "p"), "--cases", "2", "--seed", "4", "--shape", "32x32x16", "--zip"]) == 0
    assert (tmp_path / "p/HaN-Seg.zip").is_file()
    assert main(["extract", str(tmp_path / "p/HaN-Seg.zip"), "--out-dir", str(tmp_path / "data")]) == 0
    assert main(["inventory", str(tmp_path / "data"), "--out-dir", str(tmp_path / "inv")]) == 0
    assert len(pd.read_csv(tmp_path / "inv/cases.tsv", sep="\t")) == 2
    ct = tmp_path / "data/set_1/case_02/case_02_IMG_CT.nrrd"
    assert main(["clip-ct", str(ct), "--out", str(tmp_path / "ct.nrrd")]) == 0


def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere.zip"
    assert main(["extract", str(missing), "--out-dir", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hanseg extract: error:") and str(missing) in err and "\n" not in err
