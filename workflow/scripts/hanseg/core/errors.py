"""Bad input and how it is reported: one line per problem, naming the case and the file, saying what to do.

Every check of the validation layer (:mod:`hanseg.core.images`, :mod:`hanseg.core.dataset_layout`,
:mod:`hanseg.dataset.metadata`, :mod:`hanseg.dataset.inventory`, :mod:`hanseg.dataset.archive`) raises an
:class:`InputError` for input that cannot be used. The command line and the rules' scripts report it the same way
(:func:`report_lines`): its lines, no traceback, exit status 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path


class InputError(Exception):
    """Input that cannot be used. The message holds one line per problem; each says what to do."""

    def lines(self) -> list[str]:
        return [line.strip() for line in str(self).splitlines() if line.strip()] or [type(self).__name__]


class DiskError(OSError):
    """A file that could not be written because of where it goes (no space, read-only, quota, no permission): one
    line naming the file and the cause. Nothing partial is left (the writers are atomic), so a rerun after the disk
    is freed continues with what was complete."""

    def __init__(self, target: Path | str, cause: str):
        super().__init__(
            f"{target}: cannot write it: {cause}; free space (or make the folder writable) and rerun: finished "
            "outputs are kept"
        )
        self.target, self.cause = Path(target), cause


#: errno values that mean "the disk refused the write", not "the program is wrong".
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO, errno.EACCES, errno.EPERM}
#: A writer that fails (with any error) while its file system has less than this free is taken to have hit a full
#: disk: libraries that write through C++ (ITK, PyTorch) raise RuntimeError with their own text, not ENOSPC.
FULL_BELOW_BYTES = 2**20


def disk_full_cause(folder: Path | str) -> str | None:
    """ "Read-only file system" or "No space left on device (N bytes free)" for the file system of `folder` (or of
    its nearest existing parent) when that is so; None when it has room."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        status = os.statvfs(folder)
    except OSError:
        return None
    if status.f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS)
    free = status.f_bavail * status.f_frsize
    return f"{os.strerror(errno.ENOSPC)} ({free} bytes free)" if free < FULL_BELOW_BYTES else None


def disk_fault(folder: Path | str, error: BaseException) -> str | None:
    """Why writing into `folder` failed with `error` if the disk is the reason (the cause in words), else None."""
    if isinstance(error, DiskError):
        return error.cause
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return os.strerror(error.errno)
    if not isinstance(error, Exception):
        return None  # KeyboardInterrupt, SystemExit: not a write failure
    return disk_full_cause(folder)


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
