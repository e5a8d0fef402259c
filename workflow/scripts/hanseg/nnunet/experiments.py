"""The configured experiments (config `experiments`), resolved once: what each trains, from which plans, and what it
predicts with. Plain data, no nnU-Net import: the Snakefile reads it when it builds the DAG.

Two kinds of experiment:

- A **trained** experiment lists its `channels` and may set its own `trainer`, `plans` (nnU-Net's default plans or a
  residual-encoder preset), `plans_overrides` (a CPU-sized network) and `modality_dropout`. It trains one model per
  fold.
- A **scoring** experiment names another experiment's `model` and the `inputs` it is given (e.g. CT alone): it trains
  nothing and predicts, evaluates and compares as any experiment does. This is how one model is scored under several
  inputs, and how Table 2 is reported without nnU-Net's post-processing (`postprocessing: false`).

Trained experiments with the same channels share one nnU-Net dataset and its preprocessing (under the first such
experiment's folder, `experiments/<first>/nnunet/`): nnU-Net keeps every trainer and plans of a dataset side by side
(`<trainer>__<plans>__<configuration>`), and the residual-encoder presets preprocess exactly as the default plans (the
same `data_identifier`), so a second model of the same inputs costs its planning (seconds) and its training only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hanseg.nnunet import PLANS_NAME, model_folder_name
from hanseg.nnunet.channels import MODALITY, check_channels, given_channels, sources

MODALITIES = ("CT", "MR")
#: The trainer that adds modality dropout to a trainer: its name plus this suffix (hanseg.nnunet.trainer).
DROPOUT_SUFFIX = "ModalityDropout"
#: The trainers a config may name (hanseg.nnunet.trainer.TRAINERS holds them and their dropout variants).
BASE_TRAINERS = ("HanSegTrainer", "HanSegTrainerNoDAAdam")
#: A derived plans name: a plans identifier, `_`, a suffix (e.g. nnUNetPlans_cpu, nnUNetResEncUNetMPlans_cpu).
DERIVED_PLANS_NAME = re.compile(r"nnU[A-Za-z0-9]*Plans_[A-Za-z0-9]+")


@dataclass(frozen=True)
class Preset:
    """nnU-Net's plans of one planner, and what nnU-Net published of their cost (resenc_presets.md: 1000 epochs on
    one A100 40 GB, mixed precision; the figures of its benchmark datasets, not of head-and-neck CT)."""

    plans: str
    planner: str
    published_gpu_memory_gb: float
    published_hours_per_fold: float


PRESETS: dict[str, Preset] = {
    p.plans: p
    for p in (
        Preset(PLANS_NAME, "ExperimentPlanner", 7.7, 9),
        Preset("nnUNetResEncUNetMPlans", "nnUNetPlannerResEncM", 9.1, 12),
        Preset("nnUNetResEncUNetLPlans", "nnUNetPlannerResEncL", 22.7, 35),
        Preset("nnUNetResEncUNetXLPlans", "nnUNetPlannerResEncXL", 36.6, 66),
    )
}


@dataclass(frozen=True)
class Experiment:
    name: str
    #: The model's channels (a scoring experiment: its model's).
    channels: tuple[str, ...]
    #: The experiment that trains the model (itself when it trains).
    model_of: str
    #: The experiment whose nnU-Net root holds the dataset, plans and model (the first trained one with these channels).
    dataset_of: str
    trainer: str
    #: The plans the model trains with (names the model folder), and the nnU-Net preset they are or derive from.
    plans: str
    preset: str
    plans_overrides: dict | None
    #: Probability per sample that a modality is blanked in training ({"MR": 0.5}); empty: no dropout.
    modality_dropout: dict[str, float] = field(default_factory=dict)
    #: The modalities given at prediction ("CT", "MR").
    inputs: tuple[str, ...] = ("CT", "MR")
    #: Apply the model's post-processing decision (cross-validation only: no decision otherwise).
    postprocessing: bool = True
    description: str = ""

    @property
    def trains(self) -> bool:
        return self.model_of == self.name

    def model_folder_name(self, configuration: str) -> str:
        return model_folder_name(self.trainer, self.plans, configuration)

    @property
    def given_channels(self) -> list[str]:
        """The channels its prediction is given (the others are blank)."""
        return given_channels(list(self.channels), self.inputs)

    @property
    def accepted_inputs(self) -> list[list[str]]:
        """The input sets the model predicts from: all its modalities, and CT alone if dropout trained it without
        MR. (CT dropout makes the model lean on the MR too, but a prediction needs the CT: its grid.)"""
        full = modalities_of(self.channels)
        return [full, ["CT"]] if self.modality_dropout.get("MR", 0) > 0 else [full]


def modalities_of(channels) -> list[str]:
    """The modalities the channels are made from, in the order CT, MR."""
    used = {MODALITY[c] for c in channels}
    return [m for m in MODALITIES if m in used]


def _trained(name: str, settings: Mapping, nnunet: Mapping) -> dict:
    channels = list(settings["channels"])
    check_channels(channels)
    trainer = settings.get("trainer") or nnunet["trainer"]
    if trainer not in BASE_TRAINERS:
        raise ValueError(f"experiments.{name}.trainer: {trainer!r} is not one of {', '.join(BASE_TRAINERS)}")
    preset = settings.get("plans") or PLANS_NAME
    if preset not in PRESETS:
        raise ValueError(f"experiments.{name}.plans: {preset!r} is not one of {', '.join(PRESETS)}")
    if "plans_overrides" in settings:
        overrides = settings["plans_overrides"]
    else:  # the global CPU override sizes nnU-Net's default plans only; a preset is used as nnU-Net plans it
        overrides = nnunet.get("plans_overrides") if preset == PLANS_NAME else None
    if overrides:
        _check_overrides(f"experiments.{name}.plans_overrides", overrides)
    dropout = {m: float(p) for m, p in (settings.get("modality_dropout") or {}).items() if float(p) > 0}
    modalities = modalities_of(channels)
    for modality in dropout:
        if modality not in modalities:
            raise ValueError(f"experiments.{name}.modality_dropout: {modality} is not among its channels {channels}")
        if len(modalities) < 2:
            raise ValueError(f"experiments.{name}.modality_dropout: a model of one modality cannot drop it")
    if sum(dropout.values()) >= 1:
        raise ValueError(
            f"experiments.{name}.modality_dropout: the probabilities add up to {sum(dropout.values()):g}; "
            "they must leave some samples with every input (sum below 1)"
        )
    return {
        "channels": tuple(channels),
        "model_of": name,
        "trainer": trainer + (DROPOUT_SUFFIX if dropout else ""),
        "plans": overrides["name"] if overrides else preset,
        "preset": preset,
        "plans_overrides": dict(overrides) if overrides else None,
        "modality_dropout": dropout,
        "inputs": tuple(modalities),
    }


def _check_overrides(key: str, overrides: Mapping) -> None:
    from hanseg.nnunet.plan import OVERRIDE_KEYS

    name = overrides.get("name")
    if not isinstance(name, str) or not DERIVED_PLANS_NAME.fullmatch(name):
        raise ValueError(f"{key}.name: {name!r} is not a plans name such as nnUNetPlans_cpu (letters and digits)")
    unknown = sorted(set(overrides) - {"name", *OVERRIDE_KEYS})
    if unknown:
        raise ValueError(f"{key}: unknown keys {unknown} (known: name, {', '.join(OVERRIDE_KEYS)})")


def resolve_experiments(config: Mapping) -> dict[str, Experiment]:
    """Every configured experiment resolved, in order; ValueError naming the key for a config that cannot work."""
    nnunet = config["nnunet"]
    configured = config["experiments"]
    resolved: dict[str, dict] = {}
    for name, settings in configured.items():
        if settings.get("model") is None:
            if not settings.get("channels"):
                raise ValueError(f"experiments.{name}: set its channels (a model to train) or model (another's)")
            resolved[name] = _trained(name, settings, nnunet)
    experiments: dict[str, Experiment] = {}
    first_of_channels: dict[tuple[str, ...], str] = {}
    for name, settings in configured.items():
        postprocessing = settings.get("postprocessing", nnunet.get("postprocessing", True))
        description = settings.get("description", "")
        if name in resolved:
            values = resolved[name]
            dataset_of = first_of_channels.setdefault(values["channels"], name)
            inputs = tuple(settings.get("inputs") or values["inputs"])
            if list(inputs) != modalities_of(values["channels"]):
                raise ValueError(f"experiments.{name}.inputs: a trained experiment predicts from all its inputs")
            experiments[name] = Experiment(
                name, dataset_of=dataset_of, postprocessing=postprocessing, description=description, **values
            )
            continue
        experiments[name] = _scoring(name, settings, resolved, experiments, postprocessing, description)
    _check_unique(experiments, nnunet["configuration"])
    return experiments


def _scoring(name, settings, resolved, experiments, postprocessing, description) -> Experiment:
    model = settings["model"]
    own = sorted(set(settings) & {"channels", "trainer", "plans", "plans_overrides", "modality_dropout"})
    if own:
        raise ValueError(f"experiments.{name}: uses {model}'s model, so {', '.join(own)} cannot be set here")
    if model not in resolved:
        raise ValueError(f"experiments.{name}.model: {model!r} is not an experiment that trains a model")
    trained = experiments.get(model)
    if trained is None:
        raise ValueError(f"experiments.{name}.model: list {model!r} before {name!r}")
    inputs = [m for m in MODALITIES if m in (settings.get("inputs") or trained.inputs)]
    if inputs not in trained.accepted_inputs:
        raise ValueError(
            f"experiments.{name}.inputs: model {model!r} was trained on {', '.join(trained.inputs)}"
            + (
                f" with modality dropout and accepts {' or '.join('+'.join(a) for a in trained.accepted_inputs)}"
                if trained.modality_dropout
                else " without modality dropout (experiments.<name>.modality_dropout): it needs every input"
            )
        )
    fields = {k: getattr(trained, k) for k in ("channels", "dataset_of", "trainer", "plans", "preset")}
    return Experiment(
        name,
        model_of=model,
        plans_overrides=trained.plans_overrides,
        modality_dropout=dict(trained.modality_dropout),
        inputs=tuple(inputs),
        postprocessing=postprocessing,
        description=description,
        **fields,
    )


def _check_unique(experiments: Mapping[str, Experiment], configuration: str) -> None:
    """Two trained experiments may not write one model folder, nor one plans name mean two plans."""
    folders: dict[tuple[str, str], str] = {}
    plans: dict[tuple[str, str], tuple[str, str, str]] = {}
    for e in experiments.values():
        if not e.trains:
            continue
        folder = (e.dataset_of, e.model_folder_name(configuration))
        if folder in folders:
            raise ValueError(
                f"experiments {folders[folder]} and {e.name} would train the same model ({folder[1]}: same channels, "
                "trainer and plans); give one its own trainer, plans or plans_overrides name, or score the model "
                "twice with `model:`"
            )
        folders[folder] = e.name
        key = (e.dataset_of, e.plans)
        meaning = (e.preset, repr(sorted((e.plans_overrides or {}).items())), e.name)
        if key in plans and plans[key][:2] != meaning[:2]:
            raise ValueError(
                f"experiments {plans[key][2]} and {e.name}: plans name {e.plans!r} stands for two different plans; "
                "give each plans_overrides its own name"
            )
        plans.setdefault(key, meaning)


def sources_of(experiment: Experiment) -> list[str]:
    """The resampled images ("ct", "mr", "fov") the experiment's prediction reads."""
    return sources(experiment.given_channels)


def training_cost(experiment: Experiment, nnunet: Mapping, folds: int) -> str:
    """One line: the model, its folds, and its preset's published GPU memory and time per fold scaled to the
    configured budget (what a run prints before anything trains)."""
    preset = PRESETS[experiment.preset]
    hours = preset.published_hours_per_fold * nnunet["epochs"] * nnunet["iterations_per_epoch"] / (1000 * 250)
    sized = "; plans_overrides make it smaller" if experiment.plans_overrides else ""
    return (
        f"{experiment.name}: {experiment.model_folder_name(nnunet['configuration'])} x {folds} fold(s); "
        f"{preset.plans} at full size: about {preset.published_gpu_memory_gb:g} GB of GPU memory, {hours:.3g} GPU "
        f"hours per fold on an A100, {hours * folds:.3g} in all{sized}"
    )
