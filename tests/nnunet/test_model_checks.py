"""A model folder from elsewhere runs no code: payloads that would leave a marker file are refused in one line naming
the file, before anything is unpickled, imported or built; a folder in the workflow's form loads."""

from __future__ import annotations

import json
import pydoc
import textwrap
from pathlib import Path

import pytest
import torch

from hanseg.nnunet import MODEL_RECORD
from hanseg.nnunet.model import read_model
from hanseg.nnunet.model_checks import ModelError, load_checkpoint
from hanseg.nnunet.predict import Predictor
from tests.support.model_folders import LeavesMarker, checkpoint_content, model_folder, write_checkpoint


def _one_line(error: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(error.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message


def _plans(folder: Path, change) -> None:
    plans = json.loads((folder / "plans.json").read_text())
    change(plans["configurations"]["3d_fullres"]["architecture"])
    (folder / "plans.json").write_text(json.dumps(plans))


@pytest.fixture
def genuine(tmp_path) -> Path:
    return model_folder(tmp_path / "model", ["CT", "MR"], weights=True)


def test_a_folder_in_the_workflows_form_loads(genuine):
    model = read_model(genuine)
    predictor = Predictor(model.folder, model.folds, device="cpu")
    assert predictor.mirror_axes == (0, 1)


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(genuine, tmp_path):
    marker = tmp_path / "marker"
    content = checkpoint_content(genuine)
    content["logging"]["payload"] = LeavesMarker(marker)
    checkpoint = genuine / "fold_all/checkpoint_final.pth"
    write_checkpoint(genuine, checkpoint, content)
    with pytest.raises(ModelError) as error:
        Predictor(genuine, ["all"], device="cpu")
    _one_line(error, checkpoint, "refused", "unpickle posix.system")
    assert not marker.exists()
    torch.load(checkpoint, weights_only=False)  # the payload is real: nnU-Net's own loading would have run it
    assert marker.exists()


def test_a_truncated_checkpoint_is_one_line(genuine):
    checkpoint = genuine / "fold_all/checkpoint_final.pth"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(ModelError) as error:
        load_checkpoint(checkpoint)
    _one_line(error, checkpoint, "cannot read it as a PyTorch checkpoint")


def test_weights_that_do_not_fit_the_plans_are_refused(genuine):
    content = checkpoint_content(genuine)
    first = next(iter(content["network_weights"]))
    content["network_weights"][first] = torch.zeros(3)
    write_checkpoint(genuine, genuine / "fold_all/checkpoint_final.pth", content)
    with pytest.raises(ModelError) as error:
        Predictor(genuine, ["all"], device="cpu")
    _one_line(error, genuine / "fold_all/checkpoint_final.pth", "do not fit the network", first)


def test_plans_naming_a_class_outside_nnunets_architectures_are_refused_before_any_import(
    genuine, tmp_path, monkeypatch
):
    marker = tmp_path / "marker"
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "evil_net.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        import torch
        Path({str(marker)!r}).touch()
        class Net(torch.nn.Module):
            pass
        """)
    )
    monkeypatch.syspath_prepend(str(modules))
    _plans(genuine, lambda architecture: architecture.update(network_class_name="evil_net.Net"))
    with pytest.raises(ModelError) as error:
        read_model(genuine)
    _one_line(error, genuine / "plans.json", "network class 'evil_net.Net'", "dynamic_network_architectures")
    assert not marker.exists()
    assert pydoc.locate("evil_net.Net") is not None and marker.exists()  # what nnU-Net's lookup would have done


@pytest.mark.parametrize(
    "change, refused",
    [
        (lambda a: a["arch_kwargs"].update(nonlin="os.system"), "nonlin 'os.system' is not a class of torch.nn"),
        (lambda a: a.update(_kw_requires_import=["conv_op", "block"]), "_kw_requires_import"),
        (lambda a: a["arch_kwargs"].update(features_per_stage=[8, 16, 32, 10**6]), "features_per_stage"),
    ],
)
def test_plans_that_name_other_code_or_unbounded_sizes_are_refused(genuine, change, refused):
    _plans(genuine, change)
    with pytest.raises(ModelError) as error:
        read_model(genuine)
    _one_line(error, genuine / "plans.json", refused)


@pytest.mark.parametrize(
    "name, refused",
    [
        ("dynamic_network_architectures.architectures.unet.torch.load", "no module"),
        ("dynamic_network_architectures.architectures.unet._ConvNd", "is not a network or layer class"),
    ],
)
def test_a_name_reaching_outside_through_a_module_of_the_package_is_refused(genuine, name, refused):
    """Names that start with the package's name but reach torch's code through the package's own imports."""
    _plans(genuine, lambda architecture: architecture.update(network_class_name=name))
    read_model(genuine)  # passes the check by name
    with pytest.raises(ModelError) as error:
        Predictor(genuine, ["all"], device="cpu")
    _one_line(error, genuine / "plans.json", refused)


def test_a_preprocessing_name_nnunet_does_not_ship_is_refused(genuine):
    plans = json.loads((genuine / "plans.json").read_text())
    plans["configurations"]["3d_fullres"]["normalization_schemes"] = ["CTNormalization", "os"]
    (genuine / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(ModelError) as error:
        read_model(genuine)
    _one_line(error, genuine / "plans.json", "normalization_schemes 'os'")


@pytest.mark.parametrize(
    "change, refused",
    [
        (
            lambda r: r["registration"]["parameters"].__setitem__(
                "hanseg:elastix/rigid.txt", '(WriteResultImage "true")\n'
            ),
            "elastix writes no files here",
        ),
        (lambda r: r["registration"]["parameter_files"].append("rigid.txt"), "parameter file 'rigid.txt' refused"),
        (lambda r: r["registration"].update(parameter_files=["/etc/passwd"]), "refused"),
        (lambda r: r.update(target_spacing=[0.5, 0.5, 1e9]), "target_spacing"),
        (lambda r: r.update(hu_clip=[3000, -1000]), "hu_clip"),
        (lambda r: r["registration"].update(initialisation="anything"), "initialisation"),
    ],
)
def test_a_record_that_asks_for_files_or_unbounded_values_is_refused(genuine, change, refused):
    record = json.loads((genuine / MODEL_RECORD).read_text())
    change(record)
    (genuine / MODEL_RECORD).write_text(json.dumps(record))
    with pytest.raises(ModelError) as error:
        read_model(genuine)
    _one_line(error, genuine / MODEL_RECORD, refused)


def test_an_oversized_json_file_is_refused_before_it_is_read(genuine):
    (genuine / "plans.json").write_text(" " * (5 * 2**20) + "{}")
    with pytest.raises(ModelError) as error:
        read_model(genuine)
    _one_line(error, genuine / "plans.json", "bytes, more than")
