"""Real nnU-Net v2 on a tiny phantom, on the CPU: conversion, planning, resumable training, augmentation, prediction."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.dataset.phantom import PhantomOptions, generate
from hanseg.nnunet import dataset_folder_name, model_folder, set_roots
from hanseg.nnunet.dataset import write_raw_dataset
from hanseg.nnunet.trainer import left_right_axis
from tests.support.phantom_cases import resampled_phantom_case

torch = pytest.importorskip("torch")

DATASET_ID, DATASET_NAME, CONFIGURATION = 987, "HanSegTest", "3d_fullres"
BUDGET = {"epochs": 3, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1, "save_every": 1}


def test_left_right_axis_follows_transpose_forward():
    assert left_right_axis([0, 1, 2]) == 2
    assert left_right_axis([2, 0, 1]) == 0
    assert left_right_axis([1, 2, 0]) == 1


def _bare_trainer(**settings):
    """A HanSegTrainer with only what nnU-Net's save_checkpoint reads (no plans, no dataset, no training)."""
    from hanseg.nnunet.trainer import HanSegTrainer

    trainer = object.__new__(HanSegTrainer)
    network = torch.nn.Linear(2, 1)
    logged = []
    attributes = dict(
        local_rank=0,
        disable_checkpointing=False,
        is_ddp=False,
        network=network,
        optimizer=torch.optim.SGD(network.parameters(), lr=0.1),
        grad_scaler=None,
        logger=type("Logger", (), {"get_checkpoint": lambda self: {}})(),
        _best_ema=None,
        current_epoch=4,
        my_init_kwargs={},
        inference_allowed_mirroring_axes=(0, 1),
        print_to_log_file=logged.append,
    )
    trainer.__dict__.update(attributes | settings)
    return trainer, logged


def test_checkpoints_are_written_under_a_temporary_name_and_renamed(tmp_path):
    checkpoint = tmp_path / "checkpoint_latest.pth"
    trainer, _ = _bare_trainer()
    trainer.save_checkpoint(str(checkpoint))
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["current_epoch"] == 5 and saved["trainer_name"] == "HanSegTrainer"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_latest.pth"]
    written = checkpoint.read_bytes()
    for settings in ({"disable_checkpointing": True}, {"local_rank": 1}):  # nnU-Net writes nothing: the old one stays
        trainer, logged = _bare_trainer(**settings)
        trainer.save_checkpoint(str(checkpoint))
        assert logged == (
            ["No checkpoint written, checkpointing is disabled"] if settings.get("disable_checkpointing") else []
        )
        assert checkpoint.read_bytes() == written and [p.name for p in tmp_path.iterdir()] == ["checkpoint_latest.pth"]
    trainer, _ = _bare_trainer(optimizer=None)  # saving fails: the old checkpoint stays, no temporary is left
    with pytest.raises(AttributeError):
        trainer.save_checkpoint(str(checkpoint))
    assert checkpoint.read_bytes() == written and [p.name for p in tmp_path.iterdir()] == ["checkpoint_latest.pth"]


@pytest.fixture(scope="module")
def nnunet_root(tmp_path_factory) -> Path:
    """Three phantom cases on their own coarse grid, as an nnU-Net dataset, planned and preprocessed."""
    base = tmp_path_factory.mktemp("nnunet")
    generate(base / "phantom", PhantomOptions(cases=3, seed=5, ct_shape=(48, 48, 24)))
    cases = {}
    for case in ("case_01", "case_02", "case_03"):
        cases[case], _ = resampled_phantom_case(base / "phantom", case, base / "resampled" / case)
    root = base / "nnunet"
    saved = dict(os.environ)  # module-scoped: restore by hand what set_roots and the planner set
    roots = set_roots(root)
    write_raw_dataset(
        Path(roots["nnUNet_raw"]) / dataset_folder_name(DATASET_ID, DATASET_NAME),
        {c: cases[c] for c in ("case_01", "case_02")},
        {"case_03": cases["case_03"]},
        ["CT", "MR"],
    )
    from hanseg.nnunet.plan import plan_and_preprocess

    plan_and_preprocess(root, DATASET_ID, DATASET_NAME, CONFIGURATION, processes=1, gpu_memory_target_gb=1)
    os.environ.clear()
    os.environ.update(saved)
    return root


