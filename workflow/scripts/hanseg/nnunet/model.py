"""A trained model folder as the workflow leaves it, read and checked before anything slow runs.

The folder is nnU-Net's `<results>/Dataset<id>_<name>/<trainer>__<plans>__<configuration>/`: nnU-Net's
`plans.json` and `dataset.json`, one `fold_<f>/checkpoint_final.pth` per trained fold, and the workflow's
:data:`~hanseg.nnunet.MODEL_RECORD` (`hanseg_model.json`), which says how the training cases were prepared:
the channels, the grid (`target_spacing`), the HU clip, the body crop and the registration. A new case must be
prepared exactly so. Reading it needs neither torch nor nnU-Net.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hanseg.core.errors import InputError
from hanseg.nnunet import MODEL_RECORD
from hanseg.nnunet.channels import CHANNELS, nnunet_channel_names

CHECKPOINT = "checkpoint_final.pth"
#: Keys `hanseg segment` needs from the record (train_fold writes them: workflow/rules/common.smk, model_record).
RECORD_KEYS = ("channels", "target_spacing", "hu_clip", "body_crop", "registration")


class ModelError(InputError, ValueError):
    """A model folder that cannot be used; the message names the folder or its file."""


@dataclass(frozen=True)
class Model:
    folder: Path
    record: dict
    folds: list[str]

    @property
    def channels(self) -> list[str]:
        return list(self.record["channels"])

    @property
    def needs_mr(self) -> bool:
        """True if a channel is made from the registered MR or its field of view."""
        return any(source in ("mr", "fov") for c in self.channels for source in CHANNELS[c][1])

    @property
    def name(self) -> str:
        return self.record.get("experiment") or self.folder.name


def _fold_key(fold: str) -> tuple[int, int | str]:
    return (0, int(fold)) if fold.isdigit() else (1, fold)


def trained_folds(folder: Path) -> list[str]:
    """Folds with a final checkpoint, numeric folds first in order, then `all`."""
    folds = [p.parent.name[len("fold_") :] for p in folder.glob(f"fold_*/{CHECKPOINT}")]
    return sorted(folds, key=_fold_key)


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ModelError(f"{path}: no such file; {what}")
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: cannot read it as JSON ({error}); copy the model folder again") from error
    if not isinstance(value, dict):
        raise ModelError(f"{path}: expected a JSON object; copy the model folder again")
    return value


def read_model(folder: Path | str, folds: list[str] | None = None) -> Model:
    """The model in `folder`, every trained fold (an ensemble) or the `folds` asked for; ModelError otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(
            f"{folder}: no such folder; pass the model folder <results>/experiments/<experiment>/nnunet/results/"
            "Dataset<id>_<name>/<trainer>__<plans>__<configuration>"
        )
    found = trained_folds(folder)
    if not found:
        raise ModelError(
            f"{folder}: no checkpoint (fold_<f>/{CHECKPOINT}); is training finished? pass the folder that holds "
            "the fold_<f> folders"
        )
    if folds:
        missing = [f for f in folds if f not in found]
        if missing:
            raise ModelError(
                f"{folder}: no {CHECKPOINT} for fold(s) {', '.join(missing)} (trained: {', '.join(found)})"
            )
        found = list(folds)
    for name in ("plans.json", "dataset.json"):
        _read_json(folder / name, "nnU-Net writes it beside the fold folders; copy the whole model folder")
    record = _read_json(
        folder / MODEL_RECORD, "the workflow writes it when it trains a model (nnunet_train); train with the workflow"
    )
    missing_keys = [key for key in RECORD_KEYS if key not in record]
    if missing_keys:
        raise ModelError(f"{folder / MODEL_RECORD}: lacks {', '.join(missing_keys)}; train with the workflow again")
    channels = record["channels"]
    try:
        expected = nnunet_channel_names(list(channels))
    except ValueError as error:
        raise ModelError(f"{folder / MODEL_RECORD}: {error}") from error
    dataset = _read_json(folder / "dataset.json", "")
    if dataset.get("channel_names") != expected:
        raise ModelError(
            f"{folder / 'dataset.json'}: channel_names {dataset.get('channel_names')} do not match the record's "
            f"channels {channels} ({MODEL_RECORD}); the folder mixes two models"
        )
    return Model(folder, record, found)


def check_inputs(model: Model, mr_given: bool, mr_name: str = "--mr") -> None:
    """A model with MR channels needs an MR; a CT-only model takes none (it would be ignored silently)."""
    if model.needs_mr and not mr_given:
        raise ModelError(
            f"{model.folder}: model {model.name!r} was trained on channels {', '.join(model.channels)} and needs the "
            "case's T1 MR: pass --mr MR.nrrd"
        )
    if not model.needs_mr and mr_given:
        raise ModelError(
            f"{model.folder}: model {model.name!r} was trained on channels {', '.join(model.channels)} only and does "
            f"not use an MR: leave out {mr_name}, or pass a model trained with MR channels"
        )
