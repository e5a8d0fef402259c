"""HanSegTrainer: nnU-Net's default trainer with the paper's one change, and a budget set from the workflow.

- Mirroring across the sagittal plane (left-right) is disabled in training augmentation and at inference: left and
  right organs carry different labels, and a mirrored parotid would be labelled as the other side. The left-right
  axis is found from the plans' `transpose_forward` (the image's x axis, numpy axis 2, wherever nnU-Net moved it),
  not hard-coded. Checkpoints record the trainer's name and the allowed mirroring axes.
- Epochs, iterations per epoch and the checkpoint interval come from the environment (HANSEG_NUM_EPOCHS,
  HANSEG_ITERATIONS_PER_EPOCH, HANSEG_VAL_ITERATIONS_PER_EPOCH, HANSEG_SAVE_EVERY), because nnU-Net constructs
  trainers with a fixed signature. Defaults: nnU-Net's 1000 x 250, checkpoint every 50 epochs.
- For anisotropic patches nnU-Net rotates in-plane by up to +-180 degrees ("dummy 2D" augmentation). A 180-degree
  rotation about the slice axis combined with the (allowed) anterior-posterior mirror equals a left-right mirror, so
  disabling the left-right axis alone would not keep left organs on the left. The in-plane rotation is limited to
  +-30 degrees, the range nnU-Net itself uses for isotropic 3D patches; nothing else of nnU-Net's augmentation changes.
- Checkpoints are written under a temporary name and renamed (:func:`hanseg.core.atomic.atomic_path`), so a job
  killed by a time limit while saving never leaves a truncated checkpoint_latest.pth to resume from.

`HanSegTrainerNoDAAdam` changes nnU-Net's recipe in two more ways, both in its name: no data augmentation and Adam
instead of SGD. It exists for the CPU demo and tests, whose budget of a few hundred iterations the default recipe does
not learn in (measured: docs/demo.md, "The CPU demo"); the paper's run keeps HanSegTrainer.
"""

from __future__ import annotations

import functools
import json
import math
import os

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from hanseg.core.atomic import atomic_path
from hanseg.nnunet.progress import BUDGET_LINE

#: numpy axis of left-right in an axial LPS image read by SimpleITK ([z, y, x]): x.
LEFT_RIGHT_IMAGE_AXIS = 2
#: In-plane rotation limit for anisotropic ("dummy 2D") augmentation, radians.
MAX_IN_PLANE_ROTATION = math.radians(30.0)
#: nnU-Net's own default device (its trainers are constructed with this signature).
DEFAULT_DEVICE = torch.device("cuda")


def left_right_axis(transpose_forward: list[int] | tuple[int, ...]) -> int:
    """The network's spatial axis that holds left-right after nnU-Net's transpose."""
    return list(transpose_forward).index(LEFT_RIGHT_IMAGE_AXIS)


