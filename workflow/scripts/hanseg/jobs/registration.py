"""The ``register_mr`` job: one case's MR registered onto its clipped CT, every output at its declared path, and the
QC verdict acted on (:mod:`hanseg.registration.qc_verdict`, config ``registration.on_fail``).

The rule (``workflow/scripts/register_mr.py``) and ``hanseg register`` both call :func:`register_mr`, so they write
the same files and act on a verdict the same way; ``hanseg segment`` writes its registration with
:func:`write_registration`.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import SimpleITK as sitk

from hanseg.core import images
from hanseg.core.atomic import atomic_path, write_text_atomic
from hanseg.core.landmarks import read_landmarks
from hanseg.core.output_files import OutputFiles
from hanseg.registration import mr_to_ct
from hanseg.registration.qc_verdict import apply_on_fail, qc_status

log = logging.getLogger(__name__)

#: The key of a chained elastix transform file that names the file before it.
_CHAIN_KEY = "InitialTransformParameterFileName"


@dataclass(frozen=True)
class RegistrationFiles(OutputFiles):
    """Where :func:`register_mr` writes a case (the ``register_mr`` rule's outputs, by name)."""

    NAMES: ClassVar[dict[str, str]] = {
        "mr": "mr_in_ct.nrrd",
        "fov": "fov_mask.nrrd",
        "initial": "TransformParameters.init.txt",
        "report": "registration.json",
        "qc": "qc.png",
    }

    #: The MR on the CT's grid (int16), and its field of view there (uint8).
    mr: Path
    fov: Path
    #: elastix's chain: the initial translation's transform file, then one per parameter file (stage), each naming
    #: the one before it.
    initial: Path
    transforms: tuple[Path, ...]
    #: registration.json.
    report: Path
    #: The QC picture; None: not drawn.
    qc: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "transforms", tuple(Path(p) for p in self.transforms))  # a rule passes a list
        for name in ("mr", "fov", "initial", "report", "qc"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    @classmethod
    def in_folder(cls, folder: Path | str, stages: int = 2):
        """Every output under its usual name in `folder`, `stages` transform files (one per parameter file)."""
        folder = Path(folder)
        names = {name: folder / file_name for name, file_name in cls.NAMES.items()}
        return cls(**names, transforms=tuple(folder / f"TransformParameters.{i}.txt" for i in range(stages)))


@dataclass(frozen=True)
class RegistrationInputs:
    """What :func:`register_mr` reads: the CT, the MR, elastix's parameter files (applied in order) and, for the
    TRE, landmark pairs (CSV name,x,y,z in LPS mm; both or neither)."""

    ct: Path
    mr: Path
    parameter_files: list[Path] = field(default_factory=list)
    landmarks_ct: Path | None = None
    landmarks_mr: Path | None = None

    @classmethod
    def of(cls, inputs: Any, case: str) -> RegistrationInputs:
        """From the ``register_mr`` rule's inputs: ``ct``, ``record`` (the case record naming the MR),
        ``parameter_files`` and, optionally, ``landmarks`` (a folder with ``<case>/landmarks_{ct,mr}.csv``; a case
        without both files has no TRE)."""
        record = json.loads(Path(inputs.record).read_text())
        landmarks = {}
        if "landmarks" in inputs.keys():
            folder = Path(inputs.landmarks) / case
            if (folder / "landmarks_ct.csv").is_file() and (folder / "landmarks_mr.csv").is_file():
                landmarks = {"landmarks_ct": folder / "landmarks_ct.csv", "landmarks_mr": folder / "landmarks_mr.csv"}
        return cls(
            Path(inputs.ct),
            Path(record["folder"]) / record["mr_file"],
            [Path(p) for p in inputs.parameter_files],
            **landmarks,
        )

    def landmarks(self) -> dict:
        """``register``'s landmark arguments: both point sets, or none."""
        if self.landmarks_ct is None or self.landmarks_mr is None:
            return {}
        return {"landmarks_ct": read_landmarks(self.landmarks_ct), "landmarks_mr": read_landmarks(self.landmarks_mr)}


def register_mr(
    inputs: RegistrationInputs,
    outputs: RegistrationFiles,
    *,
    initialisation: str = "head_search",
    qc_thresholds: dict | None = None,
    on_fail: str = "error",
    threads: int = 1,
    case: str = "",
    log_file: Path | str | None = None,
) -> dict:
    """Register, write every output at its declared path (:func:`write_registration`, the QC picture drawn), and act
    on the QC verdict (:func:`act_on_verdict`); return the report.

    Messages name `case`, or the MR's path without one.
    """
    landmarks = inputs.landmarks()
    ct, mr = images.read_image(inputs.ct), images.read_image(inputs.mr)
    result = mr_to_ct.register(
        ct,
        mr,
        list(inputs.parameter_files),
        outputs.initial.parent,
        threads=threads,
        initialisation=initialisation,
        qc_thresholds=qc_thresholds,
        case=case,
        **landmarks,
    )
    write_registration(result, outputs, ct, title=case)
    act_on_verdict(result.report, case or str(inputs.mr), outputs, on_fail, log_file)
    return result.report


def act_on_verdict(
    report: dict, name: str, outputs: RegistrationFiles, on_fail: str, log_file: Path | str | None = None
) -> str:
    """:func:`hanseg.registration.qc_verdict.apply_on_fail` with the QC picture: a ``fail`` under ``error`` raises
    one line. A job's log is given (`log_file`) where the job's outputs go when it fails (Snakemake removes them):
    the picture the message points to is then copied beside the log, as ``<log>.qc.png``."""
    qc_png = outputs.qc
    if qc_status(report) == "fail" and on_fail == "error" and log_file is not None and outputs.qc is not None:
        qc_png = Path(str(log_file)).with_suffix(".qc.png")
        with atomic_path(qc_png) as temporary:
            shutil.copyfile(outputs.qc, temporary)
    return apply_on_fail(report, name, qc_png, on_fail)


def write_registration(
    result: mr_to_ct.RegistrationResult, outputs: RegistrationFiles, ct: sitk.Image, title: str = ""
) -> None:
    """The MR (int16: MR magnitudes are integers in the source files; rounding halves the file size) and its field of
    view on the CT's grid, the transform files, the QC picture (unless ``outputs.qc`` is None) and the report."""
    mr = result.mr_in_ct
    if mr.GetPixelID() != sitk.sitkInt16:
        mr = sitk.Cast(sitk.Round(sitk.Clamp(mr, sitk.sitkFloat32, 0.0, 32767.0)), sitk.sitkInt16)
    images.write_image(mr, outputs.mr)
    images.write_image(result.fov_mask, outputs.fov)
    place_transforms(result.transform_files, outputs)
    if outputs.qc is not None:
        from hanseg.reporting.figures.registration_qc import registration_qc

        registration_qc(ct, result.mr_in_ct, result.fov_mask, outputs.qc, title=title, report=result.report)
    write_text_atomic(outputs.report, json.dumps(result.report, indent=2) + "\n")


def place_transforms(produced: list[Path], outputs: RegistrationFiles) -> None:
    """The chain `register` wrote (initial translation first) at the declared paths, each file naming the one before
    it as it is declared (by name in the same folder, else by its absolute path). A file already at its declared path
    stays untouched (the job registers into the declared folder, so the workflow's and the command line's files are
    never rewritten); elsewhere a copy is written and the file `register` wrote is left as it is."""
    declared = [outputs.initial, *outputs.transforms]
    if len(produced) != len(declared):
        raise ValueError(
            f"the registration wrote {len(produced) - 1} transform files, the outputs declare {len(outputs.transforms)}"
        )
    previous: tuple[Path, Path] | None = None  # (as written, as declared)
    for source, target in zip(produced, declared, strict=True):
        renamed = previous is not None and previous[0] != previous[1]
        if source != target or renamed:
            text = Path(source).read_text()
            if renamed:
                before = previous[1].name if previous[1].parent == target.parent else str(previous[1].resolve())
                text = text.replace(f'({_CHAIN_KEY} "{previous[0].name}")', f'({_CHAIN_KEY} "{before}")')
            write_text_atomic(target, text)
        previous = (Path(source), target)
