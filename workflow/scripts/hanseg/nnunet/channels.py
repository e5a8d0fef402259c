"""What nnU-Net sees in each input channel, prepared identically for the training dataset and for prediction.

An experiment (config `experiments`) lists its channels; each comes from the case's resampled images:

- ``CT``: the CT (HU), normalised by nnU-Net's CT scheme (dataset-wide foreground percentiles, z-score).
- ``MR``: the registered T1 MR, zero outside its field of view, normalised by nnU-Net's per-image z-score, which
  counts the zeros outside the field of view (the paper's input).
- ``MR_FOV``: the same MR z-scored inside its field of view only, zero outside; nnU-Net normalises it no further.
- ``FOV``: the MR's field-of-view mask (1 inside, 0 outside), not normalised: where the MR channel means something.

A model trained with modality dropout predicts without the MR: its MR channels are then zero images on the CT's grid,
which nnU-Net's normalisation leaves at zero (its z-score of a constant image is 0): what the training's dropout fed it.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Channel -> (nnU-Net channel name, which selects its normalisation; resampled images it is made from).
CHANNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CT": ("CT", ("ct",)),
    "MR": ("MR", ("mr",)),
    "MR_FOV": ("noNorm", ("mr", "fov")),
    "FOV": ("noNorm", ("fov",)),
}


def check_channels(channels: list[str]) -> None:
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels or len(set(channels)) != len(channels):
        raise ValueError(f"channels must be distinct names out of {list(CHANNELS)}, got {channels}")


def nnunet_channel_names(channels: list[str]) -> dict[str, str]:
    """dataset.json's `channel_names`."""
    check_channels(channels)
    return {str(i): CHANNELS[c][0] for i, c in enumerate(channels)}


def sources(channels: list[str]) -> list[str]:
    """The resampled images ("ct", "mr", "fov") the channels are made from."""
    check_channels(channels)
    return sorted({source for c in channels for source in CHANNELS[c][1]})


def is_copy(channel: str) -> bool:
    """True if the channel is one resampled file as it is (it can be linked instead of rewritten)."""
    return channel in ("CT", "MR")


def channel_image(channel: str, images: dict[str, sitk.Image]) -> sitk.Image:
    """The channel's image from the case's resampled images (keys "ct", "mr", "fov" as :func:`sources` lists)."""
    if channel == "CT":
        return images["ct"]
    if channel == "MR":
        return images["mr"]
    fov = sitk.GetArrayViewFromImage(images["fov"]) > 0
    if channel == "FOV":
        array = fov.astype(np.float32)
    elif channel == "MR_FOV":
        mr = sitk.GetArrayViewFromImage(images["mr"]).astype(np.float32)
        inside = mr[fov]
        mean, sd = (float(inside.mean()), float(inside.std())) if inside.size else (0.0, 1.0)
        array = np.where(fov, (mr - mean) / max(sd, 1e-8), 0.0).astype(np.float32)
    else:
        raise ValueError(f"unknown channel {channel!r} (known: {list(CHANNELS)})")
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(images["fov"])
    return image


#: The modality each channel is made from: CT, or the registered MR (with its field of view).
MODALITY = {"CT": "CT", "MR": "MR", "MR_FOV": "MR", "FOV": "MR"}


def read_channels(channels: list[str], files: dict, given: list[str] | None = None) -> list[sitk.Image]:
    """The channels' images, in training order, from the resampled files ("ct", "mr", "fov" as :func:`sources`
    lists them), each read and checked (one line naming a broken file). With `given` (the channels an input is given
    for, e.g. ["CT"]), the others are zero images on the CT's grid (a model trained with modality dropout)."""
    from hanseg.core.images import read_image

    given = list(channels) if given is None else [c for c in channels if c in given]
    if len(given) < len(channels) and "CT" not in given:
        raise ValueError(f"channels {channels}: predicting from {given} only needs the CT (its grid)")
    images = {source: read_image(files[source], "mask" if source == "fov" else "image") for source in sources(given)}
    blank = None
    result = []
    for c in channels:
        if c in given:
            result.append(channel_image(c, images))
            continue
        if blank is None:
            blank = sitk.Image(images["ct"].GetSize(), sitk.sitkFloat32)
            blank.CopyInformation(images["ct"])
        result.append(blank)
    return result


def given_channels(channels: list[str], modalities: list[str] | tuple[str, ...]) -> list[str]:
    """The channels made from the given modalities (e.g. ["CT"]: the CT channel only)."""
    return [c for c in channels if MODALITY[c] in modalities]
