"""`hanseg status`: is a run in a folder alive, how far its trainings are, how to resume it, who holds its results
folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("hanseg")


def cmd_status(args: argparse.Namespace) -> None:
    from hanseg.jobs import results_lock
    from hanseg.jobs.run_state import describe, status

    if not args.directory.is_dir():
        raise FileNotFoundError(f"{args.directory}: no such folder")
    run = status(args.directory)
    print(describe(run))
    print(results_lock.describe(run.workdir, run.record))


def add_status_parser(sub) -> None:
    p = sub.add_parser(
        "status",
        help="is a Snakemake run in this folder alive, what did it leave incomplete, the command that resumes it, "
        "which run holds its results folder",
    )
    p.add_argument("directory", nargs="?", type=Path, default=Path("."), help="the run's folder (default: here)")
    p.set_defaults(func=cmd_status)


def add_parsers(sub) -> None:
    add_status_parser(sub)
