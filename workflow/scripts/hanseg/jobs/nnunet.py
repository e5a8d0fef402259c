"""The nnU-Net stage's jobs: the rules of workflow/rules/nnunet.smk (dataset, plan and preprocess, train, predict)
and segment (workflow/rules/segment.smk)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from hanseg.core.timing import Stopwatch
from hanseg.dataset.splits import excluded_cases, nnunet_cases, read_split, write_nnunet_folds
from hanseg.nnunet.dataset import write_raw_dataset
from hanseg.nnunet.plan import plan_and_preprocess, plan_preset, write_derived_plans
from hanseg.nnunet.predict import Predictor

log = logging.getLogger(__name__)


def nnunet_dataset(
    split: Path | str,
    files: Mapping[str, Mapping[str, Path | str]],
    dataset_json: Path | str,
    *,
    channels: Sequence[str],
    method: str,
    experiment: str,
) -> None:
    """nnU-Net's raw dataset (its folder holds `dataset_json`) from every case's resampled `files` (case -> source ->
    path); the split decides which cases train, which are tested and which (excluded) are left out."""
    table = read_split(split)
    training_cases, test_cases = nnunet_cases(table, method)
    description = f"HaN-Seg via hanseg-workflow, split {method}, experiment {experiment}"
    excluded = excluded_cases(table)
    if excluded:  # only then: a dataset without exclusions is written as before
        description += f"; excluded (registration QC fail): {', '.join(excluded)}"
    write_raw_dataset(
        Path(dataset_json).parent,
        {case: {s: Path(p) for s, p in files[case].items()} for case in training_cases},
        {case: {s: Path(p) for s, p in files[case].items()} for case in test_cases},
        list(channels),
        description=description,
    )


def nnunet_plan_preprocess(
    split: Path | str,
    plans: Path | str,
    *,
    root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    plans_overrides: Mapping | None,
    gpu_memory_target_gb: float,
    method: str,
    processes: int,
) -> None:
    """nnU-Net's fingerprint, plans and preprocessed data; derived smaller plans where configured; our folds."""
    nnunet_plans = plan_and_preprocess(
        root,
        dataset_id,
        dataset_name,
        configuration,
        processes=processes,
        gpu_memory_target_gb=gpu_memory_target_gb,
    )
    if plans_overrides:
        write_derived_plans(nnunet_plans, configuration, plans_overrides, plans)
    if method == "cv":
        # nnU-Net would draw its own random folds; ours are stratified and shared with the evaluation.
        write_nnunet_folds(read_split(split), Path(plans).parent / "splits_final.json")


def nnunet_plan(
    plans: Path | str,
    *,
    root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    preset: str,
    planner: str,
    plans_overrides: Mapping | None,
) -> None:
    """Plans beside the default ones, planning only (the preprocessed data are the default plans'): nnU-Net's `preset`
    as its `planner` plans it, or, with `plans_overrides`, a smaller network derived from the preset's plans."""
    target = Path(plans)
    if plans_overrides:
        write_derived_plans(target.parent / f"{preset}.json", configuration, dict(plans_overrides), target)
        return
    written = plan_preset(root, dataset_id, dataset_name, planner)
    if written.resolve() != target.resolve():
        raise RuntimeError(f"nnU-Net's {planner} wrote {written}, not {target}")


def nnunet_predict(
    images: Mapping[str, Path | str],
    prediction: Path | str,
    *,
    model: Path | str,
    fold: str,
    channels: Sequence[str],
    given: Sequence[str] | None = None,
    device: str,
    threads: int,
) -> None:
    """One case's label map on the model's grid from its resampled `images` ("ct", "mr", "fov" -> path), given only
    the `given` channels (default: all; a model trained with modality dropout predicts from fewer)."""
    watch = Stopwatch(log, "nnunet_predict")
    with watch("loading the model"):
        predictor = Predictor(model, [fold], device=device, threads=threads)
    with watch("prediction"):
        predictor.predict_files(list(channels), dict(images), prediction, given=given)


def nnunet_postprocessing(
    predictions: Sequence[Path | str],
    references: Sequence[Path | str],
    decision: Path | str,
    *,
    processes: int,
) -> None:
    """nnU-Net's post-processing decision from the cross-validation's predictions (every case predicted by the fold
    that did not see it) against the reference label maps, written into the model folder (`decision`)."""
    from hanseg.nnunet.postprocessing import decide

    model = Path(decision).parent
    cases = [Path(p).name.removesuffix(".nrrd") for p in predictions]
    decide(
        dict(zip(cases, predictions, strict=True)),
        dict(zip(cases, references, strict=True)),
        model / "plans.json",
        model / "dataset.json",
        decision,
        processes=processes,
    )


def postprocess_prediction(prediction: Path | str, decision: Path | str, postprocessed: Path | str) -> None:
    """One case's label map with the model's post-processing decision applied (nnU-Net's own function)."""
    from hanseg.core.images import read_image, write_image
    from hanseg.nnunet.decision_file import read_decision
    from hanseg.nnunet.postprocessing import apply_to_image

    write_image(apply_to_image(read_image(prediction, "labels"), read_decision(decision)), postprocessed)
