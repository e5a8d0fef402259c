"""Logging for the rules' scripts: everything goes to the rule's `log:` file, and a failure ends with its reason.

Bad input (:class:`hanseg.core.errors.InputError`, or a file the system cannot give) ends the job with one line per
problem and exit status 1, never with a traceback: the user's next step is to fix the named file. So does a write the
disk refused, whichever library wrote (:func:`hanseg.core.errors.disk_fault`; nnU-Net and ITK raise their own
errors): one line naming the job's first output and the cause. Anything else is a bug in the workflow and keeps its
traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hanseg.core.errors import DiskError, disk_fault, report_lines

#: One log line's form, for the rules' logs and the command line alike.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run `main(snakemake)` with logging sent to `snakemake.log[0]` (and stderr for local runs)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        try:
            handlers.append(logging.FileHandler(str(snakemake.log[0]), mode="w"))
        except OSError:
            pass  # a read-only or full results folder: the job says so below, on stderr
    # A log file on a full disk drops its records instead of printing a traceback per record; stderr keeps them.
    logging.raiseExceptions = False
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format=LOG_FORMAT,
    )
    log = logging.getLogger(f"hanseg.rule.{snakemake.rule}")
    log.info("rule %s, wildcards %s", snakemake.rule, dict(snakemake.wildcards))
    try:
        main(snakemake)
    except Exception as error:
        lines = report_lines(error)
        if lines is None and snakemake.output:
            first = Path(str(snakemake.output[0]))
            cause = disk_fault(first.parent, error)
            lines = [str(DiskError(first, cause))] if cause else None
        if lines is None:
            log.exception("rule %s failed", snakemake.rule)
            raise
        for line in lines:
            log.error("%s", line)
        logging.shutdown()
        sys.exit(1)
