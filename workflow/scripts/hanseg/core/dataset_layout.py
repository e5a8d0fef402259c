"""The HaN-Seg archive's names: folders, files, organ labels and their official ids.

Everything that spells a HaN-Seg path lives here, so the phantom, the inventory and the rules agree by
construction. Label ids are the HaN-Seg 2023 challenge's (1..30, background 0).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from hanseg.core.errors import InputError, Problem

log = logging.getLogger(__name__)

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
# Names a person would take for a case folder or an organ file, although the strict patterns above refuse them.
_CASE_LIKE_RE = re.compile(r"(?i)^case[ _-]*\d+$")
_ORGAN_LIKE_RE = re.compile(r"(?i)(^|_)OAR_|\.seg\.nrrd$")
#: Image files an organ mask may be in, besides HaN-Seg's `.seg.nrrd` (resampling writes `<Organ>.nrrd`).
MASK_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".mha")

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
    return scan_case_folders(data_root, set_name)[0]


def scan_case_folders(data_root: Path | str, set_name: str = TRAIN_SET) -> tuple[list[str], list[Problem]]:
    """(case folders sorted by number, warnings for folders that look like cases but are named off-pattern).

    A folder `case_1` or `Case_01` is not processed; without the warning it would vanish from the inventory
    although both CSV files list it.
    """
    folder = set_dir(data_root, set_name)
    if not folder.is_dir():
        return [], []
    cases, problems = [], []
    for path in sorted(folder.iterdir()):
        if not path.is_dir():
            continue
        if is_case_id(path.name):
            cases.append(path.name)
        elif _CASE_LIKE_RE.match(path.name):
            suggestion = normalise_case_id(path.name.replace(" ", "_"))
            problems.append(
                Problem(
                    "warning",
                    "",
                    f"{set_name}/{path.name}",
                    f"looks like a case folder but is not named case_NN, so it is not processed; rename it "
                    f"{suggestion}",
                )
            )
    return sorted(cases, key=lambda c: int(c.split("_")[1])), problems


def _mask_stem(name: str) -> str | None:
    suffix = next((s for s in MASK_SUFFIXES if name.endswith(s)), None)
    return name[: -len(suffix)] if suffix else None


def scan_organ_files(folder: Path | str, case: str | None = None) -> tuple[dict[str, Path], list[Problem]]:
    """Organ -> mask file in a folder, and the problems found on the way.

    With `case` (a HaN-Seg case folder) only `<case>_OAR_<Organ>.seg.nrrd` counts, and every other file except
    the CT and the MR is a warning naming it. Without `case` (a folder of masks given to the evaluation, or
    resampling's `organs/`) `<Organ>.nrrd` (or .nii.gz, .mha...) counts too, and a file that looks like an organ
    mask but names no HaN-Seg organ is a warning. Either way two files for one organ (names that differ only in
    upper/lower case) are an error naming both: one would silently replace the other.
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    expected_images = {ct_name(case), mr_name(case)} if case else set()
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith(".") or name in expected_images:
            continue
        parsed = parse_organ_file(name)
        if case is not None:
            label = parsed[1] if parsed and parsed[0] == case and path.is_file() else None
        else:
            stem = _mask_stem(name) if path.is_file() else None
            label = parsed[1] if parsed else stem
        organ = normalise_organ(label) if label is not None else None
        looks_like_organ = parsed is not None or bool(_ORGAN_LIKE_RE.search(name))
        if organ is None:
            if case is not None:
                if parsed and parsed[0] == case:
                    what = f"{parsed[1]!r} is not one of the 30 HaN-Seg organs, so the file is ignored"
                elif looks_like_organ:
                    what = f"does not match {organ_name(case, '<Organ>')}, so it is ignored; rename it"
                else:
                    what = (
                        f"not part of the HaN-Seg layout ({ct_name(case)}, {mr_name(case)}, "
                        f"{organ_name(case, '<Organ>')}), ignored"
                    )
                problems.append(Problem("warning", case, name, what))
            elif looks_like_organ:
                problems.append(
                    Problem("warning", "", str(path), "names no HaN-Seg organ, so the mask is ignored; rename it")
                )
            continue
        if organ in found:
            problems.append(
                Problem(
                    "error",
                    case or "",
                    name,
                    f"a second mask for {organ} besides {found[organ].name} (names that differ only in upper/lower "
                    "case are the same organ); keep one and remove the other",
                )
            )
            continue
        found[organ] = path
    return found, problems


def organ_files(folder: Path | str, case: str | None = None) -> dict[str, Path]:
    """Organ -> mask file of a folder (:func:`scan_organ_files`), for a caller that goes on with them: the errors
    raise one :class:`InputError` (a line each, naming the folder), the warnings are logged."""
    found, problems = scan_organ_files(folder, case)
    errors = [problem for problem in problems if problem.level == "error"]
    if errors:
        raise InputError("\n".join(f"{folder}: {problem}" for problem in errors))
    for problem in problems:
        log.warning("%s", problem)
    return found


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
