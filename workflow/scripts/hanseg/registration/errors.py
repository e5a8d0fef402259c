"""The registration's errors. Standard library only (with :mod:`hanseg.core.errors`): the envs that act on a QC
verdict without registering (:mod:`hanseg.registration.qc_verdict`) import them too."""

from __future__ import annotations

from hanseg.core.errors import InputError


class RegistrationError(InputError, RuntimeError):
    """Registration input or result that cannot be trusted; the message names the case."""


class RegistrationQCError(InputError, RuntimeError):
    """A registration whose QC verdict is ``fail``: one line naming the case, the measure, its value, the threshold
    and the QC picture."""
