"""Does a trained model's evaluation show that the chain (conversion, training, prediction, evaluation) is right?

A model that learned finds the largest organs on the held-out case and puts every left organ on the patient's left.
A swapped axis, a shifted origin, a wrong label id or a left-right flip anywhere between dataset conversion and
evaluation breaks one of these. Shared by the end-to-end tests (and their negative controls).
"""

from __future__ import annotations

import pandas as pd

#: Organs at least this large (mL, reference inside the field of view) must be found.
MIN_ORGAN_ML = 5.0
#: ...with at least this mean Dice.
MIN_MEAN_DICE = 0.5


def chain_problems(case_table: pd.DataFrame, laterality: pd.DataFrame, *, voxel_ml: float) -> list[str]:
    """Empty when the large organs are found (none with Dice 0, mean Dice at least 0.5) and no pair is swapped."""
    evaluated = case_table[case_table["evaluated"].astype(str) == "True"]
    large = evaluated[evaluated["ref_voxels"] * voxel_ml >= MIN_ORGAN_ML]
    problems = []
    if large.empty:
        return [f"no evaluated organ of at least {MIN_ORGAN_ML} mL"]
    missed = large.loc[large["dc"] == 0, "organ"].tolist()
    if missed:
        problems.append(f"not found (Dice 0): {', '.join(missed)}")
    if large["dc"].mean() < MIN_MEAN_DICE:
        problems.append(f"mean Dice {large['dc'].mean():.2f} over {len(large)} organs of >= {MIN_ORGAN_ML} mL")
    swapped = laterality[laterality["lr_swapped"].astype(str) == "True"]
    if len(swapped):
        problems.append(f"left/right swapped: {', '.join(swapped['left'])}")
    return problems
