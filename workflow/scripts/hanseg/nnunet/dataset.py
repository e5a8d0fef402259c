"""Conversion of the resampled cases into an nnU-Net v2 raw dataset (imagesTr, labelsTr, imagesTs, dataset.json)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hanseg.core import dataset_layout
from hanseg.core.atomic import replace_folder_atomic, staging_folder
from hanseg.core.images import read_image, write_image
from hanseg.nnunet.channels import channel_image, is_copy, nnunet_channel_names, sources


def _place(source: Path, target: Path) -> None:
    """Hard link where possible (no second copy of the images), else copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_raw_dataset(
    dataset_dir: Path | str,
    training: dict[str, dict[str, Path]],
    test: dict[str, dict[str, Path]],
    channels: list[str],
    *,
    description: str = "",
) -> Path:
    """Write the dataset folder atomically.

    Each case maps the resampled images its channels need ("ct", "mr", "fov": :func:`channels.sources`) and
    "labels" to files; channels are named as in :mod:`hanseg.nnunet.channels`.
    """
    dataset_dir = Path(dataset_dir)
    channel_names = nnunet_channel_names(channels)
    needed = sources(channels)
    with staging_folder(dataset_dir.parent, dataset_dir.name) as staging:
        for folder in ("imagesTr", "labelsTr", "imagesTs"):
            (staging / folder).mkdir()
        for split_folder, cases in (("imagesTr", training), ("imagesTs", test)):
            for case, files in sorted(cases.items()):
                missing = [source for source in needed if source not in files]
                if missing:
                    raise ValueError(f"{case}: no {', '.join(missing)} image for the nnU-Net dataset")
                images = {}
                for index, channel in enumerate(channels):
                    target = staging / split_folder / f"{case}_{index:04d}.nrrd"
                    if is_copy(channel):
                        _place(Path(files[channel.lower()]), target)
                        continue
                    for source in needed:
                        kind = "mask" if source == "fov" else "image"
                        images.setdefault(source, read_image(files[source], kind))
                    write_image(channel_image(channel, images), target)
                if split_folder == "imagesTr":
                    _place(Path(files["labels"]), staging / "labelsTr" / f"{case}.nrrd")
        dataset_json = {
            "name": dataset_dir.name,
            "description": description,
            "channel_names": channel_names,
            "labels": {"background": 0, **dataset_layout.LABEL_IDS},
            "numTraining": len(training),
            "file_ending": ".nrrd",
            "overwrite_image_reader_writer": "SimpleITKIO",
            "reference": "Podobnik et al., HaN-Seg, Med Phys 2023",
            "licence": "CC BY-ND 4.0 (HaN-Seg); synthetic phantoms: CC0",
        }
        (staging / "dataset.json").write_text(json.dumps(dataset_json, indent=1) + "\n")
        replace_folder_atomic(staging, dataset_dir)
    return dataset_dir
