"""A trained model folder as the workflow leaves it, read and checked before anything slow runs.

The folder is nnU-Net's `<results>/Dataset<id>_<name>/<trainer>__<plans>__<configuration>/`: nnU-Net's
`plans.json` and `dataset.json`, one `fold_<f>/checkpoint_final.pth` per trained fold, and the workflow's
:data:`~hanseg.nnunet.MODEL_RECORD` (`hanseg_model.json`), which says how the training cases were prepared:
the channels, the grid (`target_spacing`), the HU clip, the body crop and the registration. A new case must be
prepared exactly so. Reading it needs neither torch nor nnU-Net.

The folder may come from anyone (a colleague, a challenge entry, a paper's download): :func:`read_model` checks its
files as untrusted input before anything is loaded, imported or written (:mod:`hanseg.nnunet.model_checks`: the
plans' class names and sizes; the record's grid, clip and elastix text, :mod:`hanseg.registration.parameter_text`).
The checkpoints are checked when they are loaded (:func:`hanseg.nnunet.model_checks.load_checkpoint`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from hanseg.core.defaults import PACKAGED_PREFIX, choices
from hanseg.nnunet import MODEL_RECORD
from hanseg.nnunet.channels import CHANNELS, nnunet_channel_names
from hanseg.nnunet.experiments import MODALITIES, modalities_of
from hanseg.nnunet.model_checks import MAX_JSON_BYTES, ModelError, check_plans, check_size
from hanseg.registration.parameter_text import ParameterTextError, check_parameter_text

CHECKPOINT = "checkpoint_final.pth"
#: Keys `hanseg segment` needs from the record (train_fold writes them: workflow/rules/common.smk, model_record).
RECORD_KEYS = ("channels", "target_spacing", "hu_clip", "body_crop", "registration")


#: An elastix parameter file's name in a record: its text is written under the name's last part, which must be plain;
#: a name without text must be one of the workflow's packaged files.
PARAMETER_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.txt")
PACKAGED_PARAMETER_FILE = re.compile(rf"{re.escape(PACKAGED_PREFIX)}elastix/{PARAMETER_FILE_NAME.pattern}")


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
        return "MR" in modalities_of(self.channels)

    @property
    def accepted_inputs(self) -> list[list[str]]:
        """The input sets the model predicts from (the record's `accepted_inputs`: a model trained with modality
        dropout accepts CT alone too); a record without them: every modality of its channels."""
        return self.record.get("accepted_inputs") or [modalities_of(self.channels)]

    @property
    def name(self) -> str:
        return self.record.get("experiment") or self.folder.name


def _fold_key(fold: str) -> tuple[int, int | str]:
    return (0, int(fold)) if fold.isdigit() else (1, fold)


def trained_folds(folder: Path) -> list[str]:
    """Folds with a final checkpoint, numeric folds first in order, then `all`."""
    folds = [p.parent.name[len("fold_") :] for p in folder.glob(f"fold_*/{CHECKPOINT}")]
    return sorted(folds, key=_fold_key)


def read_json(path: Path, what: str = "copy the whole model folder") -> dict:
    """A model folder's JSON object, bounded in size; ModelError naming the file (and `what` to do) otherwise."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file; {what}")
    check_size(path, MAX_JSON_BYTES)
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
    beside = "nnU-Net writes it beside the fold folders; copy the whole model folder"
    check_plans(read_json(folder / "plans.json", beside), folder / "plans.json")
    dataset = read_json(folder / "dataset.json", beside)
    record = read_json(
        folder / MODEL_RECORD, "the workflow writes it when it trains a model (nnunet_train); train with the workflow"
    )
    check_record(record, folder / MODEL_RECORD)
    channels = record["channels"]
    expected = nnunet_channel_names(list(channels))
    if dataset.get("channel_names") != expected:
        raise ModelError(
            f"{folder / 'dataset.json'}: channel_names {dataset.get('channel_names')} do not match the record's "
            f"channels {channels} ({MODEL_RECORD}); the folder mixes two models"
        )
    return Model(folder, record, found)


