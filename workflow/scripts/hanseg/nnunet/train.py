"""Training one fold with HanSegTrainer: fail fast without CUDA, resume from the latest checkpoint, record the run.

A SLURM time limit kills long trainings. The job's declared output is only `checkpoint_final.pth`, so Snakemake
never deletes nnU-Net's `checkpoint_latest.pth`; the retry finds it and continues from its epoch.

A checkpoint that cannot be read (truncated by a lost node or a broken copy; the trainer's own saves are atomic) would
make every retry crash. The retry reads each checkpoint before nnU-Net does, in nnU-Net's own order
(`checkpoint_latest.pth`, then `checkpoint_best.pth`), renames an unreadable one to `<name>.unreadable`, resumes from
the first readable one or else from epoch 0, and says so in one warning line with the epochs lost.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from importlib import metadata
from pathlib import Path

from hanseg.core import defaults
from hanseg.core.atomic import write_text_atomic
from hanseg.nnunet import MODEL_RECORD, PLANS_NAME, TRAINER_NAME, dataset_folder_name, model_folder, set_roots
from hanseg.nnunet.progress import epochs_logged

log = logging.getLogger(__name__)

#: The checkpoints a training resumes from, in nnU-Net's order (nnunetv2.run.run_training.maybe_load_checkpoint; its
#: checkpoint_final.pth is absent while the training job runs).
RESUME_CHECKPOINTS = ("checkpoint_latest.pth", "checkpoint_best.pth")
#: Appended to the name of a checkpoint that could not be read, so that the next retry does not read it again.
UNREADABLE_SUFFIX = ".unreadable"
#: What nnU-Net's load_checkpoint reads from a checkpoint (grad_scaler_state only on a GPU, and it may be None).
CHECKPOINT_KEYS = ("network_weights", "init_args", "current_epoch", "logging", "_best_ema", "optimizer_state")

#: In a model folder (<trainer>__<plans>__<configuration>): how the workflow prepared the cases the model learned from.


def resolve_device(requested: str):
    """torch.device for the request; a GPU request without CUDA fails at once, saying why."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' (nnunet.device; hanseg segment --device) but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}, "
            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}). "
            "Either the job got no GPU (the profile's gpu resource and partition), or the environment holds a "
            "CPU-only PyTorch (a CPU install line, or a driver too old for its CUDA build): recreate the env from "
            "workflow/envs/nnunet.yaml (docs/recovery.md, 'CUDA driver too old, or no GPU in the job'), or set "
            "nnunet.device: cpu (hanseg segment --device cpu)."
        )
    if requested == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("nnunet.device is 'mps' but this PyTorch has no MPS support")
    return torch.device(requested)