def _train(root, **overrides):
    from hanseg.nnunet.train import train_fold

    options = {**BUDGET, **overrides}
    return train_fold(
        root,
        DATASET_ID,
        DATASET_NAME,
        CONFIGURATION,
        "all",
        device="cpu",
        threads=1,
        epochs=options["epochs"],
        iterations_per_epoch=options["iterations_per_epoch"],
        val_iterations_per_epoch=options["val_iterations_per_epoch"],
        save_every=options["save_every"],
    )


def _train_in_child(root):
    _train(root, epochs=50)  # long enough to be killed after its first checkpoint


def _kill_with_descendants(pid: int) -> None:
    """SIGKILL `pid` and every process under it, as SLURM ends a job at its time limit: killed alone, the trainer
    would leave its augmentation workers orphaned, polling for ever."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):  # no /proc (not Linux): only `pid` itself
        with contextlib.suppress(OSError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    family, todo = [], [pid]
    while todo:
        family.append(todo.pop())
        todo.extend(children.get(family[-1], []))
    for member in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def test_raw_dataset_layout(nnunet_root):
    raw = nnunet_root / "raw" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    info = json.loads((raw / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "CT", "1": "MR"}
    assert info["labels"]["SpinalCord"] == 30 and info["numTraining"] == 2 and info["file_ending"] == ".nrrd"
    assert sorted(p.name for p in (raw / "imagesTr").iterdir()) == [
        "case_01_0000.nrrd",
        "case_01_0001.nrrd",
        "case_02_0000.nrrd",
        "case_02_0001.nrrd",
    ]
    assert sorted(p.name for p in (raw / "imagesTs").iterdir()) == ["case_03_0000.nrrd", "case_03_0001.nrrd"]
    assert sorted(p.name for p in (raw / "labelsTr").iterdir()) == ["case_01.nrrd", "case_02.nrrd"]


@pytest.mark.slow
def test_killed_training_resumes_from_its_checkpoint_and_predicts(nnunet_root, tmp_path):
    fold_dir = model_folder(nnunet_root, DATASET_ID, DATASET_NAME, CONFIGURATION) / "fold_all"
    latest = fold_dir / "checkpoint_latest.pth"
    # A SLURM time limit, played by SIGKILL once the first checkpoint exists.
    child = multiprocessing.get_context("spawn").Process(target=_train_in_child, args=(nnunet_root,))
    child.start()
    deadline = time.time() + 600
    while not latest.is_file() and time.time() < deadline and child.is_alive():
        time.sleep(0.5)
    assert latest.is_file(), "no checkpoint_latest.pth was written"
    _kill_with_descendants(child.pid)
    child.join()
    epoch_before = torch.load(latest, map_location="cpu", weights_only=False)["current_epoch"]
    assert epoch_before >= 1 and not (fold_dir / "checkpoint_final.pth").exists()

    final = _train(nnunet_root)  # the retry
    record = json.loads((fold_dir / "hanseg_training.json").read_text())
    assert record["resumed_from_epoch"] == epoch_before  # the epoch counter continued
    checkpoint = torch.load(final, map_location="cpu", weights_only=False)
    assert checkpoint["current_epoch"] == BUDGET["epochs"]
    assert checkpoint["trainer_name"] == "HanSegTrainer"
    plans = json.loads(
        (nnunet_root / "preprocessed" / dataset_folder_name(DATASET_ID, DATASET_NAME) / "nnUNetPlans.json").read_text()
    )
    lr_axis = left_right_axis(plans["transpose_forward"])
    assert lr_axis not in checkpoint["inference_allowed_mirroring_axes"]
    assert len(checkpoint["inference_allowed_mirroring_axes"]) == 2
    # The first run's epochs are in the log the retry continued.
    assert len(checkpoint["logging"]["train_losses"]) == BUDGET["epochs"]

    from hanseg.nnunet.predict import Predictor

    predictor = Predictor(fold_dir.parent, ["all"], device="cpu")
    assert lr_axis not in predictor.mirror_axes
    raw = nnunet_root / "raw" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    out = tmp_path / "case_03.nrrd"
    channels = [sitk.ReadImage(str(raw / f"imagesTs/case_03_{i:04d}.nrrd")) for i in range(2)]
    predictor.predict_case(channels, out)
    prediction, ct = sitk.ReadImage(str(out)), sitk.ReadImage(str(raw / "imagesTs/case_03_0000.nrrd"))
    assert prediction.GetPixelID() == sitk.sitkUInt8
    assert prediction.GetSize() == ct.GetSize() and prediction.GetOrigin() == ct.GetOrigin()
    assert prediction.GetSpacing() == ct.GetSpacing() and prediction.GetDirection() == ct.GetDirection()
    assert set(np.unique(sitk.GetArrayViewFromImage(prediction))) <= set(range(31))


def _fake_checkpoint(path: Path, epoch: int) -> None:
    """A small file with the keys nnU-Net's load_checkpoint reads."""
    from hanseg.nnunet.train import CHECKPOINT_KEYS

    torch.save({key: {} for key in CHECKPOINT_KEYS} | {"current_epoch": epoch}, path)


