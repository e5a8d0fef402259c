"""Train/test splits of Set 1, stratified like the paper's (age and gender), written to split.tsv.

The paper split its 56 cases 75/25 "by maintaining the distribution of patient age and gender" (and annotation
type, which the public data do not record). Set 2 is private, so `holdout` applies the same procedure inside Set 1,
and `cv` gives every case a prediction by a model that did not see it (nnU-Net's k folds).

Cases whose registration failed QC under ``registration.on_fail: exclude`` (:mod:`hanseg.registration.qc_verdict`)
get the role ``excluded`` (:data:`EXCLUDED_ROLE`, fold -1, the reason in the column :data:`REASON_COLUMN`): the split
is made over the other cases exactly as it would be without them, and nothing downstream trains on, predicts or
evaluates them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.core.atomic import write_text_atomic
from hanseg.core.defaults import SPLIT_FOLDS, SPLIT_SEED, SPLIT_STRATIFY, SPLIT_TEST_FRACTION

#: The split's role of a case left out (its fold is -1), and the column that says why.
EXCLUDED_ROLE = "excluded"
REASON_COLUMN = "excluded_because"
#: Age groups for stratification (years): the paper's cohort spans 34-79.
AGE_BINS = (50, 60, 70)


def age_group(age: float | None) -> str:
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return "unknown"
    edges = (0, *AGE_BINS, 200)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        if low <= age < high:
            return f"{low}-{high - 1}" if high < 200 else f">={low}"
    return "unknown"


def _strata(cases: pd.DataFrame, stratify: list[str]) -> pd.Series:
    parts = []
    if "age" in stratify:
        parts.append(cases["age"].map(age_group))
    if "gender" in stratify:
        parts.append(cases["gender"].fillna("unknown").astype(str))
    if not parts:
        return pd.Series("all", index=cases.index)
    stratum = parts[0]
    for part in parts[1:]:
        stratum = stratum + "/" + part
    return stratum


def make_split(
    cases: pd.DataFrame,
    method: str,
    *,
    test_fraction: float = SPLIT_TEST_FRACTION,
    folds: int = SPLIT_FOLDS,
    seed: int = SPLIT_SEED,
    stratify: tuple[str, ...] | list[str] = SPLIT_STRATIFY,
    excluded: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rows: case, role (train/test), fold (cv: 0..k-1; holdout: -1), age, gender, stratum.

    `cases` needs columns case, age, gender. Deterministic for a given seed and case list. `excluded` (case -> why)
    names cases to leave out: they get role ``excluded``, fold -1 and their reason in an ``excluded_because``
    column (added only then, so a split without exclusions is the same table as ever), and the other cases are
    split exactly as :func:`make_split` splits them alone.
    """
    excluded = dict(excluded or {})
    unknown = sorted(set(excluded) - set(cases["case"]))
    if unknown:
        raise ValueError(f"split: excluded cases not among the cases: {', '.join(unknown)}")
    if not excluded:
        return _split(cases, method, test_fraction=test_fraction, folds=folds, seed=seed, stratify=stratify)
    kept = cases.loc[~cases["case"].isin(excluded)]
    try:
        table = _split(kept, method, test_fraction=test_fraction, folds=folds, seed=seed, stratify=stratify)
    except ValueError as error:
        raise ValueError(f"{error} (after excluding {len(excluded)} of {len(cases)} cases)") from error
    left_out = cases.loc[cases["case"].isin(excluded), ["case", "age", "gender"]].copy()
    left_out["stratum"] = _strata(left_out, list(stratify))
    left_out["role"] = EXCLUDED_ROLE
    left_out["fold"] = -1
    left_out[REASON_COLUMN] = left_out["case"].map(excluded)
    table = pd.concat([table, left_out[[*table.columns, REASON_COLUMN]]], ignore_index=True)
    return table.sort_values("case").reset_index(drop=True)


