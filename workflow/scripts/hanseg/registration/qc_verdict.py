"""What is done with a registration's QC verdict: the one place that acts on it (config ``registration.on_fail``).

``error`` (the default: the paper used every case) fails the ``register_mr`` job of a registration whose QC verdict
is ``fail``, and the run stops there (:func:`check_qc`: one line naming the case, the measure, its value, the
threshold and the QC picture). ``exclude`` keeps that job's outputs and logs one warning line
(:func:`apply_on_fail`); the split then reads every case's ``registration.json`` (:func:`failed_registrations`) and
gives the failed cases the role ``excluded`` (fold -1) with the reason in the column ``excluded_because``
(:func:`hanseg.dataset.splits.make_split`), so they are in no nnU-Net dataset, fold, prediction or Table 2. Table 1,
Figure 2, Table 2's notes and the provenance name them.

Standard library only: the split, the nnU-Net, the evaluation and the figures envs all import it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from hanseg.registration.errors import RegistrationQCError

log = logging.getLogger(__name__)

#: The values of ``registration.on_fail``; the first is the default.
ON_FAIL = ("error", "exclude")

#: What a failing check means, for the one-line message.
HINTS = {
    "realignment_mm": "a rigid search from the result moves it this far: the registration stopped short",
    "skin_distance_mm": "the skin surfaces of CT and MR lie this far apart",
    "mirror_nmi_gain": "the MR fits better mirrored: are its left and right swapped?",
}


def check_on_fail(on_fail: str) -> str:
    if on_fail not in ON_FAIL:
        raise ValueError(f"registration.on_fail must be one of {', '.join(ON_FAIL)}, got {on_fail!r}")
    return on_fail


def qc_status(report: Mapping) -> str:
    """pass, warn or fail; a report written before the QC existed passed the old plausibility gate (as
    :func:`check_qc` reads it)."""
    qc = report.get("qc")
    return "pass" if qc is None else str(qc["status"])


def fail_message(case: str, qc: Mapping, qc_png: Path | str) -> str:
    """One line: the case, the measure, its value, the threshold, and where to look."""
    value = "n/a" if qc.get("value") is None else f"{qc['value']:.3g}"
    unit = f" {qc['unit']}" if qc.get("unit") else ""
    side = "below" if qc.get("higher_is_better") else "above"
    hint = HINTS.get(qc["measure"], "")
    return (
        f"{case}: registration QC fail: {qc['measure']} {value}{unit} is {side} the fail threshold "
        f"{qc['thresholds']['fail']}{unit}{f' ({hint})' if hint else ''}; see {qc_png}"
    )


def check_qc(report: dict, case: str, qc_png: Path | str) -> str:
    """The QC status of a registration report; RegistrationQCError (one line) when it is ``fail``."""
    qc = report.get("qc")
    if qc is None:  # a report written before the QC existed passed the old plausibility gate
        return "pass"
    if qc["status"] == "fail":
        raise RegistrationQCError(fail_message(case, qc, qc_png))
    return str(qc["status"])


def apply_on_fail(report: dict, case: str, qc_png: Path | str, on_fail: str) -> str:
    """The registration's QC status. A ``fail`` raises :class:`RegistrationQCError` (one line) under ``error``; under
    ``exclude`` it is logged as one warning line naming the case, the measure, its value, the threshold and
    `qc_png`, and returned: the outputs stay, and the split leaves the case out."""
    if check_on_fail(on_fail) == "exclude" and qc_status(report) == "fail":
        log.warning(
            "%s; %s is left out of training and evaluation (registration.on_fail: exclude)",
            fail_message(case, report["qc"], qc_png),
            case,
        )
        return "fail"
    return check_qc(report, case, qc_png)


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def exclusion_reason(qc: Mapping) -> str:
    """Why a failed registration's case is left out, e.g. ``registration QC fail: skin_distance_mm 7.1 mm above the
    fail threshold 6 mm``."""
    unit = f" {qc['unit']}" if qc.get("unit") else ""
    side = "below" if qc.get("higher_is_better") else "above"
    if qc.get("value") is None:  # nothing left to measure (no overlap): the QC fails it, whatever the threshold
        return f"registration QC fail: {qc['measure']} not measurable"
    return (
        f"registration QC fail: {qc['measure']} {_number(qc['value'])}{unit} {side} the fail threshold "
        f"{qc['thresholds']['fail']:g}{unit}"
    )


def case_of_report(path: Path | str) -> str:
    """The case of a workflow's registration report: ``.../cases/<case>/registration/registration.json``."""
    return Path(path).parent.parent.name


def read_reports(paths: Iterable[Path | str]) -> dict[str, dict]:
    """case -> its registration report, for reports in the workflow's layout (:func:`case_of_report`)."""
    return {case_of_report(path): json.loads(Path(path).read_text()) for path in paths}


def failed_registrations(reports: Mapping[str, Mapping]) -> dict[str, str]:
    """case -> why it is left out, for every report whose QC verdict is ``fail`` (sorted by case)."""
    return {
        case: exclusion_reason(report["qc"]) for case, report in sorted(reports.items()) if qc_status(report) == "fail"
    }


def qc_rows(reports: Mapping[str, Mapping]) -> list[dict]:
    """One row per case (sorted): status, measure, value, unit and thresholds of its registration QC (None where a
    report predates the QC)."""
    rows = []
    for case, report in sorted(reports.items()):
        qc = report.get("qc") or {}
        thresholds = qc.get("thresholds") or {}
        rows.append(
            {
                "case": case,
                "status": qc_status(report),
                "measure": qc.get("measure"),
                "value": qc.get("value"),
                "unit": qc.get("unit"),
                "warn": thresholds.get("warn"),
                "fail": thresholds.get("fail"),
            }
        )
    return rows
