"""Per-case evaluation tables: one TSV per case (``evaluation/cases/<case>.tsv``) and their concatenation
``per_case.tsv``, the input of Table 2 and of every results figure.

Columns are :data:`hanseg.evaluation.case_scores.COLUMNS`. ``inf`` (an empty prediction's HD95 and ASSD) and ``nan``
(organs not evaluated) are spelled out, so a reader of the file sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.evaluation.case_scores import COLUMNS, SCORE_COLUMNS

__all__ = ["aggregate", "frame_to_tsv", "read_case_tables", "write_case_table"]


def _frame(rows: Iterable[dict]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def frame_to_tsv(frame: pd.DataFrame) -> str:
    """TSV text of a per-case table: ``inf`` and ``nan`` spelled out, so a reader sees them."""
    return frame.to_csv(sep="\t", index=False, na_rep="nan", lineterminator="\n")


def write_case_table(rows: Iterable[dict], path: Path | str) -> None:
    """The rows of :func:`hanseg.evaluation.case_scores.evaluate_case` as TSV (columns :data:`COLUMNS`), written
    atomically."""
    write_text_atomic(path, frame_to_tsv(_frame(rows)))


def _as_bool(values: pd.Series, path: Path) -> pd.Series:
    if values.dtype == bool:
        return values
    spelled = values.astype(str).str.strip().str.lower()
    mapping = {"true": True, "false": False, "1": True, "0": False}
    unknown = sorted(set(spelled) - set(mapping))
    if unknown:
        raise ValueError(f"{path}: column 'evaluated' must be True/False, found {unknown[:3]}")
    return spelled.map(mapping).astype(bool)


def read_case_tables(paths: Iterable[Path | str]) -> pd.DataFrame:
    """Concatenate per-case TSVs (typed: floats with inf/nan, ints, bool `evaluated`, `reason` "" when none).

    Every file must have the columns :data:`COLUMNS` (tables written before ``sdice_2mm`` and ``assd_mm``
    existed are refused, naming the missing columns: rerun the evaluation); a (case, organ) pair seen twice is
    an error naming the files, because it would count one organ twice in Table 2.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no per-case tables given")
    frames = []
    seen: dict[tuple[str, str], Path] = {}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            frame = pd.read_csv(path, sep="\t", dtype={"case": str, "organ": str, "reason": str}, keep_default_na=True)
        except (ValueError, pd.errors.ParserError) as error:
            raise ValueError(f"{path}: not a per-case table ({str(error).strip().splitlines()[-1]})") from None
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}")
        frame = frame[list(COLUMNS)].copy()
        try:
            for column in (*SCORE_COLUMNS, "fov_fraction"):
                frame[column] = pd.to_numeric(frame[column]).astype(float)
            for column in ("ref_voxels", "pred_voxels"):
                frame[column] = pd.to_numeric(frame[column]).astype(int)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: bad numbers ({error})") from None
        frame["evaluated"] = _as_bool(frame["evaluated"], path)
        frame["reason"] = frame["reason"].fillna("").astype(str)
        for key in zip(frame["case"], frame["organ"], strict=True):
            if key in seen:
                raise ValueError(f"{path}: {key[0]} {key[1]} is also in {seen[key]}")
            seen[key] = path
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _case_number(case: str) -> int:
    match = re.search(r"(\d+)$", str(case))
    return int(match.group(1)) if match else -1


def aggregate(case_tsvs: Iterable[Path | str], out_tsv: Path | str) -> pd.DataFrame:
    """Concatenate per-case tables into one (sorted by case number, then organ id), written atomically."""
    frame = read_case_tables(case_tsvs)
    order = frame["organ"].map(dataset_layout.LABEL_IDS).fillna(len(dataset_layout.ORGANS) + 1)
    frame = (
        frame.assign(_number=frame["case"].map(_case_number), _organ=order)
        .sort_values(["_number", "case", "_organ"], kind="stable")
        .drop(columns=["_number", "_organ"])
        .reset_index(drop=True)
    )
    write_text_atomic(out_tsv, frame_to_tsv(frame))
    return frame