def _split(
    cases: pd.DataFrame,
    method: str,
    *,
    test_fraction: float,
    folds: int,
    seed: int,
    stratify: tuple[str, ...] | list[str],
) -> pd.DataFrame:
    table = cases[["case", "age", "gender"]].copy().sort_values("case").reset_index(drop=True)
    table["stratum"] = _strata(table, list(stratify))
    rng = np.random.default_rng(seed)
    table["_key"] = rng.random(len(table))
    table = table.sort_values(["stratum", "_key"]).reset_index(drop=True)
    if method == "holdout":
        if not 0 < test_fraction < 1:
            raise ValueError(f"split.test_fraction must be in (0, 1), got {test_fraction}")
        n_test = max(1, int(len(table) * test_fraction + 0.5))  # half up: 42 cases -> 11 (the paper's 25 %)
        if n_test >= len(table):
            raise ValueError(f"{len(table)} cases are too few for a holdout split with {n_test} test cases")
        # Largest-remainder allocation of the test cases over the strata keeps their proportions.
        sizes = table.groupby("stratum", sort=True).size()
        quotas = sizes * n_test / len(table)
        allocated = np.floor(quotas).astype(int)
        remainder = (quotas - allocated).sort_values(ascending=False, kind="stable")
        for stratum in remainder.index[: n_test - allocated.sum()]:
            allocated[stratum] += 1
        table["role"] = "train"
        for stratum, count in allocated.items():
            members = table.index[table["stratum"] == stratum][:count]
            table.loc[members, "role"] = "test"
        table["fold"] = -1
    elif method == "cv":
        if not 2 <= folds <= len(table):
            raise ValueError(f"split.folds must be between 2 and the number of cases ({len(table)}), got {folds}")
        # Dealing the cases out stratum after stratum balances every stratum across the folds.
        table["fold"] = np.arange(len(table)) % folds
        table["role"] = "test"  # every case is a test case of the fold that holds it out
    else:
        raise ValueError(f"split.method {method!r} is not supported here (holdout or cv)")
    table = table.drop(columns="_key").sort_values("case").reset_index(drop=True)
    return table[["case", "role", "fold", "age", "gender", "stratum"]]


def write_split(table: pd.DataFrame, path: Path | str) -> None:
    write_text_atomic(path, table.to_csv(sep="\t", index=False))


def read_split(path: Path | str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def excluded_cases(table: pd.DataFrame) -> dict[str, str]:
    """case -> why, for the cases a split leaves out (none for a split made without exclusions)."""
    if REASON_COLUMN not in table.columns:
        return {}
    left_out = table.loc[table["role"] == EXCLUDED_ROLE]
    return {str(case): str(reason) for case, reason in zip(left_out["case"], left_out[REASON_COLUMN], strict=True)}


def nnunet_cases(table: pd.DataFrame, method: str) -> tuple[list[str], list[str]]:
    """(training, test) cases of nnU-Net's raw dataset: holdout's train and test parts; under cv every case in a
    fold trains (splits_final.json holds each out once) and there is no test part. Excluded cases are in neither."""
    if method == "cv":
        return sorted(table.loc[table["fold"] >= 0, "case"]), []
    return sorted(table.loc[table["role"] == "train", "case"]), sorted(table.loc[table["role"] == "test", "case"])


def nnunet_folds(table: pd.DataFrame) -> list[dict[str, list[str]]]:
    """nnU-Net's splits_final.json for a cv split: fold k validates on the cases of fold k and trains on the other
    folds' cases (an excluded case, fold -1, is in none)."""
    in_folds = table.loc[table["fold"] >= 0]
    folds = sorted(int(f) for f in in_folds["fold"].unique())
    return [
        {
            "train": sorted(in_folds.loc[in_folds["fold"] != k, "case"]),
            "val": sorted(in_folds.loc[in_folds["fold"] == k, "case"]),
        }
        for k in folds
    ]


def write_nnunet_folds(table: pd.DataFrame, path: Path | str) -> None:
    write_text_atomic(path, json.dumps(nnunet_folds(table), indent=1) + "\n")


def sets_of(split: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The cases of every set, as Table 1 and Figure 2 show them: all, then train, test and excluded where present.

    Under cv every case is the test case of one fold, so "test" holds them all (but the excluded). "all" is every
    case of the run, the excluded ones included: their own set shows what was left out.
    """
    sets = {"all": split}
    for role in ("train", "test", EXCLUDED_ROLE):
        part = split.loc[split["role"] == role]
        if len(part):
            sets[role] = part
    return sets


def exclusion_note(excluded: Mapping[str, str]) -> str:
    """One sentence naming the cases left out and why; empty when none is."""
    if not excluded:
        return ""
    cases = "; ".join(f"{case} ({reason})" for case, reason in sorted(excluded.items()))
    count = f"{len(excluded)} case{'s' if len(excluded) > 1 else ''}"
    return f"Excluded ({count}, registration.on_fail: exclude; in no training set, fold or evaluation): {cases}."
