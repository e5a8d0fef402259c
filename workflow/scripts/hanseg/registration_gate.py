"""What the ``register_mr`` job does with a registration's QC verdict (config ``registration.on_fail``).

Kept apart from :mod:`hanseg.exclusion`, which the split, nnU-Net and figures envs import: this one needs the
registration's own modules.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .alignment import fail_message
from .exclusion import check_on_fail, qc_status
from .registration import check_qc

log = logging.getLogger(__name__)


def apply_on_fail(report: dict, case: str, qc_png: Path | str, on_fail: str) -> str:
    """The registration's QC status. A ``fail`` raises :class:`hanseg.registration.RegistrationQCError` (one line)
    under ``error``; under ``exclude`` it is logged as one warning line naming the case, the measure, its value, the
    threshold and `qc_png`, and returned: the outputs stay, and the split leaves the case out."""
    if check_on_fail(on_fail) == "exclude" and qc_status(report) == "fail":
        log.warning(
            "%s; %s is left out of training and evaluation (registration.on_fail: exclude)",
            fail_message(case, report["qc"], qc_png),
            case,
        )
        return "fail"
    return check_qc(report, case, qc_png)
