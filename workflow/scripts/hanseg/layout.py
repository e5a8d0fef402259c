"""The HaN-Seg archive's names: folders, files, organ labels and their official ids.

Everything that spells a HaN-Seg path lives here, so the phantom, the inventory and the rules agree by
construction. Label ids are the HaN-Seg 2023 challenge's (1..30, background 0).
"""

from __future__ import annotations

import re
from pathlib import Path

#: The 30 organ labels as spelled in the file names, in the order of their official ids 1..30.
ORGANS: tuple[str, ...] = (
    "A_Carotid_L",
    "A_Carotid_R",
    "Arytenoid",
    "Bone_Mandible",
    "Brainstem",
    "BuccalMucosa",
    "Cavity_Oral",
    "Cochlea_L",
    "Cochlea_R",
    "Cricopharyngeus",
    "Esophagus_S",
    "Eye_AL",
    "Eye_AR",
    "Eye_PL",
    "Eye_PR",
    "Glnd_Lacrimal_L",
    "Glnd_Lacrimal_R",
    "Glnd_Submand_L",
    "Glnd_Submand_R",
    "Glnd_Thyroid",
    "Glottis",
    "Larynx_SG",
    "Lips",
    "OpticChiasm",
    "OpticNrv_L",
    "OpticNrv_R",
    "Parotid_L",
    "Parotid_R",
    "Pituitary",
    "SpinalCord",
)

#: Official label id of each organ (background is 0).
LABEL_IDS: dict[str, int] = {name: i for i, name in enumerate(ORGANS, start=1)}

#: Left/right pairs (left, right). The Eye_A*/Eye_P* pairs end in L/R without an underscore.
LR_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (name, name[:-1] + "R") for name in ORGANS if name.endswith("L") and name[:-1] + "R" in LABEL_IDS
)

ARCHIVE_NAME = "HaN-Seg.zip"
TOP_DIR = "HaN-Seg"
TRAIN_SET = "set_1"
OAR_CSV = "OAR_data.csv"
PATIENT_CSV = "patient_data.csv"

_CASE_RE = re.compile(r"^case_(\d{2,})$")
_ORGAN_FILE_RE = re.compile(r"^(case_\d{2,})_OAR_(.+)\.seg\.nrrd$")

# The paper writes "GlnD_..." where the files say "Glnd_...": accept both spellings (and case slips) in CSVs.
_ORGAN_BY_FOLDED_NAME = {name.lower(): name for name in ORGANS}


def case_id(number: int) -> str:
    """`case_01` for 1: two digits at least, like the archive."""
    return f"case_{number:02d}"


def is_case_id(name: str) -> bool:
    return bool(_CASE_RE.match(name))


def normalise_case_id(value: object) -> str | None:
    """Map the spellings seen in CSV files (`case_01`, `case_1`, `Case 01`, `1`, `01`, `1.0`) to `case_01`."""
    text = str(value).strip()
    match = re.fullmatch(r"(?i)(?:case[ _-]?)?0*(\d+)(?:\.0+)?", text)
    if not match:
        return None
    return case_id(int(match.group(1)))


def normalise_organ(name: object) -> str | None:
    """The official spelling of an organ label, or None if it is not one of the 30."""
    return _ORGAN_BY_FOLDED_NAME.get(str(name).strip().lower())


def ct_name(case: str) -> str:
    return f"{case}_IMG_CT.nrrd"


def mr_name(case: str) -> str:
    return f"{case}_IMG_MR_T1.nrrd"


def organ_name(case: str, organ: str) -> str:
    return f"{case}_OAR_{organ}.seg.nrrd"


def parse_organ_file(name: str) -> tuple[str, str] | None:
    """(case, label as spelled in the file) for an `..._OAR_<label>.seg.nrrd` name, else None."""
    match = _ORGAN_FILE_RE.match(name)
    return (match.group(1), match.group(2)) if match else None


def set_dir(data_root: Path | str, set_name: str = TRAIN_SET) -> Path:
    return Path(data_root) / set_name


def case_dir(data_root: Path | str, case: str, set_name: str = TRAIN_SET) -> Path:
    return set_dir(data_root, set_name) / case


def list_cases(data_root: Path | str, set_name: str = TRAIN_SET) -> list[str]:
    """Case folders present under `<data_root>/<set_name>`, sorted by number."""
    folder = set_dir(data_root, set_name)
    if not folder.is_dir():
        return []
    cases = [p.name for p in folder.iterdir() if p.is_dir() and is_case_id(p.name)]
    return sorted(cases, key=lambda c: int(c.split("_")[1]))


def find_data_root(folder: Path | str) -> Path | None:
    """The folder holding `set_1/`: `folder` itself, `folder/HaN-Seg`, or the single folder below `folder`."""
    folder = Path(folder)
    candidates = [folder, folder / TOP_DIR]
    if folder.is_dir():
        candidates += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    for candidate in candidates:
        if (candidate / TRAIN_SET).is_dir():
            return candidate
    return None
