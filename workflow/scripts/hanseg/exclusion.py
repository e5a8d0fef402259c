"""Cases left out because their registration failed QC (config ``registration.on_fail``).

``error`` (the default: the paper used every case) fails the ``register_mr`` job of a registration whose QC verdict
is ``fail``, and the run stops there. ``exclude`` keeps that job's outputs and logs one warning line
(:func:`hanseg.registration_gate.apply_on_fail`); the split then reads every case's ``registration.json``
(:func:`failed_registrations`) and gives the failed cases the role ``excluded`` (fold -1) with the reason in the
column ``excluded_because`` (:func:`hanseg.splits.make_split`), so they are in no nnU-Net dataset, fold, prediction
or Table 2. Table 1, Figure 2, Table 2's notes and the provenance name them.

Standard library only: the split, the nnU-Net, the evaluation and the figures envs all import it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

#: The values of ``registration.on_fail``; the first is the default.
ON_FAIL = ("error", "exclude")
#: The split's role of a case left out (its fold is -1), and the column that says why.
EXCLUDED_ROLE = "excluded"
REASON_COLUMN = "excluded_because"


def check_on_fail(on_fail: str) -> str:
    if on_fail not in ON_FAIL:
        raise ValueError(f"registration.on_fail must be one of {', '.join(ON_FAIL)}, got {on_fail!r}")
    return on_fail


def qc_status(report: Mapping) -> str:
    """pass, warn or fail; a report written before the QC existed passed the old plausibility gate (as
    :func:`hanseg.registration.check_qc` reads it)."""
    qc = report.get("qc")
    return "pass" if qc is None else str(qc["status"])


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


def exclusion_note(excluded: Mapping[str, str]) -> str:
    """One sentence naming the cases left out and why; empty when none is."""
    if not excluded:
        return ""
    cases = "; ".join(f"{case} ({reason})" for case, reason in sorted(excluded.items()))
    count = f"{len(excluded)} case{'s' if len(excluded) > 1 else ''}"
    return f"Excluded ({count}, registration.on_fail: exclude; in no training set, fold or evaluation): {cases}."
