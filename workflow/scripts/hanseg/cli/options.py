"""Argument types the commands share: sizes, spacings, lengths and registration QC thresholds."""

from __future__ import annotations

import argparse


def shape(text: str) -> tuple[int, int, int]:
    parts = [int(v) for v in text.lower().replace("x", ",").split(",") if v.strip()]
    if len(parts) != 3 or min(parts) < 8:
        raise argparse.ArgumentTypeError(f"expected three sizes >= 8 like 128x128x60, got {text!r}")
    return parts[0], parts[1], parts[2]


def spacing(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(v) for v in text.lower().replace("x", ",").split(",") if v.strip()]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"expected three spacings > 0 in mm like 0.5x0.5x3, got {text!r}")
    return parts[0], parts[1], parts[2]


def positive_mm(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a length > 0 in mm, got {text!r}")
    return value


def default_qc() -> dict:
    from hanseg.registration.qc_measures import default_thresholds

    return default_thresholds()


def qc_thresholds(text: str) -> tuple[str, dict[str, float]]:
    """CHECK=WARN,FAIL -> (check, {"warn", "fail"})."""
    try:
        name, values = text.split("=", 1)
        warn, fail = (float(v) for v in values.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected CHECK=WARN,FAIL, got {text!r}") from error
    if name not in default_qc():
        raise argparse.ArgumentTypeError(f"unknown QC check {name!r} (known: {', '.join(default_qc())})")
    return name, {"warn": warn, "fail": fail}
