"""Prediction with a trained HanSegTrainer model, without nnU-Net's trainer lookup by name.

The network is rebuilt from the plans and loaded from the checkpoint(s) and handed to nnUNetPredictor through
`manual_initialization`, with the checkpoint's allowed mirroring axes (left-right excluded). Predictions are uint8
label maps with the official ids, on exactly the grid of the case's resampled CT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..images import read_image, write_image
from .channels import channel_image, sources


class Predictor:
    def __init__(
        self,
        model_dir: Path | str,
        folds: list[str],
        *,
        device: str = "cuda",
        threads: int = 1,
        checkpoint_name: str = "checkpoint_final.pth",
    ):
        import torch
        from batchgenerators.utilities.file_and_folder_operations import load_json
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        from .train import resolve_device
        from .trainer import TRAINERS

        torch_device = resolve_device(device)
        if torch_device.type == "cpu":
            torch.set_num_threads(max(threads, 1))
        model_dir = Path(model_dir)
        dataset_json = load_json(str(model_dir / "dataset.json"))
        plans_manager = PlansManager(load_json(str(model_dir / "plans.json")))
        weights, mirror_axes, configuration, trainer_name = [], None, None, None
        for fold in folds:
            checkpoint = torch.load(
                model_dir / f"fold_{fold}" / checkpoint_name, map_location="cpu", weights_only=False
            )
            weights.append(checkpoint["network_weights"])
            trainer_name = checkpoint["trainer_name"]
            configuration = checkpoint["init_args"]["configuration"]
            mirror_axes = checkpoint.get("inference_allowed_mirroring_axes")
        if trainer_name not in TRAINERS:
            raise ValueError(f"{model_dir}: trained with {trainer_name}, not one of the workflow's {sorted(TRAINERS)}")
        configuration_manager = plans_manager.get_configuration(configuration)
        network = TRAINERS[trainer_name].build_network_architecture(
            plans_manager,
            configuration_manager,
            determine_num_input_channels(plans_manager, configuration_manager, dataset_json),
            plans_manager.get_label_manager(dataset_json).num_segmentation_heads,
            enable_deep_supervision=False,
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

    def predict_case(self, channel_images: list[sitk.Image], out_path: Path | str) -> sitk.Image:
        """Segment one case (one image per channel, in training order, on one grid) and write the label map."""
        reference = channel_images[0]
        data = np.stack([sitk.GetArrayViewFromImage(image).astype(np.float32) for image in channel_images])
        # nnU-Net's numpy entry point needs only the spacing, in its (z, y, x) axis order.
        properties = {"spacing": list(reference.GetSpacing())[::-1]}
        segmentation = self.predictor.predict_single_npy_array(data, properties, None, None, False)
        labels = sitk.GetImageFromArray(np.asarray(segmentation).astype(np.uint8))
        labels.CopyInformation(reference)
        write_image(labels, out_path)
        return labels

    def predict_files(self, channels: list[str], files: dict[str, Path | str], out_path: Path | str) -> sitk.Image:
        """Segment one case from its resampled images ("ct", "mr", "fov" as the channels need them)."""
        # Read and checked before the (long) prediction: a broken input stops here with one line naming the file.
        images = {
            source: read_image(files[source], "mask" if source == "fov" else "image") for source in sources(channels)
        }
        return self.predict_case([channel_image(c, images) for c in channels], out_path)