def train_fold(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    fold: str | int,
    *,
    plans_file: Path | str | None = None,
    trainer: str = TRAINER_NAME,
    expected_checkpoint: Path | str | None = None,
    device: str = defaults.NNUNET_DEVICE,
    threads: int = 1,
    epochs: int = defaults.NNUNET_EPOCHS,
    iterations_per_epoch: int = defaults.NNUNET_ITERATIONS_PER_EPOCH,
    val_iterations_per_epoch: int = defaults.NNUNET_VAL_ITERATIONS_PER_EPOCH,
    save_every: int = defaults.NNUNET_CHECKPOINT_EVERY,
    final_validation: bool = False,
    model_record: dict | None = None,
    modality_dropout: dict[str, float] | None = None,
) -> Path:
    """Train (or resume) one fold; return checkpoint_final.pth.

    `plans_file` defaults to nnU-Net's own plans; `trainer` names a class of :data:`hanseg.nnunet.trainer.TRAINERS`.
    With `expected_checkpoint`, nnU-Net's own output folder must be that file's folder (it names the folder itself).
    `model_record` (what a user of the model needs to prepare a new case: channels, grid, HU clip, body crop) goes
    into the model folder as :data:`MODEL_RECORD`, beside nnU-Net's plans.json and dataset.json.
    `modality_dropout` ({"MR": p}) is what a `...ModalityDropout` trainer drops (hanseg.nnunet.trainer); by default
    the record's.
    """
    torch_device = resolve_device(device)  # before anything slow
    set_roots(nnunet_root)
    _set_budget(torch_device, threads, epochs, iterations_per_epoch, val_iterations_per_epoch, save_every)
    if modality_dropout is None:  # the rule passes the record only (its script stays as it was: no retraining)
        modality_dropout = (model_record or {}).get("modality_dropout")
    os.environ["HANSEG_MODALITY_DROPOUT"] = json.dumps(modality_dropout or {})
    import torch

    importlib.import_module("hanseg.nnunet.trainer")  # imports nnU-Net, which reads its budget from the environment
    if torch_device.type == "cpu":
        torch.set_num_threads(max(threads, 1))
    trainer, plans, resume = _build_trainer(
        nnunet_root,
        dataset_id,
        dataset_name,
        configuration,
        fold,
        plans_file,
        trainer,
        expected_checkpoint,
        torch_device,
    )
    output = Path(trainer.output_folder)
    resumed_from = _resume(trainer, resume, fold)
    started = time.perf_counter()
    trainer.run_training()
    if final_validation:
        trainer.perform_actual_validation(False)
    final = output / "checkpoint_final.pth"
    record = {
        "trainer": type(trainer).__name__,
        "plans": plans["plans_name"],
        "configuration": configuration,
        "fold": str(fold),
        "device": str(torch_device),
        "epochs": epochs,
        "iterations_per_epoch": iterations_per_epoch,
        "val_iterations_per_epoch": val_iterations_per_epoch,
        "checkpoint_every": save_every,
        "modality_dropout": modality_dropout or {},
        "resumed_from_epoch": resumed_from,
        "resumed_from_checkpoint": resume.name if resume is not None else None,
        "inference_allowed_mirroring_axes": list(trainer.inference_allowed_mirroring_axes or ()),
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "versions": _versions(torch_device),
    }
    write_text_atomic(output / "hanseg_training.json", json.dumps(record, indent=1) + "\n")
    if model_record is not None:
        write_text_atomic(output.parent / MODEL_RECORD, json.dumps(model_record, indent=1) + "\n")
    return final


def _set_budget(
    torch_device, threads: int, epochs: int, iterations_per_epoch: int, val_iterations_per_epoch: int, save_every: int
) -> None:
    """nnU-Net's processes and HanSegTrainer's budget, through the environment: nnU-Net reads the former when it is
    imported, the trainer the latter when it is built (nnU-Net constructs trainers with a fixed signature)."""
    # nnU-Net ignores the job's allocation otherwise: augmentation workers and CPU threads follow `threads`.
    os.environ["nnUNet_n_proc_DA"] = str(max(threads - 1, 0) if torch_device.type != "cpu" else max(threads - 1, 1))
    os.environ["nnUNet_def_n_proc"] = str(threads)
    os.environ.update(
        {
            "HANSEG_NUM_EPOCHS": str(epochs),
            "HANSEG_ITERATIONS_PER_EPOCH": str(iterations_per_epoch),
            "HANSEG_VAL_ITERATIONS_PER_EPOCH": str(val_iterations_per_epoch),
            "HANSEG_SAVE_EVERY": str(save_every),
        }
    )


def _build_trainer(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    fold: str | int,
    plans_file: Path | str | None,
    trainer_name: str,
    expected_checkpoint: Path | str | None,
    torch_device,
) -> tuple:
    """The fold's trainer, its plans and the checkpoint it resumes from (:func:`choose_checkpoint`, None to start
    from epoch 0); raises RuntimeError when nnU-Net's output folder is not the expected one."""
    from batchgenerators.utilities.file_and_folder_operations import load_json

    from hanseg.nnunet.trainer import trainer_class

    preprocessed = Path(os.environ["nnUNet_preprocessed"]) / dataset_folder_name(dataset_id, dataset_name)
    plans = load_json(str(plans_file or preprocessed / f"{PLANS_NAME}.json"))
    dataset_json = load_json(str(preprocessed / "dataset.json"))
    fold_value = fold if fold == "all" else int(fold)
    folder = (
        model_folder(
            nnunet_root, dataset_id, dataset_name, configuration, trainer=trainer_name, plans=plans["plans_name"]
        )
        / f"fold_{fold}"
    )
    if expected_checkpoint is not None and folder.resolve() != Path(expected_checkpoint).parent.resolve():
        raise RuntimeError(f"nnU-Net will write fold {fold} into {folder}, not beside {expected_checkpoint}")
    # Before the trainer exists: it starts a new training log, and the epochs lost are read from the earlier ones.
    resume = choose_checkpoint(folder, fold)
    plans["continue_training"] = resume is not None  # nnU-Net's logger appends to the earlier run's log then
    trainer = trainer_class(trainer_name)(plans, configuration, fold_value, dataset_json, torch_device)
    output = Path(trainer.output_folder)
    if output.resolve() != folder.resolve():
        raise RuntimeError(f"nnU-Net's output folder {output} is not the expected {folder}")
    return trainer, plans, resume


