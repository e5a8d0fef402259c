from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hanseg.dataset.splits import (
    age_group,
    excluded_cases,
    make_split,
    nnunet_cases,
    nnunet_folds,
    read_split,
    sets_of,
    write_split,
)


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


#: Two cases whose registration failed QC (registration.on_fail: exclude), with the reason split.tsv records.
EXCLUDED = {
    "case_05": "registration QC fail: skin_distance_mm 7.1 mm above the fail threshold 6 mm",
    "case_17": "registration QC fail: skin_distance_mm not measurable",
}


@pytest.mark.parametrize("method", ["holdout", "cv"])
def test_excluded_cases_are_left_out_and_the_rest_is_split_as_alone(method, tmp_path):
    cohort = _cohort()
    split = make_split(cohort, method, folds=5, seed=3, excluded=EXCLUDED)
    rest = make_split(cohort.loc[~cohort.case.isin(EXCLUDED)], method, folds=5, seed=3)
    assert list(split.case) == sorted(cohort.case)  # every case is listed, the excluded too
    left_out = split.loc[split.role == "excluded"]
    assert sorted(left_out.case) == sorted(EXCLUDED) and (left_out.fold == -1).all()
    assert dict(zip(left_out.case, left_out.excluded_because, strict=True)) == EXCLUDED
    # The others: exactly the split made without the excluded cases (test fraction, folds and strata over them).
    kept = split.loc[split.role != "excluded"].drop(columns="excluded_because").reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, rest)
    # Written and read back, the reasons survive and the excluded cases are in no training set, test set or fold.
    write_split(split, tmp_path / "split.tsv")
    table = read_split(tmp_path / "split.tsv")
    assert excluded_cases(table) == EXCLUDED
    training, test = nnunet_cases(table, method)
    assert not set(EXCLUDED) & (set(training) | set(test))
    assert sorted(training + test) == sorted(rest.case)
    for fold in nnunet_folds(table):
        assert not set(EXCLUDED) & (set(fold["train"]) | set(fold["val"]))
    assert sorted(c for f in nnunet_folds(table) for c in f["val"]) == (sorted(rest.case) if method == "cv" else [])
    assert sets_of(table)["excluded"].case.tolist() == sorted(EXCLUDED) and len(sets_of(table)["all"]) == 42


def test_without_exclusions_the_split_has_its_old_columns():
    cohort = _cohort()
    for excluded in (None, {}):
        split = make_split(cohort, "holdout", seed=3, excluded=excluded)
        assert list(split.columns) == ["case", "role", "fold", "age", "gender", "stratum"]
        assert split.equals(make_split(cohort, "holdout", seed=3))
        assert excluded_cases(split) == {} and "excluded" not in sets_of(split)


def test_cv_folds_of_nnunet_never_train_on_an_excluded_case():
    """fold -1 != k: before, a case outside every fold went into every fold's training set."""
    table = pd.DataFrame(
        {
            "case": ["case_01", "case_02", "case_03", "case_04", "case_05"],
            "role": ["test", "test", "excluded", "test", "test"],
            "fold": [0, 1, -1, 0, 1],
        }
    )
    assert nnunet_folds(table) == [
        {"train": ["case_02", "case_05"], "val": ["case_01", "case_04"]},
        {"train": ["case_01", "case_04"], "val": ["case_02", "case_05"]},
    ]
    assert nnunet_cases(table, "cv") == (["case_01", "case_02", "case_04", "case_05"], [])


def test_exclusions_that_leave_too_few_cases_or_name_unknown_ones_are_errors():
    cohort = _cohort(6)
    with pytest.raises(ValueError, match="after excluding 2 of 6 cases"):
        make_split(cohort, "cv", folds=5, excluded={"case_01": "x", "case_02": "y"})
    with pytest.raises(ValueError, match="case_99"):
        make_split(cohort, "holdout", excluded={"case_99": "x"})
