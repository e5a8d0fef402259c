"""elastix parameter text from a model folder: the workflow's own files pass, anything that reads or writes files or
runs unbounded is refused in one line naming the source."""

from __future__ import annotations

import pytest

from hanseg.core.defaults import DATA_DIR
from hanseg.registration.parameter_text import ParameterTextError, allowed_names, check_parameter_text, parameters


@pytest.mark.parametrize("name", ["rigid.txt", "bspline.txt"])
def test_the_workflows_own_files_pass(name):
    text = (DATA_DIR / "elastix" / name).read_text()
    check_parameter_text(text, name)
    assert ("Transform", ["EulerTransform" if name == "rigid.txt" else "BSplineTransform"]) in parameters(text, name)


def test_the_allowed_names_are_those_of_the_workflows_files():
    names = allowed_names()
    assert {"Transform", "Metric", "NumberOfResolutions", "WriteResultImage"} <= names
    assert "InitialTransformParametersFileName" not in names and "OutputDirectory" not in names


@pytest.mark.parametrize(
    "line, refused",
    [
        ('(WriteResultImage "true")', "elastix writes no files here"),
        ('(WriteIterationInfo "true")', "elastix writes no files here"),
        ('(InitialTransformParametersFileName "other.txt")', "parameter InitialTransformParametersFileName refused"),
        ('(WriteTransformParametersEachIteration "true")', "refused"),
        ('(ResultImageFormat "../../x/y")', "no paths in parameter text"),
        ("(MaximumNumberOfIterations 100000000)", "at most 20000"),
        ("(NumberOfResolutions 3) junk", "is not an elastix parameter"),
        ("import os", "is not an elastix parameter"),
    ],
)
def test_text_that_writes_reads_or_runs_unbounded_is_refused(line, refused):
    text = (DATA_DIR / "elastix/rigid.txt").read_text() + line + "\n"
    with pytest.raises(ParameterTextError) as error:
        check_parameter_text(text, "model/hanseg_model.json: rigid.txt")
    message = str(error.value)
    assert refused in message and message.startswith("model/hanseg_model.json: rigid.txt: ")
    assert len(message.splitlines()) == 1


def test_oversized_text_is_refused():
    with pytest.raises(ParameterTextError, match="more than 64000"):
        check_parameter_text("// x\n" * 20_000, "big.txt")
