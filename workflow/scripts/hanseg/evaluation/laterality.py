"""Left/right check of label maps: does every left organ lie on the patient's left of its right partner?

A model trained or applied with a left-right flip (mirroring augmentation, a header error, a swapped axis between
dataset conversion and prediction) still finds organs, and its Dice can hide the flip where the pair is nearly
symmetric. The centroids cannot: in LPS coordinates the patient's left is +x, so the left organ's centroid must have
the larger x. Centroids are physical points (origin, spacing and direction applied), so the check holds for any
voxel order on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.core.images import read_image

COLUMNS: tuple[str, ...] = (
    "case",
    "left",
    "right",
    "pred_left_x_mm",
    "pred_right_x_mm",
    "lr_swapped",
    "ref_lr_swapped",
    "reason",
)

REASON_MISSING = "not predicted on both sides"


def centroids_x(labels: sitk.Image) -> dict[int, float]:
    """Label id -> x (LPS mm, + = patient's left) of the label's centroid, for every label present."""
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(sitk.Cast(labels, sitk.sitkUInt8))
    return {int(label): float(statistics.GetCentroid(label)[0]) for label in statistics.GetLabels()}


def _swapped(x: dict[int, float], left: str, right: str) -> bool | None:
    """True if the left organ lies right of its partner, None if either side is absent."""
    left_id, right_id = dataset_layout.LABEL_IDS[left], dataset_layout.LABEL_IDS[right]
    if left_id not in x or right_id not in x:
        return None
    return x[left_id] < x[right_id]


def check_laterality(prediction: sitk.Image, reference: sitk.Image | None = None, *, case: str = "") -> pd.DataFrame:
    """One row per left/right pair of the prediction (and, given it, the reference label map) of one case."""
    predicted = centroids_x(prediction)
    referenced = centroids_x(reference) if reference is not None else {}
    rows = []
    for left, right in dataset_layout.LR_PAIRS:
        swapped = _swapped(predicted, left, right)
        rows.append(
            {
                "case": case,
                "left": left,
                "right": right,
                "pred_left_x_mm": predicted.get(dataset_layout.LABEL_IDS[left]),
                "pred_right_x_mm": predicted.get(dataset_layout.LABEL_IDS[right]),
                "lr_swapped": swapped,
                "ref_lr_swapped": _swapped(referenced, left, right) if reference is not None else None,
                "reason": REASON_MISSING if swapped is None else "",
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def check_laterality_files(
    prediction: Path | str, reference: Path | str | None, out_tsv: Path | str, *, case: str
) -> pd.DataFrame:
    table = check_laterality(
        read_image(prediction, "labels"), read_image(reference, "labels") if reference else None, case=case
    )
    write_text_atomic(out_tsv, table.to_csv(sep="\t", index=False, float_format="%.2f"))
    return table


def summarise(case_tables: Iterable[Path | str], out_tsv: Path | str, out_md: Path | str) -> pd.DataFrame:
    """All cases' rows in one table, and a short markdown summary: how many pairs are swapped, and which."""
    table = pd.concat([pd.read_csv(p, sep="\t", keep_default_na=False) for p in case_tables], ignore_index=True)
    write_text_atomic(out_tsv, table.to_csv(sep="\t", index=False))
    checked = table[table["lr_swapped"].astype(str).isin(["True", "False"])]
    swapped = checked[checked["lr_swapped"].astype(str) == "True"]
    lines = [
        "# Left/right check of the predictions",
        "",
        f"**{len(swapped)} swapped pair(s)** of {len(checked)} checked ({table['case'].nunique()} test cases, "
        f"{len(dataset_layout.LR_PAIRS)} left/right pairs each; a pair is checked when both sides are predicted).",
        "",
        "A pair is swapped when the predicted left organ's centroid lies on the patient's right of the predicted "
        "right organ's (LPS x, + = patient's left).",
    ]
    reference_swapped = table[table["ref_lr_swapped"].astype(str) == "True"]
    if len(reference_swapped):
        lines += ["", f"The reference itself is swapped in {len(reference_swapped)} pair(s): check those headers."]
    if len(swapped):
        lines += ["", "| case | left | right |", "|---|---|---|"]
        lines += [f"| {r.case} | {r.left} | {r.right} |" for r in swapped.itertuples()]
    write_text_atomic(out_md, "\n".join(lines) + "\n")
    return table