def _truncate(path: Path) -> None:
    """What a lost node or a broken copy leaves: the first half of the file."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _unreadable_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hanseg.nnunet.train" and r.levelno == logging.WARNING and "unreadable" in r.getMessage()
    ]


def test_an_unreadable_checkpoint_is_set_aside_and_training_resumes_from_the_next_readable(tmp_path, caplog):
    from hanseg.nnunet.train import choose_checkpoint

    fold = tmp_path / "fold_all"
    fold.mkdir()
    _fake_checkpoint(fold / "checkpoint_latest.pth", 7)
    _fake_checkpoint(fold / "checkpoint_best.pth", 4)
    with caplog.at_level(logging.INFO, logger="hanseg.nnunet.train"):  # a readable latest: nnU-Net's usual resume
        assert choose_checkpoint(fold, "all") == fold / "checkpoint_latest.pth"
    assert caplog.records == []

    _truncate(fold / "checkpoint_latest.pth")
    (fold / "checkpoint_latest.pth.unreadable").write_bytes(b"an older one")
    epochs = "".join(
        f"2026-01-01 10:00:0{e}.000000: Epoch {e}\n2026-01-01 10:00:0{e}.500000: Epoch time: 1.0 s\n" for e in range(8)
    )
    (fold / "training_log_2026_1_1_10_00_00.txt").write_text(epochs)
    (fold / "training_log_2026_1_1_11_00_00.txt").write_text("a retry that died before its first epoch ended\n")
    os.utime(fold / "training_log_2026_1_1_10_00_00.txt", (1, 1))
    assert choose_checkpoint(fold, "all") == fold / "checkpoint_best.pth"
    (warning,) = _unreadable_warnings(caplog)
    assert "checkpoint_latest.pth (RuntimeError: " in warning
    assert "resuming from checkpoint_best.pth at epoch 4" in warning and "epochs lost: 4 " in warning
    assert sorted(p.name for p in fold.glob("checkpoint_*")) == [
        "checkpoint_best.pth",
        "checkpoint_latest.pth.unreadable",
    ]
    assert len((fold / "checkpoint_latest.pth.unreadable").read_bytes()) > len(b"an older one")  # replaced

    # Nothing readable remains, and no log finished an epoch: training starts again, saying so.
    caplog.clear()
    torch.save({"current_epoch": 3}, fold / "checkpoint_best.pth")  # lacks what nnU-Net reads
    (fold / "checkpoint_latest.pth").write_bytes(b"")
    for log in fold.glob("training_log_*.txt"):
        log.unlink()
    assert choose_checkpoint(fold, "all") is None
    (warning,) = _unreadable_warnings(caplog)
    assert (
        "checkpoint_latest.pth (EOFError" in warning and "checkpoint_best.pth (KeyError: no network_weights" in warning
    )
    assert "starting again from the start" in warning and "epochs lost: unknown" in warning
    assert sorted(p.name for p in fold.glob("checkpoint_*")) == [
        "checkpoint_best.pth.unreadable",
        "checkpoint_latest.pth.unreadable",
    ]


@pytest.mark.slow
def test_a_truncated_checkpoint_on_resume_falls_back_to_the_best_one(nnunet_root, caplog):
    fold_dir = model_folder(nnunet_root, DATASET_ID, DATASET_NAME, CONFIGURATION) / "fold_all"
    shutil.rmtree(fold_dir, ignore_errors=True)  # the fold's folder is shared with the other training test
    try:
        _train(nnunet_root, epochs=2)
        # A training cut after its second epoch whose checkpoint_latest.pth broke: nnU-Net removes latest at its end,
        # so the final checkpoint (epoch 2) plays it.
        (fold_dir / "checkpoint_final.pth").replace(fold_dir / "checkpoint_latest.pth")
        _truncate(fold_dir / "checkpoint_latest.pth")
        best = torch.load(fold_dir / "checkpoint_best.pth", map_location="cpu", weights_only=False)["current_epoch"]
        with caplog.at_level(logging.WARNING, logger="hanseg.nnunet.train"):
            final = _train(nnunet_root, epochs=3)
        assert final.is_file()
        (warning,) = _unreadable_warnings(caplog)
        assert f"resuming from checkpoint_best.pth at epoch {best}, epochs lost: {2 - best} " in warning
        assert (fold_dir / "checkpoint_latest.pth.unreadable").is_file()
        record = json.loads((fold_dir / "hanseg_training.json").read_text())
        assert record["resumed_from_epoch"] == best and record["resumed_from_checkpoint"] == "checkpoint_best.pth"
        assert torch.load(final, map_location="cpu", weights_only=False)["current_epoch"] == 3
    finally:
        shutil.rmtree(fold_dir, ignore_errors=True)


def _left_right_order(trainer_class, nnunet_root, batches=12):
    """(pairs checked, pairs whose left organ ended up right of its partner) over sampled training batches."""
    set_roots(nnunet_root)  # environment restored after the test by conftest
    os.environ.update({"HANSEG_NUM_EPOCHS": "1", "nnUNet_n_proc_DA": "0"})
    from batchgenerators.utilities.file_and_folder_operations import load_json

    preprocessed = nnunet_root / "preprocessed" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    plans = load_json(str(preprocessed / "nnUNetPlans.json"))
    plans["continue_training"] = False
    trainer = trainer_class(
        plans, CONFIGURATION, "all", load_json(str(preprocessed / "dataset.json")), torch.device("cpu")
    )
    trainer.initialize()
    dataloader, _ = trainer.get_dataloaders()
    lr_axis = left_right_axis(trainer.plans_manager.transpose_forward)
    checked = swapped = 0
    for _ in range(batches):
        batch = next(dataloader)
        target = batch["target"][0] if isinstance(batch["target"], list) else batch["target"]
        for sample in target[:, 0].numpy():
            for left, right in dataset_layout.LR_PAIRS:
                where_left = np.argwhere(sample == dataset_layout.LABEL_IDS[left])
                where_right = np.argwhere(sample == dataset_layout.LABEL_IDS[right])
                if len(where_left) and len(where_right):
                    checked += 1
                    swapped += where_left[:, lr_axis].mean() <= where_right[:, lr_axis].mean()
    return checked, swapped


def test_augmentation_never_puts_a_left_organ_right_of_its_partner(nnunet_root):
    """Sampled training batches: every left organ stays on the patient's left (larger x) of its right partner."""
    from hanseg.nnunet.trainer import HanSegTrainer

    checked, swapped = _left_right_order(HanSegTrainer, nnunet_root)
    assert checked > 20 and swapped == 0


