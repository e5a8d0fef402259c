"""The Dice ceiling the training label map's overlap rule leaves to organs scored against their own masks.

The label map nnU-Net trains on holds one label per voxel, the smaller organ keeping the voxels organs share
(:mod:`hanseg.preprocessing.overlaps`). A model trained on it can give a shared voxel to one organ only. Scored against
its own full mask (``evaluation.reference: masks``), the larger organ of an overlapping pair therefore cannot reach
Dice 1: with V reference voxels of which L went to smaller organs, a prediction that reproduces the label map
scores ``2 (V - L) / (2 V - L)``, the organ's Dice ceiling. :func:`ceiling_table` reports V, L and the ceiling
per organ from resampling's ``overlaps.tsv`` (voxels per overlapping pair) and ``resample.json`` (voxels per
organ). L adds the pairs up: a voxel inside two organs that both beat the organ counts twice (an upper bound on
L, so the ceiling is a lower bound); head-and-neck organs rarely overlap three deep.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from hanseg.core import dataset_layout
from hanseg.preprocessing.overlaps import label_map_keeps

__all__ = ["CEILING_COLUMNS", "ceiling_markdown", "ceiling_table", "dice_ceiling", "read_case_overlaps", "voxels_taken"]


def dice_ceiling(voxels: int, taken: int) -> float:
    """Best Dice against the organ's full mask when `taken` of its `voxels` belong to other labels."""
    if voxels <= 0:
        return math.nan
    taken = min(max(int(taken), 0), int(voxels))
    return 2.0 * (voxels - taken) / (2.0 * voxels - taken)


def read_case_overlaps(overlaps_tsv: Path | str, resample_json: Path | str) -> tuple[pd.DataFrame, dict[str, int]]:
    """One case's overlapping pairs (organ_a, organ_b, voxels) and its voxels per organ, from resampling."""
    overlaps_tsv, resample_json = Path(overlaps_tsv), Path(resample_json)
    for path in (overlaps_tsv, resample_json):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    try:
        pairs = pd.read_csv(overlaps_tsv, sep="\t", dtype={"organ_a": str, "organ_b": str})
        organ_voxels = json.loads(resample_json.read_text())["organ_voxels"]
    except (ValueError, KeyError, pd.errors.ParserError) as error:
        raise ValueError(f"{overlaps_tsv.parent}: unreadable overlap record ({error})") from None
    missing = [c for c in ("organ_a", "organ_b", "voxels") if c not in pairs.columns]
    if missing:
        raise ValueError(f"{overlaps_tsv}: missing columns {', '.join(missing)}")
    unknown = sorted((set(pairs["organ_a"]) | set(pairs["organ_b"])) - set(organ_voxels))
    if unknown:
        raise ValueError(f"{overlaps_tsv}: organs {', '.join(unknown)} are not in {resample_json.name}")
    return pairs, {organ: int(v) for organ, v in organ_voxels.items()}


def voxels_taken(pairs: pd.DataFrame, voxels: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Organ -> {organ that took them: voxels} for every organ that lost voxels to a smaller one.

    The winner is recomputed with :func:`label_map_keeps` from the voxel counts rather than read from the
    file, so records written before ties were settled the painting's way count the same.
    """
    taken: dict[str, dict[str, int]] = {}
    for a, b, count in zip(pairs["organ_a"], pairs["organ_b"], pairs["voxels"], strict=True):
        winner = label_map_keeps(a, b, voxels)
        loser = b if winner == a else a
        taken.setdefault(loser, {})[winner] = taken.get(loser, {}).get(winner, 0) + int(count)
    return taken


CEILING_COLUMNS: tuple[str, ...] = (
    "organ",
    "cases",
    "voxels_mean",
    "taken_mean",
    "taken_pct_mean",
    "taken_by",
    "dice_ceiling_mean",
    "dice_ceiling_min",
)


def ceiling_table(cases: Iterable[tuple[pd.DataFrame, Mapping[str, int]]]) -> pd.DataFrame:
    """Per organ (official order) over the cases given (each as :func:`read_case_overlaps` returns it): the
    cases holding it, its mean voxel count, the mean voxels and % the rule gave to smaller organs, who took
    them (most first) and the mean and lowest Dice ceiling."""
    per_organ: dict[str, list[tuple[int, int]]] = {}
    takers: dict[str, dict[str, int]] = {}
    for pairs, voxels in cases:
        taken = voxels_taken(pairs, voxels)
        for organ, count in voxels.items():
            if count > 0:
                per_organ.setdefault(organ, []).append((count, sum(taken.get(organ, {}).values())))
            for winner, lost in taken.get(organ, {}).items():
                takers.setdefault(organ, {})[winner] = takers.get(organ, {}).get(winner, 0) + lost
    rows = []
    for organ in dataset_layout.ORGANS:
        if organ not in per_organ:
            continue
        counts = per_organ[organ]
        ceilings = [dice_ceiling(v, t) for v, t in counts]
        by = sorted(takers.get(organ, {}).items(), key=lambda item: (-item[1], dataset_layout.LABEL_IDS[item[0]]))
        rows.append(
            {
                "organ": organ,
                "cases": len(counts),
                "voxels_mean": sum(v for v, _ in counts) / len(counts),
                "taken_mean": sum(t for _, t in counts) / len(counts),
                "taken_pct_mean": 100.0 * sum(min(t, v) / v for v, t in counts) / len(counts),
                "taken_by": ";".join(name for name, _ in by),
                "dice_ceiling_mean": sum(ceilings) / len(ceilings),
                "dice_ceiling_min": min(ceilings),
            }
        )
    return pd.DataFrame(rows, columns=list(CEILING_COLUMNS))


def ceiling_markdown(table: pd.DataFrame) -> str:
    """The ceiling table as GitHub markdown, organs that lose nothing summarised in one line."""
    losing = table.loc[table["taken_mean"] > 0]
    lines = [
        "| Organ | Cases | Voxels (mean) | Taken by the overlap rule (mean) | Taken (%) | Taken by | "
        "Dice ceiling (mean) | Dice ceiling (lowest) |",
        "|:--|--:|--:|--:|--:|:--|--:|--:|",
    ]
    for row in losing.itertuples(index=False):
        lines.append(
            f"| {row.organ} | {row.cases} | {row.voxels_mean:.0f} | {row.taken_mean:.1f} | {row.taken_pct_mean:.2f} | "
            f"{row.taken_by.replace(';', ', ')} | {row.dice_ceiling_mean:.4f} | {row.dice_ceiling_min:.4f} |"
        )
    whole = sorted(set(table["organ"]) - set(losing["organ"]), key=dataset_layout.LABEL_IDS.get)
    note = (
        "Voxels on the resampled grid, whole organ (before the field-of-view rule). The Dice ceiling is the "
        "best Dice an organ can reach against its own full mask (`evaluation.reference: masks`) when the "
        "prediction reproduces the training label map; against the label map (`labelmap`, the default) "
        "every organ can reach 1."
    )
    if whole:
        note += f" Organs that lose no voxel (ceiling 1): {', '.join(whole)}."
    if losing.empty:
        lines.append("| (none) | | | | | | | |")
    return "\n".join(lines) + f"\n\n{note}\n"
