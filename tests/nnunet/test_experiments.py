"""The experiments a config describes: what each trains and from which plans, which share an nnU-Net dataset, what a
scoring experiment is given, and the configs that cannot work, refused in one line naming the key."""

from __future__ import annotations

import pytest

from hanseg.nnunet.experiments import PRESETS, resolve_experiments, sources_of, training_cost

CPU = {"name": "nnUNetPlans_cpu", "features_per_stage": [8, 16], "patch_size": [8, 8, 8], "batch_size": 2}


def _config(experiments: dict, **nnunet) -> dict:
    defaults = {
        "trainer": "HanSegTrainer",
        "plans_overrides": None,
        "configuration": "3d_fullres",
        "postprocessing": True,
        "epochs": 1000,
        "iterations_per_epoch": 250,
    }
    return {"nnunet": defaults | nnunet, "experiments": experiments}


def test_the_default_experiment_is_the_papers_model():
    (e,) = resolve_experiments(_config({"ct_mr": {"channels": ["CT", "MR"]}})).values()
    assert e.trains and e.dataset_of == "ct_mr" and e.inputs == ("CT", "MR")
    assert e.model_folder_name("3d_fullres") == "HanSegTrainer__nnUNetPlans__3d_fullres"
    assert e.accepted_inputs == [["CT", "MR"]] and sources_of(e) == ["ct", "mr"]


def test_models_of_the_same_channels_share_one_dataset_and_a_scoring_experiment_trains_nothing():
    experiments = resolve_experiments(
        _config(
            {
                "ct_mr": {"channels": ["CT", "MR"]},
                "ct": {"channels": ["CT"]},
                "resenc": {"channels": ["CT", "MR"], "plans": "nnUNetResEncUNetMPlans"},
                "dropout": {"channels": ["CT", "MR"], "modality_dropout": {"MR": 0.5}},
                "dropout_ct": {"model": "dropout", "inputs": ["CT"]},
                "no_pp": {"model": "ct_mr", "postprocessing": False},
            },
            plans_overrides=CPU,
        )
    )
    assert {n: e.dataset_of for n, e in experiments.items()} == {
        "ct_mr": "ct_mr",
        "ct": "ct",
        "resenc": "ct_mr",
        "dropout": "ct_mr",
        "dropout_ct": "ct_mr",
        "no_pp": "ct_mr",
    }
    # the global CPU override sizes nnU-Net's default plans only; a preset is trained as nnU-Net plans it
    assert experiments["ct_mr"].plans == "nnUNetPlans_cpu" and experiments["resenc"].plans == "nnUNetResEncUNetMPlans"
    dropout, scored = experiments["dropout"], experiments["dropout_ct"]
    assert dropout.trainer == "HanSegTrainerModalityDropout" and dropout.accepted_inputs == [["CT", "MR"], ["CT"]]
    assert not scored.trains and scored.model_of == "dropout" and scored.trainer == dropout.trainer
    assert scored.given_channels == ["CT"] and sources_of(scored) == ["ct"]
    assert not experiments["no_pp"].postprocessing and experiments["no_pp"].model_of == "ct_mr"
    models = {(e.dataset_of, e.model_folder_name("3d_fullres")) for e in experiments.values() if e.trains}
    assert len(models) == 4  # one model folder per trained experiment


@pytest.mark.parametrize(
    "experiments, key, words",
    [
        ({"a": {"description": "x"}}, "experiments.a", "channels"),
        ({"a": {"channels": ["CT", "MR"]}, "b": {"model": "a", "inputs": ["CT"]}}, "experiments.b.inputs", "dropout"),
        ({"b": {"model": "a"}, "a": {"channels": ["CT"]}}, "experiments.b.model", "before"),
        ({"a": {"channels": ["CT"]}, "b": {"model": "c"}}, "experiments.b.model", "'c'"),
        ({"a": {"channels": ["CT"]}, "b": {"model": "a", "trainer": "HanSegTrainer"}}, "experiments.b", "trainer"),
        ({"a": {"channels": ["CT"], "modality_dropout": {"MR": 0.5}}}, "experiments.a.modality_dropout", "MR"),
        ({"a": {"channels": ["CT", "MR"], "modality_dropout": {"MR": 0.6, "CT": 0.4}}}, "modality_dropout", "sum"),
        ({"a": {"channels": ["CT"], "plans": "nnUNetPlansXXL"}}, "experiments.a.plans", "nnUNetResEncUNetLPlans"),
        (
            {"a": {"channels": ["CT"], "plans_overrides": {"name": "nnUNetPlans_x", "depth": 3}}},
            "experiments.a.plans_overrides",
            "unknown keys",
        ),
        ({"a": {"channels": ["CT"]}, "b": {"channels": ["CT"]}}, "experiments a and b", "same model"),
        (
            {
                "a": {"channels": ["CT"]},
                "b": {
                    "channels": ["CT"],
                    "trainer": "HanSegTrainerNoDAAdam",
                    "plans_overrides": dict(CPU, batch_size=4),
                },
            },
            "plans name 'nnUNetPlans_cpu'",
            "two different plans",
        ),
    ],
)
def test_a_config_that_cannot_work_is_refused_naming_the_key(experiments, key, words):
    with pytest.raises(ValueError) as error:
        resolve_experiments(_config(experiments, plans_overrides=CPU))
    message = str(error.value)
    assert len(message.splitlines()) == 1 and key in message and words in message, message


def test_the_cost_line_scales_the_presets_published_figures_to_the_budget_and_the_folds():
    experiments = resolve_experiments(_config({"m": {"channels": ["CT"], "plans": "nnUNetResEncUNetMPlans"}}))
    line = training_cost(experiments["m"], _config({})["nnunet"], 5)
    preset = PRESETS["nnUNetResEncUNetMPlans"]
    assert "HanSegTrainer__nnUNetResEncUNetMPlans__3d_fullres x 5 fold(s)" in line
    assert f"{preset.published_gpu_memory_gb:g} GB" in line and "12 GPU hours per fold" in line and "60 in all" in line
    half = _config({}, epochs=500)["nnunet"]
    assert "6 GPU hours per fold" in training_cost(experiments["m"], half, 5)


def test_every_trainer_a_config_names_exists_with_its_dropout_variant():
    """The names the config accepts (schema, BASE_TRAINERS) and the trainer classes the workflow builds agree."""
    from hanseg.core.defaults import choices
    from hanseg.nnunet.experiments import BASE_TRAINERS, DROPOUT_SUFFIX
    from hanseg.nnunet.trainer import TRAINERS

    assert set(choices("nnunet.trainer")) == set(BASE_TRAINERS)
    assert set(TRAINERS) == {name + suffix for name in BASE_TRAINERS for suffix in ("", DROPOUT_SUFFIX)}
