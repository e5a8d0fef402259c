"""What the tests share: the repository root, the small phantom's options, the shared HTTP test server, the
CI phantom run, figure and chain checks."""

from pathlib import Path

from hanseg.core.defaults import ELASTIX_PARAMETER_FILES, resolve_data_files

#: The repository's root folder.
REPO = Path(__file__).resolve().parents[2]
#: The packaged elastix parameter files the workflow registers with by default (the rigid stage).
PARAMETER_FILES = resolve_data_files(ELASTIX_PARAMETER_FILES)
#: The paper's two stages (rigid, then the optional B-spline stage with its keep decision).
PAPER_PARAMETER_FILES = resolve_data_files(("hanseg:elastix/rigid.txt", "hanseg:elastix/bspline.txt"))
