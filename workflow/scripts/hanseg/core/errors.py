"""Bad input and how it is reported: one line per problem, naming the case and the file, saying what to do.

Every check of the validation layer (:mod:`hanseg.core.images`, :mod:`hanseg.core.dataset_layout`,
:mod:`hanseg.dataset.metadata`, :mod:`hanseg.dataset.inventory`, :mod:`hanseg.dataset.archive`) raises an
:class:`InputError` for input that cannot be used. The command line and the rules' scripts report it the same way
(:func:`report_lines`): its lines, no traceback, exit status 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class InputError(Exception):
    """Input that cannot be used. The message holds one line per problem; each says what to do."""

    def lines(self) -> list[str]:
        return [line.strip() for line in str(self).splitlines() if line.strip()] or [type(self).__name__]


@dataclass(frozen=True)
class Problem:
    """One finding of a check: an error stops the case, a warning is logged (an error under `dataset.strict`)."""

    level: str  # "error" | "warning"
    case: str  # "" when the problem concerns no single case
    file: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.case, self.file, self.message) if part)


def one_line(text: object) -> str:
    """The last non-empty line of a library's message (ITK's errors are many-line dumps ending in the reason)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def report_lines(error: BaseException, *, user_errors: tuple[type[BaseException], ...] = ()) -> list[str] | None:
    """The lines to show for an error that is the input's fault, or None for a bug (show its traceback).

    `user_errors` adds types reported the same way (the command line adds OSError, ValueError and RuntimeError:
    a user at a terminal gets one line, and `-v` shows the traceback).
    """
    if isinstance(error, InputError):
        return error.lines()
    if isinstance(error, (OSError, *user_errors)):
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        return lines or [type(error).__name__]
    return None
