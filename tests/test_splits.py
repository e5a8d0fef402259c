from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hanseg.splits import age_group, make_split, nnunet_folds


def _cohort(n=42, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "case": [f"case_{i:02d}" for i in range(1, n + 1)],
            "age": rng.integers(34, 80, n).astype(float),
            "gender": rng.choice(["M", "F"], n, p=[0.71, 0.29]),
        }
    )


def test_holdout_is_75_25_and_keeps_strata():
    cohort = _cohort()
    split = make_split(cohort, "holdout", test_fraction=0.25, seed=3)
    test = split[split.role == "test"]
    assert len(test) == 11 and len(split) == 42  # 10.5 rounds half up, as 14/56 in the paper
    for stratum, members in split.groupby("stratum"):
        expected = len(members) * 11 / 42
        assert abs((members.role == "test").sum() - expected) < 1.0 + 1e-9, stratum
    assert abs((test.gender == "M").mean() - (split.gender == "M").mean()) < 0.1


def test_same_seed_same_split_other_seed_other_split():
    cohort = _cohort()
    a = make_split(cohort, "holdout", seed=0)
    b = make_split(cohort.sample(frac=1, random_state=5), "holdout", seed=0)  # row order does not matter
    c = make_split(cohort, "holdout", seed=1)
    assert a.equals(b)
    assert not a.role.equals(c.role)


def test_cv_folds_are_balanced_and_cover_every_case_once():
    split = make_split(_cohort(), "cv", folds=5, seed=0)
    sizes = split.fold.value_counts()
    assert sorted(sizes.index) == [0, 1, 2, 3, 4] and sizes.max() - sizes.min() <= 1
    assert (split.role == "test").all()
    folds = nnunet_folds(split)
    assert len(folds) == 5
    for fold in folds:
        assert not set(fold["train"]) & set(fold["val"])
        assert len(fold["train"]) + len(fold["val"]) == 42
    assert sorted(c for f in folds for c in f["val"]) == sorted(split.case)


def test_age_groups_and_bad_settings():
    assert [age_group(a) for a in (34, 50, 59.9, 60, 79, None)] == [
        "0-49",
        "50-59",
        "50-59",
        "60-69",
        ">=70",
        "unknown",
    ]
    with pytest.raises(ValueError, match="folds"):
        make_split(_cohort(4), "cv", folds=5)
    with pytest.raises(ValueError, match="official"):
        make_split(_cohort(), "official")
