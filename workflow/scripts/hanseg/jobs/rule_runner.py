"""Logging for the rules' scripts: everything goes to the rule's `log:` file, and a failure ends with its reason.

Bad input (:class:`hanseg.core.errors.InputError`, or a file the system cannot give) ends the job with one line per
problem and exit status 1, never with a traceback: the user's next step is to fix the named file. Anything else is
a bug in the workflow and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from hanseg.core.errors import report_lines

#: One log line's form, for the rules' logs and the command line alike.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run `main(snakemake)` with logging sent to `snakemake.log[0]` (and stderr for local runs)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(str(snakemake.log[0]), mode="w"))
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
        if lines is None:
            log.exception("rule %s failed", snakemake.rule)
            raise
        for line in lines:
            log.error("%s", line)
        logging.shutdown()
        sys.exit(1)