def checkpoint_epoch(path: Path) -> int:
    """The epoch training resumes at from this checkpoint; raises when it cannot be read (any exception torch.load
    raises: truncated, not a checkpoint) or lacks what nnU-Net's load_checkpoint reads (KeyError)."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # the run's own file, as nnU-Net loads it
    if not isinstance(checkpoint, dict):
        raise TypeError(f"holds a {type(checkpoint).__name__}, not a checkpoint")
    if missing := [key for key in CHECKPOINT_KEYS if key not in checkpoint]:
        raise KeyError(f"no {', '.join(missing)}")
    return int(checkpoint["current_epoch"])


def choose_checkpoint(folder: Path, fold: str | int) -> Path | None:
    """The first readable checkpoint of :data:`RESUME_CHECKPOINTS` in the fold's folder, None to start from epoch 0.

    An unreadable one is renamed with :data:`UNREADABLE_SUFFIX` (replacing an older one), and one warning line names
    it with the reason, what training resumes from and how many epochs that loses (the epochs the fold's training
    logs finished, :func:`hanseg.nnunet.progress.epochs_logged`, minus the epoch resumed at).
    """
    unreadable, chosen, epoch = [], None, 0
    for name in RESUME_CHECKPOINTS:
        path = folder / name
        if not path.is_file():
            continue
        try:
            epoch = checkpoint_epoch(path)
        except MemoryError:
            raise  # says nothing about the file
        except Exception as error:  # whatever the load raises, the file cannot be resumed from
            path.replace(path.with_name(name + UNREADABLE_SUFFIX))
            unreadable.append(f"{name} ({_short_reason(error)})")
            continue
        chosen = path
        break
    if unreadable:
        _warn_unreadable(folder, fold, unreadable, chosen, epoch)
    return chosen


def _warn_unreadable(folder: Path, fold: str | int, unreadable: list[str], chosen: Path | None, epoch: int) -> None:
    """The one warning line: which checkpoints were set aside and why, what training resumes from, the epochs lost."""
    start = f"resuming from {chosen.name} at epoch {epoch}" if chosen is not None else "starting again from the start"
    logged = epochs_logged(folder)
    if logged is None:
        lost = "epochs lost: unknown (no training log finished an epoch)"
    else:
        lost = f"epochs lost: {max(logged - epoch, 0)} (the training log had finished {logged})"
    log.warning(
        "fold %s: unreadable checkpoint %s, set aside as <name>%s in %s; %s, %s",
        fold,
        "; ".join(unreadable),
        UNREADABLE_SUFFIX,
        folder,
        start,
        lost,
    )


def _short_reason(error: BaseException) -> str:
    """The error's type and first sentence (torch's zip errors go on for lines)."""
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error).strip()
    sentence = text.splitlines()[0].split(". ")[0] if text else ""
    reason = f"{type(error).__name__}: {sentence}".rstrip(": ")
    return reason if len(reason) <= 160 else reason[:157] + "..."


def _resume(trainer, checkpoint: Path | None, fold: str | int) -> int | None:
    """Load the chosen checkpoint into the trainer; the epoch it resumes at, None when it starts from epoch 0."""
    if checkpoint is None:
        return None
    # nnU-Net loads the file again, after choose_checkpoint read it once: its load_checkpoint may change the trainer
    # before it fails, so only a file known to be readable reaches it, and a checkpoint reads in far less time than
    # the training takes.
    trainer.load_checkpoint(str(checkpoint))
    log.info("resuming fold %s from %s at epoch %d", fold, checkpoint, trainer.current_epoch)
    return trainer.current_epoch


def _versions(torch_device) -> dict:
    """The versions that trained the model, from the env that trained it (provenance reads them from here)."""
    import torch

    return {
        "nnunetv2": metadata.version("nnunetv2"),
        "torch": torch.__version__,
        "cuda (torch build)": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else None,
    }
