"""One set of defaults: the config schema's, read by the workflow, the command line and the package functions."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest
import yaml

from hanseg.cli import build_parser
from hanseg.core import defaults
from hanseg.core.errors import InputError
from hanseg.dataset.download import download_file
from hanseg.dataset.phantom import PhantomOptions
from hanseg.dataset.splits import make_split
from hanseg.evaluation.case_files import evaluate_files
from hanseg.evaluation.case_scores import evaluate_case
from hanseg.evaluation.metrics import hausdorff_percentile, mask_metrics
from hanseg.preprocessing.resampling import resample_case, resample_case_files
from hanseg.reporting.figures.comparison import comparison_figure
from hanseg.reporting.figures.results import forest_plot
from hanseg.reporting.paper_comparison import Bootstrap
from tests.support import REPO

#: (subcommand, option) -> the config key whose default it must have.
CLI_OPTIONS = {
    ("phantom", "cases"): "dataset.phantom.cases",
    ("phantom", "seed"): "dataset.phantom.seed",
    ("phantom", "shape"): "dataset.phantom.shape",
    ("phantom", "fov_mm"): "dataset.phantom.fov_mm",
    ("phantom", "slice_mm"): "dataset.phantom.slice_mm",
    ("phantom", "mr_shape"): "dataset.phantom.mr_shape",
    ("phantom", "mr_spacing"): "dataset.phantom.mr_spacing",
    ("download", "url"): "dataset.url",
    ("download", "sha256"): "dataset.sha256",
    ("download", "size"): "dataset.size",
    ("download", "retries"): "dataset.download_retries",
    ("clip-ct", "lower"): "preprocessing.hu_clip",
    ("clip-ct", "upper"): "preprocessing.hu_clip",
    ("register", "params"): "registration.parameter_files",
    ("register", "initialisation"): "registration.initialisation",
    ("resample", "spacing"): "preprocessing.target_spacing",
    ("resample", "hu_range"): "preprocessing.hu_clip",
    ("resample", "body_crop"): "preprocessing.body_crop",
    ("evaluate", "min_fov_fraction"): "evaluation.min_volume_fraction",
    ("evaluate", "percentile"): "evaluation.hd_percentile",
    ("table2", "resamples"): "evaluation.bootstrap.resamples",
    ("table2", "seed"): "evaluation.bootstrap.seed",
    ("table2", "confidence"): "evaluation.bootstrap.confidence",
    ("table2", "min_cases"): "evaluation.bootstrap.min_cases",
}


def _cli_defaults() -> dict[tuple[str, str], object]:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {(name, action.dest): action.default for name, sub in subparsers.choices.items() for action in sub._actions}


def _same(value, expected) -> bool:
    if isinstance(expected, list):
        return list(value) == expected
    return value == expected


def test_command_line_defaults_are_the_schemas():
    found = _cli_defaults()
    for (command, option), key in CLI_OPTIONS.items():
        expected = defaults.default(key)
        if key == "preprocessing.hu_clip" and command == "clip-ct":
            expected = expected[["lower", "upper"].index(option)]
        assert _same(found[command, option], expected), (command, option, found[command, option], expected)


def _keyword_default(function, name):
    return inspect.signature(function).parameters[name].default


def test_package_function_defaults_are_the_schemas():
    spacing, hu_clip = defaults.default("preprocessing.target_spacing"), defaults.default("preprocessing.hu_clip")
    for function in (resample_case, resample_case_files):
        assert _same(_keyword_default(function, "spacing_xyz"), spacing)
        assert _same(_keyword_default(function, "hu_range"), hu_clip)
        assert _keyword_default(function, "body_crop") == defaults.default("preprocessing.body_crop")
    for function in (evaluate_case, evaluate_files):
        assert _keyword_default(function, "min_fov_fraction") == defaults.default("evaluation.min_volume_fraction")
    for function in (evaluate_case, evaluate_files, hausdorff_percentile, mask_metrics):
        assert _keyword_default(function, "percentile") == defaults.default("evaluation.hd_percentile")
    assert vars(Bootstrap()) == {
        key: defaults.default(f"evaluation.bootstrap.{key}") for key in ("resamples", "seed", "confidence", "min_cases")
    }
    phantom = PhantomOptions()
    assert (phantom.cases, phantom.seed, list(phantom.ct_shape)) == (
        defaults.default("dataset.phantom.cases"),
        defaults.default("dataset.phantom.seed"),
        defaults.default("dataset.phantom.shape"),
    )
    assert (phantom.ct_fov_mm, phantom.ct_slice_mm, phantom.mr_shape, phantom.mr_spacing_mm) == (
        defaults.default("dataset.phantom.fov_mm"),
        defaults.default("dataset.phantom.slice_mm"),
        defaults.default("dataset.phantom.mr_shape"),
        defaults.default("dataset.phantom.mr_spacing"),
    )
    assert _keyword_default(download_file, "retries") == defaults.default("dataset.download_retries")
    for option in ("test_fraction", "folds", "seed", "stratify"):
        assert _same(_keyword_default(make_split, option), defaults.default(f"split.{option}")), option
    for function in (forest_plot, comparison_figure):
        assert _keyword_default(function, "confidence") == defaults.default("evaluation.bootstrap.confidence")


def _values(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _values(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_the_papers_config_spells_out_the_defaults():
    """config/config.yaml shows users the paper's run key by key; it is the schema's defaults, not a second copy."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.pop("experiments")  # named variants, not defaults (the paper's one is the schema's default)
    differing = {key: value for key, value in _values(config) if value != defaults.default(key)}
    assert differing == {}