def _int_from_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class HanSegTrainer(nnUNetTrainer):
    """nnU-Net's default trainer without left-right mirroring, with the workflow's budget (the paper's run)."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = DEFAULT_DEVICE,
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = _int_from_env("HANSEG_NUM_EPOCHS", self.num_epochs)
        self.num_iterations_per_epoch = _int_from_env("HANSEG_ITERATIONS_PER_EPOCH", self.num_iterations_per_epoch)
        self.num_val_iterations_per_epoch = _int_from_env(
            "HANSEG_VAL_ITERATIONS_PER_EPOCH", self.num_val_iterations_per_epoch
        )
        self.save_every = _int_from_env("HANSEG_SAVE_EVERY", self.save_every)
        # Read back by `hanseg status` (hanseg.nnunet.progress) to say how far the training is.
        self.print_to_log_file(f"{BUDGET_LINE} {self.num_epochs} epochs x {self.num_iterations_per_epoch} iterations")

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, initial_patch_size, mirror_axes = (
            super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        )
        if dummy_2d:
            rotation = (-MAX_IN_PLANE_ROTATION, MAX_IN_PLANE_ROTATION)
        excluded = left_right_axis(self.plans_manager.transpose_forward)
        mirror_axes = tuple(axis for axis in (mirror_axes or ()) if axis != excluded)
        self.inference_allowed_mirroring_axes = mirror_axes
        self.print_to_log_file(
            f"HanSegTrainer: left-right is network axis {excluded}; mirroring axes {mirror_axes}; rotation {rotation}"
        )
        return rotation, dummy_2d, initial_patch_size, mirror_axes

    def save_checkpoint(self, filename: str) -> None:
        # nnU-Net writes nothing on other ranks or with checkpointing disabled: then the older checkpoint stays.
        with atomic_path(filename, missing_ok=True) as temporary:
            super().save_checkpoint(str(temporary))


class HanSegTrainerNoDAAdam(HanSegTrainer):
    """HanSegTrainer for a CPU budget: no data augmentation, and Adam instead of SGD (the CPU demo and tests only).

    Two changes to nnU-Net's recipe, named in the class name, each measured to speed up learning on a CPU (docs/demo.md,
    "The CPU demo"): without augmentation the network fits the anatomy in a few hundred iterations instead of
    thousands and no augmentation worker competes for the cores; Adam (AdamW, nnU-Net's default learning rate 1e-2
    with its polynomial decay, as nnU-Net's own `nnUNetTrainerAdam`) leaves the all-background start sooner than SGD.
    Without augmentation nothing is mirrored at all, in training or at inference, so the left-right rule holds.
    """

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, _, _ = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        self.inference_allowed_mirroring_axes = None
        return rotation, dummy_2d, self.configuration_manager.patch_size, None

    @staticmethod
    def get_training_transforms(
        patch_size,
        rotation_for_DA,
        deep_supervision_scales,
        mirror_axes,
        do_dummy_2d_data_aug,
        use_mask_for_norm=None,
        is_cascaded=False,
        foreground_labels=None,
        regions=None,
        ignore_label=None,
    ):
        return nnUNetTrainer.get_validation_transforms(
            deep_supervision_scales, is_cascaded, foreground_labels, regions, ignore_label
        )

    def configure_optimizers(self):
        from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

        optimizer = torch.optim.AdamW(self.network.parameters(), lr=self.initial_lr, weight_decay=self.weight_decay)
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)


class ModalityDropout:
    """Modality dropout, mixed into a trainer: each training sample loses its MR (or its CT) with the probabilities in
    HANSEG_MODALITY_DROPOUT (JSON, e.g. {"MR": 0.5}), so that one network predicts from CT alone or CT + MR.

    A dropped modality's channels are set to 0 after nnU-Net's normalisation. That is what a missing input becomes at
    prediction (:func:`hanseg.nnunet.channels.read_channels` feeds a zero image; nnU-Net's z-score of a constant image
    is 0, and the MR_FOV and FOV channels are 0 wherever the MR does not reach): the network learns exactly the input
    it gets without the MR. At most one modality is dropped per sample; validation always sees every input.
    """

    @functools.cached_property
    def modality_dropout(self) -> list[tuple[float, list[int]]]:
        """(probability, the channels it blanks) per dropped modality, read once (no __init__ of its own: nnU-Net
        records a trainer's init arguments from its signature)."""
        probabilities = json.loads(os.environ.get("HANSEG_MODALITY_DROPOUT") or "{}")
        modality = {int(i): "CT" if name == "CT" else "MR" for i, name in self.dataset_json["channel_names"].items()}
        self.print_to_log_file(f"ModalityDropout: {probabilities} (channels {modality})")
        return [
            (float(p), [i for i, m in sorted(modality.items()) if m == dropped])
            for dropped, p in sorted(probabilities.items())
            if float(p) > 0
        ]

    def drop_modalities(self, data: torch.Tensor) -> torch.Tensor:
        """`data` (batch, channel, ...) with each sample's dropped modality set to 0, drawn independently."""
        draws = torch.rand(data.shape[0])
        low = 0.0
        for probability, channels in self.modality_dropout:
            dropped = (draws >= low) & (draws < low + probability)
            for sample in torch.nonzero(dropped).flatten().tolist():
                data[sample, channels] = 0
            low += probability
        return data

    def train_step(self, batch: dict) -> dict:
        batch["data"] = self.drop_modalities(batch["data"])
        return super().train_step(batch)


class HanSegTrainerModalityDropout(ModalityDropout, HanSegTrainer):
    """HanSegTrainer with modality dropout (the model predicts from CT alone or CT + MR)."""


class HanSegTrainerNoDAAdamModalityDropout(ModalityDropout, HanSegTrainerNoDAAdam):
    """The CPU recipe with modality dropout (the experiments demo and tests)."""


#: The trainers the workflow can train and predict with (config `nnunet.trainer`, and their dropout variants that
#: `experiments.<name>.modality_dropout` selects), by name.
TRAINERS: dict[str, type[HanSegTrainer]] = {
    cls.__name__: cls
    for cls in (
        HanSegTrainer,
        HanSegTrainerNoDAAdam,
        HanSegTrainerModalityDropout,
        HanSegTrainerNoDAAdamModalityDropout,
    )
}


def trainer_class(name: str) -> type[HanSegTrainer]:
    if name not in TRAINERS:
        raise ValueError(f"unknown trainer {name!r}; the workflow's trainers are {sorted(TRAINERS)}")
    return TRAINERS[name]
