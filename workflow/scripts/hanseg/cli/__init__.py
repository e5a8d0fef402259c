"""`hanseg`: the command line over the same functions the Snakemake rules call.

Each subcommand imports only what it needs, so `hanseg --help` is instant and works without torch or elastix.
Bad input ends with exit status 1 and one line per problem naming the file (several problems of a case: one line
each), never a traceback (`-v` shows it). Defaults are the config schema's (:mod:`hanseg.core.defaults`), so a
command run without options does what the workflow does with its default config; where a command writes several
files into a folder, their names come from the job it calls (the rules pass their declared outputs instead).
"""

from __future__ import annotations

import argparse
import logging
import sys

from hanseg import __version__
from hanseg.cli import dataset, evaluation, registration, segment, status
from hanseg.core.errors import report_lines
from hanseg.jobs.rule_runner import LOG_FORMAT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hanseg", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"hanseg-workflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for commands in (dataset, registration, evaluation, segment, status):
        commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format=LOG_FORMAT)
    try:
        args.func(args)
    except Exception as error:
        # One line per problem for a user at a terminal (the rules' logs get the same lines); a bug keeps its
        # traceback, and so does everything with -v.
        lines = report_lines(error, user_errors=(ValueError, RuntimeError))
        if lines is None or args.verbose:
            raise
        for line in lines:
            print(f"hanseg {args.command}: error: {line}", file=sys.stderr)
        return 1
    return 0
