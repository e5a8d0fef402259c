"""Conversion of the resampled cases into an nnU-Net v2 raw dataset (imagesTr, labelsTr, imagesTs, dataset.json)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .. import layout

#: nnU-Net chooses normalisation by channel name: "CT" gets its CT scheme (dataset-wide percentile clip and
#: z-score), anything else per-image z-score.
CHANNEL_NAMES = {"CT": "CT", "MR": "MR"}


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
    """Write the dataset folder atomically. Each case maps channel names ("CT", "MR") and "labels" to files."""
    dataset_dir = Path(dataset_dir)
    unknown = [c for c in channels if c not in CHANNEL_NAMES]
    if unknown or not channels:
        raise ValueError(f"nnunet.channels must be a non-empty list of {list(CHANNEL_NAMES)}, got {channels}")
    dataset_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset_dir.name}-", dir=dataset_dir.parent))
    try:
        for folder in ("imagesTr", "labelsTr", "imagesTs"):
            (staging / folder).mkdir()
        for split_folder, cases in (("imagesTr", training), ("imagesTs", test)):
            for case, files in sorted(cases.items()):
                for index, channel in enumerate(channels):
                    if channel not in files:
                        raise ValueError(f"{case}: no {channel} image for the nnU-Net dataset")
                    _place(Path(files[channel]), staging / split_folder / f"{case}_{index:04d}.nrrd")
                if split_folder == "imagesTr":
                    _place(Path(files["labels"]), staging / "labelsTr" / f"{case}.nrrd")
        dataset_json = {
            "name": dataset_dir.name,
            "description": description,
            "channel_names": {str(i): CHANNEL_NAMES[c] for i, c in enumerate(channels)},
            "labels": {"background": 0, **layout.LABEL_IDS},
            "numTraining": len(training),
            "file_ending": ".nrrd",
            "overwrite_image_reader_writer": "SimpleITKIO",
            "reference": "Podobnik et al., HaN-Seg, Med Phys 2023",
            "licence": "CC BY-ND 4.0 (HaN-Seg); synthetic phantoms: CC0",
        }
        (staging / "dataset.json").write_text(json.dumps(dataset_json, indent=1) + "\n")
        if dataset_dir.exists():
            shutil.rmtree(dataset_dir)
        staging.replace(dataset_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dataset_dir