def test_the_augmentation_check_sees_left_right_mirroring(nnunet_root):
    """Negative control: with nnU-Net's default mirroring the same check finds swapped pairs."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    checked, swapped = _left_right_order(nnUNetTrainer, nnunet_root)
    assert checked > 20 and swapped > 0


def test_derived_plans_shrink_the_network_and_keep_the_preprocessing(nnunet_root, tmp_path):
    from hanseg.nnunet.plan import derive_plans, write_derived_plans

    preprocessed = nnunet_root / "preprocessed" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    own = preprocessed / "nnUNetPlans.json"
    before = own.read_bytes()
    plans = json.loads(before)
    arch_before = plans["configurations"][CONFIGURATION]["architecture"]["arch_kwargs"]
    stages = arch_before["n_stages"]
    downsampling = [int(np.prod([s[axis] for s in arch_before["strides"][:3]])) for axis in range(3)]
    patch = [2 * d for d in downsampling]
    overrides = {"name": "nnUNetPlans_small", "features_per_stage": [4, 8, 16], "patch_size": patch, "batch_size": 3}
    target = write_derived_plans(own, CONFIGURATION, overrides, preprocessed / "nnUNetPlans_small.json")
    derived = json.loads(target.read_text())
    config = derived["configurations"][CONFIGURATION]
    arch = config["architecture"]["arch_kwargs"]
    assert derived["plans_name"] == "nnUNetPlans_small" and own.read_bytes() == before  # nnU-Net's own untouched
    assert arch["n_stages"] == 3 and arch["features_per_stage"] == [4, 8, 16]
    assert len(arch["strides"]) == len(arch["kernel_sizes"]) == len(arch["n_conv_per_stage"]) == 3
    assert len(arch["n_conv_per_stage_decoder"]) == 2
    assert config["patch_size"] == patch and config["batch_size"] == 3
    assert config["data_identifier"] == plans["configurations"][CONFIGURATION]["data_identifier"]  # shared data
    assert stages > 3

    with pytest.raises(ValueError, match="multiple of the network's downsampling"):
        derive_plans(plans, CONFIGURATION, "nnUNetPlans_bad", {"patch_size": [p + 1 for p in patch]})
    with pytest.raises(ValueError, match="unknown keys"):
        derive_plans(plans, CONFIGURATION, "nnUNetPlans_bad", {"learning_rate": 1})
    with pytest.raises(ValueError, match="must differ"):
        derive_plans(plans, CONFIGURATION, "nnUNetPlans", {"batch_size": 1})
    with pytest.raises(ValueError, match="beside"):
        write_derived_plans(own, CONFIGURATION, overrides, tmp_path / "nnUNetPlans_small.json")


def test_cpu_trainer_neither_augments_nor_mirrors(nnunet_root):
    """HanSegTrainerNoDAAdam (the demo's recipe): batches keep every left organ left, and inference never mirrors."""
    from hanseg.nnunet.trainer import HanSegTrainerNoDAAdam

    checked, swapped = _left_right_order(HanSegTrainerNoDAAdam, nnunet_root)
    assert checked > 20 and swapped == 0
    set_roots(nnunet_root)
    from batchgenerators.utilities.file_and_folder_operations import load_json

    preprocessed = nnunet_root / "preprocessed" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    plans = load_json(str(preprocessed / "nnUNetPlans.json"))
    plans["continue_training"] = False
    trainer = HanSegTrainerNoDAAdam(
        plans, CONFIGURATION, "all", load_json(str(preprocessed / "dataset.json")), torch.device("cpu")
    )
    trainer.initialize()
    _, _, initial_patch_size, mirror_axes = trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
    assert mirror_axes is None and trainer.inference_allowed_mirroring_axes is None
    assert list(initial_patch_size) == list(trainer.configuration_manager.patch_size)  # nothing to rotate or scale
    assert type(trainer.optimizer).__name__ == "AdamW" and trainer.initial_lr == 1e-2


def test_a_residual_encoder_preset_reuses_the_default_preprocessing_and_sizes_down(nnunet_root):
    """nnU-Net's ResEnc M planner from the dataset's fingerprint: the default plans' preprocessed data, nnU-Net's
    residual encoder; sized down by the same overrides as the default plans, it passes the model checks."""
    from hanseg.nnunet.model_checks import check_network_classes, check_plans
    from hanseg.nnunet.plan import plan_preset, write_derived_plans

    preprocessed = nnunet_root / "preprocessed" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    default = json.loads((preprocessed / "nnUNetPlans.json").read_text())
    path = plan_preset(nnunet_root, DATASET_ID, DATASET_NAME, "nnUNetPlannerResEncM")
    assert path == preprocessed / "nnUNetResEncUNetMPlans.json"
    preset = json.loads(path.read_text())
    config = preset["configurations"][CONFIGURATION]
    assert config["architecture"]["network_class_name"].endswith("ResidualEncoderUNet")
    for key in ("data_identifier", "spacing", "normalization_schemes"):
        assert config[key] == default["configurations"][CONFIGURATION][key], key
    arch = config["architecture"]["arch_kwargs"]
    downsampling = [int(np.prod([s[axis] for s in arch["strides"][:3]])) for axis in range(3)]
    overrides = {"name": "nnUNetResEncUNetMPlans_small", "features_per_stage": [4, 8, 16]}
    overrides["patch_size"] = [2 * d for d in downsampling]
    target = write_derived_plans(path, CONFIGURATION, overrides, preprocessed / "nnUNetResEncUNetMPlans_small.json")
    derived = json.loads(target.read_text())
    small = derived["configurations"][CONFIGURATION]["architecture"]["arch_kwargs"]
    assert small["features_per_stage"] == [4, 8, 16] and len(small["n_blocks_per_stage"]) == 3
    assert derived["configurations"][CONFIGURATION]["data_identifier"] == config["data_identifier"]
    check_plans(derived, target)
    check_network_classes(derived, CONFIGURATION, target)


def test_the_dropout_trainer_blanks_the_mr_channel_of_about_the_configured_share_of_samples(nnunet_root, monkeypatch):
    """HANSEG_MODALITY_DROPOUT {"MR": 0.5}: the MR channel (dataset.json's channel 1) of about half the samples is 0,
    the CT never; {"MR": 0.3, "CT": 0.3}: never both of one sample."""
    from batchgenerators.utilities.file_and_folder_operations import load_json

    from hanseg.nnunet.trainer import HanSegTrainerNoDAAdamModalityDropout

    set_roots(nnunet_root)
    preprocessed = nnunet_root / "preprocessed" / dataset_folder_name(DATASET_ID, DATASET_NAME)
    dataset = load_json(str(preprocessed / "dataset.json"))

    def trainer(probabilities: dict):
        monkeypatch.setenv("HANSEG_MODALITY_DROPOUT", json.dumps(probabilities))
        plans = load_json(str(preprocessed / "nnUNetPlans.json"))
        plans["continue_training"] = False
        return HanSegTrainerNoDAAdamModalityDropout(plans, CONFIGURATION, 0, dataset, torch.device("cpu"))

    mr_only = trainer({"MR": 0.5})
    assert mr_only.modality_dropout == [(0.5, [1])]
    assert mr_only.my_init_kwargs["fold"] == 0  # nnU-Net's record of the init arguments (its checkpoints) still works
    torch.manual_seed(0)
    data = mr_only.drop_modalities(torch.ones(400, 2, 4, 4, 4))
    dropped = (data[:, 1] == 0).flatten(1).all(1)
    assert 150 < int(dropped.sum()) < 250 and bool((data[:, 0] == 1).all())
    assert bool((data[~dropped, 1] == 1).all())  # a sample keeps its MR whole or loses it whole
    both = trainer({"MR": 0.3, "CT": 0.3})
    data = both.drop_modalities(torch.ones(400, 2, 4, 4, 4))
    lost_ct, lost_mr = (data[:, 0] == 0).flatten(1).all(1), (data[:, 1] == 0).flatten(1).all(1)
    assert not bool((lost_ct & lost_mr).any()) and 60 < int(lost_ct.sum()) < 180 and 60 < int(lost_mr.sum()) < 180
