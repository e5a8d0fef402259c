"""Prediction with a trained HanSegTrainer model, without nnU-Net's trainer lookup by name.

The network is rebuilt from the plans and loaded from the checkpoint(s) and handed to nnUNetPredictor through
`manual_initialization`, with the checkpoint's allowed mirroring axes (left-right excluded). The folder is read as
untrusted input (:func:`load_network`, :mod:`hanseg.nnunet.model_checks`), the workflow's own folders too: one path.
Predictions are uint8 label maps with the official ids, on exactly the grid of the case's resampled CT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import defaults
from hanseg.core.images import write_image
from hanseg.nnunet.channels import read_channels
from hanseg.nnunet.model_checks import ModelError, check_network_classes, check_plans, check_weights, load_checkpoint
from hanseg.nnunet.train import resolve_device


def load_network(model_dir: Path, folds: list[str], checkpoint_name: str = "checkpoint_final.pth") -> tuple:
    """The network rebuilt from the folder's plans with each fold's weights, loaded as untrusted input
    (:mod:`hanseg.nnunet.model_checks`): the checkpoints without running code, the network class only from nnU-Net's
    architecture package, the weights checked against it; ModelError naming the file otherwise. Returns the network,
    nnU-Net's plans and configuration managers, dataset.json, the trainer's name, the weights and the mirroring axes.
    """
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from hanseg.nnunet.model import read_json
    from hanseg.nnunet.trainer import TRAINERS

    plans = read_json(model_dir / "plans.json")
    check_plans(plans, model_dir / "plans.json")
    dataset_json = read_json(model_dir / "dataset.json")
    checkpoints = [(path, load_checkpoint(path)) for path in (model_dir / f"fold_{f}" / checkpoint_name for f in folds)]
    path, last = checkpoints[-1]
    trainer_name, configuration = last["trainer_name"], last["init_args"]["configuration"]
    if trainer_name not in TRAINERS:
        raise ModelError(f"{path}: trained with {trainer_name}, not one of the workflow's trainers {sorted(TRAINERS)}")
    for other, checkpoint in checkpoints:
        if (checkpoint["trainer_name"], checkpoint["init_args"]["configuration"]) != (trainer_name, configuration):
            raise ModelError(f"{other}: another trainer or configuration than {path}; the folder mixes two models")
    if configuration not in plans["configurations"]:
        raise ModelError(f"{path}: configuration {configuration!r} is not in {model_dir / 'plans.json'}")
    check_network_classes(plans, configuration, model_dir / "plans.json")
    plans_manager = PlansManager(plans)
    configuration_manager = plans_manager.get_configuration(configuration)
    network = TRAINERS[trainer_name].build_network_architecture(
        plans_manager,
        configuration_manager,
        determine_num_input_channels(plans_manager, configuration_manager, dataset_json),
        plans_manager.get_label_manager(dataset_json).num_segmentation_heads,
        enable_deep_supervision=False,
    )
    for path, checkpoint in checkpoints:
        check_weights(network, checkpoint["network_weights"], path)
    weights = [checkpoint["network_weights"] for _, checkpoint in checkpoints]
    mirror_axes = last.get("inference_allowed_mirroring_axes")
    return network, plans_manager, configuration_manager, dataset_json, trainer_name, weights, mirror_axes


class Predictor:
    def __init__(
        self,
        model_dir: Path | str,
        folds: list[str],
        *,
        device: str = defaults.NNUNET_DEVICE,
        threads: int = 1,
        checkpoint_name: str = "checkpoint_final.pth",
    ):
        import torch
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        torch_device = resolve_device(device)
        if torch_device.type == "cpu":
            torch.set_num_threads(max(threads, 1))
        network, plans_manager, configuration_manager, dataset_json, trainer_name, weights, mirror_axes = load_network(
            Path(model_dir), folds, checkpoint_name
        )
        self.mirror_axes = tuple(mirror_axes) if mirror_axes is not None else None
        self.predictor = nnUNetPredictor(
            tile_step_size=0.5,
            use_gaussian=True,
            use_mirroring=True,
            perform_everything_on_device=torch_device.type == "cuda",
            device=torch_device,
            verbose=False,
            allow_tqdm=False,
        )
        self.predictor.manual_initialization(
            network, plans_manager, configuration_manager, weights, dataset_json, trainer_name, self.mirror_axes
        )

    def predict(
        self, channel_images: list[sitk.Image], *, probabilities: bool = False
    ) -> tuple[sitk.Image, np.ndarray | None]:
        """The label map of one case (one image per channel, in training order, on one grid), on that grid.

        With `probabilities`, also the class probabilities (C, z, y, x) on that grid, else None: what
        :func:`hanseg.preprocessing.backmap.probabilities_onto` takes. When nnU-Net neither transposed, cropped nor
        resampled the case (the workflow's cases: already on the model's grid, the CT's air is not zero), the label map
        and the probabilities are taken from nnU-Net's half-precision logits slab by slab (see :meth:`_predict`), so
        they cost no memory beyond what prediction itself needs (C half floats per voxel: 16 GB for 31 classes on a
        1142 x 1142 x 202 grid); otherwise nnU-Net's export computes them.
        """
        reference = channel_images[0]
        segmentation, class_probabilities = self._predict(channel_images, probabilities)
        labels = sitk.GetImageFromArray(np.asarray(segmentation).astype(np.uint8))
        labels.CopyInformation(reference)
        return labels, class_probabilities

    def _predict(self, channel_images: list[sitk.Image], probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """nnU-Net's `predict_single_npy_array(..., save_or_return_probabilities=probabilities)`, in bounded memory.

        nnU-Net hands the whole grid's half-precision logits to the host (its per-fold loop), and its export then
        copies them to float32 before the argmax (on the CPU path, 7.6 GB at 40 M voxels with 31 classes). When
        nnU-Net neither transposed, cropped nor resampled the case, the label map is the argmax of the logits taken
        slab by slab and the probabilities the softmax, slab by slab, in place; otherwise nnU-Net's export does both.
        """
        import torch
        from nnunetv2.inference.data_iterators import PreprocessAdapterFromNpy
        from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

        p = self.predictor
        data = np.stack([sitk.GetArrayViewFromImage(image).astype(np.float32) for image in channel_images])
        shape = data.shape[1:]
        # nnU-Net's numpy entry point needs only the spacing, in its (z, y, x) axis order.
        properties = {"spacing": list(channel_images[0].GetSpacing())[::-1]}
        adapter = PreprocessAdapterFromNpy(
            [data], [None], [properties], [None], p.plans_manager, p.dataset_json, p.configuration_manager
        )
        item = next(adapter)
        del data, adapter  # nnU-Net predicts from its own normalised copy
        logits = p.predict_logits_from_preprocessed_data(item.pop("data"))
        info = item["data_properties"]
        untouched = (
            not p.label_manager.has_regions
            and list(p.plans_manager.transpose_forward) == [0, 1, 2]
            and tuple(logits.shape[1:]) == shape
            and all(lo == 0 and hi == n for (lo, hi), n in zip(info["bbox_used_for_cropping"], shape, strict=True))
        )
        if not untouched:
            exported = convert_predicted_logits_to_segmentation_with_correct_shape(
                logits.cpu(),
                p.plans_manager,
                p.configuration_manager,
                p.label_manager,
                info,
                return_probabilities=probabilities,
            )
            return exported if probabilities else (exported, None)
        segmentation = np.empty(shape, dtype=np.uint8)
        # About 256 MB of float32 logits per slab.
        slab = max(1, 2**26 // int(logits.shape[0] * np.prod(shape[1:])))
        with torch.inference_mode():
            if not probabilities:
                for start in range(0, shape[0], slab):
                    part = logits[:, start : start + slab].argmax(dim=0)
                    segmentation[start : start + slab] = part.to(torch.uint8).cpu().numpy()
                return segmentation, None
            logits = logits.cpu()
            for start in range(0, shape[0], slab):
                part = torch.softmax(logits[:, start : start + slab].float(), dim=0)
                segmentation[start : start + slab] = part.argmax(dim=0).numpy()
                logits[:, start : start + slab] = part.to(logits.dtype)
        return segmentation, logits.numpy()

    def predict_case(self, channel_images: list[sitk.Image], out_path: Path | str) -> sitk.Image:
        """Segment one case (one image per channel, in training order, on one grid) and write the label map."""
        labels, _ = self.predict(channel_images)
        write_image(labels, out_path)
        return labels

    def predict_files(
        self, channels: list[str], files: dict[str, Path | str], out_path: Path | str, *, given=None
    ) -> sitk.Image:
        """Segment one case from its resampled images ("ct", "mr", "fov" as the channels need them); with `given`,
        from those channels only (:func:`hanseg.nnunet.channels.read_channels`)."""
        # Read and checked before the (long) prediction: a broken input stops here with one line naming the file.
        return self.predict_case(read_channels(channels, files, given), out_path)