#: The paper's constants that only the schema (and the paper's run config, held equal above) may spell out.
CONSTANTS = (
    "20226dd717f334dc1b1afe961b3375f946fa56b64a80bf5349128f90c0bbfa5f",
    "zenodo.org/records/7442914",
    "4938848306",
)


def test_no_copy_of_the_papers_constants_in_code():
    code = [REPO / "Snakefile", *REPO.glob("workflow/**/*.smk"), *REPO.glob("workflow/scripts/**/*.py")]
    code += [*REPO.glob("bench/*.py")]
    copies = [(path.name, constant) for path in code for constant in CONSTANTS if constant in path.read_text()]
    assert copies == []
    # Literal defaults that used to be repeated: the HU range, the grid, the HD percentile, the FoV fraction.
    pattern = re.compile(
        r"=\s*[\[(]-1000(\.0)?, 3000"  # the HU range
        r"|0\.5, 0\.5, 2\.0\)"  # the grid
        r"|percentile: float = 95|default=95"  # the HD percentile
        r"|fraction: float = 0\.2\b|FRACTION = 0\.2\b"  # the FoV rule
    )
    assert [path.name for path in code if pattern.search(path.read_text())] == []


def test_packaged_files_resolve_and_missing_ones_are_named(tmp_path, monkeypatch):
    files = defaults.resolve_data_files([*defaults.ELASTIX_PARAMETER_FILES, "hanseg:elastix/bspline.txt"])
    assert [path.parent for path in files] == [defaults.DATA_DIR / "elastix"] * 2
    assert all(path.is_file() for path in files)
    (tmp_path / "own.txt").write_text('(Transform "EulerTransform")\n')
    monkeypatch.chdir(tmp_path)
    assert defaults.resolve_data_files(["own.txt"]) == [Path("own.txt")]  # relative: the working directory first
    elsewhere = tmp_path / "workflow"
    (elsewhere / "params").mkdir(parents=True)
    (elsewhere / "params/b.txt").write_text("")
    assert defaults.resolve_data_files(["params/b.txt"], search=[elsewhere]) == [elsewhere / "params/b.txt"]
    for missing in ("hanseg:elastix/affine.txt", "nowhere.txt"):
        with pytest.raises(InputError, match=rf"registration.parameter_files: {missing}: not found \(looked for"):
            defaults.resolve_data_files([missing], what="registration.parameter_files:")
    with pytest.raises(KeyError, match="evaluation.hd95"):
        defaults.default("evaluation.hd95")