def _numbers(value: object, count: int, low: float, high: float) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        and all(low <= v <= high for v in value)
    )


def check_record(record: dict, path: Path) -> None:
    """The record's keys, grid, HU clip, channels and registration, bounded and checked (ModelError naming `path`)."""
    missing_keys = [key for key in RECORD_KEYS if key not in record]
    if missing_keys:
        raise ModelError(f"{path}: lacks {', '.join(missing_keys)}; train with the workflow again")
    if not _numbers(record["target_spacing"], 3, 0.05, 20.0):
        raise ModelError(f"{path}: target_spacing {record['target_spacing']!r} is not 3 spacings of 0.05 to 20 mm")
    clip = record["hu_clip"]
    if not _numbers(clip, 2, -10_000, 100_000) or clip[0] >= clip[1]:
        raise ModelError(f"{path}: hu_clip {clip!r} is not [lower, upper] in HU")
    if not isinstance(record["channels"], list) or not 0 < len(record["channels"]) <= len(CHANNELS):
        raise ModelError(f"{path}: channels {record['channels']!r} is not a list of the workflow's channels")
    try:
        nnunet_channel_names(list(record["channels"]))
    except (ValueError, TypeError) as error:
        raise ModelError(f"{path}: {error}") from error
    _check_registration(record["registration"], path)
    accepted = record.get("accepted_inputs")
    full = modalities_of(record["channels"])
    if accepted is not None and not (
        isinstance(accepted, list)
        and 0 < len(accepted) <= 4
        and all(
            isinstance(a, list) and a and all(m in MODALITIES for m in a) and set(a) <= set(full) and "CT" in a
            for a in accepted
        )
        and full in accepted
    ):
        raise ModelError(
            f"{path}: accepted_inputs {accepted!r} is not a list of input sets (CT, MR) of its channels, the full one "
            "included"
        )


def _check_registration(registration: object, path: Path) -> None:
    """The record's registration: known initialisation, safe file names, elastix text the workflow's files allow."""
    initialisations = choices("registration.initialisation")
    if not isinstance(registration, dict) or registration.get("initialisation") not in initialisations:
        raise ModelError(f"{path}: registration.initialisation is not one of {', '.join(initialisations)}")
    names = registration.get("parameter_files")
    texts = registration.get("parameters") or {}
    if not isinstance(names, list) or not 0 < len(names) <= 4 or not isinstance(texts, dict):
        raise ModelError(f"{path}: registration.parameter_files is not a list of 1 to 4 elastix parameter files")
    for name in names:
        plain = isinstance(name, str) and name in texts and PARAMETER_FILE_NAME.fullmatch(Path(name).name)
        if not (plain or (isinstance(name, str) and PACKAGED_PARAMETER_FILE.fullmatch(name))):
            raise ModelError(
                f"{path}: registration parameter file {name!r} refused: a file name ending in .txt with its text in "
                f"the record, or one of the workflow's ({PACKAGED_PREFIX}elastix/<name>.txt)"
            )
        if name in texts:
            if not isinstance(texts[name], str):
                raise ModelError(f"{path}: {name}: the parameter text is not text")
            try:
                check_parameter_text(texts[name], f"{path}: {name}")
            except ParameterTextError as error:
                raise ModelError(str(error)) from None


def check_inputs(model: Model, mr_given: bool, mr_name: str = "--mr") -> None:
    """A model with MR channels needs an MR, unless modality dropout trained it for CT alone; a CT-only model takes
    none (it would be ignored silently)."""
    if model.needs_mr and not mr_given and ["CT"] not in model.accepted_inputs:
        raise ModelError(
            f"{model.folder}: model {model.name!r} was trained on channels {', '.join(model.channels)} and needs the "
            "case's T1 MR: pass --mr MR.nrrd"
        )
    if not model.needs_mr and mr_given:
        raise ModelError(
            f"{model.folder}: model {model.name!r} was trained on channels {', '.join(model.channels)} only and does "
            f"not use an MR: leave out {mr_name}, or pass a model trained with MR channels"
        )
